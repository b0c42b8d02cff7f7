// The target directory, resolved as cargo does: --target-dir, CARGO_TARGET_DIR,
// CARGO_BUILD_TARGET_DIR, build.target-dir in config, else <workspace>/target.

import { spawnSync } from 'node:child_process';
import { isAbsolute, resolve } from 'node:path';
import { lookup, type ConfigLayer } from './cargo-config.js';

/**
 * A `build.*` path setting as cargo takes it: `--config` first, then CARGO_BUILD_<KEY>, then the
 * config files; with the directory it is relative to.
 */
function buildSetting(key: string, opts: { cwd: string; env: NodeJS.ProcessEnv; layers: readonly ConfigLayer[] }): { value: string; base: string } | undefined {
  const fromLayer = (rank: ConfigLayer['rank']) => {
    const layer = opts.layers.find((l) => l.rank === rank && typeof lookup(l.table, ['build', key]) === 'string');
    return layer && { value: lookup(layer.table, ['build', key]) as string, base: layer.baseDir };
  };
  const variable = opts.env[`CARGO_BUILD_${key.toUpperCase().replaceAll('-', '_')}`];
  return fromLayer('cli') ?? (variable ? { value: variable, base: opts.cwd } : undefined) ?? fromLayer('file');
}

/**
 * Cargo's build directory (`build.build-dir`, CARGO_BUILD_BUILD_DIR: intermediate artifacts),
 * undefined when unset (it is then the target dir). Its template is resolved as far as we can:
 * `{workspace-root}` and `{cargo-cache-home}`; a part only cargo computes (`{workspace-path-hash}`)
 * is left in place for `cargoBuildDirectory` (never a prefix standing for it: that would take in
 * every other project's build directory).
 */
export function buildDir(opts: { cwd: string; env: NodeJS.ProcessEnv; layers: readonly ConfigLayer[]; workspaceRoot: string; cargoHome: string }): string | undefined {
  const setting = buildSetting('build-dir', opts);
  return setting && resolve(setting.base, setting.value.replaceAll('{workspace-root}', opts.workspaceRoot).replaceAll('{cargo-cache-home}', opts.cargoHome));
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

/** The target directory the user chose (--target-dir, the variables, `build.target-dir`), if any: else cargo's is `<workspace>/target`. */
export function configuredTargetDir(opts: { cwd: string; argTargetDir: string | undefined; env: NodeJS.ProcessEnv; layers: readonly ConfigLayer[] }): string | undefined {
  if (opts.argTargetDir) return resolve(opts.cwd, opts.argTargetDir);
  if (opts.env.CARGO_TARGET_DIR) return resolve(opts.cwd, opts.env.CARGO_TARGET_DIR);
  const setting = buildSetting('target-dir', opts);
  return setting && resolve(setting.base, setting.value);
}
