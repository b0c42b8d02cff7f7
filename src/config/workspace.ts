// Where the workspace is, found without running cargo (which would cost a process start).

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * The directory of the workspace's root manifest: the highest ancestor of the package whose
 * Cargo.toml has a `[workspace]` table, or the package itself. A path dependency outside it is
 * still visible to its own build script, which always sees its CARGO_MANIFEST_DIR.
 */
export function findWorkspaceRoot(cwd: string, manifestPath: string | undefined): string | undefined {
  let start: string | undefined;
  if (manifestPath) start = dirname(resolve(cwd, manifestPath));
  else {
    for (let dir = resolve(cwd); ; dir = dirname(dir)) {
      if (existsSync(join(dir, 'Cargo.toml'))) {
        start = dir;
        break;
      }
      if (dirname(dir) === dir) break;
    }
  }
  if (!start) return undefined;
  let root = start;
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = join(dir, 'Cargo.toml');
    if (existsSync(manifest) && /^\s*\[workspace\]/m.test(safeRead(manifest))) root = dir;
    if (dirname(dir) === dir) break;
  }
  return root;
}

/** A file's text, or '' when it cannot be read. */
export function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
