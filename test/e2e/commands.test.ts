// Every cargo command is confined or refused before cargo starts (src/cli/command-gate.ts): `fix`
// compiles the workspace through cargo's own wrapper, so a workspace proc macro would run on the
// host; cargo-sandbox refuses it. Judged by the host: the macro's marker file.

import assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { copyFixture, makeScratch, runCli, runPlainCargo } from '../helpers/sandbox-env.js';

function macroWorkspace(label: string) {
  const s = makeScratch(label);
  const ws = copyFixture(s, 'evil-macro');
  // The macro drops /tmp/<marker> (the sandbox's /tmp is private: on the host it shows only unconfined).
  const name = `cs-fix-marker-${process.pid}-${label}`;
  const marker = join('/tmp', name);
  rmSync(marker, { force: true });
  writeFileSync(join(ws, 'macro-params.txt'), `marker=${name}\nhome=${s.home}\n`);
  return { s, ws, marker };
}

describe('commands that would bypass the wrapper', () => {
  test('`fix` and `clippy --fix` are refused before cargo starts (control: plain `cargo fix` runs the macro on the host)', async () => {
    const plain = macroWorkspace('fix-plain');
    const control = await runPlainCargo(['fix', '--allow-no-vcs', '-p', 'app'], { cwd: plain.ws, env: plain.s.env });
    assert.equal(control.status, 0, control.stderr);
    assert.ok(existsSync(plain.marker), 'plain cargo fix did not run the proc macro on the host');
    rmSync(plain.marker);

    const { s, ws, marker } = macroWorkspace('fix');
    for (const args of [['fix', '--allow-no-vcs', '-p', 'app'], ['clippy', '--fix', '--allow-no-vcs'], ['--quiet', 'fix']]) {
      const r = await runCli(args, { cwd: ws, env: s.env });
      assert.equal(r.status, 101, r.stderr);
      assert.match(r.stderr, /^error: cargo-sandbox does not run `(clippy --)?fix`/m);
      assert.match(r.stderr, /help: `cargo sandbox (check|clippy)`/);
    }
    assert.equal(existsSync(marker), false, 'the proc macro ran');
    assert.equal(existsSync(join(ws, 'target')), false, 'cargo started');
  });

  test('an alias that leads to `fix`, and an external subcommand, are refused too', async () => {
    const { s, ws } = macroWorkspace('fix-alias');
    writeFileSync(join(s.home, '.cargo', 'config.toml'), '[alias]\ntidy = "fix --allow-no-vcs"\n');
    const aliased = await runCli(['tidy'], { cwd: ws, env: s.env });
    assert.equal(aliased.status, 101, aliased.stderr);
    assert.match(aliased.stderr, /does not run `tidy` \(an alias of `fix`\)/);
    const external = await runCli(['frobnicate'], { cwd: ws, env: s.env });
    assert.equal(external.status, 101, external.stderr);
    assert.match(external.stderr, /does not run `frobnicate`: it is not one of cargo's commands/);
  });
});
