// What one build script did, from its syscall trace: programs it executed, files it read or wrote
// outside what the default policy shows it, network it tried, and which of these were blocked.
// Pure: the host's file existence comes in through `exists`.

import { isAbsolute, resolve } from 'node:path';
import { execArgv, quotedStrings, socketAddress, type SyscallEvent } from './strace.js';
import type { NetworkRecord } from '../intercept/network-records.js';
import { isLoopback } from '../config/network-destinations.js';

export interface Executed {
  program: string;
  argv: string[];
  blocked: boolean;
}
export interface PathAccess {
  path: string;
  blocked: boolean;
}
export interface NetworkAttempt {
  /** `HOST:PORT` (a name only when the proxy recorded it), or `unix:PATH`. */
  destination: string;
  blocked: boolean;
  /** Recorded by its network proxy (by name), not seen as a connect() in the trace. */
  proxy?: true;
  /** Why the proxy refused it. */
  reason?: string;
}

export interface ScriptObservation {
  executed: Executed[];
  readOutside: PathAccess[];
  writtenOutside: PathAccess[];
  network: NetworkAttempt[];
  /** Files opened for reading anywhere (defaults included). */
  filesRead: number;
}

export interface ObserveContext {
  /** The real build-script binary: its exec starts the script's part of the trace. */
  scriptBinary: string;
  /** Trees the default policy shows (read-only or writable), and its masked paths inside them. */
  readable: readonly string[];
  masked: readonly string[];
  /** Trees the default policy lets it write. */
  writable: readonly string[];
  /** Trees that are the sandbox's own (its private /tmp): what it reads there, it wrote itself,
   *  but a miss there may be a host file it hoped to find. */
  private: readonly string[];
  /** The script's working directory (its package), for relative paths. */
  cwd: string;
  exists(path: string): boolean;
}

const WRITE_FLAGS = /O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND/;
/** Probes of the C runtime and allocators (rustc's jemalloc, glibc): not the script's choice. */
const RUNTIME_PROBES = /^\/sys\/(?:kernel\/mm\/transparent_hugepage|devices\/system\/cpu|fs\/cgroup)\//;

/**
 * The paths a call names, resolved: `openat(3</dir>, "x")` against the directory strace shows
 * with -y, `AT_FDCWD` and the plain calls against the script's directory. A child may have
 * changed directory, so a relative path is only trusted where it failed (a success is inside
 * what the sandbox allows anyway); undefined marks one that cannot be placed.
 */
