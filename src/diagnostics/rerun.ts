// Reruns a failed build script once, in the same sandbox and environment, to read its stderr
// (cargo keeps it to itself). Costs nothing on successful builds; only failures pay for a rerun.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { BuildScriptRun } from '../intercept/session.js';

const MAX_STDERR = 64 * 1024;

/**
 * `entry`: our static entry point, which starts the launcher as its child (`cargo-sandbox-parent`),
 * so that the launcher finds the session where it always looks: in its parent's start-up
 * environment (libexec/entry/session.rs).
 */
export function rerunForStderr(run: BuildScriptRun, sessionEnv: Record<string, string>, entry: string, timeoutMs = 120_000): string {
  const r = spawnSync(entry, [run.launcherPath], {
    argv0: 'cargo-sandbox-parent',
    cwd: run.manifestDir,
    env: { ...recordedEnv(run.envFile), ...sessionEnv },
    encoding: 'utf8',
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: timeoutMs,
    maxBuffer: 16 * MAX_STDERR,
  });
  return (r.stderr ?? '').slice(0, MAX_STDERR);
}

/** The environment a launcher recorded (NAME=VALUE entries, each ending in NUL). */
export function recordedEnv(envFile: string): Record<string, string> {
  const env: Record<string, string> = {};
  let data = '';
  try {
    data = readFileSync(envFile, 'utf8');
  } catch {
    return env;
  }
  for (const entry of data.split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}
