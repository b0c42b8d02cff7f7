// The packages of the dependency graph, read from Cargo.lock (no cargo process needed).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadToml } from './cargo-config.js';

export interface LockedPackage {
  name: string;
  version: string;
  /** sha256 of the package's sources, for registry packages. */
  checksum?: string;
}

/** The locked packages, or undefined when there is no readable Cargo.lock yet. */
export async function readLockfile(workspaceRoot: string): Promise<LockedPackage[] | undefined> {
  let text: string;
  try {
    text = readFileSync(join(workspaceRoot, 'Cargo.lock'), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const doc = (await loadToml()).parse(text) as { package?: { name?: unknown; version?: unknown; checksum?: unknown }[] };
    return (doc.package ?? [])
      .filter((p) => typeof p.name === 'string' && typeof p.version === 'string')
      .map((p) => ({ name: p.name as string, version: p.version as string, ...(typeof p.checksum === 'string' ? { checksum: p.checksum } : {}) }));
  } catch {
    return undefined; // cargo will report a broken lockfile itself
  }
}
