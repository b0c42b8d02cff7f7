// The second layer, Landlock under bubblewrap: allow-exec limits what a build script may execute
// (a payload it drops into OUT_DIR included), and crafted paths do not break out of the sandbox.

import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BASHRC, copyFixture, FIXTURES, makeScratch, runCli, runPlainCargo, walkFiles } from '../helpers/sandbox-env.js';

function execReport(ws: string): string {
  const f = walkFiles(join(ws, 'target')).find((p) => p.endsWith('/out/exec-report'));
  return f ? readFileSync(f, 'utf8') : '';
}

describe('allow-exec (Landlock)', () => {
  test('by default any visible program runs, a dropped payload included (as under plain cargo)', async () => {
    // Each run in its own copy: the sandboxed check cannot read the control's report.
    const plainScratch = makeScratch('exec-default-plain');
    const plainWs = copyFixture(plainScratch, 'exec');
    assert.equal((await runPlainCargo(['build'], { cwd: plainWs, env: plainScratch.env })).status, 0);
    assert.equal(execReport(plainWs), 'cc=true\nuname=true\npayload=true\n');
    const s = makeScratch('exec-default');
    const ws = copyFixture(s, 'exec');
    assert.equal(existsSync(join(ws, 'target')), false);
    const r = await runCli(['build'], { cwd: ws, env: s.env });
    assert.equal(r.status, 0, r.stderr);
    // A fresh target/: this report was written by the sandboxed run.
    assert.equal(execReport(ws), 'cc=true\nuname=true\npayload=true\n');
  });

  test('allow-exec = ["cc"] runs cc only: neither uname nor the payload it dropped', async () => {
    const s = makeScratch('exec-cc');
    const ws = copyFixture(s, 'exec');
    mkdirSync(join(ws, '.cargo'));
    writeFileSync(join(ws, '.cargo/config.toml'), '[sandbox.package.exec-probe]\nallow-exec = ["cc"]\n');
    const r = await runCli(['build'], { cwd: ws, env: s.env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(execReport(ws), 'cc=true\nuname=false\npayload=false\n');
    writeFileSync(join(ws, '.cargo/config.toml'), '[sandbox.package.exec-probe]\nallow-exec = ["cc", "uname"]\n');
    const again = await runCli(['build'], { cwd: ws, env: s.env });
    assert.equal(again.status, 0, again.stderr);
    assert.equal(execReport(ws), 'cc=true\nuname=true\npayload=false\n', 'a grant change reruns the script');
  });
});

describe('crafted paths', () => {
  test('a workspace path with spaces, quotes, $, {}, a newline and a leading dash builds, still sandboxed', async () => {
    const s = makeScratch('crafted');
    const weird = join(s.root, '-x $HOME {} \'q\' "dq" `id`\nnl');
    mkdirSync(weird);
    cpSync(join(FIXTURES, 'attacks'), join(weird, 'attacks'), { recursive: true });
    const ws = join(weird, 'attacks');
    writeFileSync(join(ws, 'attack-params.txt'), `home=${s.home}\ncargo_home=${s.cargoHome}\n`);
    const r = await runCli(['build', '-p', 'victim', '-p', 'attack-write-home', '-p', 'attack-crafted-directives', '-p', 'attack-read-secrets'], { cwd: ws, env: s.env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(join(s.home, '.bashrc'), 'utf8'), BASHRC);
    assert.equal(existsSync(join(s.home, '.profile')), false);
    assert.equal(existsSync(join(s.home, 'PWNED-BY-INJECTION')), false);
    const loot = walkFiles(join(ws, 'target')).find((f) => /attack-read-secrets-[^/]+\/out\/loot$/.test(f));
    assert.ok(loot && !readFileSync(loot, 'utf8').includes('SSH-PRIVATE-KEY'), 'secrets were read');
  });
});
