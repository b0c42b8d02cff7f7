// Editing a cargo config.toml by lines: a table that exists gets the keys it lacks and the array
// items it lacks; a table that does not goes at the end. Nothing else is touched (comments, order,
// formatting, other tables), and nothing already there is written twice: two tables of one name,
// or one key twice, would make cargo stop with `duplicate key`. Used by `audit --suggest --write`
// and `cargo sandbox allow`; either validates the result with the real loader before writing.

import { createRequire } from 'node:module';

let tomlParse: ((text: string) => Record<string, unknown>) | undefined;
/** The TOML parser, loaded on first edit (its CommonJS build: the edit is synchronous). Importing
 * this module costs a build nothing: the denial notes that name its users load it after a build. */
function parse(text: string): Record<string, unknown> {
  tomlParse ??= (createRequire(import.meta.url)('smol-toml') as typeof import('smol-toml')).parse;
  return tomlParse(text);
}

/** One key of a table, as it should end up: a list gains the items it lacks; a scalar is set. */
export interface TableEntry {
  key: string;
  /** A list (`allow-read`), `true` (only `allow-network`), or a scalar (`timeout`, `checksum`). */
  value: readonly string[] | string | number | boolean;
}

/** What an edit did to one key: items or a value added, or all of it already there. */
export interface EntryChange {
  key: string;
  added: readonly string[] | string | number | boolean | undefined;
  /** Already present (so not written): list items, or the scalar itself. */
  present: readonly string[] | string | number | boolean | undefined;
}

/** A key as TOML writes it: bare when it can be, else quoted. */
export function tomlKey(k: string): string {
  return /^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k);
}

export function tomlValue(v: TableEntry['value']): string {
  return Array.isArray(v) ? `[${v.map((x) => JSON.stringify(x)).join(', ')}]` : JSON.stringify(v);
}

export function tableHeader(path: readonly string[]): string {
  return `[${path.map(tomlKey).join('.')}]`;
}

