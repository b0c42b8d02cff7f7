import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clippyFixAsFix } from '../../src/intercept/workspace-wrapper.js';

test('`clippy --fix` becomes `fix` with the lints in CLIPPY_ARGS, --no-deps added, as cargo-clippy does', () => {
  const r = clippyFixAsFix({ command: 'clippy', args: ['-q', 'clippy', '--fix', '--allow-dirty', '-p', 'app', '--', '-W', 'clippy::pedantic'] }, undefined, process.env);
  assert.ok(r);
  assert.deepEqual(r.cargoArgs, ['-q', 'fix', '--allow-dirty', '-p', 'app']);
  assert.equal(r.env.CLIPPY_ARGS, '-W__CLIPPY_HACKERY__clippy::pedantic__CLIPPY_HACKERY__--no-deps__CLIPPY_HACKERY__');
  assert.match(r.driver, /\/bin\/clippy-driver$/);
  const noDeps = clippyFixAsFix({ command: 'clippy', args: ['clippy', '--no-deps', '--fix'] }, undefined, process.env);
  assert.equal(noDeps?.env.CLIPPY_ARGS, '--no-deps__CLIPPY_HACKERY__');
  assert.equal(clippyFixAsFix({ command: 'clippy', args: ['clippy', '--', '--fix'] }, undefined, process.env), undefined);
  assert.equal(clippyFixAsFix({ command: 'fix', args: ['fix'] }, undefined, process.env), undefined);
});
