// The effective grants of one build script: the global `[sandbox]` grants, then every
// `[sandbox.package.*]` entry that matches its package (by name, then name@version), merged.
// Pure: paths are expanded against values given by the caller; the variables only known when the
// script starts (CARGO_MANIFEST_DIR, OUT_DIR) stay symbolic for the launcher.

import { createHash } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import { semver } from '../config/semver.js';
import { connectEntry, mergeNetwork } from '../config/network-destinations.js';
import type { Grants, NetworkAccess, PathSpec, SandboxConfig, Sourced } from '../config/types.js';

export type PathPart = { lit: string } | { runtime: 'CARGO_MANIFEST_DIR' | 'OUT_DIR' };

export interface GrantedPath {
  /** As shown to users, with runtime variables as `${NAME}`. */
  display: string;
  parts: PathPart[];
}

export interface EffectiveGrants {
  /** `true`: the host's network; `false`: none; a list: those destinations only (connect= entries). */
  network: Sourced<NetworkAccess>;
  read: Sourced<GrantedPath>[];
  write: Sourced<GrantedPath>[];
  env: Sourced<string>[];
  sandboxed: Sourced<boolean>;
  timeoutSecs: Sourced<number>;
  maxFileSize: Sourced<number>;
  maxMemory: Sourced<number>;
  maxOutput: Sourced<number>;
  maxDisk: Sourced<number>;
  maxProcesses: Sourced<number>;
  /** Empty: any program visible in the sandbox may run. */
  exec: Sourced<string>[];
  /** The command build scripts run through instead of bubblewrap (`{}`: the script). */
  runner?: Sourced<string[]>;
  /** The target build scripts are compiled for; absent or "native": the host. */
  target?: Sourced<string>;
  targetRustc?: Sourced<string>;
  targetRustflags: string[];
}

export interface StaticPathVars {
  HOME: string;
  WORKSPACE_ROOT: string;
  TARGET_DIR: string;
}

const DEFAULT = { kind: 'default' } as const;

/** Limits real build scripts stay far below (a C++ compile, a generated table), per process/file. */
export const DEFAULT_MAX_FILE_SIZE = 8 * 1024 ** 3;
export const DEFAULT_MAX_MEMORY = 16 * 1024 ** 3;
/** cargo keeps a build script's whole output in memory; real ones print kilobytes. */
export const DEFAULT_MAX_OUTPUT = 64 * 1024 ** 2;
/** A parallel C++ build (make -j, cmake) stays far below; a fork bomb does not. */
export const DEFAULT_MAX_PROCESSES = 1024;
/** OUT_DIR and /tmp together: the largest C++ builds stay below a few GiB. */
export const DEFAULT_MAX_DISK = 16 * 1024 ** 3;
/** A build script that runs longer is stuck: the largest C++ builds take minutes on 2 cores. */
export const DEFAULT_TIMEOUT_SECS = 30 * 60;

export function packageMatches(spec: { name: string; versionReq?: string; checksum?: string }, pkg: { name: string; version?: string; checksum?: string }): boolean {
  if (spec.name !== pkg.name) return false;
  if (spec.checksum && spec.checksum !== pkg.checksum) return false;
  if (!spec.versionReq) return true;
  if (!pkg.version) return false;
  // Cargo's requirements are caret by default, like npm's; `0.9` means `^0.9`.
  return semver().satisfies(pkg.version, spec.versionReq, { includePrerelease: true });
}

export function expandPath(spec: PathSpec, vars: StaticPathVars): GrantedPath {
  let raw = spec.raw;
  if (raw === '~' || raw.startsWith('~/')) raw = '${HOME}' + raw.slice(1);
  const parts: PathPart[] = [];
  let last = 0;
  for (const m of raw.matchAll(/\$\{([A-Z_]+)\}/g)) {
    if (m.index! > last) parts.push({ lit: raw.slice(last, m.index) });
    const name = m[1]!;
    if (name === 'CARGO_MANIFEST_DIR' || name === 'OUT_DIR') parts.push({ runtime: name });
    else parts.push({ lit: vars[name as keyof StaticPathVars] });
    last = m.index! + m[0].length;
  }
  if (last < raw.length) parts.push({ lit: raw.slice(last) });
  const first = parts[0];
  if (first && 'lit' in first && !isAbsolute(first.lit)) {
    parts[0] = { lit: resolve(spec.baseDir, first.lit) };
  } else if (!first) {
    parts.push({ lit: spec.baseDir });
  }
  const merged = mergeLiterals(parts);
  const onlyLiteral = merged.length === 1 && 'lit' in merged[0]! ? merged[0].lit : undefined;
  if (onlyLiteral !== undefined) merged[0] = { lit: resolve(onlyLiteral) };
  return { parts: merged, display: merged.map((p) => ('lit' in p ? p.lit : `\${${p.runtime}}`)).join('') };
}

