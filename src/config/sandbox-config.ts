// Loading, merging and validating the `[sandbox]` table from cargo's config layers and the
// CARGO_SANDBOX_* environment variables. Precedence as in cargo: command line > environment >
// nearer file > farther file; arrays are joined (higher precedence later), scalars overridden.

import { semver } from './semver.js';
import type { ConfigLayer } from './cargo-config.js';
import { locateKeys, positionOf, type Position } from './locate.js';
import { emptyGrants, type Grants, type PackageGrants, type SandboxConfig, type Source, type Sourced } from './types.js';
import { ENV_PATTERN } from '../policy/environment.js';
import { didYouMean } from './suggest.js';

export interface ConfigIssue {
  level: 'error' | 'warning';
  message: string;
  source: Source;
  help: string[];
}

export const GRANT_KEYS = ['allow-network', 'allow-read', 'allow-write', 'allow-env', 'allow-exec', 'timeout', 'max-file-size', 'max-memory', 'max-output', 'max-disk', 'max-processes', 'runner', 'target', 'target-rustc', 'target-rustflags'] as const;
export const GLOBAL_KEYS = [...GRANT_KEYS, 'bwrap', 'proc-macros', 'run', 'package'] as const;
export const PACKAGE_KEYS = [...GRANT_KEYS, 'sandbox', 'checksum'] as const;
const PATH_VARIABLES = ['HOME', 'CARGO_MANIFEST_DIR', 'OUT_DIR', 'WORKSPACE_ROOT', 'TARGET_DIR'];
const PACKAGE_NAME = /^[A-Za-z0-9_-]+$/;

type Raw = unknown;

interface Ctx {
  issues: ConfigIssue[];
  /** Source of the key at `path` below `[sandbox]`. */
  at(path: readonly string[]): Source;
  baseDir: string;
  fromEnv: boolean;
}

function typeName(v: Raw): string {
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'a table';
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'number') return 'a number';
  if (typeof v === 'boolean') return 'a boolean';
  return typeof v;
}

function keyName(path: readonly string[]): string {
  return ['sandbox', ...path].map((k) => (/^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k))).join('.');
}

function error(ctx: Ctx, path: readonly string[], message: string, help: string[] = []): void {
  ctx.issues.push({ level: 'error', message, source: ctx.at(path), help });
}

function readBool(ctx: Ctx, path: string[], v: Raw): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (ctx.fromEnv && (v === 'true' || v === 'false')) return v === 'true';
  error(ctx, path, `\`${keyName(path)}\` must be a boolean (true or false), found ${typeName(v)}`, [
    `write \`${path.at(-1)} = true\` or \`${path.at(-1)} = false\``,
  ]);
  return undefined;
}

function readStringList(ctx: Ctx, path: string[], v: Raw): string[] | undefined {
  if (ctx.fromEnv && typeof v === 'string') return v.split(/\s+/).filter(Boolean);
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  error(ctx, path, `\`${keyName(path)}\` must be an array of strings, found ${typeName(v)}`, [
    `for example: \`${path.at(-1)} = ["..."]\``,
  ]);
  return undefined;
}

