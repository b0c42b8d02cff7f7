// --sandbox-run / sandbox.run: test binaries run confined with their package's policy; cargo
// test's arguments and output stay intact. Judged by host effects, with plain cargo as control.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { startListeners } from '../helpers/listeners.js';
import { BASHRC, copyFixture, makeScratch, run, runCli, runPlainCargo, SECRETS, sleep } from '../helpers/sandbox-env.js';

async function runTests(mode: 'sandbox' | 'plain') {
  const s = makeScratch(`run-${mode}`);
  const ws = copyFixture(s, 'evil-test');
  const listeners = await startListeners(s.root);
  writeFileSync(join(ws, 'test-params.txt'), `port=${listeners.tcpPort}\n`);
  const args = ['test', '--', '--test-threads=1'];
  const r = mode === 'sandbox' ? await runCli(['test', '--sandbox-run', '--', '--test-threads=1'], { cwd: ws, env: s.env }) : await runPlainCargo(args, { cwd: ws, env: s.env });
  await sleep(200);
  const received = listeners.received.tcp;
  await listeners.close();
  let loot = '';
  try {
    loot = readFileSync(join(ws, 'target/tmp/loot'), 'utf8');
  } catch {
    /* none */
  }
  return { s, ws, r, received, loot };
}

describe('test binaries under --sandbox-run', () => {
  test('control: plain cargo test steals, backdoors and phones home', async () => {
    const o = await runTests('plain');
    assert.equal(o.r.status, 0, o.r.stderr);
    assert.ok(o.loot.includes(SECRETS.sshKey) && o.loot.includes(SECRETS.envGithubToken));
    assert.notEqual(readFileSync(join(o.s.home, '.bashrc'), 'utf8'), BASHRC);
    assert.equal(o.received, 1);
  });

  test('cargo sandbox test --sandbox-run: the test passes with its output intact, and gets nothing', async () => {
    const o = await runTests('sandbox');
    assert.equal(o.r.status, 0, o.r.stderr);
    assert.match(o.r.stdout, /^test adds_and_steals \.\.\. ok$/m);
    assert.match(o.r.stdout, /^test result: ok\. 1 passed; 0 failed/m);
    assert.ok(o.loot.length > 0, 'the test ran and wrote to CARGO_TARGET_TMPDIR');
    assert.ok(!o.loot.includes(SECRETS.sshKey) && !o.loot.includes(SECRETS.envGithubToken) && !o.loot.includes(SECRETS.envAws));
    assert.equal(readFileSync(join(o.s.home, '.bashrc'), 'utf8'), BASHRC);
    assert.equal(o.received, 0);
  });

  test('a test that never ends stops at its package\'s timeout, with what it started (control: plain cargo test still runs)', async () => {
    const leftovers = () => run('pgrep', ['-f', 'sleep 6001.4242'], { cwd: '/', env: process.env });
    const s = makeScratch('run-spin');
    const ws = copyFixture(s, 'spin-test');
    try {
      // Output to /dev/null: the test binary, orphaned when cargo is killed, must not hold our pipes.
      // timeout kills its whole process group (cargo, the test, its child) after 20 s.
      const plain = await run('sh', ['-c', 'exec timeout -s KILL 20 cargo test >/dev/null 2>&1'], { cwd: ws, env: s.env });
      assert.ok(plain.status === 137 || plain.signal === 'SIGKILL', `plain: cargo test ended by itself (${plain.status})`);
    } finally {
      await run('pkill', ['-f', `${ws}/target/debug/deps/spin-`], { cwd: '/', env: process.env });
      await run('pkill', ['-f', 'sleep 6001.4242'], { cwd: '/', env: process.env });
    }
    const started = Date.now();
    const r = await runCli(['test', '--sandbox-run'], { cwd: ws, env: s.env, timeoutMs: 120_000 });
    assert.notEqual(r.status, 0);
    assert.ok(Date.now() - started < 60_000, 'the timeout did not stop the test');
    assert.match(r.stderr, /the test binary ran longer than its timeout of 3s/);
    assert.notEqual((await leftovers()).status, 0, 'a process the test started survived');
  });
});

