// After cargo reports a failed build script, say that it ran sandboxed and what the sandbox denies.

import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { BuildScriptRun } from '../intercept/session.js';

/**
 * Build scripts that were started but did not finish successfully: cargo writes `output` beside
 * OUT_DIR only after a successful run. Cargo back-dates that file's mtime to the script's start,
 * so its ctime (set by that very change) is what tells when it was written.
 */
export function failedRuns(runs: readonly BuildScriptRun[]): BuildScriptRun[] {
  return runs.filter((run) => {
    try {
      return statSync(join(dirname(run.outDir), 'output')).ctimeMs < run.startedAtMs;
    } catch {
      return true;
    }
  });
}

export function failureNotes(failed: readonly BuildScriptRun[]): { notes: string[]; help: string[] } {
  if (failed.length === 0) return { notes: [], help: [] };
  const notes = failed.map((run) => {
    const pkg = run.packageVersion ? `${run.packageName} v${run.packageVersion}` : run.packageName;
    return (
      `the build script of \`${pkg}\` ran inside the cargo-sandbox sandbox: no network, ` +
      'home directory hidden, environment scrubbed, writable only OUT_DIR and a private /tmp'
    );
  });
  return {
    notes,
    help: [
      'if it failed because of the sandbox, its error above names the path, host or variable it needed',
      'run `cargo sandbox doctor` to check the sandbox itself',
    ],
  };
}
