// max-processes for a user who is not root: the cgroup this process already runs in, when it is
// delegated to the user (`systemd-run --user --scope -p Delegate=yes cargo sandbox build`). Only
// who owns a cgroup (and root) can create cgroups in it and move processes between them; nothing
// sandboxed can (cgroupfs is not in the sandbox's view, and no mount is possible there).
//
// Delegated means: the directory and the files that move processes and enable controllers are
// owned by this user and writable by no one else, on a real cgroup file system, with the pids
// controller available. Names are not trusted, and nothing is followed: the path comes from the
// kernel (/proc/self/cgroup), each entry is checked with lstat, and files are opened O_NOFOLLOW,
// never created.
//
// cgroup v2's "no internal processes" rule: a cgroup that hands the pids controller to its children
// holds no process itself. The processes of the delegated cgroup move into a leaf child,
// `cargo-sandbox-main`, before `+pids` is enabled; the sessions' cgroups go beside it. Only when
// they are all this build's (this process, its ancestors, its children): a cgroup shared with the
// user's shell or editor is left as it is, and the limit said not to be enforced.
// A later run started from that leaf finds its parent prepared and uses it.

import { accessSync, closeSync, constants, lstatSync, mkdirSync, openSync, readFileSync, statfsSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const CGROUP_SUPER_MAGIC = 0x27e0eb;
const CGROUP2_SUPER_MAGIC = 0x63677270;

export interface PidsHierarchy {
  /** Where it is mounted. */
  mount: string;
  /** cgroup v2 (unified) rather than v1's pids hierarchy (hybrid hosts). */
  v2: boolean;
}

/** The hierarchy that holds the pids controller: v1's (hybrid hosts), else the unified one at /sys/fs/cgroup. */
export function pidsHierarchy(v1 = '/sys/fs/cgroup/pids', v2 = '/sys/fs/cgroup'): PidsHierarchy | undefined {
  if (fsType(v1) === CGROUP_SUPER_MAGIC) return { mount: v1, v2: false };
  if (fsType(v2) === CGROUP2_SUPER_MAGIC) return { mount: v2, v2: true };
  return undefined;
}

function fsType(path: string): number | undefined {
  try {
    return statfsSync(path).type;
  } catch {
    return undefined;
  }
}

/** The leaf a delegated cgroup's own processes move into (cgroup v2). */
export const MAIN_LEAF = 'cargo-sandbox-main';

export type Delegation =
  /** `dir` is delegated; `prepared`: its processes are in the leaf and `+pids` is enabled (v2). */
  | { ok: true; dir: string; prepared: boolean }
  /** Why not; `dir` when the cgroup we run in is known. */
  | { ok: false; why: string; dir?: string };

/** The cgroup this process runs in on `h`, from the kernel's own line for that hierarchy. */
export function ownCgroup(h: PidsHierarchy, selfCgroup: string): string | undefined {
  for (const line of selfCgroup.split('\n')) {
    const m = /^(\d+):([^:]*):(\/.*)$/.exec(line);
    if (!m) continue;
    const matches = h.v2 ? m[1] === '0' && m[2] === '' : m[2]!.split(',').includes('pids');
    if (!matches) continue;
    const path = m[3]!;
    // A removed cgroup reads `... (deleted)`; no `..` can come from the kernel, but nothing relies on it.
    if (path.endsWith(' (deleted)') || path.split('/').includes('..')) return undefined;
    return path === '/' ? h.mount : join(h.mount, path);
  }
  return undefined;
}

/** Why `dir` is not delegated to `uid` (undefined: it is). Read-only. */
export function notDelegated(h: PidsHierarchy, dir: string, uid: number): string | undefined {
  if (fsType(dir) !== (h.v2 ? CGROUP2_SUPER_MAGIC : CGROUP_SUPER_MAGIC)) return 'it is not on a cgroup file system';
  const entries = [['', 'directory'], ['cgroup.procs', 'file'], ...(h.v2 ? [['cgroup.subtree_control', 'file']] : [])] as const;
  for (const [name, kind] of entries) {
    const path = name ? join(dir, name) : dir;
    let st;
    try {
      st = lstatSync(path);
    } catch {
      return `${name || 'it'} cannot be read`;
    }
    const what = name || 'it';
    if (kind === 'directory' ? !st.isDirectory() : !st.isFile()) return `${what} is not a ${kind}`;
    if (st.uid !== uid) return `${what} is owned by uid ${st.uid}, not by you (uid ${uid})`;
    // Only this user: a cgroup others can write is one they can move processes into, or rearrange.
    if (st.mode & 0o022) return `${what} is writable by others (mode ${(st.mode & 0o777).toString(8)})`;
    try {
      accessSync(path, constants.W_OK);
    } catch {
      return `${what} is not writable`;
    }
  }
  if (h.v2 && !controllers(join(dir, 'cgroup.controllers')).includes('pids')) {
    return `its pids controller is not delegated (cgroup.controllers: ${controllers(join(dir, 'cgroup.controllers')).join(' ') || 'none'})`;
  }
  return undefined;
}

function controllers(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * The delegated cgroup sessions can be made in, if any. Read-only: `doctor` and `policy` ask too.
 * In v2, a run started from `X/cargo-sandbox-main` uses X once X hands pids to its children.
 */
export function findDelegation(h: PidsHierarchy, uid: number, selfCgroup = readSelfCgroup()): Delegation {
  const own = ownCgroup(h, selfCgroup);
  if (!own) return { ok: false, why: `this process's cgroup on ${h.mount} is unknown (/proc/self/cgroup)` };
  if (h.v2 && basename(own) === MAIN_LEAF && own !== h.mount) {
    const parent = dirname(own);
    if (!notDelegated(h, parent, uid) && controllers(join(parent, 'cgroup.subtree_control')).includes('pids')) return { ok: true, dir: parent, prepared: true };
  }
  if (own === h.mount) return { ok: false, why: 'it is the root cgroup', dir: own };
  const why = notDelegated(h, own, uid) ?? (h.v2 ? strangerIn(own) : undefined);
  if (why) return { ok: false, why, dir: own };
  return { ok: true, dir: own, prepared: !h.v2 };
}

function readSelfCgroup(): string {
  try {
    return readFileSync('/proc/self/cgroup', 'utf8');
  } catch {
    return '';
  }
}

/** Writes an existing cgroup file: never created, never through a link. */
export function writeCgroupFile(path: string, data: string): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_NOFOLLOW);
  try {
    writeSync(fd, data);
  } finally {
    closeSync(fd);
  }
}

