// Where each key of a TOML file is (line and column), so that configuration errors can point at
// it: smol-toml gives values, not positions. A line scanner that knows tables, dotted and quoted
// keys, and skips multi-line arrays and strings, is enough for config files.

export interface Position {
  line: number;
  column: number;
}

function splitKey(text: string): string[] {
  const parts: string[] = [];
  let i = 0;
  while (i < text.length) {
    while (text[i] === ' ' || text[i] === '\t') i++;
    const q = text[i];
    if (q === '"' || q === "'") {
      const end = text.indexOf(q, i + 1);
      parts.push(text.slice(i + 1, end < 0 ? undefined : end));
      i = end < 0 ? text.length : end + 1;
    } else {
      let j = i;
      while (j < text.length && text[j] !== '.') j++;
      parts.push(text.slice(i, j).trim());
      i = j;
    }
    while (text[i] === ' ' || text[i] === '\t') i++;
    if (text[i] === '.') i++;
  }
  return parts;
}

/** The key part of `key = value` (respecting quotes), or undefined for other lines. */
function keyOf(line: string): string | undefined {
  let inQuote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (inQuote) {
      if (c === inQuote) inQuote = undefined;
    } else if (c === '"' || c === "'") inQuote = c;
    else if (c === '=') return line.slice(0, i);
    else if (c === '#') return undefined;
  }
  return undefined;
}

/** Positions of every key, by its dotted path joined with `\u0000`. */
export function locateKeys(text: string): Map<string, Position> {
  const positions = new Map<string, Position>();
  let table: string[] = [];
  let depth = 0; // open brackets of a multi-line value
  let inMultiline: string | undefined; // """ or '''
  const lines = text.split('\n');
  lines.forEach((raw, index) => {
    const line = raw.replace(/\r$/, '');
    if (inMultiline) {
      if (line.includes(inMultiline)) inMultiline = undefined;
      return;
    }
    if (depth > 0) {
      depth += count(line, '[') - count(line, ']');
      return;
    }
    const trimmed = line.trim();
    const header = /^\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$/.exec(trimmed);
    if (header) {
      table = splitKey(header[1]!);
      positions.set(table.join('\0'), { line: index + 1, column: line.indexOf('[') + 1 });
      return;
    }
    const key = keyOf(line);
    if (key === undefined || key.trim() === '') return;
    const path = [...table, ...splitKey(key)];
    positions.set(path.join('\0'), { line: index + 1, column: line.length - line.trimStart().length + 1 });
    const value = line.slice(key.length + 1);
    for (const delim of ['"""', "'''"]) {
      if (count(value, delim) % 2 === 1) inMultiline = delim;
    }
    if (!inMultiline) depth = Math.max(0, count(stripStrings(value), '[') - count(stripStrings(value), ']'));
  });
  return positions;
}

function count(s: string, sub: string): number {
  return s.split(sub).length - 1;
}

function stripStrings(s: string): string {
  return s.replace(/"(?:[^"\\]|\\.)*"|'[^']*'/g, '""').replace(/#.*$/, '');
}

/** The position of a key, or of the nearest enclosing table that has one. */
export function positionOf(positions: Map<string, Position>, path: readonly string[]): Position | undefined {
  for (let n = path.length; n > 0; n--) {
    const p = positions.get(path.slice(0, n).join('\0'));
    if (p) return p;
  }
  return undefined;
}
