// --sandbox-run / sandbox.run: test binaries run confined with their package's policy; cargo
// test's arguments and output stay intact. Judged by host effects, with plain cargo as control.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { startListeners } from '../helpers/listeners.js';
import { BASHRC, copyFixture, makeScratch, processesWith, runCli, runPlainCargo, SECRETS, sleep } from '../helpers/sandbox-env.js';

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
    const s = makeScratch('run-spin');
    const ws = copyFixture(s, 'spin-test');
    // The name the test gives the child it leaves behind: this test's processes, no one else's.
    const marker = `cs-spin-test-${process.pid}-${Date.now()}`;
    writeFileSync(join(ws, 'sleeper-marker.txt'), marker);
    // Control, by state: the test started its child (named with the marker), its parent (the test
    // binary, in its endless loop after the start) is still there, and cargo test has not
    // finished. Output to /dev/null: the test binary must not hold our pipes.
    const plain = spawn('cargo', ['test'], { cwd: ws, env: s.env, stdio: 'ignore', detached: true });
    const plainRunning = () => plain.exitCode === null && plain.signalCode === null;
    try {
      let child: number | undefined;
      for (const end = Date.now() + 120_000; child === undefined && plainRunning() && Date.now() < end; await sleep(50)) child = processesWith(marker)[0];
      assert.ok(child, 'plain: the test never started its child');
      const parent = /\) \S+ (\d+)/.exec(readFileSync(`/proc/${child}/stat`, 'latin1'))?.[1];
      assert.match(readlinkSync(`/proc/${parent}/exe`), /\/target\/debug\/deps\/spin-[0-9a-f]+$/, 'plain: the child\'s parent is not the test binary');
      assert.ok(plainRunning(), 'plain: cargo test ended by itself');
    } finally {
      try {
        process.kill(-plain.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
      for (const pid of processesWith(marker)) process.kill(pid, 'SIGKILL');
    }
    rmSync(join(ws, 'target/tmp/sleeper'), { force: true });
    const started = Date.now();
    // The bound fails the test (and stops a run that hangs): the result is judged by state below.
    const r = await runCli(['test', '--sandbox-run'], { cwd: ws, env: s.env, timeoutMs: 120_000 });
    assert.equal(r.signal, null, 'the timeout did not stop the test');
    assert.notEqual(r.status, 0);
    assert.ok(Date.now() - started < 60_000, 'the timeout did not stop the test');
    assert.match(r.stderr, /the test binary ran longer than its timeout of 3s/);
    // The test started its child in the sandbox too, and nothing of this test is left.
    assert.match(readFileSync(join(ws, 'target/tmp/sleeper'), 'utf8'), new RegExp(`^${marker} \\d+$`), 'the test did not start its child');
    assert.deepEqual(processesWith(marker), [], 'a process the test started survived');
  });
});