export function checkPathSyntax(raw: string): string | undefined {
  if (raw === '') return 'an empty path';
  if (raw.includes('\0')) return 'a NUL byte';
  if (/[*?[\]]/.test(raw)) return 'a glob pattern (globs are not supported: grant the directory itself)';
  if (raw.startsWith('~') && raw !== '~' && !raw.startsWith('~/')) return '`~user` (only `~` and `~/...` are supported)';
  for (const m of raw.matchAll(/\$\{([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g)) {
    const name = m[1] ?? m[2]!;
    if (m[2] !== undefined) return `\`$${name}\` (write variables as \`\${${name}}\`)`;
    if (!PATH_VARIABLES.includes(name)) return `the unknown variable \`\${${name}}\``;
  }
  if (/\$\{[^}]*$/.test(raw)) return 'an unclosed `${`';
  return undefined;
}

function readPaths(ctx: Ctx, path: string[], v: Raw): Sourced<{ raw: string; baseDir: string }>[] {
  const list = readStringList(ctx, path, v) ?? [];
  const out: Sourced<{ raw: string; baseDir: string }>[] = [];
  for (const raw of list) {
    const problem = checkPathSyntax(raw);
    if (problem) {
      error(ctx, path, `invalid path \`${raw}\` in \`${keyName(path)}\`: it contains ${problem}`, [
        `allowed forms: absolute, relative to the config file's directory, \`~/...\`, and the variables ${PATH_VARIABLES.map((n) => `\${${n}}`).join(', ')}`,
      ]);
      continue;
    }
    out.push({ value: { raw, baseDir: ctx.baseDir }, source: ctx.at(path) });
  }
  return out;
}

function readEnvNames(ctx: Ctx, path: string[], v: Raw): Sourced<string>[] {
  const list = readStringList(ctx, path, v) ?? [];
  return list.flatMap((name) => {
    if (!ENV_PATTERN.test(name)) {
      error(ctx, path, `invalid environment variable name \`${name}\` in \`${keyName(path)}\``, [
        'names are letters, digits and `_`; `*` matches any run of characters (e.g. `OPENSSL_*`)',
      ]);
      return [];
    }
    return [{ value: name, source: ctx.at(path) }];
  });
}

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1000, kib: 1024, m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1000 ** 3, gib: 1024 ** 3, t: 1024 ** 4, tb: 1000 ** 4, tib: 1024 ** 4 };

/** "512MiB", "8GiB", "1G", a number of bytes, or "unlimited" (0). */
export function parseSize(v: Raw): number | undefined {
  if (v === 'unlimited') return 0;
  if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
  if (typeof v !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(v);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) return undefined;
  const bytes = Math.round(Number(m[1]) * unit);
  return bytes > 0 ? bytes : undefined;
}

export function parseDuration(v: Raw): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v) && v > 0) return v;
  if (typeof v !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(v);
  if (!m) return undefined;
  const n = Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return n > 0 ? n : undefined;
}

function readGrant(ctx: Ctx, grants: Grants, path: string[], key: string, v: Raw): void {
  const source = ctx.at(path);
  switch (key) {
    case 'allow-network': {
      const b = readBool(ctx, path, v);
      if (b !== undefined) grants.allowNetwork = { value: b, source };
      return;
    }
    case 'sandbox': {
      const b = readBool(ctx, path, v);
      if (b !== undefined) grants.sandbox = { value: b, source };
      return;
    }
    case 'allow-read':
      grants.allowRead.push(...readPaths(ctx, path, v));
      return;
    case 'allow-write':
      grants.allowWrite.push(...readPaths(ctx, path, v));
      return;
    case 'allow-env':
      grants.allowEnv.push(...readEnvNames(ctx, path, v));
      return;
    case 'allow-exec': {
      const names = readStringList(ctx, path, v);
      if (names?.some((n) => n === '')) error(ctx, path, `\`${keyName(path)}\` must list program names (looked up on PATH) or absolute paths`);
      else if (names) grants.allowExec.push(...names.map((value) => ({ value, source })));
      return;
    }
    case 'max-processes': {
      const n = v === 'unlimited' ? 0 : typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined;
      if (n === undefined) error(ctx, path, `\`${keyName(path)}\` must be a whole number of processes such as 512, or "unlimited", found ${JSON.stringify(v)}`);
      else grants.maxProcesses = { value: n, source };
      return;
    }
    case 'timeout': {
      const secs = parseDuration(v);
      if (secs === undefined) {
        error(ctx, path, `\`${keyName(path)}\` must be a duration such as "90s", "15m" or "1h", found ${JSON.stringify(v)}`);
      } else grants.timeoutSecs = { value: secs, source };
      return;
    }
    case 'max-file-size':
    case 'max-output':
    case 'max-disk':
    case 'max-memory': {
      const bytes = parseSize(v);
      if (bytes === undefined) {
        error(ctx, path, `\`${keyName(path)}\` must be a size such as "512MiB", "8GiB", or "unlimited", found ${JSON.stringify(v)}`);
      } else grants[({ 'max-memory': 'maxMemory', 'max-output': 'maxOutput', 'max-disk': 'maxDisk', 'max-file-size': 'maxFileSize' } as const)[key]] = { value: bytes, source };
      return;
    }
    case 'runner': {
      const argv = typeof v === 'string' ? v.split(/\s+/).filter(Boolean) : readStringList(ctx, path, v);
      if (argv && argv.length === 0) error(ctx, path, `\`${keyName(path)}\` must name a command`);
      else if (argv) {
        const bad = argv.flatMap((w) => [...w.matchAll(/\{([^}]*)\}/g)].map((m) => m[1]!)).find((n) => n !== '' && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(n));
        if (bad !== undefined) error(ctx, path, `invalid placeholder \`{${bad}}\` in \`${keyName(path)}\``, ['use `{}` for the build script, or `{VAR}` for a variable cargo sets, e.g. `{OUT_DIR}`']);
        else grants.runner = { value: argv, source };
      }
      return;
    }
    case 'target':
      if (typeof v === 'string' && (v === 'native' || /^wasm32-[A-Za-z0-9_.-]+$/.test(v))) grants.target = { value: v, source };
      else error(ctx, path, `\`${keyName(path)}\` must be a WebAssembly target such as "wasm32-wasip1" (or "wasm32-wasi"), or "native", found ${JSON.stringify(v)}`);
      return;
    case 'target-rustc':
      if (typeof v === 'string' && v) grants.targetRustc = { value: v, source };
      else error(ctx, path, `\`${keyName(path)}\` must be the path or name of a rustc`);
      return;
    case 'target-rustflags': {
      const flags = readStringList(ctx, path, v);
      if (flags) grants.targetRustflags.push({ value: flags, source });
      return;
    }
  }
}