/**
 * cgroup v2: moves every process of `dir` into its leaf and enables `+pids` for its children.
 * Throws (with what failed) when it cannot: the caller then says max-processes is not enforced.
 */
export function prepareDelegation(dir: string, uid: number): void {
  const leaf = join(dir, MAIN_LEAF);
  try {
    mkdirSync(leaf, { mode: 0o755 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const st = lstatSync(leaf);
  if (!st.isDirectory() || st.uid !== uid) throw new Error(`${leaf} is not a cgroup of yours`);
  // Processes may fork meanwhile (a child is born where its parent is): a few rounds.
  for (let round = 0; ; round++) {
    const procs = processesIn(dir);
    // Only this build's own processes are moved: a cgroup that also holds the user's shell or
    // editor (a desktop's terminal scope) is not rearranged under them.
    const stranger = strangerAmong(procs);
    if (stranger) throw new Error(stranger);
    for (const pid of procs) {
      try {
        writeCgroupFile(join(leaf, 'cgroup.procs'), String(pid));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e; // gone meanwhile
      }
    }
    try {
      writeCgroupFile(join(dir, 'cgroup.subtree_control'), '+pids');
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EBUSY' || round >= 9) throw e;
    }
  }
  if (!controllers(join(dir, 'cgroup.subtree_control')).includes('pids')) throw new Error(`pids is not enabled in ${join(dir, 'cgroup.subtree_control')}`);
}

function processesIn(dir: string): number[] {
  return readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
}

function strangerIn(dir: string): string | undefined {
  try {
    return strangerAmong(processesIn(dir));
  } catch (e) {
    return `its cgroup.procs cannot be read (${(e as Error).message})`;
  }
}

/** What is wrong when `procs` are not all this build's (cgroup v2 would need them moved). */
function strangerAmong(procs: readonly number[]): string | undefined {
  const stranger = procs.find((pid) => !ofThisBuild(pid));
  if (stranger === undefined) return undefined;
  return `it also holds processes that are not this build's (PID ${stranger}, \`${comm(stranger)}\`), which cargo-sandbox does not move; start the build in a cgroup of its own`;
}

function parentOf(pid: number): number | undefined {
  try {
    // The command name may hold spaces and parentheses: the fields after its last `)`.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(')').pop()!.trim().split(' ');
    return Number(fields[1]);
  } catch {
    return undefined;
  }
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

/** This process, one of its ancestors (cargo, the shell's `systemd-run`), or one of its children. */
export function ofThisBuild(pid: number): boolean {
  const ancestors = new Set<number>();
  for (let p: number | undefined = process.pid; p && !ancestors.has(p); p = parentOf(p)) ancestors.add(p);
  if (ancestors.has(pid)) return true;
  const seen = new Set<number>();
  for (let p: number | undefined = pid; p && p > 1 && !seen.has(p); p = parentOf(p)) {
    if (p === process.pid) return true;
    seen.add(p);
  }
  return false;
}
