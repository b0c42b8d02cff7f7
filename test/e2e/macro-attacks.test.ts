// Proc macros that attack through what a compilation may write besides its output (rustc's private
// incremental directory, rustdoc's documentation directory) and through cargo's own environment,
// each with a plain-cargo control. (Found by review: build scripts' OUT_DIR was swept, these were not.)

import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { copyFixture, filesContaining, makeScratch, run, runCli, type Scratch } from '../helpers/sandbox-env.js';

/** Every entry under `dir` that should not outlive a build: setuid/setgid, world-writable, FIFO, socket, device, symlink (rustc and rustdoc make none). */
function dangerous(dir: string): string[] {
  const found: string[] = [];
  const visit = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const st = lstatSync(p);
      if (st.isSymbolicLink()) {
        found.push(`link ${p}`);
        continue;
      }
      if (st.mode & 0o6000) found.push(`setuid ${p}`);
      if (st.mode & 0o002) found.push(`world-writable ${p}`);
      if (st.isFIFO() || st.isSocket() || st.isCharacterDevice() || st.isBlockDevice()) found.push(`special ${p}`);
      if (st.isDirectory()) visit(p);
    }
  };
  visit(dir);
  return found;
}

function workspace(label: string, config = ''): { s: Scratch; ws: string } {
  const s = makeScratch(label);
  const ws = copyFixture(s, 'macro-attacks');
  if (config) {
    mkdirSync(join(ws, '.cargo'), { recursive: true });
    writeFileSync(join(ws, '.cargo/config.toml'), config);
  }
  return { s, ws };
}

describe('proc macros and what a compilation may write', () => {
  test('setuid files, world-writable directories, FIFOs and outward links planted in the incremental and doc directories are swept (control: they stay)', async () => {
    const plain = workspace('macro-plant-plain');
    for (const args of [['build', '-p', 'plant-user'], ['doc', '-p', 'plant-user', '--no-deps']]) {
      const r = await run('cargo', args, { cwd: plain.ws, env: plain.s.env });
      assert.equal(r.status, 0, r.stderr);
    }
    const left = dangerous(join(plain.ws, 'target'));
    for (const kind of ['setuid', 'world-writable', 'special', 'link']) {
      assert.ok(left.some((f) => f.startsWith(kind) && f.includes('/incremental/')), `plain: no ${kind} in the incremental dir: ${left.join(', ')}`);
      assert.ok(left.some((f) => f.startsWith(kind) && f.includes('/doc/')), `plain: no ${kind} in target/doc: ${left.join(', ')}`);
    }

    const { s, ws } = workspace('macro-plant');
    for (const args of [['build', '-p', 'plant-user'], ['doc', '-p', 'plant-user', '--no-deps']]) {
      const r = await runCli(args, { cwd: ws, env: s.env });
      assert.equal(r.status, 0, r.stderr);
    }
    assert.ok(filesContaining(join(ws, 'target'), 'copied=true').length > 0, 'the macro did not plant anything');
    assert.deepEqual(dangerous(join(ws, 'target')), []);
  });

  test('a token set in cargo\'s [env] table does not reach a proc macro (control: compiled into the rlib)', async () => {
    const config = '[env]\nCONFIG_API_TOKEN = "CONFIG-ENV-TOKEN-777"\n';
    const plain = workspace('macro-env-plain', config);
    const p = await run('cargo', ['build', '-p', 'env-user'], { cwd: plain.ws, env: plain.s.env });
    assert.equal(p.status, 0, p.stderr);
    assert.ok(filesContaining(join(plain.ws, 'target'), 'CONFIG-ENV-TOKEN-777').length > 0, 'plain: the token was not compiled in');
    const { s, ws } = workspace('macro-env', config);
    const r = await runCli(['build', '-p', 'env-user'], { cwd: ws, env: s.env });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(filesContaining(join(ws, 'target'), 'ERR(environment variable not found)').length > 0, 'the macro did not run');
    assert.deepEqual(filesContaining(join(ws, 'target'), 'CONFIG-ENV-TOKEN-777'), []);
  });
});
