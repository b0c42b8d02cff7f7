// After the build, for a build script no supervisor swept (one started by a custom runner, which
// replaces bubblewrap; libexec/confine/out_dir.rs sweeps the others before cargo goes on): no
// setuid, setgid or world-writable file may stay in its OUT_DIR (for the user, or another local
// user, to run or change later). Such bits are removed, and each removal is reported; so is every
// entry that could not be checked: the sweep never skips one silently.

import { chmodSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const DANGEROUS = 0o6002; // setuid, setgid, writable by others

export interface Sanitized {
  path: string;
  mode: number;
}

export interface SweepResult {
  fixed: Sanitized[];
  /** Entries that could not be read or changed, with why. */
  unchecked: { path: string; error: string }[];
}

export function sanitizeOutDir(outDir: string): SweepResult {
  const result: SweepResult = { fixed: [], unchecked: [] };
  const visit = (dir: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      // A script that did not run far enough to create its OUT_DIR left nothing to sweep.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || dir !== outDir) result.unchecked.push({ path: dir, error: (e as Error).message });
      return;
    }
    for (const e of entries) {
      const path = join(dir, e.name);
      if (e.isSymbolicLink()) continue; // chmod would follow it out of OUT_DIR
      try {
        const mode = lstatSync(path).mode & 0o7777;
        if (mode & DANGEROUS) {
          chmodSync(path, mode & ~DANGEROUS);
          result.fixed.push({ path, mode });
        }
      } catch (err) {
        result.unchecked.push({ path, error: (err as Error).message });
        continue;
      }
      if (e.isDirectory()) visit(path);
    }
  };
  visit(outDir);
  return result;
}
