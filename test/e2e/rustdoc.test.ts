// rustdoc runs code from the dependency graph too: `cargo doc` expands proc macros, and
// `cargo test --doc` links doctests with the package's linker arguments, then runs them. Every
// rustdoc call runs in the sandbox; judged by effects on the host, each with a plain-cargo control.

import assert from 'node:assert/strict';
import { existsSync, lstatSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BASHRC, copyFixture, makeScratch, runCli, runPlainCargo, SECRETS } from '../helpers/sandbox-env.js';

function workspace(label: string) {
  const s = makeScratch(label);
  const ws = copyFixture(s, 'doc-attacks');
  writeFileSync(join(ws, 'doc-params.txt'), `home=${s.home}\n`);
  return { s, ws };
}

describe('rustdoc', () => {
  test('a doctest linked with a planted linker (cargo:rustc-link-arg=-B$OUT_DIR) runs it only in the sandbox (control: it reads ~/.ssh)', async () => {
    const p = workspace('doctest-linker-plain');
    const plain = await runPlainCargo(['test', '--doc', '-p', 'doctest-linker'], { cwd: p.ws, env: p.s.env });
    assert.equal(plain.status, 0, plain.stderr);
    assert.match(readFileSync(join(p.s.home, 'PWNED-BY-DOCTEST-LINKER'), 'utf8'), new RegExp(SECRETS.sshKey), 'plain: the planted linker did not run');
    const s = workspace('doctest-linker');
    const r = await runCli(['test', '--doc', '-p', 'doctest-linker'], { cwd: s.ws, env: s.s.env });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /test result: ok\. 1 passed/);
    assert.equal(existsSync(join(s.s.home, 'PWNED-BY-DOCTEST-LINKER')), false);
  });

  test('links a macro plants in the documentation directory are never written through on the host (control: plain cargo doc overwrites ~/.bashrc)', async () => {
    const p = workspace('doc-links-plain');
    for (let i = 0; i < 2; i++) await runPlainCargo(['doc', '--workspace', '--exclude', 'doctest-linker'], { cwd: p.ws, env: p.s.env });
    assert.notEqual(readFileSync(join(p.s.home, '.bashrc'), 'utf8'), BASHRC, 'plain: ~/.bashrc was not written through the planted links');
    const s = workspace('doc-links');
    // Twice: the second `cargo doc` is where cargo would write its fingerprint through a link.
    for (let i = 0; i < 2; i++) await runCli(['doc', '--workspace', '--exclude', 'doctest-linker'], { cwd: s.ws, env: s.s.env });
    assert.equal(readFileSync(join(s.s.home, '.bashrc'), 'utf8'), BASHRC);
    assert.ok(lstatSync(join(s.ws, 'target/doc/.rustdoc_fingerprint.json')).isFile(), 'cargo\'s fingerprint is not a regular file');
    assert.ok(existsSync(join(s.ws, 'target/doc/doc_user/index.html')), 'doc-user was not documented');
  });
});