function pathsOf(e: SyscallEvent, cwd: string): (string | undefined)[] {
  const out: (string | undefined)[] = [];
  const at = e.name.endsWith('at') || e.name === 'openat2' || e.name === 'renameat2';
  // With -y, strace shows the directory of a descriptor, AT_FDCWD's too: `AT_FDCWD</w/pkg>`.
  const re = at ? /(AT_FDCWD|\d+)(?:<([^>]*)>)?, "((?:[^"\\]|\\.)*)"/g : /"((?:[^"\\]|\\.)*)"/g;
  for (const m of e.args.matchAll(re)) {
    const raw = quotedStrings(`"${at ? m[3] : m[1]}"`)[0] ?? '';
    if (isAbsolute(raw)) out.push(resolve(raw));
    else if (at && m[2] !== undefined && isAbsolute(m[2])) out.push(resolve(m[2], raw));
    else if (e.result < 0 && (!at || m[1] === 'AT_FDCWD')) out.push(resolve(cwd, raw));
    else out.push(undefined);
    if (!e.name.startsWith('rename')) break;
  }
  return out;
}
const DENIED = new Set(['EACCES', 'EPERM', 'EROFS']);
/** glibc asks nscd before DNS: not something the script chose. */
const RESOLVER_NOISE = /^unix:\/(?:var\/)?run\/nscd\/socket$/;

export function within(path: string, trees: readonly string[]): boolean {
  return trees.some((t) => path === t || path.startsWith(t.endsWith('/') ? t : `${t}/`));
}

const failed = (e: SyscallEvent) => e.result < 0 && e.errno !== undefined;

/** The addresses connected or sent to, each once: blocked only if every attempt failed. */
export function connections(events: readonly SyscallEvent[]): NetworkAttempt[] {
  const network = new Map<string, NetworkAttempt>();
  for (const e of events) {
    if (e.name !== 'connect' && e.name !== 'sendto' && e.name !== 'sendmsg') continue;
    const destination = socketAddress(e.args);
    if (!destination || RESOLVER_NOISE.test(destination)) continue;
    const blocked = failed(e) && e.errno !== 'EINPROGRESS';
    const prev = network.get(destination);
    network.set(destination, { destination, blocked: (prev?.blocked ?? true) && blocked });
  }
  return [...network.values()];
}

/** The events of the script and everything it started; not bwrap's or the supervisor's. */
export function scriptEvents(events: readonly SyscallEvent[], scriptBinary: string): SyscallEvent[] {
  const start = events.findIndex((e) => e.name === 'execve' && e.result === 0 && quotedStrings(e.args)[0] === scriptBinary);
  if (start < 0) return [];
  const seenBefore = new Set(events.slice(0, start).map((e) => e.pid));
  const root = events[start]!.pid;
  return events.slice(start).filter((e) => e.pid === root || !seenBefore.has(e.pid));
}

export function observe(all: readonly SyscallEvent[], ctx: ObserveContext): ScriptObservation {
  const events = scriptEvents(all, ctx.scriptBinary);
  const abs = (p: string) => (isAbsolute(p) ? resolve(p) : resolve(ctx.cwd, p));
  const outsideRead = (p: string) => !within(p, ctx.readable) || within(p, ctx.masked);
  const reads = new Map<string, PathAccess>();
  const writes = new Map<string, PathAccess>();
  const executed: Executed[] = [];
  const failedExecs = new Map<string, Executed>();
  let filesRead = 0;
  const note = (map: Map<string, PathAccess>, path: string, blocked: boolean) => {
    const prev = map.get(path);
    map.set(path, { path, blocked: (prev?.blocked ?? true) && blocked });
  };
  for (const e of events) {
    const strings = quotedStrings(e.args);
    switch (e.name) {
      case 'execve':
      case 'execveat': {
        const program = abs(strings[0] ?? '');
        const entry = { program, argv: execArgv(e.args), blocked: false };
        if (e.result === 0) {
          if (executed.length === 0 && program === ctx.scriptBinary) continue; // the script itself
          executed.push(entry);
        } else if (e.errno && DENIED.has(e.errno)) {
          executed.push({ ...entry, blocked: true });
        } else if (e.errno === 'ENOENT' && ctx.exists(program)) {
          failedExecs.set(program, { ...entry, blocked: true }); // on the host, hidden in the sandbox
        }
        break;
      }
      case 'open':
      case 'openat':
      case 'openat2':
      case 'creat': {
        const path = pathsOf(e, ctx.cwd)[0];
        if (!path || path.startsWith('/proc/self') || path === '/dev/null' || RUNTIME_PROBES.test(path)) break;
        const writing = e.name === 'creat' || WRITE_FLAGS.test(e.args);
        if (writing) {
          if (!within(path, ctx.writable)) note(writes, path, failed(e));
        } else {
          filesRead++;
          // A miss on a path the host does not have either is a probe, not a blocked read.
          if (within(path, ctx.private) && !failed(e)) break;
          if (outsideRead(path) && (!failed(e) || e.errno !== 'ENOENT' || ctx.exists(path))) note(reads, path, failed(e));
        }
        break;
      }
      case 'mkdir':
      case 'mkdirat':
      case 'unlink':
      case 'unlinkat':
      case 'rename':
      case 'renameat':
      case 'renameat2': {
        for (const path of pathsOf(e, ctx.cwd)) {
          if (path && !within(path, ctx.writable)) note(writes, path, failed(e));
        }
        break;
      }
    }
  }
  // A program found hidden on one PATH entry but run from another was not blocked.
  const ran = new Set(executed.filter((x) => !x.blocked).map((x) => x.program.split('/').pop()));
  for (const [program, entry] of failedExecs) if (!ran.has(program.split('/').pop())) executed.push(entry);
  return { executed, readOutside: [...reads.values()], writtenOutside: [...writes.values()], network: connections(events), filesRead };
}

/** The loopback addresses a failed connect() to means a local service it hoped to reach. */
const LOCAL_SERVICE = /^(?:127\.0\.0\.1|\[::1\]):\d+$/;

/**
 * With a network proxy (`PID.network`): what it recorded, by name, replaces the trace's connects to
 * loopback and Unix sockets, which are the proxy and its forwarders. A connect to 127.0.0.1 or
 * [::1] that failed stays: nothing of ours listened there, it was a local service of the host.
 */
export function withProxyRecords(o: ScriptObservation, records: readonly NetworkRecord[] | undefined): ScriptObservation {
  if (!records) return o;
  const byName = new Map(proxyAttempts(records).map((n) => [n.destination, n]));
  const direct = o.network.filter((n) => {
    if (byName.has(n.destination) || n.destination.startsWith('unix:')) return false;
    const host = n.destination.slice(0, n.destination.lastIndexOf(':'));
    return !isLoopback(host) || (n.blocked && LOCAL_SERVICE.test(n.destination));
  });
  return { ...o, network: [...byName.values(), ...direct] };
}

/** What a proxy recorded, one attempt per destination: blocked only if never allowed. */
export function proxyAttempts(records: readonly NetworkRecord[]): NetworkAttempt[] {
  const into = new Map<string, NetworkAttempt>();
  for (const r of records) {
    const prev = into.get(r.destination);
    const blocked = (prev?.blocked ?? true) && !r.allowed;
    into.set(r.destination, { destination: r.destination, blocked, proxy: true, ...(blocked && (r.reason ?? prev?.reason) ? { reason: r.reason ?? prev?.reason } : {}) });
  }
  return [...into.values()];
}

const NETWORK_TOOLS = new Set(['curl', 'wget', 'nc', 'ncat', 'netcat', 'socat', 'ssh', 'scp', 'sftp', 'rsync', 'ftp', 'telnet']);

/** Higher is riskier: the network and writes outside first, reads outside, then what it runs. */
export function riskScore(o: ScriptObservation, exitCode: number | undefined): number {
  const programs = new Set(o.executed.map((x) => x.program.split('/').pop()!));
  let score = 0;
  score += 40 * o.network.length;
  score += 25 * o.writtenOutside.length;
  score += 10 * o.readOutside.length;
  score += 15 * [...programs].filter((p) => NETWORK_TOOLS.has(p)).length;
  score += programs.size;
  score += 5 * [...o.executed, ...o.readOutside, ...o.writtenOutside, ...o.network].filter((x) => x.blocked).length;
  if (exitCode !== undefined && exitCode !== 0) score += 5;
  return score;
}
