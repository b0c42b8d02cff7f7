// Figures the README states that the repository can count or measured: they must match what it
// holds (THREAT-MODEL.md's cases, bench/results.json; bench/readme-figures.ts writes them).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { renderFigures, withFigures, type BenchResults } from '../../bench/readme-figures.js';

const read = (name: string) => readFileSync(join(PACKAGE_ROOT, name), 'utf8');

test('the README counts every attack case of THREAT-MODEL.md, numbered 1..N without gaps', () => {
  const numbers = [...read('THREAT-MODEL.md').matchAll(/^\| (\d+) \|/gm)].map((m) => Number(m[1]));
  assert.deepEqual(numbers, numbers.map((_, i) => i + 1), 'THREAT-MODEL.md: cases out of order, repeated or missing');
  const readme = read('README.md');
  assert.equal(Number(/— (\d+) attack cases, listed/.exec(readme)?.[1]), numbers.length, 'README.md: the attack-case count');
  assert.equal(Number(/a (\d+)-case attack suite/.exec(readme)?.[1]), numbers.length, 'README.md: the count in its status');
});

test("the README's performance figures are what bench/results.json holds (`npm run figures` writes them)", () => {
  const results = JSON.parse(read('bench/results.json')) as BenchResults;
  const readme = read('README.md');
  assert.equal(readme, withFigures(readme, results, read('THREAT-MODEL.md')), 'README.md: run `npm run figures`');
  // The block is made from the numbers: another measurement gives other figures.
  const slower = { ...results, floor: { added: { wallMs: results.floor.added.wallMs / 2, cpuMs: results.floor.added.cpuMs / 2 } } };
  assert.notEqual(renderFigures(slower), renderFigures(results));
});
