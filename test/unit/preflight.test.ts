import assert from 'node:assert/strict';
import { test } from 'node:test';
import { explainProbeFailure, preflight, requestedBackend } from '../../src/backends/preflight.js';
import { UserError } from '../../src/diagnostics/style.js';
import { failureNotes } from '../../src/diagnostics/failure-notes.js';
import { formatMessage } from '../../src/diagnostics/style.js';

test('a non-Linux OS fails closed with a clear error', () => {
  assert.throws(() => preflight({ PATH: '/usr/bin' }, 'darwin'), (e: unknown) => e instanceof UserError && /no sandbox backend for darwin/.test(e.message));
});

test('bwrap missing fails closed', () => {
  assert.throws(() => preflight({ PATH: '/nonexistent', CARGO_SANDBOX_BACKEND: 'bubblewrap' }, 'linux'), (e: unknown) => e instanceof UserError && /not found/.test(e.message) && /apt-get install bubblewrap/.test(e.help.join()));
});

test('the builder is the user\'s choice: direct unless bubblewrap is named; anything else stops', () => {
  assert.equal(requestedBackend({}), 'auto');
  assert.equal(requestedBackend({ CARGO_SANDBOX_BACKEND: '' }), 'auto');
  assert.equal(requestedBackend({ CARGO_SANDBOX_BACKEND: 'direct' }), 'direct');
  assert.equal(requestedBackend({ CARGO_SANDBOX_BACKEND: 'bubblewrap' }), 'bubblewrap');
  // A bubblewrap of the user's choosing (sandbox.bwrap, CARGO_SANDBOX_BWRAP) is bubblewrap's.
  assert.equal(requestedBackend({ CARGO_SANDBOX_BWRAP: '/opt/bwrap' }), 'bubblewrap');
  assert.equal(requestedBackend({}, '/opt/bwrap'), 'bubblewrap');
  for (const bad of ['bwrap', 'Direct', 'none']) {
    assert.throws(() => requestedBackend({ CARGO_SANDBOX_BACKEND: bad }), (e: unknown) => e instanceof UserError && e.message.includes(`CARGO_SANDBOX_BACKEND=${bad} names no sandbox backend`));
  }
});

test('probe failures are explained', () => {
  assert.match(explainProbeFailure('bwrap: setting up uid map: Permission denied').help.join(), /AppArmor/);
  assert.match(explainProbeFailure('bwrap: No permissions to creating new namespace').message, /user namespaces/);
  assert.match(explainProbeFailure('bwrap: Unknown option --disable-userns').message, /too old/);
});

test('messages are styled like cargo\'s', async () => {
  assert.equal(formatMessage('error', 'boom', false), 'error: boom\n');
  // A status line (the first run's helper compiles), as cargo's `   Compiling foo`; none under -q.
  const { createReporter } = await import('../../src/diagnostics/style.js');
  let out = '';
  createReporter({ color: false, write: (s) => (out += s) }).progress('Compiling', 'x');
  createReporter({ color: true, write: (s) => (out += s) }).progress('Compiling', 'y');
  createReporter({ color: false, quiet: true, write: (s) => (out += s) }).progress('Compiling', 'z');
  assert.equal(out, '   Compiling x\n\x1b[1m\x1b[32m   Compiling\x1b[0m y\n');
  assert.equal(formatMessage('warning', 'hm', true), '\x1b[1m\x1b[33mwarning\x1b[0m\x1b[1m:\x1b[0m hm\n');
});

test('one note per failed build script, help once', () => {
  const run = { packageName: 'foo', packageVersion: '1.2.3', outDir: '/x/out', manifestDir: '/m', startedAtMs: 0, launcherPath: '/x/build-script-build', envFile: '/s/1.env', findings: [], supervised: true, processRefusals: 0 };
  const { notes, help } = failureNotes(
    [
      { run, blocked: [] },
      { run: { ...run, packageName: 'bar' }, blocked: [{ kind: 'network', message: 'it tried to use the network' }] },
    ],
    '/home/u',
  );
  assert.equal(notes.length, 3);
  assert.equal(notes[2], 'it tried to use the network');
  assert.match(notes[0]!, /`foo v1\.2\.3`/);
  assert.equal(help[0], 'to allow this: cargo sandbox allow bar --network');
  assert.deepEqual(failureNotes([], '/home/u'), { notes: [], help: [], offers: [] });
});

test('doctor reads Ubuntu\'s AppArmor restriction of unprivileged user namespaces', async () => {
  const { apparmorRestrictsUserns } = await import('../../src/cli/doctor.js');
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'cs-apparmor-'));
  for (const [value, restricted] of [['1\n', true], ['0\n', false]] as const) {
    writeFileSync(join(dir, 'setting'), value);
    assert.equal(apparmorRestrictsUserns(join(dir, 'setting')), restricted);
  }
  assert.equal(apparmorRestrictsUserns(join(dir, 'absent')), false);
});
