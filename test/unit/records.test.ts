// The files that cross to the compiled helpers: the TypeScript side of libexec/schema/records.json
// agrees with the Rust side (libexec/shared/records.rs) on every shared case.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseRecord, RecordError, renderRecord, type FormatName } from '../../src/backends/records.js';
import { renderEnvData } from '../../src/backends/bwrap.js';
import { ENV_PATTERN } from '../../src/policy/environment.js';
import { variablePatterns, type VariableUse } from '../../src/policy/variables.js';
import { LIBEXEC, PACKAGE_ROOT } from '../../src/paths.js';

interface Case {
  format: FormatName;
  entries: string[];
  ok: boolean;
  why: string;
}

const vectors = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'test', 'vectors', 'records.json'), 'utf8')) as { cases: Case[] };

test('every shared record case is accepted or refused as the Rust reader does', () => {
  assert.ok(vectors.cases.length >= 30);
  for (const c of vectors.cases) {
    const data = c.entries.map((e) => `${e}\0`).join('');
    let error: unknown;
    try {
      parseRecord(c.format, data);
    } catch (e) {
      error = e;
    }
    if (c.ok) assert.equal(error, undefined, `${c.format}: ${c.why}`);
    else assert.ok(error instanceof RecordError, `${c.format}: ${c.why} was accepted`);
  }
});

test('the writer checks what it writes and leaves absent values out', () => {
  assert.equal(renderEnvData({ keep: ['PATH'], deny: ['*TOKEN*'] }), 'version=1\0keep=PATH\0deny=*TOKEN*\0');
  assert.throws(() => renderRecord('package', [['sandbox', '1']]), /`network` is missing/);
  assert.throws(() => renderRecord('package', [['sandbox', '1'], ['network', '0'], ['timeout', '0']]), /`timeout` is not/);
  assert.throws(() => renderRecord('package', [['sandbox', '1'], ['network', '0'], ['max-proceses', '1']]), /not a key/);
  assert.throws(() => renderRecord('env', [['keep', 'A\0B']]), /NUL/);
  assert.equal(renderRecord('package', [['sandbox', '1'], ['network', '0'], ['timeout', undefined]]), 'version=1\0sandbox=1\0network=0\0');
});

test('every format in records.json has a version, keys of known kinds, and `version` is no key', () => {
  const schema = JSON.parse(readFileSync(join(LIBEXEC, 'schema', 'records.json'), 'utf8')) as { kinds: Record<string, string>; formats: Record<string, { version: number; keys: Record<string, { kind: string }> }> };
  for (const [name, format] of Object.entries(schema.formats)) {
    assert.ok(Number.isInteger(format.version) && format.version >= 1, name);
    assert.ok(!('version' in format.keys), name);
    for (const [key, spec] of Object.entries(format.keys)) assert.ok(spec.kind in schema.kinds, `${name}.${key}: ${spec.kind}`);
  }
});

test('every variable list of variables.json is read, and every pattern is one the helpers accept', () => {
  const uses: VariableUse[] = ['scrubbed-by-entry-points', 'refused-in-rustc-env', 'never-passed-into-a-sandbox'];
  for (const use of uses) {
    const patterns = variablePatterns(use);
    assert.ok(patterns.length > 0, use);
    for (const p of patterns) assert.match(p, ENV_PATTERN, `${use}: ${p}`);
  }
  assert.ok(variablePatterns('never-passed-into-a-sandbox').includes('*TOKEN*'));
  assert.ok(variablePatterns('refused-in-rustc-env').includes('LD_*'));
});
