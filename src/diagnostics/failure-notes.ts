// After cargo reports a failed build script, say that it ran sandboxed and what the sandbox denies.

import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { BuildScriptRun } from '../intercept/session.js';
import type { SandboxPolicy } from '../policy/default-policy.js';
import { grantSnippet, type Finding, type HintContext } from './blocked-hints.js';

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

export interface FailureReport {
  notes: string[];
  help: string[];
}

/** One note per failed script (with what it tried that was blocked), then the grants that allow it. */
export function failureNotes(failed: readonly { run: BuildScriptRun; blocked: readonly Finding[] }[], home: string): FailureReport {
  if (failed.length === 0) return { notes: [], help: [] };
  const notes = failed.flatMap(({ run, blocked }) => {
    const pkg = run.packageVersion ? `${run.packageName} v${run.packageVersion}` : run.packageName;
    return [
      `the build script of \`${pkg}\` ran inside the cargo-sandbox sandbox: no network, ` +
        'home directory hidden, environment scrubbed, writable only OUT_DIR and a private /tmp',
      ...blocked.map((f) => f.message),
    ];
  });
  const snippets = failed.map(({ run, blocked }) => grantSnippet(run.packageName, blocked, home)).filter((s) => s.length);
  const grantable = failed.some(({ blocked }) => blocked.some((f) => ['read', 'write', 'env', 'network', 'exec'].includes(f.kind)));
  const refused = failed.some(({ blocked }) => blocked.some((f) => f.kind === 'refused'));
  const help = snippets.length
    ? [`to allow this, add to .cargo/config.toml:\n${snippets.map((s) => s.map((l) => `    ${l}`).join('\n')).join('\n\n')}`]
    : refused
      ? ['no grant allows this: the build script tried to run code outside the sandbox; report it to the crate\'s maintainers, or drop the dependency']
      : ['if it failed because of the sandbox, its error above names the path, host or variable it needed'];
  if (grantable) help.push('or, for this build only: `--allow-read=PKG:PATH`, `--allow-network=PKG`, `--allow-env=PKG:VAR`');
  help.push('run `cargo sandbox doctor` to check the sandbox itself');
  return { notes, help };
}

/** What was visible and writable for one build script: the policy plus its own directories. */
export function hintContext(policy: SandboxPolicy, run: BuildScriptRun, home: string, env: NodeJS.ProcessEnv, wasm = false): HintContext {
  const buildRoot = dirname(dirname(run.outDir));
  return {
    home,
    wasm,
    visible: wasm
      ? [run.manifestDir, run.outDir, '/tmp']
      : [...policy.system, ...policy.readOnly, run.manifestDir, buildRoot, '/proc', '/dev'],
    // Writable grants are per package; the note is about what the default policy denies.
    writable: [run.outDir],
    env,
    envRules: policy.env,
  };
}
