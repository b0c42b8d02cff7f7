// The files a cloned repository controls: every cargo config file cargo would read that is not the
// user's own (the working directory and all its ancestors, so a `/tmp/.cargo/config.toml` planted
// by someone else counts too), and the rustup toolchain file rustup would follow.

import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { discoverConfigFiles, loadToml } from './cargo-config.js';
import type { TrustStore } from './trust-store.js';
import type { WorkspaceFile } from './workspace-trust.js';

/** Only files that mention one of these can hold a key that needs trust: the others are not parsed. */
const MAY_NEED_TRUST = /sandbox|rustc|rustdoc|runner|linker|credential|rustflags|\benv\b|toolchain/;

function inside(path: string, tree: string): boolean {
  const rel = relative(tree, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** The user's own cargo config: in CARGO_HOME or ~/.cargo. */
export function isUserConfigFile(path: string, cargoHomeDir: string, home: string): boolean {
  return inside(path, cargoHomeDir) || inside(path, join(home, '.cargo'));
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

export async function loadWorkspaceFiles(opts: { cwd: string; cargoHomeDir: string; home: string; workspaceRoot: string; store: TrustStore }): Promise<WorkspaceFile[]> {
  const candidates: { path: string; kind: WorkspaceFile['kind'] }[] = discoverConfigFiles(opts.cwd, opts.cargoHomeDir)
    .filter((path) => !isUserConfigFile(path, opts.cargoHomeDir, opts.home))
    .map((path) => ({ path, kind: 'cargo-config' }));
  const toolchain = findToolchainFile(opts.cwd);
  if (toolchain) candidates.push({ path: toolchain, kind: 'toolchain' });
  const files: WorkspaceFile[] = [];
  for (const { path, kind } of candidates) {
    const text = readable(path);
    if (text === undefined) continue;
    let table: Record<string, unknown> | undefined = {};
    if (MAY_NEED_TRUST.test(text)) {
      try {
        table = (await loadToml()).parse(text) as Record<string, unknown>;
      } catch {
        // A legacy `rust-toolchain` naming a toolchain; a config we cannot read is refused untrusted.
        table = undefined;
      }
    }
    const baseDir = kind === 'cargo-config' ? dirname(dirname(path)) : dirname(path);
    files.push({ path, kind, text, table, baseDir, trust: opts.store.fileTrust(opts.workspaceRoot, path, text) });
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
