// The per-call costs behind `npm run bench`'s whole-build numbers: one build script sandboxed
// versus bare, the floor (one bare bwrap), the rustc wrapper on a call that is not a build script,
// and the peak memory of our own processes during a build.

import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEntry } from '../src/intercept/session-cache.js';
import { readRuns, type BuildScriptRun } from '../src/intercept/session.js';
import { readProfiles, type ProcessProfile } from '../src/intercept/profile.js';
import { parseRecord, renderRecord } from '../src/backends/records.js';
import { recordedEnv } from '../src/diagnostics/rerun.js';

export const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
export const percentile = (xs: readonly number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;

/** One measurement: wall time, and the CPU time of everything the command started, in ms. */
export interface Cost {
  wallMs: number;
  cpuMs: number;
}

let stopwatch: { program: string; cgroup?: string } | undefined;

/**
 * Compiles bench/measure.rs into `cacheDir` and, where this user may (root, cgroup v1 cpuacct),
 * makes a cgroup for it: then the CPU counted is every process's, bubblewrap's insides included.
 * Returns how CPU is measured, for the output.
 */
export function setupStopwatch(root: string, cacheDir: string): string {
  const program = join(cacheDir, 'measure');
  const r = spawnSync('rustc', ['-O', '--edition', '2021', '-o', program, join(root, 'bench/measure.rs')], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot compile bench/measure.rs:\n${r.stderr}`);
  const cgroup = `/sys/fs/cgroup/cpuacct/cs-bench-${process.pid}`;
  try {
    mkdirSync(cgroup);
    stopwatch = { program, cgroup };
    return 'CPU: the cgroup (cpuacct) of each measured command, every process in it';
  } catch {
    stopwatch = { program };
    return "CPU: getrusage of the measured command's children (misses what runs inside bubblewrap's PID namespace)";
  }
}

export function removeStopwatch(): void {
  // A sandbox's PID 1 may still be tearing its namespaces down (its status came first): retry a while.
  for (let i = 0; i < 50 && stopwatch?.cgroup && existsSync(stopwatch.cgroup); i++) {
    try {
      rmdirSync(stopwatch.cgroup);
    } catch {
      spawnSync('sleep', ['0.1']);
    }
  }
}

/** Wall and CPU time of one process tree, start to exit (spawned the same way for every variant). */
export function timed(program: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; fds?: number[] } = {}): Cost {
  if (!stopwatch) throw new Error('setupStopwatch first');
  const cg = stopwatch.cgroup ? ['--cgroup', stopwatch.cgroup] : [];
  const r = spawnSync(stopwatch.program, [...cg, '--', program, ...args], { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe', ...(opts.fds ?? [])], encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${program} ${args.join(' ')} exited with ${r.status ?? r.signal}:\n${r.stderr.slice(-4000)}`);
  const [wall, cpu] = r.stdout.trim().split(' ').map(Number);
  return { wallMs: wall! / 1e6, cpuMs: cpu! / 1e6 };
}

/** Alternates the variants `rounds` times; the median wall and CPU of each. */
export function alternate(rounds: number, variants: Record<string, () => Cost>): Record<string, Cost> {
  const samples: Record<string, Cost[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (let i = 0; i < rounds; i++) for (const [k, f] of Object.entries(variants)) samples[k]!.push(f());
  return Object.fromEntries(Object.entries(samples).map(([k, xs]) => [k, { wallMs: median(xs.map((x) => x.wallMs)), cpuMs: median(xs.map((x) => x.cpuMs)) }]));
}

const minus = (a: Cost, b: Cost): Cost => ({ wallMs: a.wallMs - b.wallMs, cpuMs: a.cpuMs - b.cpuMs });

/** The floor: a process start, and one bare bubblewrap around /bin/true (issue 29's yardstick). */
export function bwrapFloor(rounds = 40) {
  const bwrap = ['--ro-bind', '/', '/', '--unshare-all', '--die-with-parent', '/bin/true'];
  const m = alternate(rounds, { true: () => timed('/bin/true', []), bwrap: () => timed('bwrap', bwrap) });
  return { process: m.true!, bwrap: m.bwrap!, bwrapAdded: minus(m.bwrap!, m.true!) };
}

/**
 * One sandboxed compilation (a library, as cargo runs it: RUSTC_WRAPPER rustc ARGS), with
 * /bin/true standing in for rustc inside the sandbox: what remains is the wrapper's, bubblewrap's
 * and the supervisor's cost, and moving the (absent) outputs. `sessionEnv` is a cached session's.
 */
export function wrapperCost(sessions: Record<string, Record<string, string>>, rounds = 100, profiledEnv?: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), 'cs-bench-wrapper-'));
  const deps = join(dir, 'target/debug/deps');
  mkdirSync(deps, { recursive: true });
  const args = [
    '--crate-name', 'libc', '--edition=2015', 'src/lib.rs', '--error-format=json', '--json=diagnostic-rendered-ansi,artifacts,future-incompat',
    '--crate-type', 'lib', '--emit=dep-info,metadata,link', '-C', 'embed-bitcode=no', '-C', 'debuginfo=2', '-C', 'metadata=0123456789abcdef',
    '-C', 'extra-filename=-0123456789abcdef', '--out-dir', deps, '-L', `dependency=${deps}`, '--cap-lints', 'allow', '--cfg', 'feature="std"',
  ];
  const envOf = (session: Record<string, string>, runs: string) => ({ ...process.env, ...session, __CARGO_SANDBOX_RUNS: runs, CARGO_PKG_NAME: 'libc', CARGO_PKG_VERSION: '0.2.0', CARGO_CRATE_NAME: 'libc', CARGO_MANIFEST_DIR: dir, PWD: dir });
  // The call's `--out-dir` must lie in the session's target dir (libexec/entry/jail.rs, BuildOutput).
  const here = (session: Record<string, string>) => sessionWith(session, { 'target-dir': join(dir, 'target') });
  sessions = Object.fromEntries(Object.entries(sessions).map(([name, s]) => [name, here(s)]));
  if (profiledEnv) profiledEnv = here(profiledEnv);
  const envs = Object.fromEntries(Object.entries(sessions).map(([name, s]) => [name, envOf(s, runsOf(s, 'bench-wrapper'))]));
  const wrapper = Object.values(sessions)[0]?.RUSTC_WRAPPER;
  if (!wrapper) throw new Error('the cached session has no RUSTC_WRAPPER');
  // Bare, then each session in turn (one per sandbox builder), round by round.
  const m = alternate(rounds, {
    bare: () => timed('/bin/true', args, { cwd: dir, env: Object.values(envs)[0] }),
    ...Object.fromEntries(Object.entries(envs).map(([name, env]) => [name, () => timed(wrapper, ['/bin/true', ...args], { cwd: dir, env })])),
  });
  // The same calls again, profiled: where the fixed cost goes, stage by stage.
  let profiles: ProcessProfile[] = [];
  if (profiledEnv) {
    const runs = runsOf(profiledEnv, 'bench-wrapper');
    for (let i = 0; i < Math.min(rounds, 30); i++) timed(wrapper, ['/bin/true', ...args], { cwd: dir, env: envOf(profiledEnv, runs) });
    profiles = readProfiles(runs);
    rmSync(runs, { recursive: true, force: true });
  }
  for (const s of [...Object.values(sessions), ...(profiledEnv ? [profiledEnv] : [])]) rmSync(s.__CARGO_SANDBOX_SESSION!, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
  const added = Object.fromEntries(Object.keys(sessions).map((name) => [name, minus(m[name]!, m.bare!)]));
  return { bare: m.bare!, wrapped: Object.fromEntries(Object.keys(sessions).map((name) => [name, m[name]!])), added, profiles };
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
  bare: Cost;
  /** Through its launcher, per session (one per sandbox builder). */
  sandboxed: Record<string, Cost>;
  added: Record<string, Cost>;
}

