// The bubblewrap backend: turns a SandboxPolicy into bwrap arguments (see bwrap(1) for each flag).
// Pure: the host's file types come in through `HostView`. The parts that differ per build script
// (OUT_DIR, its package's sources) are added by the launcher at run time, between `setup` and `finish`.

import { dirname, resolve } from 'node:path';
import type { EnvRules } from '../policy/environment.js';
import { renderRecord } from './records.js';
import type { SandboxPolicy } from '../policy/default-policy.js';
import { isInside } from '../paths.js';

export type HostEntry =
  | { type: 'dir' }
  | { type: 'file' }
  | { type: 'symlink'; target: string }
  | { type: 'missing' };

export interface HostView {
  entry(path: string): HostEntry;
}

export interface BwrapArgs {
  /** Namespaces, process rules and the static file system view. */
  setup: string[];
  /** Masks over secrets and the final read-only remount of the root; must come after every bind. */
  finish: string[];
}

/** A file shown in place of a host file: `from` (ours) is bound read-only over `path`. */
export interface ServedBind {
  path: string;
  from: string;
}

export function bwrapArgs(policy: SandboxPolicy, host: HostView, served: readonly ServedBind[] = []): BwrapArgs {
  const setup: string[] = [
    '--unshare-user',
    '--unshare-ipc',
    '--unshare-pid',
    '--unshare-uts',
    '--unshare-cgroup-try',
    // --unshare-net is per package (allow-network), added by the launcher.
    // No user namespaces inside: closes the kernel attack surface they open.
    '--disable-userns',
    '--die-with-parent',
    // A new session: the script cannot push keystrokes into the user's terminal (TIOCSTI).
    '--new-session',
    // When run as root, bwrap would otherwise keep every capability inside the namespace.
    '--cap-drop',
    'ALL',
    '--hostname',
    'cargo-sandbox',
  ];
  for (const path of policy.system) {
    const e = host.entry(path);
    if (e.type === 'symlink') setup.push('--symlink', e.target, path);
    else if (e.type === 'dir') setup.push('--ro-bind', path, path);
  }
  // /etc is a directory of the sandbox's own root (no mount of its own; read-only with the root),
  // holding only what builds need.
  setup.push('--dir', '/etc');
  for (const path of policy.etc) {
    const e = host.entry(path);
    if (e.type === 'symlink') setup.push('--symlink', e.target, path);
    else if (e.type === 'dir' || e.type === 'file') setup.push('--ro-bind', path, path);
  }
  // /tmp is a fresh tmpfs before any bind, so a workspace or target dir under /tmp still shows.
  setup.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp');
  // The kernel's key lists name every key the user can view, whatever keyring holds it (keyctl
  // itself is refused by the supervisor's seccomp filter).
  setup.push('--ro-bind-try', '/dev/null', '/proc/keys', '--ro-bind-try', '/dev/null', '/proc/key-users');
  for (const path of policy.readOnly) {
    if (host.entry(path).type !== 'missing') setup.push('--ro-bind', path, path);
  }
  return { setup, finish: finishArgs(shownMasks(policy.masked, policy.etc), host, served) };
}

/**
 * Served copies, masks over secrets, then the root read-only: after every bind, so nothing
 * re-exposes them. (Our own trees under a write grant: the entry point binds them read-only again
 * where it resolves the grant, libexec/entry/launch.rs keep_own_read_only.)
 */
export function finishArgs(masked: readonly string[], host: HostView, served: readonly ServedBind[] = []): string[] {
  const finish: string[] = [];
  for (const s of served) if (host.entry(s.path).type === 'file') finish.push('--ro-bind', s.from, s.path);
  for (const path of masked) {
    // bwrap follows a link at the destination: mask what it leads to (nothing, if it leads nowhere).
    const target = followLinks(path, host);
    if (!target) continue;
    if (target.entry.type === 'dir') finish.push('--tmpfs', target.path, '--remount-ro', target.path);
    else if (target.entry.type === 'file') finish.push('--ro-bind', '/dev/null', target.path);
  }
  finish.push('--remount-ro', '/');
  return finish;
}

/**
 * The masks a sandbox needs: not those over a part of /etc it does not show (a mask there would
 * only cost a mount), unless `grants` (paths bound over the default view) reach it. A grant that
 * is not a literal path (`None`) could be anywhere: every mask is kept.
 */
export function shownMasks<T extends string | { path: string }>(masked: readonly T[], etc: readonly string[], grants: readonly (string | undefined)[] = []): T[] {
  if (grants.includes(undefined)) return [...masked];
  const shown = [...etc, ...(grants as string[])];
  return masked.filter((m) => {
    const path = typeof m === 'string' ? m : m.path;
    return !isInside(path, '/etc') || shown.some((s) => isInside(path, s) || isInside(s, path));
  });
}

/** Where a chain of symlinks ends (at most 8 of them), or undefined if it leads nowhere. */
function followLinks(path: string, host: HostView): { path: string; entry: HostEntry } | undefined {
  for (let hops = 0; hops <= 8; hops++) {
    const entry = host.entry(path);
    if (entry.type === 'missing') return undefined;
    if (entry.type !== 'symlink') return { path, entry };
    path = resolve(dirname(path), entry.target);
  }
  return undefined;
}

/** bwrap's `--args FD` format: each argument followed by a NUL. */
export function encodeArgs(args: readonly string[]): string {
  for (const a of args) {
    if (a.includes('\0')) throw new Error(`argument contains a NUL byte: ${JSON.stringify(a)}`);
  }
  return args.map((a) => `${a}\0`).join('');
}

/**
 * The environment filter as data for the static entry points (libexec/entry/policy.rs), in its
 * format of libexec/schema/records.json: `keep=` and `deny=` patterns (`*` globs over any name;
 * a deny wins).
 */
export function renderEnvData(rules: EnvRules): string {
  return renderRecord('env', [...rules.keep.map((p) => ['keep', p] as const), ...rules.deny.map((p) => ['deny', p] as const)]);
}
