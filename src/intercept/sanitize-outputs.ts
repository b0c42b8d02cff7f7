// After the build: no build script may leave a setuid, setgid or world-writable file in its
// OUT_DIR (for the user, or another local user, to run or change later). Such bits are removed,
// and each removal is reported.

import { chmodSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const DANGEROUS = 0o6002; // setuid, setgid, writable by others

export interface Sanitized {
  path: string;
  mode: number;
}

export function sanitizeOutDir(outDir: string): Sanitized[] {
  const fixed: Sanitized[] = [];
  const visit = (dir: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const path = join(dir, e.name);
      if (e.isSymbolicLink()) continue; // chmod would follow it out of OUT_DIR
      const mode = lstatSync(path).mode & 0o7777;
      if (mode & DANGEROUS) {
        chmodSync(path, mode & ~DANGEROUS);
        fixed.push({ path, mode });
      }
      if (e.isDirectory()) visit(path);
    }
  };
  visit(outDir);
  return fixed;
}