/** A copy of a cached session with `changes` to its session.data (e.g. `profile`, `sandbox-builder`). */
export function sessionWith(sessionEnv: Record<string, string>, changes: Record<string, string | undefined>): Record<string, string> {
  const dir = sessionEnv.__CARGO_SANDBOX_SESSION!;
  const copy = mkdtempSync(join(tmpdir(), 'cs-bench-session-'));
  cpSync(dir, copy, { recursive: true, filter: (src) => src !== join(dir, 'runs') });
  const values = parseRecord('session', readFileSync(join(dir, 'session.data'), 'utf8'));
  const entries = [...values].flatMap(([k, vs]) => vs.map((v) => [k, v] as const)).filter(([k]) => !(k in changes));
  // (A change to undefined removes the key.)
  const added = Object.entries(changes).filter((e): e is [string, string] => e[1] !== undefined);
  writeFileSync(join(copy, 'session.data'), renderRecord('session', [...entries, ...added]), { mode: 0o600 });
  return { ...sessionEnv, __CARGO_SANDBOX_SESSION: copy };
}

/** A copy of a cached session that profiles (session.data's `profile`, CARGO_SANDBOX_PROFILE=1). */
export function profiledSession(sessionEnv: Record<string, string>): Record<string, string> {
  return sessionWith(sessionEnv, { profile: '1' });
}

