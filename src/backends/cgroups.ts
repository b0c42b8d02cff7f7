// Process limits (max-processes) through the kernel's pids controller: a limit on processes alive
// at once that, unlike RLIMIT_NPROC, also binds root and does not depend on the user id.
// One cgroup per package policy file of a session; the launcher moves itself into it (a shell
// builtin write, no process) before it starts bubblewrap, so everything the script starts is counted.

import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface PidsCgroups {
  /** The cgroup directory for one package policy file. */
  create(name: string, max: number): string;
  /** How many times a fork was refused in that cgroup (pids.events `max`). */
  refusals(name: string): number;
  dispose(): void;
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
  const made: string[] = [];
  return {
    create(name, max) {
      const dir = join(base, name.replace(/[^A-Za-z0-9_.@-]/g, '_'));
      mkdirSync(dir);
      writeFileSync(join(dir, 'pids.max'), max > 0 ? String(max) : 'max');
      made.push(dir);
      return dir;
    },
    refusals(name) {
      try {
        const events = readFileSync(join(base, name.replace(/[^A-Za-z0-9_.@-]/g, '_'), 'pids.events'), 'utf8');
        return Number(/^max (\d+)/m.exec(events)?.[1] ?? 0);
      } catch {
        return 0;
      }
    },
    dispose() {
      // Empty by now: every sandbox dies with its script (and a pid namespace takes its children).
      for (const dir of [...made, base]) {
        try {
          rmdirSync(dir);
        } catch {
          /* still busy or gone: the kernel frees it when the last process leaves */
        }
      }
    },
  };
}
