// The packages of the dependency graph, read from Cargo.lock (no cargo process needed), in every
// format cargo reads: v1 (the oldest has the workspace's package as `[root]`; checksums in
// `[metadata]`), v2 (checksums in the packages, short dependencies), v3 and v4 (`version = N`).
// Shared vectors: test/vectors/lockfiles (the Rust reader, libexec/entry/macro_set.rs, passes them too).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadToml } from './cargo-config.js';

export interface LockedPackage {
  name: string;
  version: string;
  /** Where it comes from (`registry+URL`, `git+URL#commit`); none for a path package. */
  source?: string;
  /** sha256 of the package's sources, for registry packages: only one cargo verified (source-replacement.ts). */
  checksum?: string;
  /** `[replace]` in Cargo.toml: the package built in its place (`name version (source)`). */
  replace?: string;
  /** A checksum Cargo.lock claims that cargo did not verify (a vendored source): no pin matches it. */
  claimedChecksum?: string;
  /** Why that checksum is not verified, for the stale-approval warning and `cargo sandbox policy`. */
  unverified?: string;
}

/** The locked packages, or undefined when there is no readable Cargo.lock yet. */
export async function readLockfile(workspaceRoot: string): Promise<LockedPackage[] | undefined> {
  let text: string;
  try {
    text = readFileSync(join(workspaceRoot, 'Cargo.lock'), 'utf8');
  } catch {
    return undefined;
  }
  return parseLockfile(text, (await loadToml()).parse);
}

type Table = Record<string, unknown>;

/**
 * The packages of a Cargo.lock's text, or undefined when it is not TOML cargo could read (cargo
 * will report it itself): then no approval pinned to a version or checksum applies (fail closed).
 */
export function parseLockfile(text: string, parseToml: (text: string) => unknown): LockedPackage[] | undefined {
  let doc: Table;
  try {
    doc = parseToml(text) as Table;
  } catch {
    return undefined;
  }
  const tables = [...(isTable(doc.root) ? [doc.root] : []), ...(Array.isArray(doc.package) ? doc.package.filter(isTable) : [])];
  // v1: `"checksum NAME VERSION (SOURCE)" = "SHA256"`, `<none>` for a package without one.
  const metadata = isTable(doc.metadata) ? doc.metadata : {};
  const v1Checksum = (name: string, version: string, source: string | undefined): string | undefined => {
    if (source === undefined) return undefined;
    const value = metadata[`checksum ${name} ${version} (${source})`];
    return typeof value === 'string' && value !== '<none>' ? value : undefined;
  };
  const packages: LockedPackage[] = [];
  for (const p of tables) {
    if (typeof p.name !== 'string' || typeof p.version !== 'string') continue;
    const source = typeof p.source === 'string' ? p.source : undefined;
    const checksum = typeof p.checksum === 'string' ? p.checksum : v1Checksum(p.name, p.version, source);
    const replace = typeof p.replace === 'string' ? { replace: p.replace } : {};
    packages.push({ name: p.name, version: p.version, ...(source !== undefined ? { source } : {}), ...(checksum !== undefined ? { checksum } : {}), ...replace });
  }
  return packages;
}

function isTable(v: unknown): v is Table {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