function mergeLiterals(parts: PathPart[]): PathPart[] {
  const out: PathPart[] = [];
  for (const p of parts) {
    const prev = out.at(-1);
    if (prev && 'lit' in prev && 'lit' in p) out[out.length - 1] = { lit: prev.lit + p.lit };
    else out.push(p);
  }
  return out;
}

/** The grant sets that apply to a package, lowest precedence first: global, name, name@version, flags. */
export function applicableGrants(config: SandboxConfig, pkg: { name: string; version?: string; checksum?: string }): Grants[] {
  const matching = config.packages.filter((p) => packageMatches(p.spec, pkg));
  const tables = matching.filter((p) => !p.fromFlags);
  return [
    config.global,
    ...tables.filter((p) => !p.spec.versionReq && !p.spec.checksum).map((p) => p.grants),
    ...tables.filter((p) => p.spec.versionReq || p.spec.checksum).map((p) => p.grants),
    ...matching.filter((p) => p.fromFlags).map((p) => p.grants),
  ];
}

export function effectiveGrants(config: SandboxConfig, pkg: { name: string; version?: string; checksum?: string }, vars: StaticPathVars): EffectiveGrants {
  const eff: EffectiveGrants = {
    network: { value: false, source: DEFAULT },
    read: [],
    write: [],
    env: [],
    sandboxed: { value: true, source: DEFAULT },
    maxFileSize: { value: DEFAULT_MAX_FILE_SIZE, source: DEFAULT },
    maxMemory: { value: DEFAULT_MAX_MEMORY, source: DEFAULT },
    maxOutput: { value: DEFAULT_MAX_OUTPUT, source: DEFAULT },
    maxDisk: { value: DEFAULT_MAX_DISK, source: DEFAULT },
    timeoutSecs: { value: DEFAULT_TIMEOUT_SECS, source: DEFAULT },
    maxProcesses: { value: DEFAULT_MAX_PROCESSES, source: DEFAULT },
    exec: [],
    targetRustflags: [],
  };
  for (const g of applicableGrants(config, pkg)) {
    if (g.allowNetwork) eff.network = mergeNetwork(eff.network, g.allowNetwork);
    if (g.sandbox) eff.sandboxed = g.sandbox;
    if (g.timeoutSecs) eff.timeoutSecs = g.timeoutSecs;
    if (g.maxFileSize) eff.maxFileSize = g.maxFileSize;
    if (g.maxMemory) eff.maxMemory = g.maxMemory;
    if (g.maxOutput) eff.maxOutput = g.maxOutput;
    if (g.maxDisk) eff.maxDisk = g.maxDisk;
    if (g.maxProcesses) eff.maxProcesses = g.maxProcesses;
    eff.exec.push(...g.allowExec);
    if (g.runner) eff.runner = g.runner;
    if (g.target) eff.target = g.target;
    if (g.targetRustc) eff.targetRustc = g.targetRustc;
    eff.targetRustflags.push(...g.targetRustflags.flatMap((f) => f.value));
    eff.read.push(...g.allowRead.map((p) => ({ value: expandPath(p.value, vars), source: p.source })));
    eff.write.push(...g.allowWrite.map((p) => ({ value: expandPath(p.value, vars), source: p.source })));
    eff.env.push(...g.allowEnv);
  }
  return eff;
}

/** A fingerprint of what is granted (not where it was written), to rerun scripts when it changes. */
export function grantsFingerprint(grants: readonly Grants[], vars: StaticPathVars): string {
  const canonical = grants.map((g) => ({
    n: networkFingerprint(g.allowNetwork?.value),
    s: g.sandbox?.value,
    t: g.timeoutSecs?.value,
    fs: g.maxFileSize?.value,
    mem: g.maxMemory?.value,
    out: g.maxOutput?.value,
    disk: g.maxDisk?.value,
    pids: g.maxProcesses?.value,
    exec: g.allowExec.map((x) => x.value),
    r: g.allowRead.map((p) => expandPath(p.value, vars).display),
    w: g.allowWrite.map((p) => expandPath(p.value, vars).display),
    e: g.allowEnv.map((e) => e.value),
    x: g.runner?.value,
    g: g.target?.value,
    c: g.targetRustc?.value,
    f: g.targetRustflags.map((f) => f.value),
  }));
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex').slice(0, 16);
}

/** What of `allow-network` reruns a script when it changes: the value, a list as its entries. */
function networkFingerprint(n: NetworkAccess | undefined): boolean | string[] | undefined {
  return typeof n === 'object' ? n.map((d) => connectEntry(d.value)) : n;
}
