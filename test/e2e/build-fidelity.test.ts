// A sandboxed build builds the same thing as a plain one (issue 18): cargo's jobserver reaches
// build scripts' `make -j`, and a tool that writes to descriptors it was not given finds nothing
// of ours there. Plain cargo is the control each time.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { copyFixture, makeScratch, runCli, runPlainCargo } from '../helpers/sandbox-env.js';

describe('building the same thing as plain cargo', () => {
  test('the jobserver: make -j in a build script gets cargo\'s tokens; junk written to other descriptors lands nowhere of ours (control: plain cargo)', async () => {
    const plain = makeScratch('jobserver-plain');
    const plainWs = copyFixture(plain, 'jobserver');
    const control = await runPlainCargo(['build', '-j2'], { cwd: plainWs, env: plain.env });
    assert.equal(control.status, 0, control.stderr);
    assert.match(control.stderr, /makeflags MAKEFLAGS=.*--jobserver-auth=\d+,\d+/);
    // Plain cargo leaves its own jobserver pipe where a careless tool writes.
    assert.match(control.stderr, /junk written to descriptors \[\d/);

    const s = makeScratch('jobserver');
    const ws = copyFixture(s, 'jobserver');
    const r = await runCli(['build', '-j2'], { cwd: ws, env: s.env });
    // The Makefile's two jobs finish only when run at once: make had a second token.
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /make exited Some\(0\)/);
    assert.match(r.stderr, /makeflags MAKEFLAGS=.*--jobserver-auth=\d+,\d+/);
    assert.doesNotMatch(r.stderr, /jobserver unavailable|invalid --jobserver/);
    // Descriptors 3 to 9 hold nothing: not our policy files, the supervisor's report, nor a stale jobserver.
    assert.match(r.stderr, /junk written to descriptors \[\]/);
    assert.doesNotMatch(r.stderr, /left a symlink|setuid/);
  });
});
