// cargo-sandbox.lock: what was reviewed for each package with a build script (its version, the
// checksum of its sources, and what its build script did), committed beside Cargo.lock so that a
// pull request shows a dependency's new behaviour as a diff. Pure apart from read/write.

import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import type { ScriptAudit } from './report.js';
import { programNames } from './report.js';
import { displayPath } from '../paths.js';

export const APPROVALS_FILE = 'cargo-sandbox.lock';

export interface Behaviour {
  executes: string[];
  reads: string[];
  writes: string[];
  network: string[];
}

export interface Approval extends Behaviour {
  version: string;
  checksum?: string;
}

export interface Approvals {
  version: 1;
  packages: Record<string, Approval>;
}

export interface ApprovalChange {
  package: string;
  approvedVersion: string;
  version: string;
  checksumChanged: boolean;
  added: Partial<Behaviour>;
  removed: Partial<Behaviour>;
}

/** Paths in the home directory as `~/...`: the lock file is the same for every developer. */
function portable(path: string, home: string | undefined): string {
  return home ? displayPath(path, home) : path;
}

export function behaviourOf(s: ScriptAudit, home?: string): Behaviour {
  const sorted = (xs: string[]) => [...new Set(xs)].sort();
  return {
    executes: sorted(programNames(s)),
    reads: sorted(s.readOutside.map((p) => portable(p.path, home))),
    writes: sorted(s.writtenOutside.map((p) => portable(p.path, home))),
    network: sorted(s.network.map((n) => n.destination)),
  };
}

export function readApprovals(path: string): Approvals | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const doc = JSON.parse(text) as Approvals;
  if (doc.version !== 1 || typeof doc.packages !== 'object') throw new Error(`${path}: not a cargo-sandbox.lock of version 1`);
  return doc;
}

export function approvalsFor(scripts: readonly ScriptAudit[], home?: string): Approvals {
  const packages: Record<string, Approval> = {};
  for (const s of [...scripts].sort((a, b) => a.package.localeCompare(b.package))) {
    const prev = packages[s.package];
    const b = behaviourOf(s, home);
    // A package whose script runs twice (for the host and a target) is approved for both.
    const merged = prev ? mergeBehaviour(prev, b) : b;
    packages[s.package] = { version: s.version, ...(s.checksum ? { checksum: s.checksum } : {}), ...merged };
  }
  return { version: 1, packages };
}

function mergeBehaviour(a: Behaviour, b: Behaviour): Behaviour {
  const u = (x: string[], y: string[]) => [...new Set([...x, ...y])].sort();
  return { executes: u(a.executes, b.executes), reads: u(a.reads, b.reads), writes: u(a.writes, b.writes), network: u(a.network, b.network) };
}

export function writeApprovals(path: string, approvals: Approvals): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(approvals, null, 2)}\n`);
  renameSync(tmp, path);
}

/** Packages audited now at another version or checksum than approved, with what their script does differently. */
export function changesSince(approved: Approvals | undefined, scripts: readonly ScriptAudit[], home?: string): ApprovalChange[] {
  if (!approved) return [];
  const now = approvalsFor(scripts, home).packages;
  const changes: ApprovalChange[] = [];
  for (const [name, cur] of Object.entries(now)) {
    const old = approved.packages[name];
    if (!old || (old.version === cur.version && old.checksum === cur.checksum)) continue;
    const added: Partial<Behaviour> = {};
    const removed: Partial<Behaviour> = {};
    for (const k of ['executes', 'reads', 'writes', 'network'] as const) {
      const plus = cur[k].filter((x) => !old[k].includes(x));
      const minus = old[k].filter((x) => !cur[k].includes(x));
      if (plus.length) added[k] = plus;
      if (minus.length) removed[k] = minus;
    }
    changes.push({ package: name, approvedVersion: old.version, version: cur.version, checksumChanged: old.checksum !== cur.checksum, added, removed });
  }
  return changes;
}
