// The per-package part of the policy, written as data for the static entry points
// (libexec/entry/policy.rs): the launcher, the compilation and test-binary sandboxes read it.

import { connectEntry, destinationsOf } from '../config/network-destinations.js';
import { renderRecord } from './records.js';
import { DEFAULT_MAX_DISK, DEFAULT_MAX_FILE_SIZE, DEFAULT_MAX_MEMORY, type EffectiveGrants, type GrantedPath, type PathPart } from '../policy/effective.js';
import { isInside } from '../paths.js';

function literal(path: GrantedPath): string | undefined {
  const only = path.parts.length === 1 ? path.parts[0] : undefined;
  return only && 'lit' in only ? only.lit : undefined;
}

/**
 * Masks (or served copies) that stay: a secret is revealed only by a grant that names it (or a
 * path inside it), never by one of a tree that holds it.
 */
export function masksAfterGrants<T extends string | { path: string }>(masked: readonly T[], grants: EffectiveGrants): T[] {
  const named = [...grants.read, ...grants.write].map((g) => literal(g.value)).filter((p): p is string => !!p);
  return masked.filter((m) => !named.some((g) => isInside(g, typeof m === 'string' ? m : m.path)));
}

/** The package's read and write grants as paths; undefined for one with a runtime part (`$OUT_DIR/..`). */
export function grantedPaths(grants: EffectiveGrants): (string | undefined)[] {
  return [...grants.read, ...grants.write].map((g) => literal(g.value));
}

/** Whether build scripts of this package are compiled for another target than the host. */
export function crossTarget(grants: EffectiveGrants): string | undefined {
  const t = grants.target?.value;
  return t && t !== 'native' ? t : undefined;
}

export interface PackageFiles {
  /** bwrap arguments that replace the default masks (some secret was granted). */
  finishFile?: string;
  /** The target and rustc that build scripts are compiled with (sandbox.target). */
  targetFile?: string;
  /** The pids cgroup the package's scripts run in (max-processes), where the host has one. */
  cgroup?: string;
}

/** A granted path as data: runtime parts as \x01NAME\x01, filled in by the launcher. */
function pathData(parts: readonly PathPart[]): string {
  return parts
    .map((p) => {
      if (!('lit' in p)) return `\x01${p.runtime}\x01`;
      if (p.lit.includes('\x01')) throw new Error(`a granted path contains the byte 0x01: ${JSON.stringify(p.lit)}`);
      return p.lit;
    })
    .join('');
}

/** A limit no lower than `floor`; 0 (unlimited) stays unlimited (no entry). */
function atLeast(limit: number, floor: number): string | undefined {
  return limit ? String(Math.max(limit, floor)) : undefined;
}

/**
 * The grants of one package as data for the static entry points (libexec/entry/policy.rs):
 * `key=value` entries, each ending in NUL, keys repeated for lists. No value is ever parsed as code.
 * `network=1` shares the host's network; with a list, `network=0` and one `connect=HOST:PORT` per
 * destination (HOST lowercase, IPv6 in brackets, `*.` for a wildcard; PORT a number or `*`): the
 * launcher then runs the filtering proxy and forwarders, for the build script and for compilations
 * that load this package's proc macros.
 */
export function renderPackageData(grants: EffectiveGrants, files: PackageFiles = {}): string {
  const runner = grants.runner ? [...grants.runner.value] : [];
  // Without `{}`, the script is the runner's last argument.
  if (runner.length && !runner.some((w) => w.includes('{}'))) runner.push('{}');
  // No limit is no entry (records.json: a count is positive).
  const limit = (n: number | undefined) => (n ? String(n) : undefined);
  return renderRecord('package', [
    ['sandbox', grants.sandboxed.value ? '1' : '0'],
    ['network', grants.network.value === true ? '1' : '0'],
    ['timeout', limit(grants.timeoutSecs.value)],
    ['max-output', limit(grants.maxOutput.value)],
    ['max-disk', limit(grants.maxDisk.value)],
    ['max-file-size', limit(grants.maxFileSize.value)],
    ['max-memory', limit(grants.maxMemory.value)],
    // A compilation (rustc, rustdoc, with the proc macros they load) is bounded by the defaults,
    // or by the package's limits where they are higher: limits set for a build script are no
    // measure of what compiling the package takes.
    ['compile-max-disk', atLeast(grants.maxDisk.value, DEFAULT_MAX_DISK)],
    ['compile-max-file-size', atLeast(grants.maxFileSize.value, DEFAULT_MAX_FILE_SIZE)],
    ['compile-max-memory', atLeast(grants.maxMemory.value, DEFAULT_MAX_MEMORY)],
    ['cgroup', files.cgroup],
    ['finish', files.finishFile],
    ['target', files.targetFile],
    ...grants.env.map((e) => ['allow-env', e.value] as const),
    ...grants.read.map((g) => ['read', pathData(g.value.parts)] as const),
    ...grants.write.map((g) => ['write', pathData(g.value.parts)] as const),
    ...grants.exec.map((x) => ['exec', x.value] as const),
    ...destinationsOf(grants.network.value).map((d) => ['connect', connectEntry(d)] as const),
    ...runner.map((w) => ['runner', w] as const),
  ]);
}
