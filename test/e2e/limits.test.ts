// Resource limits: a build script that fills the disk (one big file, or many), hogs memory, forks
// without end, floods its output or never ends is stopped; the note names the limit, where it was
// set, and the line that raises it; nothing hangs.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { copyFixture, makeScratch, processesWith, runCli, runPlainCargo, walkFiles } from '../helpers/sandbox-env.js';

function limitsWorkspace(label: string, config: string) {
  const s = makeScratch(label);
  const ws = copyFixture(s, 'limits');
  mkdirSync(join(ws, '.cargo'));
  writeFileSync(join(ws, '.cargo/config.toml'), config);
  return { s, ws };
}

describe('resource limits', () => {
  test('max-file-size stops a disk fill in OUT_DIR; raising it as suggested lets it build', async () => {
    const { s, ws } = limitsWorkspace('limit-file', '[sandbox.package.fill]\nmax-file-size = "1MiB"\n');
    const r = await runCli(['build', '-p', 'fill'], { cwd: ws, env: s.env });
    assert.equal(r.status, 101);
    assert.match(r.stderr, /^note: it was stopped writing a file larger than its limit of 1MiB \(max-file-size, \S+\/\.cargo\/config\.toml:2:1\)$/m);
    assert.match(r.stderr, /^ {4}max-file-size = "4MiB"$/m);
    const big = walkFiles(join(ws, 'target')).filter((f) => f.endsWith('/big.bin'));
    assert.ok(big.every((f) => statSync(f).size <= 1024 * 1024), 'a file grew past the limit');
    writeFileSync(join(ws, '.cargo/config.toml'), '[sandbox.package.fill]\nmax-file-size = "16MiB"\n');
    const again = await runCli(['build', '-p', 'fill'], { cwd: ws, env: s.env });
    assert.equal(again.status, 0, again.stderr);
  });

  test('max-memory stops a memory hog, named with its key', async () => {
    const { s, ws } = limitsWorkspace('limit-mem', '[sandbox.package.hog]\nmax-memory = "256MiB"\n');
    const r = await runCli(['build', '-p', 'hog'], { cwd: ws, env: s.env });
    assert.equal(r.status, 101);
    assert.match(r.stderr, /^note: it ran out of memory under its limit of 256MiB \(max-memory, \S+\/\.cargo\/config\.toml:2:1\)$/m);
    assert.match(r.stderr, /^ {4}max-memory = "1GiB"$/m);
  });

  test('max-processes stops a fork bomb (control: unsandboxed, all 400 processes start)', async () => {
    const { s, ws } = limitsWorkspace('limit-pids', '[sandbox.package.bomb]\nmax-processes = 64\n');
    const plain = await runPlainCargo(['build', '-p', 'bomb'], { cwd: ws, env: s.env });
    assert.equal(plain.status, 0, plain.stderr);
    const r = await runCli(['build', '-p', 'bomb'], { cwd: ws, env: s.env });
    assert.equal(r.status, 101);
    assert.match(r.stderr, /fork bomb stopped after \d+ processes/);
    assert.match(r.stderr, /^note: it was refused \d+ new process\(es\) at its limit of 64 processes alive at once \(max-processes, \S+\/\.cargo\/config\.toml:2:1\)$/m);
    assert.match(r.stderr, /^ {4}max-processes = 256$/m);
  });

  test('max-output stops gigabytes on stdout before cargo stores them', async () => {
    const { s, ws } = limitsWorkspace('limit-output', '[sandbox.package.flood]\nmax-output = "16MiB"\n');
    const r = await runCli(['build', '-p', 'flood'], { cwd: ws, env: s.env, timeoutMs: 120_000 });
    assert.equal(r.status, 101);
    assert.match(r.stderr, /^note: it was stopped after writing more than 16MiB of output \(max-output, \S+:2:1\)$/m);
    // What cargo kept of the script's output (its `output` file, if any) stays under the limit.
    const kept = walkFiles(join(ws, 'target')).filter((f) => /\/build\/flood-[^/]+\/output$/.test(f));
    assert.ok(kept.every((f) => statSync(f).size <= 16 * 1024 * 1024));
    // cargo prints what it kept (indented) with its error: about the limit, not the 1 GiB written.
    assert.ok(r.stderr.length < 20 * 1024 * 1024, `${r.stderr.length} bytes on stderr`);
  });

  test('timeout stops an infinite loop, and the process it started, without hanging the build', async () => {
    const { s, ws } = limitsWorkspace('limit-time', '[sandbox.package.spin]\ntimeout = "3s"\n');
    const sleepersBefore = processesWith('sleep\u00003600').length;
    const started = Date.now();
    const r = await runCli(['build', '-p', 'spin'], { cwd: ws, env: s.env, timeoutMs: 120_000 });
    assert.equal(r.status, 101);
    assert.ok(Date.now() - started < 60_000, 'the build hung');
    assert.match(r.stderr, /^note: it was stopped after its timeout of 3s \(\S+:2:1\)$/m);
    assert.equal(processesWith('sleep\u00003600').length, sleepersBefore, 'its child outlived it');
  });

  test('max-disk stops many files that each stay under max-file-size, and gives the space back', async () => {
    const { s, ws } = limitsWorkspace('limit-disk', '[sandbox.package.many-files]\nmax-disk = "64MiB"\n');
    const r = await runCli(['build', '-p', 'many-files'], { cwd: ws, env: s.env, timeoutMs: 120_000 });
    assert.equal(r.status, 101);
    assert.match(r.stderr, /^note: it was stopped when its files \(OUT_DIR and \/tmp\) grew over its limit of 64MiB \(max-disk, \S+:2:1\); OUT_DIR was emptied$/m);
    const outDirs = walkFiles(join(ws, 'target')).filter((f) => /\/build\/many-files-[^/]+\/out\//.test(f));
    assert.deepEqual(outDirs, []);
    assert.ok(readdirSync(join(ws, 'target/debug/build')).some((d) => d.startsWith('many-files-')), 'the script ran');
  });

  test('max-disk counts only what the script wrote: a workspace under /tmp (seen inside, read-only) is not', async () => {
    const s = makeScratch('limit-disk-tmp');
    const ws = copyFixture(s, 'tiny');
    assert.ok(ws.startsWith('/tmp/'), `this test needs its workspace under /tmp, not ${ws}`);
    writeFileSync(join(ws, 'big.bin'), randomBytes(8 * 1024 * 1024));
    mkdirSync(join(ws, '.cargo'));
    writeFileSync(join(ws, '.cargo/config.toml'), '[sandbox]\nmax-disk = "4MiB"\n');
    const r = await runCli(['build'], { cwd: ws, env: s.env });
    assert.equal(r.status, 0, r.stderr);
  });

  test('the default limits let real build scripts through (1 GiB of memory, 400 processes, 400 MiB of files)', async () => {
    const { s, ws } = limitsWorkspace('limit-default', '');
    const r = await runCli(['build', '-p', 'hog', '-p', 'fill', '-p', 'bomb', '-p', 'many-files'], { cwd: ws, env: s.env });
    assert.equal(r.status, 0, r.stderr);
  });
});
