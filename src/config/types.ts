// The `[sandbox]` configuration, as values that remember where they came from.

import type { Destination } from './network-destinations.js';

/** Where a setting came from: a config file line, an environment variable, `--config`, or a flag. */
export type Source =
  | { kind: 'file'; path: string; line?: number; column?: number }
  | { kind: 'env'; name: string }
  | { kind: 'cli'; arg: string }
  | { kind: 'flag'; flag: string }
  | { kind: 'default' };

export interface Sourced<T> {
  value: T;
  source: Source;
}

/** A path as written, with the directory a relative path resolves against. */
export interface PathSpec {
  raw: string;
  baseDir: string;
}

/**
 * `allow-network`: `true` shares the host's whole network, `false` none; a list allows only those
 * destinations (through a filtering proxy and forwarders), each with the source it was written in.
 */
export type NetworkAccess = boolean | readonly Sourced<Destination>[];

/** What a build script may do beyond the default policy; the same keys globally and per package. */
export interface Grants {
  allowNetwork?: Sourced<NetworkAccess>;
  allowRead: Sourced<PathSpec>[];
  allowWrite: Sourced<PathSpec>[];
  allowEnv: Sourced<string>[];
  /** Programs the script may execute (names looked up on PATH, or paths); empty: any. */
  allowExec: Sourced<string>[];
  /** `false`: the explicit escape hatch, only per package. */
  sandbox?: Sourced<boolean>;
  timeoutSecs?: Sourced<number>;
  /** Largest file the script may write, in bytes (0: unlimited). */
  maxFileSize?: Sourced<number>;
  /** Address space of each process, in bytes (0: unlimited). */
  maxMemory?: Sourced<number>;
  /** Bytes the script may write to stdout, and to stderr (0: unlimited). */
  maxOutput?: Sourced<number>;
  /** Bytes the script's files may take, OUT_DIR and /tmp together (0: unlimited). */
  maxDisk?: Sourced<number>;
  /** Processes alive at once in the script's sandbox (0: unlimited). */
  maxProcesses?: Sourced<number>;
  runner?: Sourced<string[]>;
  target?: Sourced<string>;
  targetRustc?: Sourced<string>;
  targetRustflags: Sourced<string[]>[];
}

export interface PackageSpec {
  name: string;
  /** A semver requirement from `name@req`, if any. */
  versionReq?: string;
  /** The sha256 of the package's sources (Cargo.lock's `checksum`) the grants were approved for. */
  checksum?: string;
}

export interface PackageGrants {
  spec: PackageSpec;
  /** The key as written (`openssl-sys` or `openssl-sys@0.9`). */
  key: string;
  grants: Grants;
  /** Grants of `--allow-*=PKG:...` flags: they apply after every table of the package. */
  fromFlags?: true;
}

export interface SandboxConfig {
  global: Grants;
  bwrap?: Sourced<string>;
  /** Run compilations that load proc macros in the sandbox (default true). */
  procMacros?: Sourced<boolean>;
  /** Also confine test, bench, example and `cargo run` binaries (sandbox.run). */
  run?: Sourced<boolean>;
  /** In precedence order, lowest first. */
  packages: PackageGrants[];
}

export function emptyGrants(): Grants {
  return { allowRead: [], allowWrite: [], allowEnv: [], allowExec: [], targetRustflags: [] };
}

export function describeSource(source: Source): string {
  switch (source.kind) {
    case 'file':
      return source.line ? `${source.path}:${source.line}${source.column ? `:${source.column}` : ''}` : source.path;
    case 'env':
      return `environment variable ${source.name}`;
    case 'cli':
      return `--config ${source.arg}`;
    case 'flag':
      return source.flag;
    case 'default':
      return 'default';
  }
}