/** The key path of a `[table]` header line (any quoting, spacing, trailing comment), if it is one. */
function headerPath(line: string): string[] | undefined {
  const m = /^\s*\[\s*([^[\]]+?)\s*\]\s*(?:#.*)?$/.exec(line);
  if (!m) return undefined;
  try {
    // A dotted key parses into nested one-key tables: walk them for the path, however quoted.
    let node: unknown = parse(`${m[1]} = 0`);
    const path: string[] = [];
    while (node && typeof node === 'object') {
      const keys = Object.keys(node as object);
      if (keys.length !== 1) return undefined;
      path.push(keys[0]!);
      node = (node as Record<string, unknown>)[keys[0]!];
    }
    return path;
  } catch {
    return undefined;
  }
}

const samePath = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Whether a line starts a table or an array of tables. */
const isHeader = (line: string) => /^\s*\[/.test(line);

/** Where `key = ...` starts and how many lines its value takes (a multi-line array), in [from, to). */
function findKey(lines: readonly string[], from: number, to: number, key: string): { at: number; count: number; value: unknown } | undefined {
  const re = new RegExp(`^\\s*(?:${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}|"${key}"|'${key}')\\s*=`);
  for (let i = from; i < to; i++) {
    if (!re.test(lines[i]!)) continue;
    // The value ends where the lines so far parse: one line, or an array over several.
    for (let n = 1; i + n <= to; n++) {
      try {
        const parsed = parse(lines.slice(i, i + n).join('\n')) as Record<string, unknown>;
        return { at: i, count: n, value: Object.values(parsed)[0] };
      } catch {
        /* not yet complete */
      }
    }
    return { at: i, count: 1, value: undefined };
  }
  return undefined;
}

/** Where a line's comment starts (the line's end if none): the first `#` outside a string. */
function commentStart(line: string): number {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#') return i;
  }
  return line.length;
}

/** Thrown when a value cannot be merged by lines (the caller says what to do by hand). */
export class EditError extends Error {}

/** `lines` with `items` appended to the array whose key line is at `at` (one line or several). */
function appendItems(lines: string[], at: number, count: number, items: readonly string[]): void {
  const quoted = items.map((x) => JSON.stringify(x));
  if (count === 1) {
    const line = lines[at]!;
    const end = commentStart(line);
    const value = line.slice(0, end).trimEnd();
    if (!value.endsWith(']')) throw new EditError('its value is not an array');
    const inner = value.slice(value.indexOf('=') + 1).trim().slice(1, -1);
    const head = value.slice(0, value.lastIndexOf(']'));
    const joined = inner.trim() ? `${head.replace(/,?\s*$/, '')}, ${quoted.join(', ')}]` : `${head.trimEnd()}${quoted.join(', ')}]`;
    lines[at] = `${joined}${line.slice(value.length)}`;
    return;
  }
  // Several lines: the items go before the line that closes the array, indented as the one above.
  const close = at + count - 1;
  if (!/^\s*\]/.test(lines[close]!)) throw new EditError('its closing `]` shares a line with an item');
  let prev = close - 1;
  while (prev > at && /^\s*(#.*)?$/.test(lines[prev]!)) prev--;
  if (prev > at) {
    const end = commentStart(lines[prev]!);
    const body = lines[prev]!.slice(0, end).trimEnd();
    if (!body.endsWith(',')) lines[prev] = `${body},${lines[prev]!.slice(body.length)}`;
  }
  const indent = prev > at ? /^\s*/.exec(lines[prev]!)![0] : '    ';
  lines.splice(close, 0, ...quoted.map((q) => `${indent}${q},`));
}

/** JSON with keys sorted: two parsed documents compared as values. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object' && !(v instanceof Date)) {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * What the document should be after the merge, as values: `before` with exactly `entries` merged
 * into the table at `path` (mergeTable's rules). A line edit that changed anything else (a header
 * or a key spelled inside a multi-line string, so the lines landed in another table or in a
 * string) does not match it.
 */
function expectedAfter(before: Record<string, unknown>, path: readonly string[], entries: readonly TableEntry[]): Record<string, unknown> {
  const doc = JSON.parse(JSON.stringify(before)) as Record<string, unknown>;
  let table = doc;
  for (const k of path) table = (table[k] ??= {}) as Record<string, unknown>;
  for (const e of entries) {
    const now = table[e.key];
    if (Array.isArray(e.value)) {
      if (now === true) continue;
      if (Array.isArray(now)) table[e.key] = [...now, ...[...new Set(e.value)].filter((x) => !now.map(String).includes(x))];
      else if (now !== undefined || e.value.length) table[e.key] = [...e.value];
    } else table[e.key] = e.value;
  }
  return doc;
}

/** Throws an EditError unless `after` holds exactly what merging `entries` into `before` should. */
function checkMerged(before: string, after: string, path: readonly string[], entries: readonly TableEntry[]): void {
  let a: Record<string, unknown>;
  let b: Record<string, unknown>;
  try {
    a = parse(before);
    b = parse(after);
  } catch {
    return; // not TOML before or after: the caller's validation says so
  }
  if (canonical(JSON.parse(JSON.stringify(b))) !== canonical(expectedAfter(a, path, entries))) {
    throw new EditError('cannot be edited line by line here: the file spells a table header or key inside a string, or defines the table another way');
  }
}

/**
 * `text` with the table at `path` holding `entries`: missing keys go after its last key, missing
 * list items are appended in place, a differing scalar is replaced (its comment kept). An
 * `allow-network` of `true` stays (it allows more); `false` or a list gives way to `true`.
 */
export function mergeTable(text: string, path: readonly string[], entries: readonly TableEntry[]): { text: string; changes: EntryChange[] } {
  const merged = mergeLines(text, path, entries);
  if (merged.text !== text) checkMerged(text, merged.text, path, entries);
  return merged;
}

function mergeLines(text: string, path: readonly string[], entries: readonly TableEntry[]): { text: string; changes: EntryChange[] } {
  const lines = text.length ? text.replace(/\n$/, '').split('\n') : [];
  const changes: EntryChange[] = [];
  const at = lines.findIndex((l) => {
    const p = headerPath(l);
    return p !== undefined && samePath(p, path);
  });
  if (at < 0) {
    const wanted = entries.filter((e) => !(Array.isArray(e.value) && e.value.length === 0));
    if (wanted.length === 0) return { text, changes };
    if (lines.length && lines[lines.length - 1]!.trim() !== '') lines.push('');
    lines.push(tableHeader(path), ...wanted.map((e) => `${tomlKey(e.key)} = ${tomlValue(e.value)}`));
    for (const e of wanted) changes.push({ key: e.key, added: e.value, present: undefined });
    return { text: `${lines.join('\n')}\n`, changes };
  }
  const tableEnd = () => {
    let end = at + 1;
    while (end < lines.length && !isHeader(lines[end]!)) end++;
    return end;
  };
  for (const e of entries) {
    const end = tableEnd();
    const found = findKey(lines, at + 1, end, e.key);
    if (!found) {
      if (Array.isArray(e.value) && e.value.length === 0) continue;
      // After the table's last line that is not blank or a comment (those may introduce the next table).
      let insert = end;
      while (insert > at + 1 && /^\s*(#.*)?$/.test(lines[insert - 1]!)) insert--;
      lines.splice(insert, 0, `${tomlKey(e.key)} = ${tomlValue(e.value)}`);
      changes.push({ key: e.key, added: e.value, present: undefined });
      continue;
    }
    const { value: now, count } = found;
    const indent = /^\s*/.exec(lines[found.at]!)![0];
    const replace = () => {
      if (count !== 1) throw new EditError('it is written over several lines');
      const line = lines[found.at]!;
      const c = commentStart(line);
      const comment = c < line.length ? ` ${line.slice(c)}` : '';
      lines[found.at] = `${indent}${tomlKey(e.key)} = ${tomlValue(e.value)}${comment}`;
    };
    if (Array.isArray(e.value)) {
      if (now === true) {
        changes.push({ key: e.key, added: undefined, present: e.value });
        continue;
      }
      if (now === false || now === undefined || !Array.isArray(now)) {
        if (now === undefined) throw new EditError(`\`${e.key}\` could not be read`);
        replace();
        changes.push({ key: e.key, added: e.value, present: undefined });
        continue;
      }
      const have = now.map(String);
      const add = [...new Set(e.value)].filter((x) => !have.includes(x));
      if (add.length) appendItems(lines, found.at, count, add);
      changes.push({ key: e.key, added: add.length ? add : undefined, present: e.value.filter((x) => have.includes(x)) });
      continue;
    }
    if (now === e.value || (e.value === true && now === true)) {
      changes.push({ key: e.key, added: undefined, present: e.value });
      continue;
    }
    replace();
    changes.push({ key: e.key, added: e.value, present: undefined });
  }
  return { text: `${lines.join('\n')}\n`, changes };
}

/** Removes the table at `path` and its lines (a stale pinned approval); the text unchanged if absent. */
export function removeTable(text: string, path: readonly string[]): string {
  let lines = text.length ? text.replace(/\n$/, '').split('\n') : [];
  const at = lines.findIndex((l) => {
    const p = headerPath(l);
    return p !== undefined && samePath(p, path);
  });
  if (at < 0) return text;
  let end = at + 1;
  while (end < lines.length && !isHeader(lines[end]!)) end++;
  while (end > at + 1 && lines[end - 1]!.trim() === '') end--;
  lines = [...lines.slice(0, at), ...lines.slice(end)];
  while (at < lines.length && lines[at]!.trim() === '' && (at === 0 || lines[at - 1]!.trim() === '')) lines.splice(at, 1);
  return lines.length ? `${lines.join('\n')}\n` : '';
}
