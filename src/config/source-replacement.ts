// Whether cargo verified a Cargo.lock checksum itself, so that a `checksum` pin may bind an
// approval to it (THREAT-MODEL case 118). Cargo hashes the `.crate` file it downloads from a
// registry and compares it with the lockfile; it does not hash a `directory` source (a vendor
// directory declares its package checksum in `.cargo-checksum.json`, and cargo writes that claim
// into Cargo.lock unchecked), nor anything behind `paths` overrides or `[replace]`. A checksum is
// taken as verified only for a registry package when no source replacement or `paths` override
// the repository controls is configured: any `[source]` or `paths` key in a config file the trust
// check counts as the repository's (trusted or not: trusting a file reviews its keys, not the
// bytes of the directory it names) voids every checksum pin, and so does a replacement or
// override of the user's own config that points inside the workspace. The user's own replacement
// with a directory outside it keeps pins (the user owns those bytes).
// Pure but for `loadUserSourceConfigs`, which reads the user's own config files.

import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { isInside } from '../paths.js';
import { discoverConfigFiles, loadToml } from './cargo-config.js';
import type { LockedPackage } from './lockfile.js';
import { isUserConfigFile } from './workspace-files.js';
import type { WorkspaceFile } from './workspace-trust.js';

/** crates.io as Cargo.lock names it (the sparse index is recorded under the git index's id). */
export const CRATES_IO_SOURCES = ['registry+https://github.com/rust-lang/crates.io-index', 'sparse+https://index.crates.io/'];

/** One parsed config file or `--config` argument, and whose it is. */
export interface SourceConfigLayer {
  /** A file's path, or `--config ARG`. */
  where: string;
  table: Record<string, unknown>;
  /** Base of relative paths: the parent of `.cargo` (a `--config` value: the cwd). */
  baseDir: string;
  /** Written by the user (their cargo home's config, a `--config` value or file outside the workspace). */
  user: boolean;
}

/** What decides whether a checksum is verified: the config layers, highest precedence first. */
export interface SourceFacts {
  workspaceRoot: string;
  layers: SourceConfigLayer[];
}

const isTable = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The user's own config layers cargo reads (`--config` first, later ones first), and their includes. */
export async function loadUserSourceConfigs(opts: { cwd: string; cargoHomeDir: string; home: string; configArgs: readonly string[]; workspaceRoot: string }): Promise<SourceConfigLayer[]> {
  const layers: SourceConfigLayer[] = [];
  const toml = await loadToml();
  const parse = (text: string): Record<string, unknown> | undefined => {
    try {
      return toml.parse(text) as Record<string, unknown>;
    } catch {
      return undefined;
    }
  };
  const seen = new Set<string>();
  const addFile = (path: string, user: boolean) => {
    if (seen.has(path) || seen.size > 100) return;
    seen.add(path);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      return;
    }
    // Unreadable TOML: cargo refuses it; taken as the repository's (fail closed) if it names sources.
    const table = parse(text) ?? (/\bsource\b|\bpaths\b/.test(text) ? { source: {} } : {});
    // A file inside the workspace is the repository's, whoever names it.
    const owned = user && !isInside(path, opts.workspaceRoot);
    layers.push({ where: path, table, baseDir: dirname(dirname(path)), user: owned });
    for (const inc of includes(table, path)) addFile(inc, owned);
  };
  for (const arg of [...opts.configArgs].reverse()) {
    const asPath = resolve(opts.cwd, arg);
    if (arg.endsWith('.toml')) {
      addFile(asPath, true);
      continue;
    }
    const table = parse(arg);
    if (table) layers.push({ where: `--config ${arg}`, table, baseDir: opts.cwd, user: true });
  }
  for (const path of discoverConfigFiles(opts.cwd, opts.cargoHomeDir).filter((p) => isUserConfigFile(p, opts.cargoHomeDir, opts.home))) addFile(path, true);
  return layers;
}

function includes(table: Record<string, unknown>, from: string): string[] {
  const raw = table.include;
  const items = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  return items
    .map((i) => (typeof i === 'string' ? i : isTable(i) && typeof i.path === 'string' ? i.path : undefined))
    .filter((p): p is string => p !== undefined)
    .map((p) => (isAbsolute(p) ? p : resolve(dirname(from), p)));
}

/** The layers: the user's, with the repository's config files (every one the trust check loads) in cargo's order. */
export function sourceFacts(workspaceRoot: string, userLayers: readonly SourceConfigLayer[], workspaceFiles: readonly WorkspaceFile[]): SourceFacts {
  const repository = workspaceFiles
    .filter((f) => f.kind === 'cargo-config')
    // Not TOML we can read: it may hold anything (cargo-sandbox refuses it untrusted anyway).
    .map((f): SourceConfigLayer => ({ where: f.path, table: f.table ?? { source: {} }, baseDir: f.baseDir, user: false }));
  // Any source key of the repository's voids pins whatever its precedence: only the user's layers
  // are followed, and their order among themselves is cargo's.
  return { workspaceRoot, layers: [...userLayers, ...repository] };
}

