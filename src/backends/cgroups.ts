// Process limits (max-processes) through the kernel's pids controller: a limit on processes alive
// at once that, unlike RLIMIT_NPROC, also binds root and does not depend on the user id.
// One cgroup per package policy file of a session, under the cgroup root as root, or in the cgroup
// delegated to the user (cgroup-delegation.ts); the launcher moves its child into it before that
// starts bubblewrap, so everything the script starts is counted.

import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../diagnostics/style.js';
import { findDelegation, pidsHierarchy, prepareDelegation, writeCgroupFile } from './cgroup-delegation.js';

export interface PidsCgroups {
  /** The session's cgroup, parent of the packages' ones. */
  base: string;
  /** The cgroup directory for one package policy file. */
  create(name: string, max: number): string;
  dispose(): void;
}

/**
 * How many times a fork was refused in a cgroup so far (pids.events `max`). The counter only grows
 * (a cached session's cgroups outlive one run): the launcher records it when a script starts.
 */
export function pidsRefusals(cgroup: string): number {
  try {
    return Number(/^max (\d+)/m.exec(readFileSync(join(cgroup, 'pids.events'), 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Removes a session's cgroups (empty by then: every sandbox dies with its script). */
export function removePidsCgroups(base: string): void {
  let children: string[] = [];
  try {
    children = readdirSync(base, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(base, d.name));
  } catch {
    return;
  }
  for (const dir of [...children, base]) {
    try {
      rmdirSync(dir);
    } catch {
      /* still busy or gone: the kernel frees it when the last process leaves */
    }
  }
}

const V1 = '/sys/fs/cgroup/pids';
const V2 = '/sys/fs/cgroup';

/** Where a new pids cgroup can be made as root, or undefined (not root, no controller). */
export function pidsControllerRoot(): string | undefined {
  if (existsSync(join(V1, 'pids.max')) || existsSync(join(V1, 'cgroup.procs'))) return writable(V1) ? V1 : undefined;
  try {
    const controllers = readFileSync(join(V2, 'cgroup.controllers'), 'utf8');
    if (!/\bpids\b/.test(controllers)) return undefined;
    // cgroup v2: children of the root cgroup get the controller once it is enabled for them.
    if (!/\bpids\b/.test(readFileSync(join(V2, 'cgroup.subtree_control'), 'utf8'))) writeFileSync(join(V2, 'cgroup.subtree_control'), '+pids');
    return writable(V2) ? V2 : undefined;
  } catch {
    return undefined;
  }
}

function writable(dir: string): boolean {
  const probe = join(dir, `cargo-sandbox-probe-${process.pid}`);
  try {
    mkdirSync(probe);
    rmdirSync(probe);
    return true;
  } catch {
    return false;
  }
}

/** How to get max-processes enforced, for doctor, policy and the build's warning. */
export const PIDS_FIX = [
  'run the build in a cgroup delegated to you: `systemd-run --user --scope -p Delegate=yes cargo sandbox build` (or start a shell that way, and build from it)',
  'or run cargo-sandbox as root',
];

export type PidsStatus =
  /** `parent`: where the sessions' cgroups go. */
  | { enforced: true; how: 'root' | 'delegated'; parent: string; v2: boolean; prepared: boolean }
  | { enforced: false; why: string };

/** Whether max-processes can be enforced, and how; changes nothing but what root's probe does. */
export function pidsStatus(uid = process.getuid?.() ?? -1): PidsStatus {
  const root = uid === 0 ? pidsControllerRoot() : undefined;
  if (root) return { enforced: true, how: 'root', parent: root, v2: root === V2, prepared: true };
  const h = pidsHierarchy();
  if (!h) return { enforced: false, why: 'this host has no pids cgroup controller' };
  const d = findDelegation(h, uid);
  if (d.ok) return { enforced: true, how: 'delegated', parent: d.dir, v2: h.v2, prepared: d.prepared };
  return { enforced: false, why: d.dir ? `the cgroup this runs in, ${d.dir}, is not delegated to you: ${d.why}` : d.why };
}

/** One line: enforced (as root / in the delegated cgroup X) or not, and why. */
export function describePidsStatus(s: PidsStatus): string {
  if (!s.enforced) return `not enforced: ${s.why}`;
  return s.how === 'root' ? `enforced (as root: pids cgroups under ${s.parent})` : `enforced (pids cgroups in the cgroup delegated to you, ${s.parent})`;
}

/**
 * The session's pids cgroups, or why there are none. A delegated cgroup is prepared here (cgroup
 * v2). A step that fails after the host offered the controller is a `problem`, which the build
 * reports: the limit is then not enforced, and never silently.
 */
export function createPidsCgroups(sessionName: string, status: PidsStatus = pidsStatus()): { cgroups?: PidsCgroups; problem?: string } {
  if (!status.enforced) return {};
  const base = join(status.parent, sessionName);
  try {
    if (!status.prepared) prepareDelegation(status.parent, process.getuid?.() ?? -1);
    mkdirSync(base);
    // cgroup v2: the controller reaches the packages' cgroups only through the session's.
    if (status.v2) writeCgroupFile(join(base, 'cgroup.subtree_control'), '+pids');
  } catch (e) {
    removePidsCgroups(base);
    return { problem: `the pids cgroup ${base} could not be set up: ${(e as Error).message}` };
  }
  return {
    cgroups: {
      base,
      create(name, max) {
        const dir = join(base, name.replace(/[^A-Za-z0-9_.@-]/g, '_'));
        try {
          mkdirSync(dir);
          writeCgroupFile(join(dir, 'pids.max'), max > 0 ? String(max) : 'max');
        } catch (e) {
          // The session's cgroup works: a package's that does not is not skipped quietly.
          removePidsCgroups(base);
          throw new UserError(`cannot set up the pids cgroup ${dir} (max-processes): ${(e as Error).message}; nothing was built`, ['`cargo sandbox doctor` says whether max-processes can be enforced here']);
        }
        return dir;
      },
      dispose: () => removePidsCgroups(base),
    },
  };
}
