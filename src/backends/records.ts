// The `key=value` files that cross between cargo-sandbox and its compiled helpers, checked against
// their one definition: libexec/schema/records.json, which libexec/shared/records.rs compiles in.
// Each file starts with `version=N`; an unknown key, a missing required key, a single key given
// twice or a value of the wrong kind is an error on either side, never a default
// (test/vectors/records.json holds the cases both sides must agree on).

import { libexecSchema } from '../paths.js';
import { ENV_PATTERN } from '../policy/environment.js';

type Kind = 'flag' | 'count' | 'number' | 'absolute-path' | 'granted-path' | 'pattern' | 'text' | 'word';

interface KeySpec {
  kind: Kind;
  required?: boolean;
  repeated?: boolean;
}

interface Format {
  version: number;
  keys: Record<string, KeySpec>;
}

export type FormatName = 'session' | 'package' | 'env' | 'run';

const SCHEMA = libexecSchema<{ formats: Record<FormatName, Format> }>('records.json');

/** A record that does not fit its format. */
export class RecordError extends Error {}

const U64_MAX = 2n ** 64n - 1n;

/** Whether `value` is of `kind`, as records.json's `kinds` says and records.rs checks. */
function fits(kind: Kind, value: string): boolean {
  switch (kind) {
    case 'flag':
      return value === '0' || value === '1';
    case 'count':
      return /^[1-9][0-9]*$/.test(value) && BigInt(value) <= U64_MAX;
    case 'number':
      return /^(0|[1-9][0-9]*)$/.test(value) && BigInt(value) <= U64_MAX;
    case 'absolute-path':
      return value.startsWith('/');
    case 'granted-path': {
      // Runtime parts sit between 0x01 bytes: OUT_DIR or CARGO_MANIFEST_DIR only.
      const parts = value.split('\x01');
      const runtimeOk = parts.length % 2 === 1 && parts.every((p, i) => i % 2 === 0 || p === 'OUT_DIR' || p === 'CARGO_MANIFEST_DIR');
      return runtimeOk && (value.startsWith('/') || (value.startsWith('\x01') && parts.length > 1));
    }
    case 'pattern':
      return ENV_PATTERN.test(value);
    case 'text':
      return value.length > 0;
    case 'word':
      return true;
  }
}

function formatOf(name: FormatName): Format {
  const format = SCHEMA.formats[name];
  if (!format) throw new Error(`no record format \`${name}\` in libexec/schema/records.json`);
  return format;
}

/** Checks `entries` (the version aside) against `format`; throws a RecordError that says what is wrong. */
function check(format: Format, entries: readonly (readonly [string, string])[]): void {
  const seen = new Set<string>();
  for (const [key, value] of entries) {
    const spec = Object.hasOwn(format.keys, key) ? format.keys[key] : undefined;
    if (!spec) throw new RecordError(`\`${key}\` is not a key of this file`);
    if (!fits(spec.kind, value)) throw new RecordError(`\`${key}\` is not ${spec.kind === 'text' ? 'a non-empty value' : `a valid ${spec.kind}`}: ${JSON.stringify(value)}`);
    if (!spec.repeated && seen.has(key)) throw new RecordError(`\`${key}\` is given twice`);
    seen.add(key);
  }
  const missing = Object.entries(format.keys).find(([key, spec]) => spec.required && !seen.has(key));
  if (missing) throw new RecordError(`\`${missing[0]}\` is missing`);
}

/** The file for these entries: `version=N` first; an undefined value is left out. */
export function renderRecord(name: FormatName, entries: readonly (readonly [string, string | undefined])[]): string {
  const format = formatOf(name);
  const given = entries.filter((e): e is readonly [string, string] => e[1] !== undefined);
  for (const [key, value] of given) {
    if (value.includes('\0')) throw new RecordError(`\`${key}\` holds a NUL byte: ${JSON.stringify(value)}`);
  }
  check(format, given);
  return [`version=${format.version}`, ...given.map(([k, v]) => `${k}=${v}`)].map((e) => `${e}\0`).join('');
}

/** A record's values by key (a repeated key's in order); throws a RecordError if it does not fit. */
export function parseRecord(name: FormatName, data: string): Map<string, string[]> {
  const format = formatOf(name);
  if (!data.endsWith('\0')) throw new RecordError(data ? 'its last entry does not end in NUL' : 'it is empty');
  const [first, ...rest] = data.slice(0, -1).split('\0');
  if (first !== `version=${format.version}`) throw new RecordError(`format \`${first}\`, expected \`version=${format.version}\``);
  const entries = rest.map((e): [string, string] => {
    const eq = e.indexOf('=');
    if (eq < 0) throw new RecordError(`\`${e}\` is not a \`key=value\` entry`);
    return [e.slice(0, eq), e.slice(eq + 1)];
  });
  check(format, entries);
  const values = new Map<string, string[]>();
  for (const [k, v] of entries) values.set(k, [...(values.get(k) ?? []), v]);
  return values;
}
