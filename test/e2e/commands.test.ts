// Every cargo command is confined or refused before cargo starts (src/cli/command-gate.ts). `fix`
// compiles the workspace through cargo's own "fix proxy", which reaches the compiler only through
// RUSTC_WORKSPACE_WRAPPER: ours is that too (src/intercept/workspace-wrapper.ts), and
// `clippy --fix` runs as cargo-clippy would, with clippy-driver inside it. Judged by the host: the
// workspace's proc macro drops a marker and backdoors ~/.bashrc when it runs unconfined.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BASHRC, copyFixture, makeScratch, runCli, runPlainCargo } from '../helpers/sandbox-env.js';

/** `lint` gives the app something to fix: rustc's `unused_mut`, or clippy's `needless_return`. */
function macroWorkspace(label: string, lint: 'rustc' | 'clippy') {
  const s = makeScratch(label);
  const ws = copyFixture(s, 'evil-macro');
  // The macro drops /tmp/<marker> (the sandbox's /tmp is private: on the host it shows only unconfined).
  const name = `cs-fix-marker-${process.pid}-${label}`;
  const marker = join('/tmp', name);
  rmSync(marker, { force: true });
  writeFileSync(join(ws, 'macro-params.txt'), `marker=${name}\nhome=${s.home}\n`);
  const fixable = lint === 'rustc' ? 'fn one() -> usize {\n    let mut n = 1;\n    n\n}\n' : 'fn one() -> usize {\n    return 1;\n}\n';
  writeFileSync(join(ws, 'app/src/main.rs'), `evil_macro::steal!();\n\n${fixable}\nfn main() {\n    println!("{}", LOOT.len() + one());\n}\n`);
  const fixed = () => !readFileSync(join(ws, 'app/src/main.rs'), 'utf8').includes(lint === 'rustc' ? 'let mut n' : 'return 1;');
  return { s, ws, marker, fixed };
}

describe('fix and clippy --fix', () => {
  for (const [lint, command] of [['rustc', ['fix', '--allow-no-vcs', '-p', 'app']], ['clippy', ['clippy', '--fix', '--allow-no-vcs', '-p', 'app']]] as const) {
    test(`\`${command.slice(0, 2).join(' ')}\` fixes the code with the proc macro confined (control: plain cargo runs the macro on the host)`, async () => {
      const plain = macroWorkspace(`${lint}-fix-plain`, lint);
      const control = await runPlainCargo([...command], { cwd: plain.ws, env: plain.s.env });
      assert.equal(control.status, 0, control.stderr);
      assert.ok(existsSync(plain.marker), 'plain: the proc macro did not run on the host');
      assert.notEqual(readFileSync(join(plain.s.home, '.bashrc'), 'utf8'), BASHRC, 'plain: ~/.bashrc was not backdoored');
      assert.ok(plain.fixed(), 'plain: nothing was fixed');
      rmSync(plain.marker);

      const { s, ws, marker, fixed } = macroWorkspace(`${lint}-fix`, lint);
      const r = await runCli([...command], { cwd: ws, env: s.env });
      assert.equal(r.status, 0, r.stderr);
      assert.ok(fixed(), `nothing was fixed:\n${r.stderr}`);
      assert.equal(existsSync(marker), false, 'the proc macro ran on the host');
      assert.equal(readFileSync(join(s.home, '.bashrc'), 'utf8'), BASHRC, '~/.bashrc was changed');
    });
  }
});

describe('commands that would bypass the wrapper', () => {
  test('miri, nextest, an alias that leads to one, and an external subcommand are refused before cargo starts', async () => {
    const { s, ws } = macroWorkspace('refused', 'rustc');
    writeFileSync(join(s.home, '.cargo', 'config.toml'), '[alias]\ninterp = "miri test"\n');
    for (const [args, refusal] of [
      [['miri', 'test'], /does not run `miri`: cargo-miri .* ignores RUSTC_WRAPPER/],
      [['nextest', 'run'], /does not run `nextest`: .*setup scripts/],
      [['interp'], /does not run `interp` \(an alias of `miri`\)/],
      [['frobnicate'], /does not run `frobnicate`: it is not one of cargo's commands/],
    ] as const) {
      const r = await runCli([...args], { cwd: ws, env: s.env });
      assert.equal(r.status, 101, r.stderr);
      assert.match(r.stderr, refusal);
    }
    assert.equal(existsSync(join(ws, 'target')), false, 'cargo started');
  });
});

describe('install', () => {
  test('`install --path P` from `/` (outside any workspace) builds P confined and installs it', async () => {
    const s = makeScratch('install-path');
    const ws = copyFixture(s, 'tiny');
    // `/` holds no Cargo.toml: before, it was shown read-only over the whole view, the private
    // /tmp included, and the linker found no writable temporary directory.
    assert.equal(existsSync('/Cargo.toml'), false);
    const r = await runCli(['install', '--path', ws, '--root', join(s.root, 'inst')], { cwd: '/', env: s.env });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(existsSync(join(s.root, 'inst', 'bin', 'tiny')), 'nothing was installed');
  });
});
