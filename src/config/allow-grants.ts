// One package's grants as `cargo sandbox allow` takes them: the flags mirror the keys of
// `[sandbox.package.NAME]` (`--read` is `allow-read`, `--max-memory` is `max-memory`), one list of
// both here. The same request is what a denial note offers, what the prompt asks about, and what
// the allow command merges into a config file (config-edit.ts).

import type { TableEntry } from './config-edit.js';
import type { GRANT_KEYS } from './sandbox-config.js';

type GrantKey = (typeof GRANT_KEYS)[number];

/** The list flags and the key each one extends. */
export const LIST_FLAGS = { '--read': 'allow-read', '--write': 'allow-write', '--env': 'allow-env', '--exec': 'allow-exec' } as const satisfies Record<string, GrantKey>;
/** The flags that set one value, named as their key (`--timeout 15m`, `--max-memory 8GiB`, `--target native`). */
export const SCALAR_KEYS = ['timeout', 'max-memory', 'max-file-size', 'max-output', 'max-disk', 'max-processes', 'target'] as const satisfies readonly GrantKey[];
export type ScalarKey = (typeof SCALAR_KEYS)[number];
/** Every flag of `cargo sandbox allow` that grants something. */
export const GRANT_FLAGS = [...Object.keys(LIST_FLAGS), '--network', ...SCALAR_KEYS.map((k) => `--${k}`)] as const;

export interface AllowRequest {
  /** The package's table key: `openssl-sys`, or `openssl-sys@=0.9.80` where its approvals are pinned. */
  key: string;
  read: string[];
  write: string[];
  env: string[];
  exec: string[];
  /** `true`: the whole network; a list: these destinations (added to the table's list). */
  network?: true | string[];
  scalars: { key: ScalarKey; value: string | number }[];
}

export function emptyRequest(key: string): AllowRequest {
  return { key, read: [], write: [], env: [], exec: [], scalars: [] };
}

export function isEmptyRequest(r: AllowRequest): boolean {
  return !r.read.length && !r.write.length && !r.env.length && !r.exec.length && r.network === undefined && !r.scalars.length;
}

/** Two requests for one package as one: lists joined, the whole network over a list, b's scalars over a's. */
export function mergeRequests(a: AllowRequest, b: AllowRequest): AllowRequest {
  const join = (x: string[], y: string[]) => [...new Set([...x, ...y])];
  const network = a.network === true || b.network === true ? true : a.network || b.network ? join(a.network || [], b.network || []) : undefined;
  const scalars = [...a.scalars.filter((s) => !b.scalars.some((t) => t.key === s.key)), ...b.scalars];
  return { key: a.key, read: join(a.read, b.read), write: join(a.write, b.write), env: join(a.env, b.env), exec: join(a.exec, b.exec), ...(network ? { network } : {}), scalars };
}

/** The package's name, without a version requirement. */
export function requestPackage(r: AllowRequest): string {
  const at = r.key.indexOf('@');
  return at < 0 ? r.key : r.key.slice(0, at);
}

/** The table's keys, as config-edit.ts merges them. */
export function requestEntries(r: AllowRequest): TableEntry[] {
  return [
    { key: 'allow-read', value: r.read },
    { key: 'allow-write', value: r.write },
    { key: 'allow-env', value: r.env },
    { key: 'allow-exec', value: r.exec },
    ...(r.network !== undefined ? [{ key: 'allow-network', value: r.network }] : []),
    ...r.scalars.map((s) => ({ key: s.key, value: s.value })),
  ];
}

/** The words after `cargo sandbox allow`: `openssl-sys --read /opt/ssl --network=crates.io:443`. */
export function allowWords(r: AllowRequest): string[] {
  const words = [r.key];
  for (const [flag, key] of Object.entries(LIST_FLAGS)) {
    for (const v of r[key.slice('allow-'.length) as 'read' | 'write' | 'env' | 'exec']) words.push(flag, v);
  }
  if (r.network === true) words.push('--network');
  else for (const d of r.network ?? []) words.push(`--network=${d}`);
  for (const s of r.scalars) words.push(`--${s.key}`, String(s.value));
  return words;
}

/** "read ~/x, network crates.io:443": what the request grants, for a status line or a question. */
export function describeRequest(r: AllowRequest): string {
  const parts: string[] = [];
  if (r.read.length) parts.push(`read ${r.read.join(', ')}`);
  if (r.write.length) parts.push(`write ${r.write.join(', ')}`);
  if (r.env.length) parts.push(`see ${r.env.join(', ')}`);
  if (r.exec.length) parts.push(`run ${r.exec.join(', ')}`);
  if (r.network === true) parts.push('use the whole network');
  else if (r.network?.length) parts.push(`network ${r.network.join(', ')}`);
  for (const s of r.scalars) parts.push(`${s.key} ${s.value}`);
  return parts.join(', ');
}
