// Resource limits: a build script that fills the disk or hogs memory is stopped; the note names
// the limit, where it was set, and the line that raises it; nothing hangs.

import assert from 'node:assert/strict';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { copyFixture, makeScratch, runCli, walkFiles } from '../helpers/sandbox-env.js';

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

  test('the default limits let real build scripts through (the hog needs 1 GiB, under the 16 GiB default)', async () => {
    const { s, ws } = limitsWorkspace('limit-default', '');
    const r = await runCli(['build', '-p', 'hog', '-p', 'fill'], { cwd: ws, env: s.env });
    assert.equal(r.status, 0, r.stderr);
  });
});
