// The core promises with real cargo: benign build scripts (C compiler, pkg-config) still work;
// a build script never runs unsandboxed, not even one left behind by a plain `cargo build`.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  buildScriptEntries,
  copyFixture,
  isLauncher,
  makeScratch,
  run,
  runCli,
  runPlainCargo,
  walkFiles,
} from '../helpers/sandbox-env.js';

describe('benign build scripts', () => {
  test('a build script compiling C with cc, probing zlib with pkg-config, running cargo metadata and git', async () => {
    const s = makeScratch('benign');
    const ws = copyFixture(s, 'benign-c', { debianRegistry: true });
    const r = await runCli(['build'], { cwd: ws, env: s.env });
    assert.equal(r.status, 0, r.stderr);
    const out = await run(join(ws, 'target/debug/benign-c'), [], { cwd: ws, env: s.env });
    assert.match(out.stdout, /^answer=42 zlib=1\.[\d.]+ pkg-config-saw=1\.[\d.]+$/m);
    assert.match(out.stdout, /^build-script-no-new-privs=1$/m);
    const scripts = buildScriptEntries(join(ws, 'target'));
    assert.ok(scripts.length >= 1);
    for (const f of scripts) assert.ok(isLauncher(f), `${f} is not a launcher`);
  });
});

describe('no stale unsandboxed build scripts', () => {
  test('plain build, then a change that reruns the script, then cargo sandbox: it runs sandboxed', async () => {
    const s = makeScratch('stale');
    const ws = copyFixture(s, 'stale');
    const marker = join(s.home, 'stale-marker');

    const plain = await runPlainCargo(['build'], { cwd: ws, env: s.env });
    assert.equal(plain.status, 0, plain.stderr);
    assert.equal(readFileSync(marker, 'utf8'), 'one\n', 'control: unsandboxed, the script writes to home');
    rmSync(marker);

    writeFileSync(join(ws, 'trigger.txt'), 'two\n');
    const sandboxed = await runCli(['build'], { cwd: ws, env: s.env });
    assert.equal(sandboxed.status, 0, sandboxed.stderr);
    const ranWith = walkFiles(join(ws, 'target')).filter((f) => f.endsWith('/out/ran-with'));
    assert.ok(ranWith.some((f) => readFileSync(f, 'utf8') === 'two\n'), 'the build script did not rerun');
    assert.equal(existsSync(marker), false, 'the build script ran unsandboxed');

    // And back: plain cargo is not broken by the sandboxed artifacts beside its own.
    writeFileSync(join(ws, 'trigger.txt'), 'three\n');
    const plainAgain = await runPlainCargo(['build'], { cwd: ws, env: s.env });
    assert.equal(plainAgain.status, 0, plainAgain.stderr);
    assert.equal(readFileSync(marker, 'utf8'), 'three\n');
  });
});
