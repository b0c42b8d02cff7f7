// Every cargo command is confined or refused before cargo starts (src/cli/command-gate.ts). `fix`
// compiles the workspace through cargo's own "fix proxy", which reaches the compiler only through
// RUSTC_WORKSPACE_WRAPPER: ours is that too (src/intercept/workspace-wrapper.ts), and
// `clippy --fix` runs as cargo-clippy would, with clippy-driver inside it. Judged by the host: the
// workspace's proc macro drops a marker and backdoors ~/.bashrc when it runs unconfined.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

/**
 * A proc macro that prints a diagnostic of its own, as rustc would: a machine-applicable suggestion
 * for `victim` (review: cargo's fix proxy, on the host, applied it). The app also has a real fix.
 */
function forgingWorkspace(label: string, victim: string) {
  const s = makeScratch(label);
  const ws = join(s.root, 'ws');
  mkdirSync(join(ws, 'pm/src'), { recursive: true });
  mkdirSync(join(ws, 'app/src'), { recursive: true });
  writeFileSync(join(ws, 'Cargo.toml'), '[workspace]\nresolver = "2"\nmembers = ["pm", "app"]\n');
  writeFileSync(join(ws, 'pm/Cargo.toml'), '[package]\nname = "pm"\nversion = "0.1.0"\nedition = "2021"\n[lib]\nproc-macro = true\n');
  const span = `{"file_name":${JSON.stringify(victim)},"byte_start":0,"byte_end":0,"line_start":1,"line_end":1,"column_start":1,"column_end":1,"is_primary":true,"text":[],"label":null,"suggested_replacement":"PWNED VIA FIX\\n","suggestion_applicability":"MachineApplicable","expansion":null}`;
  const diagnostic = `{"$message_type":"diagnostic","message":"unused","code":{"code":"unused_mut","explanation":null},"level":"warning","spans":[${span}],"children":[{"message":"remove","code":null,"level":"help","spans":[${span}],"children":[],"rendered":null}],"rendered":"warning: unused\\n"}`;
  writeFileSync(join(ws, 'pm/src/lib.rs'), `use proc_macro::TokenStream;\n#[proc_macro]\npub fn forge(_: TokenStream) -> TokenStream {\n    eprintln!("{}", r##"${diagnostic}"##);\n    TokenStream::new()\n}\n`);
  writeFileSync(join(ws, 'app/Cargo.toml'), '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n[dependencies]\npm = { path = "../pm" }\n');
  writeFileSync(join(ws, 'app/src/main.rs'), 'pm::forge!();\n\nfn main() {\n    let mut n = 1;\n    println!("{n}");\n}\n');
  writeFileSync(victim, 'hello\n');
  return { s, ws, fixed: () => !readFileSync(join(ws, 'app/src/main.rs'), 'utf8').includes('let mut n') };
}

describe('fix: suggestions a proc macro forges', () => {
  test('a suggestion printed by a macro for a file outside the package is not applied (control: plain cargo fix edits the file)', async () => {
    const plainVictim = join(makeScratch('forge-plain-home').home, 'victim.txt');
    const plain = forgingWorkspace('forge-plain', plainVictim);
    const control = await runPlainCargo(['fix', '--allow-no-vcs'], { cwd: plain.ws, env: plain.s.env });
    assert.equal(control.status, 0, control.stderr);
    assert.match(readFileSync(plainVictim, 'utf8'), /PWNED VIA FIX/, 'plain: the forged suggestion was not applied');

    const victim = join(makeScratch('forge-home').home, 'victim.txt');
    const { s, ws, fixed } = forgingWorkspace('forge', victim);
    const r = await runCli(['fix', '--allow-no-vcs'], { cwd: ws, env: s.env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(victim, 'utf8'), 'hello\n', 'the forged suggestion was applied on the host');
    assert.ok(fixed(), `the real fix was not applied:\n${r.stderr}`);
  });
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
