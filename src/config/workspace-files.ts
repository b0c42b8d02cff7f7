// The files a cloned repository controls: every cargo config file cargo would read that is not the
// user's own (the working directory and all its ancestors, so a `/tmp/.cargo/config.toml` planted
// by someone else counts too), and the rustup toolchain file rustup would follow.

import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { discoverConfigFiles, loadToml } from './cargo-config.js';
import type { TrustStore } from './trust-store.js';
import type { WorkspaceFile } from './workspace-trust.js';

/** The user's own cargo config: exactly `config` or `config.toml` in CARGO_HOME or ~/.cargo (not a
 * repository checked out below them, as cargo does for git dependencies). */
export function isUserConfigFile(path: string, cargoHomeDir: string, home: string): boolean {
  return [cargoHomeDir, join(home, '.cargo')].some((dir) => path === join(dir, 'config') || path === join(dir, 'config.toml'));
}

/** The files a config `include`s (a path, or a list of paths or `{ path, optional }` tables), relative to it. */
function includedFiles(table: Record<string, unknown>, from: string): string[] {
  const raw = table.include;
  const items = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  return items
    .map((i) => (typeof i === 'string' ? i : i && typeof i === 'object' && typeof (i as { path?: unknown }).path === 'string' ? (i as { path: string }).path : undefined))
    .filter((p): p is string => p !== undefined)
    .map((p) => (isAbsolute(p) ? p : resolve(dirname(from), p)));
}

/** rustup's toolchain file for `cwd`: the nearest `rust-toolchain` or `rust-toolchain.toml` up from it. */
export function findToolchainFile(cwd: string): string | undefined {
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    for (const name of ['rust-toolchain', 'rust-toolchain.toml']) {
      const path = join(dir, name);
      if (readable(path) !== undefined) return path;
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/** More files than this (includes of includes...) and the last is refused: nothing goes unchecked. */
const MAX_FILES = 1000;

export async function loadWorkspaceFiles(opts: { cwd: string; cargoHomeDir: string; home: string; workspaceRoot: string; store: TrustStore }): Promise<WorkspaceFile[]> {
  const candidates: { path: string; kind: WorkspaceFile['kind']; included?: boolean }[] = discoverConfigFiles(opts.cwd, opts.cargoHomeDir)
    .filter((path) => !isUserConfigFile(path, opts.cargoHomeDir, opts.home))
    .map((path) => ({ path, kind: 'cargo-config' }));
  const toolchain = findToolchainFile(opts.cwd);
  if (toolchain) candidates.push({ path: toolchain, kind: 'toolchain' });
  const files: WorkspaceFile[] = [];
  const seen = new Set<string>();
  // Every file is parsed (a key can be spelled with TOML escapes), and every file it includes is one
  // more; an included file that does not exist yet is one too (empty, watched: it may appear later).
  for (let i = 0; i < candidates.length; i++) {
    const { path, kind, included } = candidates[i]!;
    if (seen.has(path)) continue;
    seen.add(path);
    if (seen.size > MAX_FILES) {
      files.push({ path, kind, text: '', table: undefined, baseDir: dirname(path), trust: 'new', exists: false });
      break;
    }
    const text = readable(path);
    if (text === undefined) {
      if (included) files.push({ path, kind, text: '', table: {}, baseDir: dirname(dirname(path)), trust: opts.store.fileTrust(opts.workspaceRoot, path, ''), exists: false });
      continue;
    }
    let table: Record<string, unknown> | undefined;
    try {
      table = (await loadToml()).parse(text) as Record<string, unknown>;
    } catch {
      // A legacy `rust-toolchain` naming a toolchain; a config we cannot read is refused untrusted.
      table = undefined;
    }
    const includes = kind === 'cargo-config' && table ? includedFiles(table, path) : [];
    for (const inc of includes) candidates.push({ path: inc, kind, included: true });
    const baseDir = kind === 'cargo-config' ? dirname(dirname(path)) : dirname(path);
    files.push({ path, kind, text, table, baseDir, trust: opts.store.fileTrust(opts.workspaceRoot, path, text), exists: true, ...(includes.length ? { includes } : {}) });
  }
  return files;
}

function readable(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
