// Reruns a failed build script once, in the same sandbox and environment, to read its stderr
// (cargo keeps it to itself). Costs nothing on successful builds; only failures pay for a rerun.

import { spawnSync } from 'node:child_process';
import type { BuildScriptRun } from '../intercept/session.js';

const MAX_STDERR = 64 * 1024;

export function rerunForStderr(run: BuildScriptRun, sessionEnv: Record<string, string>, timeoutMs = 120_000): string {
  // The env file holds `export NAME='value'` lines written by the launcher's shell.
  const r = spawnSync('/bin/sh', ['-c', '. "$1" || exit 101; exec "$2"', 'sh', run.envFile, run.launcherPath], {
    cwd: run.manifestDir,
    env: sessionEnv,
    encoding: 'utf8',
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: timeoutMs,
    maxBuffer: 16 * MAX_STDERR,
  });
  return (r.stderr ?? '').slice(0, MAX_STDERR);
}