function unknownKey(ctx: Ctx, path: string[], key: string, known: readonly string[], where: string): void {
  const suggestion = didYouMean(key, known);
  error(ctx, path, `unknown key \`${key}\` in \`${where}\``, [
    suggestion ? `did you mean \`${suggestion}\`?` : `the keys of \`${where}\` are: ${known.join(', ')}`,
  ]);
}

function readPackageTable(ctx: Ctx, config: SandboxConfig, v: Raw): void {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    error(ctx, ['package'], `\`sandbox.package\` must be a table of packages, found ${typeName(v)}`, [
      'write `[sandbox.package.NAME]` tables',
    ]);
    return;
  }
  for (const [key, table] of Object.entries(v as Record<string, Raw>)) {
    const path = ['package', key];
    const at = key.indexOf('@');
    const name = at < 0 ? key : key.slice(0, at);
    const versionReq = at < 0 ? undefined : key.slice(at + 1);
    if (!PACKAGE_NAME.test(name)) {
      error(ctx, path, `invalid package name \`${name}\` in \`[${keyName(path)}]\``, ['write `name` or `name@version-requirement`, e.g. `openssl-sys@0.9`']);
      continue;
    }
    if (versionReq !== undefined && semver().validRange(versionReq) === null) {
      error(ctx, path, `invalid version requirement \`${versionReq}\` in \`[${keyName(path)}]\``, ['use a semver requirement as in Cargo.toml, e.g. `openssl-sys@0.9` or `foo@>=1.2, <2`']);
      continue;
    }
    if (table === null || typeof table !== 'object' || Array.isArray(table)) {
      error(ctx, path, `\`${keyName(path)}\` must be a table, found ${typeName(table)}`);
      continue;
    }
    const grants = emptyGrants();
    const spec: PackageGrants['spec'] = versionReq ? { name, versionReq } : { name };
    for (const [k, val] of Object.entries(table as Record<string, Raw>)) {
      if (k === 'checksum') {
        // An approval pinned to the exact sources reviewed (Cargo.lock's checksum of the package).
        if (typeof val === 'string' && /^[0-9a-f]{64}$/.test(val)) spec.checksum = val;
        else error(ctx, [...path, k], `\`${keyName([...path, k])}\` must be the package's sha256 checksum as in Cargo.lock (64 hex digits), found ${JSON.stringify(val)}`);
      } else if ((PACKAGE_KEYS as readonly string[]).includes(k)) readGrant(ctx, grants, [...path, k], k, val);
      else unknownKey(ctx, [...path, k], k, PACKAGE_KEYS, `[${keyName(path)}]`);
    }
    config.packages.push({ spec, key, grants });
  }
}

