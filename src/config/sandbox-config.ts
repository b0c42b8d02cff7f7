// Loading, merging and validating the `[sandbox]` table from cargo's config layers and the
// CARGO_SANDBOX_* environment variables. Precedence as in cargo: command line > environment >
// nearer file > farther file; arrays are joined (higher precedence later), scalars overridden.

import { semver } from './semver.js';
import { didYouMean } from './suggest.js';
import type { ConfigLayer } from './cargo-config.js';
import { locateKeys, positionOf, type Position } from './locate.js';
import { mergeNetwork } from './network-destinations.js';
import { emptyGrants, type Grants, type PackageGrants, type SandboxConfig, type Source } from './types.js';
import { error, keyName, readBool, readGrant, typeName, unknownKey, type ConfigIssue, type Ctx, type Raw } from './grant-values.js';

export { checkPathSyntax, parseDuration, parseSize, type ConfigIssue } from './grant-values.js';

export const GRANT_KEYS = ['allow-network', 'allow-read', 'allow-write', 'allow-env', 'allow-exec', 'timeout', 'max-file-size', 'max-memory', 'max-output', 'max-disk', 'max-processes', 'runner', 'target', 'target-rustc', 'target-rustflags'] as const;
export const GLOBAL_KEYS = [...GRANT_KEYS, 'bwrap', 'proc-macros', 'run', 'package'] as const;
export const PACKAGE_KEYS = [...GRANT_KEYS, 'sandbox', 'checksum'] as const;
export const PACKAGE_NAME = /^[A-Za-z0-9_-]+$/;
/** Variables of ours that are not configuration keys. */
const NOT_CONFIG = ['CARGO_SANDBOX_CACHE_DIR', 'CARGO_SANDBOX_PROMPT', 'CARGO_SANDBOX_DEBUG', 'CARGO_SANDBOX_STRACE', 'CARGO_SANDBOX_TRUST_WORKSPACE', 'CARGO_SANDBOX_KEEP_TEST_DIRS', 'CARGO_SANDBOX_PROFILE', 'CARGO_SANDBOX_BACKEND'];

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
  if (from.allowNetwork) into.allowNetwork = mergeNetwork(into.allowNetwork, from.allowNetwork);
  for (const k of ['sandbox', 'timeoutSecs', 'maxFileSize', 'maxMemory', 'maxOutput', 'maxDisk', 'maxProcesses', 'runner', 'target', 'targetRustc'] as const) {
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
    if (!name.startsWith('CARGO_SANDBOX_') || used.has(name) || NOT_CONFIG.includes(name)) continue;
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
