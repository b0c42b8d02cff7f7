// The suite runs as root and changes the host as an attack would find it: secrets planted in /etc,
// users under /home, sockets under /run/user/<uid>, names in /etc/hosts. It must do so in a private
// mount namespace (scripts/in-private-mounts.sh, which `npm test` runs it through), never on the
// machine's own directories. Checked here from inside: what a test writes there does not reach the
// namespace the suite was started from. The script itself checks from outside, after the run.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const IS_ROOT = process.getuid?.() === 0;
const OUTER = process.env.CARGO_SANDBOX_TEST_OUTER_PID;

test('the tests run in a private mount namespace: what they write to /etc, /home and /run/user does not reach the machine', (t) => {
  if (!IS_ROOT) {
    assert.ok(!process.env.CI, 'CI must run as root');
    return t.skip('not root: the tests cannot change /etc or /home, and cannot have a mount namespace of their own');
  }
  assert.ok(OUTER, 'run the suite through scripts/in-private-mounts.sh (npm test does): as root the tests would otherwise change this machine\'s /etc, /home and /run');
  const outer = `/proc/${OUTER}/root`;
  assert.notEqual(readlinkSync('/proc/self/ns/mnt'), readlinkSync(`/proc/${OUTER}/ns/mnt`), 'the same mount namespace as the shell that started the suite');
  const tag = `cs-private-mounts-${process.pid}-${Date.now()}`;
  // Control: /tmp is shared with the outer namespace, and seen from here through its root.
  const shared = join('/tmp', tag);
  writeFileSync(shared, 'x');
  try {
    assert.equal(readFileSync(join(outer, shared), 'utf8'), 'x', `${outer} does not show the outer namespace`);
  } finally {
    rmSync(shared, { force: true });
  }
  const userRuntime = `/run/user/${process.getuid!()}`;
  mkdirSync(userRuntime, { recursive: true, mode: 0o700 });
  for (const dir of ['/etc', '/home', userRuntime]) {
    const path = join(dir, tag);
    writeFileSync(path, 'x');
    try {
      assert.ok(existsSync(path));
      assert.equal(existsSync(join(outer, path)), false, `${path} reached the machine's ${dir}`);
    } finally {
      rmSync(path, { force: true });
    }
  }
});
