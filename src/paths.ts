// Where the package's own files are, wherever it is installed.

import { fileURLToPath } from 'node:url';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { readFileSync, realpathSync } from 'node:fs';

// Compiled to dist/src/paths.js: the package root is three levels up.
export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const LIBEXEC = join(PACKAGE_ROOT, 'libexec');
/** The compiled sources (dist/src), for the Node programs the shell scripts start. */
export const DIST_SRC = join(PACKAGE_ROOT, 'dist', 'src');

/** One of libexec/schema/*.json: the definitions the compiled helpers read too. */
export function libexecSchema<T>(name: string): T {
  return JSON.parse(readFileSync(join(LIBEXEC, 'schema', name), 'utf8')) as T;
}

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

/** Whether `path` is `tree` or inside it (lexically: no link is followed). */
export function isInside(path: string, tree: string): boolean {
  const rel = relative(tree, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** A path in the home directory as `~/...` (the home itself as `~`), as users write it. */
export function displayPath(path: string, home: string): string {
  return isInside(path, home) ? `~/${relative(home, path)}`.replace(/\/$/, '') : path;
}

/** Where `path` really is (links resolved), or `path` itself when it cannot be resolved. */
export function safeRealpath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}
