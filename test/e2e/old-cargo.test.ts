// Debian 12's cargo (1.65, /usr/bin/cargo from the `cargo` package) does not pass `rustc -vV`
// through RUSTC_WRAPPER, so sandboxed and plain builds would share build-script artifacts: it is
// refused with a clear error, before anything is built, and `doctor` says so.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { copyFixture, makeScratch, runCli, runPlainCargo } from '../helpers/sandbox-env.js';

const DEBIAN_CARGO = '/usr/bin/cargo';

test('Debian\'s cargo 1.65 is refused, by CARGO or first in PATH, and nothing is built', async () => {
  assert.ok(existsSync(DEBIAN_CARGO), 'Debian\'s cargo package is not installed (scripts/setup.sh installs it)');
  const s = makeScratch('old-cargo');
  const ws = copyFixture(s, 'tiny');
  // Control: that cargo itself works here.
  const version = await runPlainCargo(['-V'], { cwd: ws, env: { ...s.env, PATH: `/usr/bin:${s.env.PATH}` } });
  assert.match(version.stdout, /^cargo 1\.65\./);
  for (const env of [{ ...s.env, CARGO: DEBIAN_CARGO }, { ...s.env, PATH: `/usr/bin:${s.env.PATH}` }]) {
    const r = await runCli(['build'], { cwd: ws, env });
    assert.equal(r.status, 101, r.stderr);
    assert.match(r.stderr, /^error: cargo 1\.65\.0 is older than 1\.79, the oldest cargo cargo-sandbox supports: .*; nothing was built$/m);
    assert.match(r.stderr, /^help: use cargo 1\.79 or later/m);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.equal(existsSync(join(ws, 'target')), false);
  }
  const doctor = await runCli(['doctor'], { cwd: ws, env: { ...s.env, CARGO: DEBIAN_CARGO } });
  assert.match(doctor.stdout + doctor.stderr, /cargo 1\.65\.0 .*older than 1\.79: refused/);
});
