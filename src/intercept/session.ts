// A sandbox session: the policy files one `cargo sandbox` run writes for its launchers, and the
// environment that points cargo (and through it every launcher) at them.

import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bwrapArgs, encodeArgs, renderEnvFilter, type HostView } from '../backends/bwrap.js';
import type { SandboxPolicy } from '../policy/default-policy.js';
import { LIBEXEC } from '../paths.js';

export interface Session {
  dir: string;
  /** Variables to add to cargo's environment. */
  env: Record<string, string>;
  /** Build scripts that were started, as the launcher recorded them. */
  runs(): BuildScriptRun[];
  dispose(): void;
}

export interface BuildScriptRun {
  /** The launcher cargo ran (`.../build-script-build`). */
  launcherPath: string;
  /** The (already filtered) environment the script ran with, as `export -p` wrote it. */
  envFile: string;
  startedAtMs: number;
  packageName: string;
  packageVersion: string;
  outDir: string;
  manifestDir: string;
}

export function createSession(opts: {
  policy: SandboxPolicy;
  host: HostView;
  bwrapPath: string;
  innerWrapper: string | undefined;
}): Session {
  const dir = mkdtempSync(join(tmpdir(), 'cargo-sandbox-'));
  const args = bwrapArgs(opts.policy, opts.host);
  writeFileSync(join(dir, 'setup.args'), encodeArgs(args.setup), { mode: 0o600 });
  writeFileSync(join(dir, 'finish.args'), encodeArgs(args.finish), { mode: 0o600 });
  writeFileSync(join(dir, 'env-filter.sh'), renderEnvFilter(opts.policy.env), { mode: 0o600 });
  mkdirSync(join(dir, 'runs'));
  const env: Record<string, string> = {
    RUSTC_WRAPPER: join(LIBEXEC, 'rustc-wrapper'),
    __CARGO_SANDBOX_LAUNCH: join(LIBEXEC, 'launch-build-script.sh'),
    __CARGO_SANDBOX_SESSION: dir,
    __CARGO_SANDBOX_BWRAP: opts.bwrapPath,
  };
  if (opts.innerWrapper) env.__CARGO_SANDBOX_INNER_WRAPPER = opts.innerWrapper;
  return {
    dir,
    env,
    runs: () => readRuns(join(dir, 'runs')),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

function readRuns(runsDir: string): BuildScriptRun[] {
  const runs: BuildScriptRun[] = [];
  // One record per launch, named by the launcher's PID; `PID.stderr` holds its captured stderr.
  for (const name of safeReaddir(runsDir).filter((n) => /^\d+$/.test(n))) {
    const path = join(runsDir, name);
    const [packageName = '', packageVersion = '', outDir = '', manifestDir = '', launcherPath = ''] = readFileSync(
      path,
      'utf8',
    ).split('\0');
    runs.push({
      packageName,
      packageVersion,
      outDir,
      manifestDir,
      launcherPath,
      envFile: `${path}.env`,
      startedAtMs: statSync(path).mtimeMs,
    });
  }
  return runs;
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
