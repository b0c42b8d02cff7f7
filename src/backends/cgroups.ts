// Process limits (max-processes) through the kernel's pids controller: a limit on processes alive
// at once that, unlike RLIMIT_NPROC, also binds root and does not depend on the user id.
// One cgroup per package policy file of a session; the launcher moves itself into it (a shell
// builtin write, no process) before it starts bubblewrap, so everything the script starts is counted.

import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

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

/** Where a new pids cgroup can be made on this host, or undefined (not root, no controller). */
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

export function createPidsCgroups(sessionName: string): PidsCgroups | undefined {
  const root = pidsControllerRoot();
  if (!root) return undefined;
  const base = join(root, sessionName);
  mkdirSync(base);
  return {
    base,
    create(name, max) {
      const dir = join(base, name.replace(/[^A-Za-z0-9_.@-]/g, '_'));
      mkdirSync(dir);
      writeFileSync(join(dir, 'pids.max'), max > 0 ? String(max) : 'max');
      return dir;
    },
    dispose: () => removePidsCgroups(base),
  };
}
