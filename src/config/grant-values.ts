// Reading one value of the `[sandbox]` table (a grant, a path list, a size, a duration) with
// errors that name the key, its file:line, and the fix. Shared by the global and package tables.

import { ENV_PATTERN } from '../policy/environment.js';
import { didYouMean } from './suggest.js';
import { DESTINATION_FORMS, mergeNetwork, parseDestination, type Destination } from './network-destinations.js';
import type { Grants, NetworkAccess, Source, Sourced } from './types.js';

export interface ConfigIssue {
  level: 'error' | 'warning';
  message: string;
  source: Source;
  help: string[];
}

const PATH_VARIABLES = ['HOME', 'CARGO_MANIFEST_DIR', 'OUT_DIR', 'WORKSPACE_ROOT', 'TARGET_DIR'];

export type Raw = unknown;

export interface Ctx {
  issues: ConfigIssue[];
  /** Source of the key at `path` below `[sandbox]`. */
  at(path: readonly string[]): Source;
  baseDir: string;
  fromEnv: boolean;
}

export function typeName(v: Raw): string {
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'a table';
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'number') return 'a number';
  if (typeof v === 'boolean') return 'a boolean';
  return typeof v;
}

export function keyName(path: readonly string[]): string {
  return ['sandbox', ...path].map((k) => (/^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k))).join('.');
}

export function error(ctx: Ctx, path: readonly string[], message: string, help: string[] = []): void {
  ctx.issues.push({ level: 'error', message, source: ctx.at(path), help });
}

export function readBool(ctx: Ctx, path: string[], v: Raw): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (ctx.fromEnv && (v === 'true' || v === 'false')) return v === 'true';
  error(ctx, path, `\`${keyName(path)}\` must be a boolean (true or false), found ${typeName(v)}`, [
    `write \`${path.at(-1)} = true\` or \`${path.at(-1)} = false\``,
  ]);
  return undefined;
}

/** Words an environment variable might use for a boolean: never taken for host names. */
const BOOLEAN_WORDS = /^(?:yes|no|on|off|y|n|1|0)$/i;

/** `allow-network`: a boolean, or a list of destinations (whitespace-separated in a variable). */
function readNetwork(ctx: Ctx, path: string[], v: Raw): NetworkAccess | undefined {
  if (typeof v === 'boolean') return v;
  if (ctx.fromEnv && (v === 'true' || v === 'false')) return v === 'true';
  const list = ctx.fromEnv && typeof v === 'string' && !BOOLEAN_WORDS.test(v.trim()) ? v.split(/\s+/).filter(Boolean) : v;
  if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) {
    const single = typeof v === 'string' ? parseDestination(v) : undefined;
    error(ctx, path, `\`${keyName(path)}\` must be a boolean (true or false) or a list of destinations, found ${typeName(v)}`, [
      ctx.fromEnv
        ? 'write `true`, `false`, or destinations separated by spaces, e.g. `github.com:443 127.0.0.1:5432`'
        : single?.ok
          ? `for one destination, write a list: \`${path.at(-1)} = [${JSON.stringify(v)}]\``
          : `write \`${path.at(-1)} = true\` for the whole network, or a list: \`${path.at(-1)} = ["github.com:443"]\``,
    ]);
    return undefined;
  }
  const out: Sourced<Destination>[] = [];
  for (const raw of list as string[]) {
    const parsed = parseDestination(raw);
    if (parsed.ok) out.push({ value: parsed.destination, source: ctx.at(path) });
    else {
      error(ctx, path, `invalid destination \`${raw}\` in \`${keyName(path)}\`: ${parsed.problem}`, [
        ...(parsed.suggestion ? [`did you mean \`${JSON.stringify(parsed.suggestion)}\`?`] : []),
        `a destination is HOST or HOST:PORT: ${DESTINATION_FORMS}`,
      ]);
    }
  }
  return out;
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

export function readGrant(ctx: Ctx, grants: Grants, path: string[], key: string, v: Raw): void {
  const source = ctx.at(path);
  switch (key) {
    case 'allow-network': {
      const value = readNetwork(ctx, path, v);
      // Layers of the global table meet here: the merge rule of network-destinations.ts.
      if (value !== undefined) grants.allowNetwork = mergeNetwork(grants.allowNetwork, { value, source });
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

export function unknownKey(ctx: Ctx, path: string[], key: string, known: readonly string[], where: string): void {
  const suggestion = didYouMean(key, known);
  error(ctx, path, `unknown key \`${key}\` in \`${where}\``, [
    suggestion ? `did you mean \`${suggestion}\`?` : `the keys of \`${where}\` are: ${known.join(', ')}`,
  ]);
}
