// Cached sessions: what the compiled front end (libexec/front-end.rs) replays without starting
// Node. The front end fingerprints everything a session is derived from and passes the entry
// directory (sessions/KEY) to Node on a miss; Node writes the session there, then `entry`: the
// environment and command for cargo, and every host path the policy looked at with what it was
// (a secret that appears later, e.g. ~/.aws, makes the entry stale: it must be masked).
// After cargo, the front end hands back to Node only when a build script ran or cargo failed.

import { existsSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { HostEntry, HostView } from '../backends/bwrap.js';
import { removePidsCgroups } from '../backends/cgroups.js';
import { cacheDirs, compiledHelper, installPathsEnv, pointLinkAt, usableDir } from '../backends/native-helpers.js';
import { readRuns, safeReaddir, RUNS_VARIABLE, type Session } from './session.js';
import type { RustcInfo } from './rustc-info.js';

/** Set by the front end on a miss: the directory to write the session into. */
export const ENTRY_VARIABLE = '__CARGO_SANDBOX_CACHE_ENTRY';
/** Set by the front end after cargo: `ENTRY\nRUNS\nEXIT` (EXIT is the code, or -SIGNAL). */
export const AFTER_VARIABLE = '__CARGO_SANDBOX_AFTER';

const STALE_AFTER_MS = 60 * 60 * 1000;
const UNUSED_AFTER_MS = 14 * 24 * 60 * 60 * 1000;
const MAX_SESSIONS = 32;

/**
 * Builds the front end where bin/cargo-sandbox looks for it (the first writable of
 * CARGO_SANDBOX_CACHE_DIR, the package's .cache, the user's cache), as `front-end`, a link to the
 * build for this source, root and Node. It only speeds things up: if it cannot be built,
 * everything still runs through Node.
 */
export function ensureFrontEnd(env: NodeJS.ProcessEnv): void {
  const dir = cacheDirs(env).find(usableDir);
  if (!dir) return;
  try {
    const compileEnv = installPathsEnv();
    pointLinkAt(join(dir, 'front-end'), basename(compiledHelper({ name: 'front-end', compileEnv, dirs: [dir] }, env)));
  } catch {
    /* no rustc that builds it: Node serves every run */
  }
}

/**
 * Builds the static launcher of the proc-macro server (libexec/proc-macro-srv.rs) in the first
 * writable cache directory, linked there as `cargo-sandbox-proc-macro-srv`: the path to give
 * rust-analyzer (`procMacro.server`). Undefined when it cannot be built (the script in bin/ then
 * starts Node from PATH).
 */
export function ensureProcMacroLauncher(env: NodeJS.ProcessEnv): string | undefined {
  const dir = cacheDirs(env).find(usableDir);
  if (!dir) return undefined;
  try {
    const compileEnv = installPathsEnv();
    const built = basename(compiledHelper({ name: 'proc-macro-srv', compileEnv, dirs: [dir], mustBeStatic: true }, env));
    const link = join(dir, 'cargo-sandbox-proc-macro-srv');
    pointLinkAt(link, built);
    return link;
  } catch {
    return undefined;
  }
}

/** Records every host path the policy asked about, and what it found. */
export function recordingHost(host: HostView, seen: Map<string, string>): HostView {
  return {
    entry(path: string): HostEntry {
      const e = host.entry(path);
      seen.set(path, e.type === 'symlink' ? `symlink:${e.target}` : e.type);
      return e;
    },
  };
}

/**
 * Takes the entry directory for a new session. A stale session there is moved aside (a build
 * that still uses it keeps working) and removed later. Undefined if another run got there first.
 */
export function claimEntryDir(dir: string): string | undefined {
  pruneSessions(dirname(dir));
  if (existsSync(dir)) {
    try {
      renameSync(dir, `${dir}.stale-${process.pid}`);
    } catch {
      return undefined;
    }
  }
  try {
    mkdirSync(dirname(dir), { recursive: true, mode: 0o700 });
    mkdirSync(dir, { mode: 0o700 });
    return dir;
  } catch {
    return undefined;
  }
}

export interface EntryContent {
  env: Record<string, string>;
  argv: readonly string[];
  /** Host path -> what it was: dir, file, missing, symlink:TARGET. */
  checks: ReadonlyMap<string, string>;
  /**
   * Files replayed as they are (the session's policy files, the compiled helpers cargo starts) ->
   * their identity when the session was written: any write, chmod or replacement since changes it.
   */
  same: ReadonlyMap<string, string>;
  /** What was printed on stderr before cargo started (warnings), replayed as is. */
  preamble: string;
  /** Cargo's copy of the compiler's version text, checked and recorded as Node does (rustc-info.ts). */
  rustcInfo: RustcInfo;
}

/**
 * A file's identity as the front end computes it (device, inode, size, change time in ns). No
 * unprivileged process can set a file's change time: a file that still has it was not touched.
 */
export function fileIdentity(path: string): string {
  const s = lstatSync(path, { bigint: true });
  return `${s.dev}:${s.ino}:${s.size}:${s.ctimeNs}`;
}

/** The session's own files (not its per-run records), the helpers its environment names, and `alsoWatched`. */
export function replayedFiles(sessionDir: string, sessionEnv: Record<string, string>, env: NodeJS.ProcessEnv, alsoWatched: readonly string[] = []): Map<string, string> {
  const files = new Map<string, string>();
  const add = (path: string) => files.set(path, fileIdentity(path));
  for (const path of alsoWatched) if (existsSync(path)) add(path);
  for (const name of safeReaddir(sessionDir)) {
    const path = join(sessionDir, name);
    if (name === 'packages') for (const p of safeReaddir(path)) add(join(path, p));
    else if (name !== 'runs' && lstatSync(path).isFile()) add(path);
  }
  // RUSTC_WRAPPER, RUSTDOC, the supervisor, the runner: every compiled helper the session names,
  // and the workspace wrapper's link to one.
  const caches = cacheDirs(env);
  for (const value of Object.values(sessionEnv)) {
    if (!caches.some((c) => value.startsWith(`${c}/`)) || !existsSync(value)) continue;
    const kind = lstatSync(value);
    if (kind.isFile() || kind.isSymbolicLink()) add(value);
  }
  return files;
}

export function renderEntry(e: EntryContent): string {
  const fields: string[] = [];
  for (const [path, kind] of e.checks) fields.push('check', path, kind);
  for (const [path, id] of e.same) fields.push('same', path, id);
  fields.push('rustc-info', e.rustcInfo.file, e.rustcInfo.record);
  for (const [k, v] of Object.entries(e.env)) fields.push('env', k, v);
  for (const a of e.argv) fields.push('argv', a);
  fields.push('end');
  for (const f of fields) {
    if (f.includes('\0')) throw new Error(`a session value contains a NUL byte: ${JSON.stringify(f)}`);
  }
  return fields.map((f) => `${f}\0`).join('');
}

/** Written last, atomically: the front end uses a session only once its entry is complete. */
export function writeEntry(dir: string, e: EntryContent): void {
  writeFileSync(join(dir, 'stderr'), e.preamble, { mode: 0o600 });
  writeFileSync(join(dir, 'entry.tmp'), renderEntry(e), { mode: 0o600 });
  renameSync(join(dir, 'entry.tmp'), join(dir, 'entry'));
}

export function parseEntry(data: string): { env: Record<string, string>; argv: string[] } {
  const fields = data.split('\0');
  const env: Record<string, string> = {};
  const argv: string[] = [];
  for (let i = 0; i < fields.length; ) {
    const kind = fields[i];
    if (kind === 'check' || kind === 'same' || kind === 'rustc-info') i += 3;
    else if (kind === 'env') {
      env[fields[i + 1]!] = fields[i + 2]!;
      i += 3;
    } else if (kind === 'argv') {
      argv.push(fields[i + 1]!);
      i += 2;
    } else i += 1;
  }
  return { env, argv };
}

export interface FrontEndRun {
  session: Session;
  exit: { code: number | null; signal: NodeJS.Signals | null };
}

/** The session and cargo's exit from the front end's AFTER variable (see front-end.rs). */
export function resumeFrontEndRun(after: string): FrontEndRun {
  const [dir = '', runsDir = '', how = '101'] = after.split('\n');
  const env: Record<string, string> = { ...parseEntry(readFileSync(join(dir, 'entry'), 'utf8')).env, [RUNS_VARIABLE]: runsDir };
  const signal = how.startsWith('-') ? signalName(Number(how.slice(1))) : null;
  return {
    session: {
      dir,
      runsDir,
      env,
      // Our static entry point (the rustc wrapper the session names), which reruns a failed script.
      entry: env.RUSTC_WRAPPER ?? '',
      runs: () => readRuns(runsDir),
      pidsLimited: existsSync(join(dir, 'cgroup')),
      dispose: () => rmSync(runsDir, { recursive: true, force: true }),
    },
    exit: signal ? { code: null, signal } : { code: Number(how), signal: null },
  };
}

function signalName(n: number): NodeJS.Signals | null {
  return (Object.entries(constants.signals).find(([, number]) => number === n)?.[0] as NodeJS.Signals | undefined) ?? null;
}

/**
 * Removes sessions moved aside an hour ago, those no run used for two weeks, and the least
 * recently used beyond MAX_SESSIONS (each holds a few small files and, as root, empty cgroups).
 */
export function pruneSessions(sessionsDir: string, now = Date.now()): void {
  const sessions = safeReaddir(sessionsDir)
    .map((name) => ({ name, dir: join(sessionsDir, name), lastUsed: mtimeMs(join(sessionsDir, name, 'runs')) ?? mtimeMs(join(sessionsDir, name)) ?? now }))
    .sort((a, b) => b.lastUsed - a.lastUsed);
  sessions.forEach(({ name, dir, lastUsed }, rank) => {
    const age = now - lastUsed;
    const unwanted = name.includes('.stale-') ? age > STALE_AFTER_MS : age > UNUSED_AFTER_MS || rank >= MAX_SESSIONS;
    if (!unwanted) return;
    try {
      removePidsCgroups(readFileSync(join(dir, 'cgroup'), 'utf8'));
    } catch {
      /* no cgroup */
    }
    rmSync(dir, { recursive: true, force: true });
  });
}

function mtimeMs(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}


