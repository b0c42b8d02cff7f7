#!/usr/bin/env node
// Does the suite notice a weaker sandbox? For each weakening in scripts/weakenings.json: a clone
// of HEAD with that one property removed runs the end-to-end files that should catch it, and the
// tests that failed are listed. A weakening no test catches is a hole in the suite: exit code 1.
//
//   node scripts/weakened-sandbox.mjs [--only NAME[,NAME...]] [--all]
//
// Minutes per weakening (each runs real cargo); not part of `npm test`.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { weakenings } = JSON.parse(readFileSync(join(root, 'scripts', 'weakenings.json'), 'utf8'));
const args = process.argv.slice(2);
const only = args.includes('--only') ? args[args.indexOf('--only') + 1].split(',') : undefined;
const ATTACK_FILES = ['attacks.test.js', 'attacks-solo.test.js', 'attacks-outdir.test.js', 'macro-attacks.test.js', 'workspace-secrets.test.js', 'landlock.test.js', 'limits.test.js', 'shipped-target.test.js', 'confinement-layers.test.js', 'home-grant.test.js', 'dns.test.js'];
const work = join(process.env.TMPDIR ?? '/tmp', `cargo-sandbox-weakened-${process.pid}`);

const results = [];
for (const w of weakenings.filter((w) => !only || only.includes(w.name))) {
  const dir = join(work, w.name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  execFileSync('git', ['clone', '-q', root, dir]);
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  const stale = w.edits.find((e) => readFileSync(join(dir, e.file), 'utf8').split(e.find).length !== 2);
  if (stale) {
    console.error(`error: weakening \`${w.name}\` no longer applies: ${stale.file} does not hold its text exactly once; update scripts/weakenings.json`);
    results.push({ name: w.name, what: w.what, stale: true, failed: [] });
    continue;
  }
  for (const e of w.edits) {
    const file = join(dir, e.file);
    writeFileSync(file, readFileSync(file, 'utf8').replace(e.find, e.replace));
  }
  execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: dir, stdio: 'inherit' });
  const files = (args.includes('--all') ? ATTACK_FILES : w.tests).map((f) => join('dist', 'test', 'e2e', f));
  const started = Date.now();
  // In a private mount namespace, as `npm test` runs them: the machine's /etc, /home and /run stay as they are.
  const run = spawnSync('bash', ['scripts/in-private-mounts.sh', 'node', '--test', '--test-concurrency=1', '--test-reporter=tap', ...files], { cwd: dir, encoding: 'utf8', maxBuffer: 256 << 20 });
  // TAP: a failing leaf test is `not ok N - name` (suites that fail because a test did are skipped).
  const failed = [...new Set([...run.stdout.matchAll(/^\s*not ok \d+ - (.+)$/gm)].map((m) => m[1].trim()))].filter((name) => !/^(dist\/|\/)/.test(name));
  results.push({ name: w.name, what: w.what, failed, seconds: Math.round((Date.now() - started) / 1000) });
  console.log(`${failed.length ? 'caught' : 'NOT CAUGHT'}: ${w.name} (${w.what}) in ${results.at(-1).seconds} s`);
  for (const f of failed) console.log(`    ${f}`);
  rmSync(dir, { recursive: true, force: true });
}
rmSync(work, { recursive: true, force: true });
writeFileSync(join(root, '.cache', 'weakened-sandbox.json'), JSON.stringify(results, null, 1));
process.exit(results.some((r) => r.stale) ? 2 : results.every((r) => r.failed.length) ? 0 : 1);