/** Adds one layer's `[sandbox]` table (already a plain object) to `config`. */
function addLayer(ctx: Ctx, config: SandboxConfig, sandbox: Raw): void {
  if (sandbox === undefined) return;
  if (sandbox === null || typeof sandbox !== 'object' || Array.isArray(sandbox)) {
    error(ctx, [], `\`sandbox\` must be a table, found ${typeName(sandbox)}`, ['write a `[sandbox]` table']);
    return;
  }
  for (const [key, v] of Object.entries(sandbox as Record<string, Raw>)) {
    if (key === 'package') readPackageTable(ctx, config, v);
    else if (key === 'bwrap') {
      if (typeof v === 'string' && v) config.bwrap = { value: v, source: ctx.at([key]) };
      else error(ctx, [key], '`sandbox.bwrap` must be the path of the bwrap executable');
    } else if (key === 'proc-macros' || key === 'run') {
      const b = readBool(ctx, [key], v);
      if (b !== undefined) config[key === 'run' ? 'run' : 'procMacros'] = { value: b, source: ctx.at([key]) };
    } else if (key === 'sandbox') {
      error(ctx, [key], '`sandbox.sandbox` can only be set per package', ['write it in a `[sandbox.package.NAME]` table: `sandbox = false` runs that one build script unsandboxed']);
    } else if ((GRANT_KEYS as readonly string[]).includes(key)) readGrant(ctx, config.global, [key], key, v);
    else unknownKey(ctx, [key], key, GLOBAL_KEYS, '[sandbox]');
  }
}

function mergeGrants(into: Grants, from: Grants): void {
  into.allowRead.push(...from.allowRead);
  into.allowWrite.push(...from.allowWrite);
  into.allowEnv.push(...from.allowEnv);
  into.allowExec.push(...from.allowExec);
  into.targetRustflags.push(...from.targetRustflags);
  for (const k of ['allowNetwork', 'sandbox', 'timeoutSecs', 'maxFileSize', 'maxMemory', 'maxOutput', 'maxDisk', 'maxProcesses', 'runner', 'target', 'targetRustc'] as const) {
    if (from[k] !== undefined) (into as unknown as Record<string, unknown>)[k] = from[k];
  }
}

/** CARGO_SANDBOX_* variables, read the way cargo reads CARGO_* config variables. */
function envTable(env: NodeJS.ProcessEnv, packages: readonly string[], ctx: { issues: ConfigIssue[] }): { table: Record<string, Raw>; names: Map<string, string> } {
  const table: Record<string, Raw> = {};
  const names = new Map<string, string>(); // dotted key path -> variable name
  const envName = (parts: string[]) => ['CARGO', 'SANDBOX', ...parts].join('_').toUpperCase().replace(/[-.]/g, '_');
  const used = new Set<string>(['CARGO_SANDBOX_DEBUG']);
  for (const key of GLOBAL_KEYS.filter((k) => k !== 'package')) {
    const name = envName([key]);
    if (env[name] !== undefined) {
      table[key] = env[name];
      names.set(key, name);
      used.add(name);
    }
  }
  const pkgTable: Record<string, Record<string, Raw>> = {};
  for (const pkg of packages) {
    for (const key of PACKAGE_KEYS) {
      const name = envName(['package', pkg, key]);
      if (env[name] === undefined) continue;
      (pkgTable[pkg] ??= {})[key] = env[name];
      names.set(`package\0${pkg}\0${key}`, name);
      used.add(name);
    }
  }
  if (Object.keys(pkgTable).length) table.package = pkgTable;
  const candidates = GLOBAL_KEYS.filter((k) => k !== 'package').map((k) => envName([k]));
  for (const name of Object.keys(env)) {
    if (!name.startsWith('CARGO_SANDBOX_') || used.has(name)) continue;
    const suggestion = didYouMean(name, candidates);
    ctx.issues.push({
      level: 'warning',
      message: `unused environment variable \`${name}\`: it sets no cargo-sandbox key`,
      source: { kind: 'env', name },
      help: suggestion ? [`did you mean \`${suggestion}\`?`] : name.startsWith('CARGO_SANDBOX_PACKAGE_') ? ['package variables apply to packages in Cargo.lock: `CARGO_SANDBOX_PACKAGE_<NAME>_<KEY>`'] : [],
    });
  }
  return { table, names };
}

