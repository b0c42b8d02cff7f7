// The per-call costs behind `npm run bench`'s whole-build numbers: one build script sandboxed
// versus bare, the floor (one bare bwrap), the rustc wrapper on a call that is not a build script,
// and the peak memory of our own processes during a build.

import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseEntry } from '../src/intercept/session-cache.js';
import { readRuns, type BuildScriptRun } from '../src/intercept/session.js';
import { recordedEnv } from '../src/diagnostics/rerun.js';

export const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
export const percentile = (xs: readonly number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;

/** Wall time of one process, start to exit, in ms (spawned the same way for every variant). */
function timed(program: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; fds?: number[] } = {}): number {
  const start = process.hrtime.bigint();
  const r = spawnSync(program, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'ignore', 'ignore', ...(opts.fds ?? [])] });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${program} ${args.join(' ')} exited with ${r.status ?? r.signal}`);
  return ms;
}

/** Alternates the variants `rounds` times; the median of each. */
function alternate(rounds: number, variants: Record<string, () => number>): Record<string, number> {
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (let i = 0; i < rounds; i++) for (const [k, f] of Object.entries(variants)) samples[k]!.push(f());
  return Object.fromEntries(Object.entries(samples).map(([k, xs]) => [k, median(xs)]));
}

/** The floor: a process start, and one bubblewrap sandbox around /bin/true. */
export function bwrapFloor(rounds = 40) {
  const bwrap = ['--unshare-all', '--die-with-parent', '--new-session', '--ro-bind', '/', '/', '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '/bin/true'];
  const m = alternate(rounds, { true: () => timed('/bin/true', []), bwrap: () => timed('bwrap', bwrap) });
  return { processMs: m.true!, bwrapMs: m.bwrap!, bwrapAddedMs: m.bwrap! - m.true! };
}

/**
 * One sandboxed compilation (a library, as cargo runs it: RUSTC_WRAPPER rustc ARGS), with
 * /bin/true standing in for rustc inside the sandbox: what remains is the wrapper's, bubblewrap's
 * and the supervisor's cost, and moving the (absent) outputs. `sessionEnv` is a cached session's.
 */
export function wrapperCost(sessionEnv: Record<string, string>, rounds = 100) {
  const dir = mkdtempSync(join(tmpdir(), 'cs-bench-wrapper-'));
  const deps = join(dir, 'target/debug/deps');
  mkdirSync(deps, { recursive: true });
  const args = [
    '--crate-name', 'libc', '--edition=2015', 'src/lib.rs', '--error-format=json', '--json=diagnostic-rendered-ansi,artifacts,future-incompat',
    '--crate-type', 'lib', '--emit=dep-info,metadata,link', '-C', 'embed-bitcode=no', '-C', 'debuginfo=2', '-C', 'metadata=0123456789abcdef',
    '-C', 'extra-filename=-0123456789abcdef', '--out-dir', deps, '-L', `dependency=${deps}`, '--cap-lints', 'allow', '--cfg', 'feature="std"',
  ];
  const env = { ...process.env, ...sessionEnv, CARGO_PKG_NAME: 'libc', CARGO_PKG_VERSION: '0.2.0', CARGO_CRATE_NAME: 'libc', CARGO_MANIFEST_DIR: dir, PWD: dir };
  const wrapper = sessionEnv.RUSTC_WRAPPER;
  if (!wrapper) throw new Error('the cached session has no RUSTC_WRAPPER');
  const m = alternate(rounds, {
    bare: () => timed('/bin/true', args, { cwd: dir, env }),
    wrapped: () => timed(wrapper, ['/bin/true', ...args], { cwd: dir, env }),
  });
  rmSync(dir, { recursive: true, force: true });
  return { bareMs: m.bare!, wrappedMs: m.wrapped!, addedMs: m.wrapped! - m.bare! };
}

/** The environment of a session the front end cached in `cacheDir`, for the first that `wanted` accepts. */
export function cachedSessionEnv(cacheDir: string, wanted: (entry: { env: Record<string, string>; argv: string[] }) => boolean): Record<string, string> {
  const sessions = join(cacheDir, 'sessions');
  for (const d of readdirSync(sessions)) {
    const file = join(sessions, d, 'entry');
    if (!existsSync(file)) continue;
    const entry = parseEntry(readFileSync(file, 'utf8'));
    if (wanted(entry)) return entry.env;
  }
  throw new Error(`no matching cached session in ${sessions}`);
}

export interface ScriptCost {
  package: string;
  bareMs: number;
  sandboxedMs: number;
  addedMs: number;
}

/**
 * Every build script of a workspace, run as cargo ran it (its recorded environment, its package
 * directory) bare and through its launcher, alternately. `sessionEnv` is a session's environment
 * for cargo; the build is made here, with cargo itself, so that each launch leaves its record.
 */
export function perScriptCost(ws: string, sessionEnv: Record<string, string>, rounds: number): { scripts: ScriptCost[]; breakdown?: { package: string; medians: Record<string, number> } } {
  const runsDir = mkdtempSync(join(tmpdir(), 'cs-bench-runs-'));
  const env = { ...process.env, ...sessionEnv, __CARGO_SANDBOX_RUNS: runsDir, CARGO_TERM_PROGRESS_WHEN: 'never' };
  rmSync(join(ws, 'target'), { recursive: true, force: true });
  const build = spawnSync('cargo', ['build', '-q'], { cwd: ws, env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`the sandboxed build failed:\n${build.stderr}`);
  const records = readRuns(runsDir);
  const replayDir = join(runsDir, 'replays');
  mkdirSync(replayDir);
  const replayEnv = { ...sessionEnv, __CARGO_SANDBOX_RUNS: replayDir };
  const costs = records.map((run) => {
    const m = alternate(rounds, { bare: () => timedAsCargoRan(run, realBinary(run), {}), sandboxed: () => timedAsCargoRan(run, run.launcherPath, replayEnv) });
    return { package: `${run.packageName} ${run.packageVersion}`, bareMs: m.bare!, sandboxedMs: m.sandboxed!, addedMs: m.sandboxed! - m.bare!, run };
  });
  // The quickest script shows the fixed cost best: its breakdown, step by step.
  const quickest = [...costs].sort((a, b) => a.bareMs - b.bareMs)[0];
  const breakdown = quickest ? { package: quickest.package, medians: launcherBreakdown(quickest.run, sessionEnv, Math.max(20, rounds)) } : undefined;
  rmSync(runsDir, { recursive: true, force: true });
  return { scripts: costs.map(({ run: _run, ...cost }) => cost).sort((a, b) => a.package.localeCompare(b.package)), breakdown };
}

/**
 * Where one build script's added time goes: bwrap alone around it (the session's view, no
 * supervisor), bwrap with the supervisor, and the whole launcher (policy, environment, record).
 */
export function launcherBreakdown(run: BuildScriptRun, sessionEnv: Record<string, string>, rounds: number): Record<string, number> {
  const session = sessionEnv.__CARGO_SANDBOX_SESSION!;
  const bwrap = sessionEnv.__CARGO_SANDBOX_BWRAP!;
  const confine = sessionEnv.__CARGO_SANDBOX_CONFINE!;
  const real = realBinary(run);
  const view = ['--args', '3', '--ro-bind', join(run.outDir, '../..'), join(run.outDir, '../..'), '--ro-bind', dirname(real), dirname(real), '--ro-bind', run.manifestDir, run.manifestDir, '--bind', run.outDir, run.outDir, '--unshare-net', '--ro-bind', confine, confine, '--args', '4', '--'];
  // bwrap reads its argument files from fds 3 and 4, to the end: opened anew for each run.
  const inBwrap = (program: string[]) => {
    const fds = [openSync(join(session, 'setup.args'), 'r'), openSync(join(session, 'finish.args'), 'r')];
    try {
      return timed(bwrap, [...view, ...program], { cwd: run.manifestDir, env: recordedEnv(run.envFile), fds });
    } finally {
      for (const fd of fds) closeSync(fd);
    }
  };
  const replayDir = mkdtempSync(join(tmpdir(), 'cs-bench-runs-'));
  const medians = alternate(rounds, {
    bare: () => timedAsCargoRan(run, real, {}),
    '+ bwrap': () => inBwrap([real]),
    '+ supervisor': () => inBwrap([confine, '--out', run.outDir, '--no-network', '--', real]),
    '+ launcher (everything)': () => timedAsCargoRan(run, run.launcherPath, { ...sessionEnv, __CARGO_SANDBOX_RUNS: replayDir }),
  });
  rmSync(replayDir, { recursive: true, force: true });
  return medians;
}

/** `program` (the script, or its launcher) started as cargo started it: its environment, its package dir. */
function timedAsCargoRan(run: BuildScriptRun, program: string, env: Record<string, string>): number {
  return timed(program, [], { cwd: run.manifestDir, env: { ...recordedEnv(run.envFile), ...env } });
}

function realBinary(run: BuildScriptRun): string {
  // The launcher took the script's name; the real binary is beside it (see libexec/entry/rustc.rs).
  const real = readdirSync(join(run.launcherPath, '..')).find((n) => n.endsWith('.real'));
  if (!real) throw new Error(`no real build script beside ${run.launcherPath}`);
  return join(run.launcherPath, '..', real);
}

/**
 * Peak resident memory (VmHWM) of our own processes during one command, by program: sampled
 * from /proc every 20 ms over the command's process tree.
 */
export async function peakMemory(program: string, args: readonly string[], opts: { cwd: string; env: NodeJS.ProcessEnv }, ours: RegExp): Promise<Record<string, number>> {
  const child = spawn(program, args, { cwd: opts.cwd, env: opts.env, stdio: 'ignore' });
  const peaks: Record<string, number> = {};
  const sample = () => {
    const parent = new Map<number, number>();
    for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
      try {
        parent.set(Number(pid), Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0));
      } catch {
        /* exited meanwhile */
      }
    }
    const underChild = (pid: number): boolean => {
      for (let p: number | undefined = pid, hops = 0; p && hops < 64; p = parent.get(p), hops++) if (p === child.pid) return true;
      return false;
    };
    for (const pid of [...parent.keys()].filter(underChild)) {
      try {
        const status = readFileSync(`/proc/${pid}/status`, 'utf8');
        const name = /^Name:\s+(.*)$/m.exec(status)?.[1] ?? '';
        const hwm = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
        const key = name.replace(/-[0-9a-f]{4,}$/, '');
        if (ours.test(key) && hwm > (peaks[key] ?? 0)) peaks[key] = hwm;
      } catch {
        /* exited meanwhile */
      }
    }
  };
  const timer = setInterval(sample, 20);
  await new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${program} ${args.join(' ')} exited with ${code}`))));
  });
  clearInterval(timer);
  return peaks;
}

export function writeJson(path: string, data: unknown): void {
  writeFileSync(path, JSON.stringify(data, null, 2) + '\n');
}
