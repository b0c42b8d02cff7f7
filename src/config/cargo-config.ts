// Cargo's configuration as cargo itself finds it: `.cargo/config.toml` from the current directory
// upward, then `$CARGO_HOME/config.toml`, plus `--config` arguments. Nearer layers win.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { UserError } from '../diagnostics/style.js';

export type Toml = typeof import('smol-toml');
let tomlModule: Toml | undefined;

/** The TOML parser, loaded on first need: most runs have no config worth parsing (~30 ms saved). */
export async function loadToml(): Promise<Toml> {
  return (tomlModule ??= await import('smol-toml'));
}

/**
 * Config files that cannot affect cargo-sandbox are not parsed (cargo reports their errors).
 * Aliases count: they say which command a run really is (command-gate.ts).
 */
const RELEVANT = /\bsandbox\b|rustc-wrapper|rustc-workspace-wrapper|rustdoc|target-dir|build-dir|\balias\b/;

export type ConfigSource =
  | { kind: 'file'; path: string }
  | { kind: 'cli'; arg: string };

export interface ConfigLayer {
  source: ConfigSource;
  /** `cli` for `--config` arguments (values or files), `file` for discovered config files. */
  rank: 'cli' | 'file';
  /** Base for relative paths: the parent of the `.cargo` directory, or the cwd for `--config`. */
  baseDir: string;
  text: string;
  table: Record<string, unknown>;
}

export function cargoHome(env: NodeJS.ProcessEnv, home: string): string {
  return env.CARGO_HOME ? resolve(env.CARGO_HOME) : join(home, '.cargo');
}

/** Config files in precedence order, highest first (as cargo merges them). */
export function discoverConfigFiles(cwd: string, cargoHomeDir: string): string[] {
  const files: string[] = [];
  const seen = new Set<string>();
  const consider = (dotCargo: string) => {
    // Cargo prefers the extension-less `config` when both exist.
    for (const name of ['config', 'config.toml']) {
      const path = join(dotCargo, name);
      if (existsSync(path)) {
        if (!seen.has(path)) files.push(path);
        seen.add(path);
        return;
      }
    }
  };
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    consider(join(dir, '.cargo'));
    if (dirname(dir) === dir) break;
  }
  consider(cargoHomeDir);
  return files;
}

export function parseConfigText(text: string, where: string, toml: Toml): Record<string, unknown> {
  try {
    return toml.parse(text) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof toml.TomlError) {
      throw new UserError(
        `could not parse TOML configuration in \`${where}:${err.line}:${err.column}\``,
        [String(err.message.split('\n')[0])],
      );
    }
    throw err;
  }
}

export async function loadConfigLayers(opts: {
  cwd: string;
  cargoHomeDir: string;
  configArgs: readonly string[];
}): Promise<ConfigLayer[]> {
  const files = discoverConfigFiles(opts.cwd, opts.cargoHomeDir)
    .map((path) => ({ path, text: readFileSync(path, 'utf8') }))
    .filter((f) => RELEVANT.test(f.text));
  if (files.length === 0 && opts.configArgs.length === 0) return [];
  const toml = await loadToml();
  const cli: ConfigLayer[] = opts.configArgs.map((arg) => {
    const asPath = resolve(opts.cwd, arg);
    if (arg.endsWith('.toml') && existsSync(asPath)) {
      const text = readFileSync(asPath, 'utf8');
      return {
        source: { kind: 'file', path: asPath },
        rank: 'cli',
        baseDir: dirname(dirname(asPath)),
        text,
        table: parseConfigText(text, asPath, toml),
      };
    }
    return {
      source: { kind: 'cli', arg },
      rank: 'cli',
      baseDir: opts.cwd,
      text: arg,
      table: parseConfigText(arg, `--config ${arg}`, toml),
    };
  });
  // Cargo gives later `--config` arguments precedence over earlier ones.
  cli.reverse();
  const fileLayers = files.map(({ path, text }): ConfigLayer => ({
    source: { kind: 'file', path },
    rank: 'file',
    baseDir: dirname(dirname(path)),
    text,
    table: parseConfigText(text, path, toml),
  }));
  return [...cli, ...fileLayers];
}

export function lookup(table: Record<string, unknown>, dotted: readonly string[]): unknown {
  let node: unknown = table;
  for (const key of dotted) {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

/**
 * A tool the user already has configured, so that ours can chain to it: the rustc wrapper (e.g.
 * sccache) or rustdoc. Cargo reads the variable (`RUSTC_WRAPPER`, `RUSTDOC`) first; then config,
 * where `--config` outranks CARGO_BUILD_*, which outranks files. An empty value means none.
 */
export function userTool(
  tool: 'rustc-wrapper' | 'rustc-workspace-wrapper' | 'rustdoc',
  env: NodeJS.ProcessEnv,
  layers: readonly ConfigLayer[],
  cwd: string,
): string | undefined {
  const variable = tool.toUpperCase().replace(/-/g, '_');
  if (env[variable] !== undefined) return env[variable] || undefined;
  const buildVariable = `CARGO_BUILD_${variable}`;
  const fromLayer = (layer: ConfigLayer) => {
    const v = lookup(layer.table, ['build', tool]);
    return typeof v === 'string' ? { value: v, baseDir: layer.baseDir } : undefined;
  };
  const found =
    firstDefined(layers.filter((l) => l.rank === 'cli').map(fromLayer)) ??
    (env[buildVariable] !== undefined ? { value: env[buildVariable]!, baseDir: cwd } : undefined) ??
    firstDefined(layers.filter((l) => l.rank === 'file').map(fromLayer));
  return found?.value ? toolPath(found.value, found.baseDir) : undefined;
}

function firstDefined<T>(items: readonly (T | undefined)[]): T | undefined {
  return items.find((x) => x !== undefined);
}

/** Cargo's rule for tool paths in config: a bare name is looked up in PATH, anything else is a path. */
export function toolPath(value: string, baseDir: string): string {
  if (!value.includes('/')) return value;
  return isAbsolute(value) ? value : resolve(baseDir, value);
}