export interface LoadedSandboxConfig {
  config: SandboxConfig;
  issues: ConfigIssue[];
}

/**
 * @param layers cargo config layers, highest precedence first (as loadConfigLayers returns them)
 * @param knownPackages package names in the dependency graph (Cargo.lock), when known
 */
export function loadSandboxConfig(
  layers: readonly ConfigLayer[],
  env: NodeJS.ProcessEnv,
  cwd: string,
  knownPackages: readonly string[] | undefined,
): LoadedSandboxConfig {
  const issues: ConfigIssue[] = [];
  const config: SandboxConfig = { global: emptyGrants(), packages: [] };
  const files = layers.filter((l) => l.rank === 'file').reverse();
  const cli = layers.filter((l) => l.rank === 'cli').reverse();
  const fromLayer = (layer: ConfigLayer) => {
    let positions: Map<string, Position> | undefined;
    const ctx: Ctx = {
      issues,
      baseDir: layer.baseDir,
      fromEnv: false,
      at: (path) => {
        if (layer.source.kind === 'cli') return { kind: 'cli', arg: layer.source.arg };
        positions ??= locateKeys(layer.text);
        const pos = positionOf(positions, ['sandbox', ...path]);
        return { kind: 'file', path: layer.source.path, line: pos?.line, column: pos?.column };
      },
    };
    addLayer(ctx, config, (layer.table as Record<string, Raw>).sandbox);
  };
  files.forEach(fromLayer);
  const { table, names } = envTable(env, knownPackages ?? [], { issues });
  addLayer(
    {
      issues,
      baseDir: cwd,
      fromEnv: true,
      at: (path) => ({ kind: 'env', name: names.get(path.join('\0')) ?? 'CARGO_SANDBOX_*' }),
    },
    config,
    Object.keys(table).length ? table : undefined,
  );
  cli.forEach(fromLayer);
  if (knownPackages) {
    for (const p of config.packages) {
      if (!knownPackages.includes(p.spec.name)) {
        const suggestion = didYouMean(p.spec.name, knownPackages);
        issues.push({
          level: 'warning',
          message: `package \`${p.spec.name}\` in \`[sandbox.package.${p.key}]\` is not in the dependency graph`,
          source: firstSource(p.grants) ?? { kind: 'default' },
          help: suggestion ? [`did you mean \`${suggestion}\`?`] : ['its grants have no effect'],
        });
      }
    }
  }
  return { config: mergePackages(config), issues };
}

function firstSource(g: Grants): Source | undefined {
  return (g.allowNetwork ?? g.sandbox ?? g.timeoutSecs ?? g.runner ?? g.target ?? g.targetRustc ?? g.allowRead[0] ?? g.allowWrite[0] ?? g.allowEnv[0] ?? g.allowExec[0] ?? g.maxFileSize ?? g.maxMemory ?? g.maxOutput ?? g.maxDisk ?? g.maxProcesses ?? g.targetRustflags[0])?.source;
}

/** One entry per package key, layers merged in precedence order. */
function mergePackages(config: SandboxConfig): SandboxConfig {
  const byKey = new Map<string, PackageGrants>();
  for (const p of config.packages) {
    const existing = byKey.get(p.key);
    if (existing) {
      mergeGrants(existing.grants, p.grants);
      if (p.spec.checksum) existing.spec = { ...existing.spec, checksum: p.spec.checksum };
    }
    else byKey.set(p.key, { ...p, grants: { ...p.grants, allowRead: [...p.grants.allowRead], allowWrite: [...p.grants.allowWrite], allowEnv: [...p.grants.allowEnv], allowExec: [...p.grants.allowExec], targetRustflags: [...p.grants.targetRustflags] } });
  }
  return { ...config, packages: [...byKey.values()] };
}
