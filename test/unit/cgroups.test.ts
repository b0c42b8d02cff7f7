// The pids cgroup's pure parts: which line of /proc/self/cgroup names the cgroup we run in, and
// what doctor, policy and the build say (the real cgroups: e2e/limits-delegated.test.ts).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawn, spawnSync } from 'node:child_process';
import { ofThisBuild, ownCgroup } from '../../src/backends/cgroup-delegation.js';
import { describePidsStatus, PIDS_FIX } from '../../src/backends/cgroups.js';

const V2 = { mount: '/sys/fs/cgroup', v2: true };
const V1 = { mount: '/sys/fs/cgroup/pids', v2: false };
const HYBRID = '12:pids:/user.slice/user-1000.slice/session-2.scope\n4:memory:/user.slice\n1:name=systemd:/user.slice/user-1000.slice/session-2.scope\n0::/user.slice/user-1000.slice/session-2.scope/x\n';

test('the cgroup we run in: the unified line on cgroup v2, the pids line on v1 (a hybrid host has both)', () => {
  assert.equal(ownCgroup(V2, '0::/user.slice/user-1000.slice/user@1000.service/app.slice/run-r1.scope\n'), '/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/run-r1.scope');
  assert.equal(ownCgroup(V2, HYBRID), '/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope/x');
  assert.equal(ownCgroup(V1, HYBRID), '/sys/fs/cgroup/pids/user.slice/user-1000.slice/session-2.scope');
  assert.equal(ownCgroup(V1, '3:cpu,pids:/a\n'), '/sys/fs/cgroup/pids/a');
  // A controller named like it, or a named hierarchy, is not it.
  assert.equal(ownCgroup(V1, '3:pids_x:/a\n1:name=pids:/b\n'), undefined);
  assert.equal(ownCgroup(V2, '0::/\n'), '/sys/fs/cgroup');
});

test('a cgroup removed meanwhile, or a path that climbs, is none', () => {
  assert.equal(ownCgroup(V2, '0::/a/b (deleted)\n'), undefined);
  assert.equal(ownCgroup(V2, '0::/a/../../etc\n'), undefined);
  assert.equal(ownCgroup(V2, ''), undefined);
});

test('doctor\'s line says how it is enforced, or why not; the fix names systemd-run\'s delegation and root', () => {
  assert.equal(describePidsStatus({ enforced: true, how: 'root', parent: '/sys/fs/cgroup', v2: true, prepared: true }), 'enforced (as root: pids cgroups under /sys/fs/cgroup)');
  assert.equal(describePidsStatus({ enforced: true, how: 'delegated', parent: '/sys/fs/cgroup/a/run-r1.scope', v2: true, prepared: false }), 'enforced (pids cgroups in the cgroup delegated to you, /sys/fs/cgroup/a/run-r1.scope)');
  assert.equal(describePidsStatus({ enforced: false, why: 'this host has no pids cgroup controller' }), 'not enforced: this host has no pids cgroup controller');
  assert.match(PIDS_FIX[0]!, /`systemd-run --user --scope -p Delegate=yes cargo sandbox build`/);
  assert.match(PIDS_FIX[1]!, /root/);
});

test("only this build's processes are ever moved: itself, its ancestors, its children; not a process of the user's elsewhere", () => {
  assert.ok(ofThisBuild(process.pid));
  assert.ok(ofThisBuild(process.ppid));
  const child = spawn('sleep', ['5']);
  // Started by a shell that exits at once: its parent is then init (or a subreaper), not us.
  const orphan = Number(spawnSync('sh', ['-c', 'sleep 5 >/dev/null 2>&1 & echo $!'], { encoding: 'utf8' }).stdout.trim());
  try {
    assert.ok(ofThisBuild(child.pid!));
    assert.ok(orphan > 0);
    assert.equal(ofThisBuild(orphan), false);
  } finally {
    child.kill();
    process.kill(orphan);
  }
});
