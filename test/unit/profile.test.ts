// The per-stage profile's arithmetic (src/intercept/profile.ts): the files the entry points and the
// supervisor write, their stages, and the summary's medians and p90s.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatSummary, median, parseProfile, profileNote, profileRequested, quantile, readProfiles, summarize, type ProcessProfile } from '../../src/intercept/profile.js';

const MS = 1_000_000;

/** A profile file: stages at these millisecond offsets from 1000 s. */
function file(kind: string, at: Record<string, number>, cpu: Record<string, number> = {}): string {
  const lines = [`kind\t${kind}`];
  for (const [k, v] of Object.entries(at)) lines.push(`${k}\t${1000 * 1e9 + v * MS}`);
  for (const [k, v] of Object.entries(cpu)) lines.push(`${k}\t${v * MS}`);
  return `${lines.join('\n')}\n`;
}

const compilation = file(
  'compilation',
  { 'entry-start': 0, 'session-read': 0.2, 'bwrap-exec': 1, 'supervisor-start': 9, 'program-exec': 9.5, 'program-exit': 109.5, 'supervisor-exit': 110, 'entry-end': 111 },
  { 'entry-cpu': 1, 'program-cpu': 90, 'supervisor-cpu': 1, 'children-cpu': 2, 'entry-end-cpu': 1.5 },
);

test('a compilation: each stage between its marks, summing to the whole', () => {
  const p = parseProfile(compilation)!;
  assert.equal(p.kind, 'compilation');
  assert.deepEqual([p.entry, p.namespaces, p.supervisor, p.program, p.teardown, p.total], [1, 8, 0.5, 100, 1.5, 111]);
  assert.ok(Math.abs(p.entry + p.namespaces + p.supervisor + p.program + p.teardown - p.total) < 1e-9);
  // Ours: the entry point's 1.5, bubblewrap's 2 (its children's), the supervisor's 1.
  assert.equal(p.programCpu, 90);
  assert.equal(p.sandboxCpu, 4.5);
});

test("a build script ends with its supervisor (the launcher became bubblewrap); children's CPU that holds the program is not counted twice", () => {
  const p = parseProfile(file('build script', { 'entry-start': 0, 'bwrap-exec': 2, 'supervisor-start': 10, 'program-exec': 10, 'program-exit': 20, 'supervisor-exit': 23 }, { 'entry-cpu': 1, 'program-cpu': 5, 'supervisor-cpu': 0.5 }))!;
  assert.deepEqual([p.entry, p.namespaces, p.supervisor, p.program, p.teardown, p.total], [2, 8, 0, 10, 3, 23]);
  assert.equal(p.sandboxCpu, 1.5);
  const reaped = parseProfile(compilation.replace(`children-cpu\t${2 * MS}`, `children-cpu\t${93 * MS}`))!;
  assert.equal(reaped.sandboxCpu, 1.5 + 3);
});

test('a profile cut short (a refused build script, a stopped compilation) or of another kind is left out', () => {
  assert.equal(parseProfile(compilation.replace(/^program-exit.*\n/m, '')), undefined);
  assert.equal(parseProfile(compilation.replace(/^supervisor-start\t\d+/m, 'supervisor-start\t0')), undefined);
  assert.equal(parseProfile(compilation.replace('kind\tcompilation', 'kind\ttest')), undefined);
  assert.equal(parseProfile(''), undefined);
  const dir = mkdtempSync(join(tmpdir(), 'profile-test-'));
  try {
    writeFileSync(join(dir, 'profile-1'), compilation);
    writeFileSync(join(dir, 'profile-2'), 'kind\tcompilation\n');
    writeFileSync(join(dir, '3'), compilation);
    assert.equal(readProfiles(dir).length, 1);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('medians and nearest-rank p90s', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
  const ten = [10, 9, 8, 7, 6, 5, 4, 3, 2, 1];
  assert.equal(quantile(ten, 0.9), 9);
  assert.equal(quantile([...ten, 11], 0.9), 10);
  assert.equal(quantile([5], 0.9), 5);
  assert.equal(quantile([1, 2], 0.9), 2);
});

test('the summary: per kind in a fixed order, count, median/p90 of every stage', () => {
  const base = parseProfile(compilation)!;
  const slower: ProcessProfile = { ...base, program: 300, total: 311 };
  const script: ProcessProfile = { ...base, kind: 'build script' };
  const s = summarize([script, base, base, slower]);
  assert.deepEqual(
    s.map((k) => [k.kind, k.count]),
    [
      ['compilation', 3],
      ['build script', 1],
    ],
  );
  assert.equal(s[0]!.median.program, 100);
  assert.equal(s[0]!.p90.program, 300);
  assert.equal(s[0]!.median.namespaces, 8);
  const table = formatSummary(s).split('\n');
  assert.match(table[0]!, /count +entry +namespaces\+mounts +supervisor setup +program +teardown +total +program cpu +sandbox cpu$/);
  assert.match(table[1]!, /^compilation +3 +1\.00\/1\.00 +8\.00\/8\.00 +0\.50\/0\.50 +100\/300 +1\.50\/1\.50 +111\/311 /);
  assert.match(profileNote([]), /no process ran in the sandbox/);
});

test('the switch: set and not 0', () => {
  assert.equal(profileRequested({ CARGO_SANDBOX_PROFILE: '1' }), true);
  assert.equal(profileRequested({ CARGO_SANDBOX_PROFILE: '0' }), false);
  assert.equal(profileRequested({ CARGO_SANDBOX_PROFILE: '' }), false);
  assert.equal(profileRequested({}), false);
});
