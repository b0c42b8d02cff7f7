// A package granted the whole home (`allow-read = ["~"]`) still reads none of the home's secrets:
// each of them is masked on its own (src/policy/default-policy.ts HOME_SECRETS, cargo's
// credentials, and the user's identity secret). `home-reader` reads every file under $HOME into
// its OUT_DIR; plain cargo is the control, where the same script takes every secret.

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { copyFixture, makeScratch, runCli, runPlainCargo, SECRETS, walkFiles } from '../helpers/sandbox-env.js';

/** Every secret planted in the scratch home's files (sandbox-env.ts; the others live elsewhere). */
const HOME_SECRETS = (['sshKey', 'awsKey', 'cargoToken', 'gitCredential', 'netrc', 'kube', 'docker', 'gh', 'history', 'browser', 'npmrc'] as const).map((name) => [name, SECRETS[name]] as const);

function loot(ws: string): string {
  const file = walkFiles(join(ws, 'target')).find((f) => f.includes('/build/home-reader-') && f.endsWith('/out/loot'));
  assert.ok(file, 'the build script left no loot: it did not run');
  return readFileSync(file, 'latin1');
}

test('with the whole home granted, no secret of the home and not the identity secret is read (control: plain cargo reads them all)', async () => {
  const s = makeScratch('home-grant');
  const ws = copyFixture(s, 'home-reader');
  mkdirSync(join(ws, '.cargo'));
  writeFileSync(join(ws, '.cargo', 'config.toml'), '[sandbox.package.home-reader]\nallow-read = ["~"]\n');
  const r = await runCli(['build'], { cwd: ws, env: s.env });
  assert.equal(r.status, 0, r.stderr);
  const sandboxed = loot(ws);
  // The grant applied: an ordinary file of the home was read.
  assert.ok(sandboxed.includes(SECRETS.homeDocument), 'the grant did not apply: ~/Documents/notes.txt was not read');
  const identity = readFileSync(join(s.home, '.cache', 'cargo-sandbox', 'identity'), 'utf8').trim();
  assert.match(identity, /^[0-9a-f]{32}$/);
  for (const [name, secret] of HOME_SECRETS) assert.ok(!sandboxed.includes(secret), `${name} was read through the grant`);
  assert.ok(!sandboxed.includes(identity), 'the identity secret was read through the grant');

  // Control: the same script under plain cargo, in a fresh target dir, takes them all.
  const plain = await runPlainCargo(['build', '--target-dir', join(s.root, 'plain-target')], { cwd: ws, env: s.env });
  assert.equal(plain.status, 0, plain.stderr);
  const taken = walkFiles(join(s.root, 'plain-target')).find((f) => f.includes('/build/home-reader-') && f.endsWith('/out/loot'));
  assert.ok(taken, 'plain: no loot');
  const plainLoot = readFileSync(taken, 'latin1');
  for (const [name, secret] of HOME_SECRETS) assert.ok(plainLoot.includes(secret), `plain: ${name} was not read`);
  assert.ok(plainLoot.includes(identity), 'plain: the identity secret was not read');
});