/** The first key of a layer that replaces or overrides sources: `source.crates-io.replace-with`, `paths`. */
function sourceKey(table: Record<string, unknown>): string | undefined {
  if (table.paths !== undefined) return 'paths';
  // An alias of a trusted file can pass `--config source...` to the command it expands to.
  if (isTable(table.alias)) for (const [name, value] of Object.entries(table.alias)) if (/config/.test(JSON.stringify(value))) return `alias.${name}`;
  if (table.source === undefined) return undefined;
  if (!isTable(table.source)) return 'source';
  for (const [name, def] of Object.entries(table.source)) {
    if (!isTable(def)) return `source.${name}`;
    const key = Object.keys(def)[0];
    return key ? `source.${name}.${key}` : `source.${name}`;
  }
  // An empty `[source]` does nothing, but a file we could not read is given as one: fail closed.
  return 'source';
}

/** A key of `[source.NAME]`, from the layer of highest precedence that sets it. */
function sourceValue(layers: readonly SourceConfigLayer[], name: string, key: string): { value: unknown; layer: SourceConfigLayer } | undefined {
  for (const layer of layers) {
    const def = isTable(layer.table.source) ? layer.table.source[name] : undefined;
    if (isTable(def) && def[key] !== undefined) return { value: def[key], layer };
  }
  return undefined;
}

function registryMatches(lockSource: string, url: unknown): boolean {
  if (typeof url !== 'string') return false;
  const id = url.startsWith('sparse+') ? url : `registry+${url}`;
  return id === lockSource || (CRATES_IO_SOURCES.includes(lockSource) && CRATES_IO_SOURCES.includes(id));
}

/**
 * Why cargo did not verify the package's Cargo.lock checksum, or undefined when it did (or there is
 * none). A checksum pin matches only a verified checksum.
 */
export function unverifiedChecksum(pkg: LockedPackage, facts: SourceFacts): string | undefined {
  if (pkg.checksum === undefined) return undefined;
  if (pkg.replace !== undefined) return `Cargo.toml's \`[replace]\` builds \`${pkg.replace}\` in its place`;
  const source = pkg.source;
  if (source === undefined || !(source.startsWith('registry+') || source.startsWith('sparse+'))) return `cargo checks checksums only for registry packages, not \`${source ?? 'path'}\` sources`;
  const repository = facts.layers.find((l) => !l.user && sourceKey(l.table) !== undefined);
  if (repository) return `the repository's \`${repository.where}\` configures source replacement (\`${sourceKey(repository.table)}\`): cargo does not verify the checksum a vendored or local source declares, and it may be any bytes`;
  for (const layer of facts.layers) {
    const paths = Array.isArray(layer.table.paths) ? layer.table.paths : [];
    for (const p of paths) {
      const dir = typeof p === 'string' ? resolve(layer.baseDir, p) : undefined;
      if (dir === undefined || isInside(dir, facts.workspaceRoot)) return `\`${layer.where}\` overrides packages with \`paths\` at \`${String(p)}\`, inside the workspace`;
    }
  }
  // The source's name: crates-io, or a `[source.NAME]` with its registry URL; then its replacements.
  const sourceNames = new Set<string>(CRATES_IO_SOURCES.includes(source) ? ['crates-io'] : []);
  for (const layer of facts.layers) {
    if (!isTable(layer.table.source)) continue;
    for (const name of Object.keys(layer.table.source)) if (registryMatches(source, sourceValue(facts.layers, name, 'registry')?.value)) sourceNames.add(name);
  }
  for (const start of sourceNames) {
    let name = start;
    for (let hops = 0; ; hops++) {
      const next = sourceValue(facts.layers, name, 'replace-with');
      if (next === undefined) break;
      if (hops > 32 || typeof next.value !== 'string') return `\`${next.layer.where}\`'s source replacement of \`${start}\` cannot be followed`;
      name = next.value;
      for (const key of ['directory', 'local-registry']) {
        const dir = sourceValue(facts.layers, name, key);
        if (!dir) continue;
        const path = typeof dir.value === 'string' ? resolve(dir.layer.baseDir, dir.value) : undefined;
        if (path === undefined || isInside(path, facts.workspaceRoot)) {
          return `\`${dir.layer.where}\` replaces \`${start}\` with \`${String(dir.value)}\`, inside the workspace: cargo does not verify the checksum a vendored or local source declares`;
        }
      }
    }
  }
  return undefined;
}

/**
 * The locked packages as pins may match them: an unverified checksum is moved to `claimedChecksum`
 * with the reason, so that no `checksum` table applies (the package runs with the default policy).
 */
export function verifiedLockfile(locked: readonly LockedPackage[] | undefined, facts: SourceFacts): LockedPackage[] | undefined {
  return locked?.map((pkg) => {
    const why = unverifiedChecksum(pkg, facts);
    if (why === undefined) return pkg;
    const { checksum, replace: _replace, ...rest } = pkg;
    return { ...rest, claimedChecksum: checksum!, unverified: why };
  });
}