/** A fresh records directory of a session (the entry points accept only the session's own). */
export function runsOf(sessionEnv: Record<string, string>, name: string): string {
  const dir = join(sessionEnv.__CARGO_SANDBOX_SESSION!, 'runs', `${name}-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * A clean build of `ws` with cargo itself under `profiledEnv` (a profiling session: every
 * process's stages), then up to `maxScripts` of its build scripts, each run as cargo ran it (its
 * recorded environment, its package directory) bare and through its launcher under `sessionEnv`,
 * alternately.
 */
export function perScriptCost(ws: string, sessions: Record<string, Record<string, string>>, profiledEnv: Record<string, string>, rounds: number, maxScripts = Infinity): { scripts: ScriptCost[]; profiles: ProcessProfile[] } {
  const runsDir = runsOf(profiledEnv, 'bench');
  const env = { ...process.env, ...profiledEnv, __CARGO_SANDBOX_RUNS: runsDir, CARGO_TERM_PROGRESS_WHEN: 'never' };
  rmSync(join(ws, 'target'), { recursive: true, force: true });
  const build = spawnSync('cargo', ['build', '-q'], { cwd: ws, env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`the sandboxed build failed:\n${build.stderr}`);
  const profiles = readProfiles(runsDir);
  const records = readRuns(runsDir)
    .sort((a, b) => a.packageName.localeCompare(b.packageName))
    .slice(0, maxScripts);
  const replayEnvs = Object.fromEntries(Object.entries(sessions).map(([name, s]) => [name, { ...s, __CARGO_SANDBOX_RUNS: runsOf(s, 'bench-replay') }]));
  const costs = records.map((run) => {
    const m = alternate(rounds, {
      bare: () => timedAsCargoRan(run, realBinary(run), {}),
      ...Object.fromEntries(Object.entries(replayEnvs).map(([name, env]) => [name, () => timedAsCargoRan(run, run.launcherPath, env)])),
    });
    const names = Object.keys(sessions);
    return { package: `${run.packageName} ${run.packageVersion}`, bare: m.bare!, sandboxed: Object.fromEntries(names.map((n) => [n, m[n]!])), added: Object.fromEntries(names.map((n) => [n, minus(m[n]!, m.bare!)])) };
  });
  rmSync(runsDir, { recursive: true, force: true });
  for (const env of Object.values(replayEnvs)) rmSync(env.__CARGO_SANDBOX_RUNS, { recursive: true, force: true });
  return { scripts: costs, profiles };
}

/** `program` (the script, or its launcher) started as cargo started it: its environment, its package dir. */
function timedAsCargoRan(run: BuildScriptRun, program: string, env: Record<string, string>): Cost {
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
