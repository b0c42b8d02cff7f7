// `cargo sandbox audit` caps each trace: a build script looping on system calls grew one to 433 MiB
// in 30 s. Past the limit strace is killed, and the sandbox with it; the trace is cut back to the
// limit and the audit says what happened, to which package, and how to raise the limit.

import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { copyFixture, makeScratch, processesWith, runCli, sleep, walkFiles } from '../helpers/sandbox-env.js';

const LIMIT = 8 * 1024 * 1024;

describe('audit: a build script that floods its trace', { concurrency: false }, () => {
  test('is stopped at the limit (nothing of it keeps running), its trace is no larger, and the audit says so', async () => {
    const s = makeScratch('audit-flood');
    const ws = copyFixture(s, 'audit-flood');
    const marker = `cs-flood-${process.pid}-${Date.now()}`;
    writeFileSync(join(ws, 'flood-marker.txt'), `${marker}\n`);
    // The real strace, behind a second name for each trace file (a hard link made before strace
    // opens it): the session, and the trace with it, is gone when the audit ends.
    const kept = join(s.root, 'kept-traces');
    mkdirSync(kept);
    const wrapper = join(s.root, 'strace-keeping-traces');
    writeFileSync(
      wrapper,
      `#!/bin/sh\nprev=\nfor a in "$@"; do\n  if [ "$prev" = -o ]; then : > "$a" && ln "$a" '${kept}/'"$(basename "$a")"; fi\n  prev=$a\ndone\nexec strace "$@"\n`,
    );
    chmodSync(wrapper, 0o755);
    const started = Date.now();
    const r = await runCli(['audit', '--format', 'json', '--trace-limit', '8MiB'], { cwd: ws, env: { ...s.env, CARGO_SANDBOX_STRACE: wrapper } });
    const seconds = (Date.now() - started) / 1000;

    const report = JSON.parse(r.stdout) as { buildStatus: number; scripts: { package: string; exitCode?: number; traceCapped?: number }[] };
    const flood = report.scripts.find((x) => x.package === 'flood');
    assert.ok(flood, r.stderr);
    assert.equal(flood.traceCapped, LIMIT);
    assert.notEqual(flood.exitCode, 0);
    assert.notEqual(report.buildStatus, 0);
    // It ran (and flooded), and was stopped long before its own two minutes were up.
    const outs = walkFiles(join(ws, 'target')).filter((p) => /\/build\/flood-[0-9a-f]+\/out\//.test(p));
    assert.ok(outs.some((p) => p.endsWith('/started')), 'the script did not start');
    assert.ok(!outs.some((p) => p.endsWith('/finished')), 'the script ran to its end');
    assert.ok(seconds < 90, `the audit took ${seconds} s`);
    for (let i = 0; i < 50 && processesWith(marker).length; i++) await sleep(100);
    assert.deepEqual(processesWith(marker), [], 'a process of the script outlived its stop');

    const traces = readdirSync(kept).map((n) => ({ name: n, size: statSync(join(kept, n)).size }));
    assert.ok(traces.length >= 1, 'no trace was kept');
    const largest = Math.max(...traces.map((t) => t.size));
    assert.equal(largest, LIMIT, JSON.stringify(traces));

    assert.match(r.stderr, /^warning: the build script of `flood v0\.1\.0` was stopped: its trace reached the audit's limit of 8 MiB/m);
    assert.match(r.stderr, /^help: .*raise the limit: `cargo sandbox audit --trace-limit 32MiB`/m);
  });
});
