// The target directory, resolved as cargo does: --target-dir, CARGO_TARGET_DIR,
// CARGO_BUILD_TARGET_DIR, build.target-dir in config, else <workspace>/target.

import { spawnSync } from 'node:child_process';
import { isAbsolute, resolve } from 'node:path';
import { lookup, type ConfigLayer } from './cargo-config.js';

/**
 * Cargo's build directory (`build.build-dir`, CARGO_BUILD_BUILD_DIR: intermediate artifacts),
 * undefined when unset (it is then the target dir). Its template is resolved as far as we can:
 * `{workspace-root}` and `{cargo-cache-home}`; a part only cargo computes (`{workspace-path-hash}`)
 * is left in place for `cargoBuildDirectory` (never a prefix standing for it: that would take in
 * every other project's build directory).
 */
export function buildDir(opts: { cwd: string; env: NodeJS.ProcessEnv; layers: readonly ConfigLayer[]; workspaceRoot: string; cargoHome: string }): string | undefined {
  const fromLayer = (rank: ConfigLayer['rank']) => opts.layers.find((l) => l.rank === rank && typeof lookup(l.table, ['build', 'build-dir']) === 'string');
  const cli = fromLayer('cli');
  const file = fromLayer('file');
  const [value, base] = cli
    ? [lookup(cli.table, ['build', 'build-dir']) as string, cli.baseDir]
    : opts.env.CARGO_BUILD_BUILD_DIR
      ? [opts.env.CARGO_BUILD_BUILD_DIR, opts.cwd]
      : file
        ? [lookup(file.table, ['build', 'build-dir']) as string, file.baseDir]
        : [undefined, opts.cwd];
  if (value === undefined) return undefined;
  return resolve(base, value.replaceAll('{workspace-root}', opts.workspaceRoot).replaceAll('{cargo-cache-home}', opts.cargoHome));
}

/** The build directory as cargo itself resolves it (`cargo metadata`'s `build_directory`), or undefined. */
export function cargoBuildDirectory(opts: { cwd: string; env: NodeJS.ProcessEnv; manifestPath?: string; configArgs: readonly string[] }): string | undefined {
  const args = ['metadata', '--format-version', '1', '--no-deps', '--offline', ...opts.configArgs.flatMap((c) => ['--config', c]), ...(opts.manifestPath ? ['--manifest-path', opts.manifestPath] : [])];
  const r = spawnSync(opts.env.CARGO || 'cargo', args, { cwd: opts.cwd, env: opts.env, encoding: 'utf8', maxBuffer: 256 << 20 });
  try {
    const dir = (JSON.parse(r.stdout) as { build_directory?: unknown }).build_directory;
    return typeof dir === 'string' && isAbsolute(dir) ? dir : undefined;
  } catch {
    return undefined;
  }
}

export function targetDir(opts: {
  cwd: string;
  argTargetDir: string | undefined;
  env: NodeJS.ProcessEnv;
  layers: readonly ConfigLayer[];
  workspaceRoot: string;
}): string {
  if (opts.argTargetDir) return resolve(opts.cwd, opts.argTargetDir);
  if (opts.env.CARGO_TARGET_DIR) return resolve(opts.cwd, opts.env.CARGO_TARGET_DIR);
  const cli = opts.layers.find((l) => l.rank === 'cli' && typeof lookup(l.table, ['build', 'target-dir']) === 'string');
  if (cli) return resolve(cli.baseDir, lookup(cli.table, ['build', 'target-dir']) as string);
  if (opts.env.CARGO_BUILD_TARGET_DIR) return resolve(opts.cwd, opts.env.CARGO_BUILD_TARGET_DIR);
  const file = opts.layers.find((l) => l.rank === 'file' && typeof lookup(l.table, ['build', 'target-dir']) === 'string');
  if (file) return resolve(file.baseDir, lookup(file.table, ['build', 'target-dir']) as string);
  return resolve(opts.workspaceRoot, 'target');
}
