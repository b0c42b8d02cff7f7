// sandbox.runner: build scripts run through a command of the user's, with cargo's values in
// placeholders; a missing runner is a clear error before anything runs.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { copyFixture, FIXTURES, makeScratch, runCli, walkFiles } from '../helpers/sandbox-env.js';

const RUNNER = join(FIXTURES, 'runner-tools', 'log-and-run.sh');

describe('sandbox.runner', () => {
  test('a custom runner gets the placeholders expanded and the build script; env is scrubbed', async () => {
    const s = makeScratch('runner');
    const ws = copyFixture(s, 'tiny');
    const log = join(s.root, 'runner.log');
    mkdirSync(join(ws, '.cargo'));
    writeFileSync(join(ws, '.cargo/config.toml'), `[sandbox.package.tiny]\nrunner = ["${RUNNER}", "${log}", "--out={OUT_DIR}", "--pkg={CARGO_PKG_NAME}", "{}"]\n`);
    const r = await runCli(['build'], { cwd: ws, env: s.env });
    assert.equal(r.status, 0, r.stderr);
    const lines = readFileSync(log, 'utf8').split('\n');
    const args = lines.filter((l) => l.startsWith('arg:')).map((l) => l.slice(4));
    const outDir = walkFiles(join(ws, 'target')).find((f) => /\/build\/tiny-[^/]+\/output$/.test(f))!.replace(/output$/, 'out');
    assert.deepEqual(args.slice(0, 2), [`--out=${outDir}`, '--pkg=tiny']);
    assert.match(args[2]!, /\/build\/tiny-[0-9a-f]+\/build_script_build-[0-9a-f]+\.real$/);
    assert.ok(lines.includes(`env:OUT_DIR=${outDir}`));
    assert.ok(!lines.some((l) => l.includes('GITHUB_TOKEN') || l.includes('AWS_SECRET')), 'the runner got the secrets');
    const run = await runCli(['run', '-q'], { cwd: ws, env: s.env });
    assert.equal(run.stdout, 'hello from a sandboxed build script\n');
  });

  test('without {} the build script is appended last', async () => {
    const s = makeScratch('runner-append');
    const ws = copyFixture(s, 'tiny');
    const log = join(s.root, 'runner.log');
    mkdirSync(join(ws, '.cargo'));
    writeFileSync(join(ws, '.cargo/config.toml'), `[sandbox]\nrunner = "${RUNNER} ${log}"\n`);
    const r = await runCli(['build'], { cwd: ws, env: s.env });
    assert.equal(r.status, 0, r.stderr);
    const args = readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith('arg:'));
    assert.equal(args.length, 1);
    assert.match(args[0]!, /build_script_build-[0-9a-f]+\.real$/);
  });

  test('a missing runner: a clear error naming the key and the file, nothing built', async () => {
    const s = makeScratch('runner-missing');
    const ws = copyFixture(s, 'tiny');
    mkdirSync(join(ws, '.cargo'));
    writeFileSync(join(ws, '.cargo/config.toml'), '[sandbox]\nrunner = ["no-such-runner", "--x"]\n');
    const r = await runCli(['build'], { cwd: ws, env: s.env });
    assert.equal(r.status, 101);
    assert.match(r.stderr, /^error: the runner `no-such-runner` \(sandbox\.runner, \S+\/\.cargo\/config\.toml:2:1\) was not found or is not executable; nothing was built$/m);
    assert.equal(existsSync(join(ws, 'target')), false);
  });
});
