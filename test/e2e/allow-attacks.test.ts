// What a failing build script, or a shipped config, can get out of `cargo sandbox allow`'s offers
// and prompt, end to end with real cargo (THREAT-MODEL case 128; found by a review of issue 30).
// The repository itself may be the attacker: its own build script names a secret variable, then a
// write that would cover the whole repository (.git/hooks: code git runs on the host), then a host
// socket. None is offered; plain cargo (the control) does all three.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'smol-toml';
import { CLI, makeScratch, runCli, runPlainCargo, type Scratch } from '../helpers/sandbox-env.js';

const SECRET = 'wJalrXUtnFEMI-allow-attacks-secret';
const offered = (stderr: string) => [...stderr.matchAll(/^help: to allow this: (cargo sandbox allow .*)$/gm)].map((m) => m[1]!);

/** A one-package repository whose build script is `build`. */
function repository(s: Scratch, name: string, build: string): string {
  const ws = join(s.root, name);
  mkdirSync(join(ws, 'src'), { recursive: true });
  mkdirSync(join(ws, '.git', 'hooks'), { recursive: true });
  writeFileSync(join(ws, 'Cargo.toml'), `[package]\nname = "${name}"\nversion = "0.1.0"\nedition = "2021"\n`);
  writeFileSync(join(ws, 'src/lib.rs'), '');
  writeFileSync(join(ws, 'build.rs'), build);
  return ws;
}

const HOOK = `fn main() {
    let key = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|_| panic!("AWS_SECRET_ACCESS_KEY is not set"));
    let root = env!("CARGO_MANIFEST_DIR");
    std::fs::create_dir_all(format!("{root}/generated")).unwrap_or_else(|e| panic!("creating {root}/generated/bindings.rs: {e}"));
    std::fs::write(format!("{root}/.git/hooks/pre-commit"), format!("#!/bin/sh\\necho {key}\\n")).unwrap();
}
`;

describe('what a failing build script can get offered', () => {
  test('neither a secret variable nor a write over the whole repository (control: plain cargo writes the hook with the secret)', async () => {
    const s = makeScratch('offer-hooks');
    const env = { ...s.env, AWS_SECRET_ACCESS_KEY: SECRET };
    const plain = repository(s, 'plainapp', HOOK);
    assert.equal((await runPlainCargo(['build'], { cwd: plain, env })).status, 0);
    assert.match(readFileSync(join(plain, '.git/hooks/pre-commit'), 'utf8'), new RegExp(SECRET));

    const ws = repository(s, 'app', HOOK);
    const first = await runCli(['build'], { cwd: ws, env });
    assert.equal(first.status, 101, first.stderr);
    assert.deepEqual(offered(first.stderr).filter((c) => /AWS_SECRET/.test(c)), [], first.stderr);
    assert.match(first.stderr, /^help: not offered for the build script of `app`: see `AWS_SECRET_ACCESS_KEY` \(a variable the sandbox removes as a secret\)/m);
    // The same script without the variable: its next want is a write at the repository's root.
    writeFileSync(join(ws, 'build.rs'), HOOK.replace(/let key = .*\n/, 'let key = "none";\n'));
    const second = await runCli(['build'], { cwd: ws, env });
    assert.equal(second.status, 101, second.stderr);
    assert.deepEqual(offered(second.stderr).filter((c) => /--write/.test(c)), [], second.stderr);
    assert.match(second.stderr, /not offered for the build script of `app`: write `[^`]*\/app` \(the build script's whole package directory/);
    assert.ok(!existsSync(join(ws, '.git/hooks/pre-commit')));
  });

  test('not a host socket as a "read" (control: plain cargo talks to the host service)', async () => {
    const s = makeScratch('offer-socket');
    const sock = join(s.runtimeDir, 'bus');
    let received = '';
    const server = createServer((c) => c.setEncoding('utf8').on('data', (d: string) => (received += d)));
    await new Promise<void>((r) => server.listen(sock, r));
    try {
      const build = `use std::io::Write;\nfn main() {\n    let p = ${JSON.stringify(sock)};\n    let mut s = std::os::unix::net::UnixStream::connect(p).unwrap_or_else(|e| panic!("connecting {p}: {e}"));\n    s.write_all(b"method call: StartTransientUnit\\n").unwrap();\n}\n`;
      const plain = repository(s, 'plainbusy', build);
      assert.equal((await runPlainCargo(['build'], { cwd: plain, env: s.env })).status, 0);
      for (let i = 0; i < 50 && !received; i++) await new Promise((r) => setTimeout(r, 20));
      assert.match(received, /StartTransientUnit/, 'plain: the host service got nothing');
      received = '';
      const ws = repository(s, 'busy', build);
      const r = await runCli(['build'], { cwd: ws, env: s.env });
      assert.equal(r.status, 101, r.stderr);
      assert.equal(received, '');
      assert.deepEqual(offered(r.stderr).filter((c) => c.includes(sock)), [], r.stderr);
      assert.match(r.stderr, /not offered for the build script of `busy`: read `[^`]*bus` \(/);
    } finally {
      server.close();
    }
  });
});

describe('what a shipped config can make the editor do', () => {
  test('a table header spelled inside a string of a trusted config stops `allow --workspace`: nothing written, trust as it was (control: a plain config gets the grant where it says)', async () => {
    const s = makeScratch('offer-merge', { untrusted: true });
    const setup = async (name: string, config: string) => {
      const ws = join(s.root, name);
      mkdirSync(join(ws, 'src'), { recursive: true });
      mkdirSync(join(ws, '.cargo'));
      writeFileSync(join(ws, 'Cargo.toml'), `[package]\nname = "good"\nversion = "0.1.0"\nedition = "2021"\n[workspace]\n`);
      writeFileSync(join(ws, 'src/lib.rs'), '');
      writeFileSync(join(ws, '.cargo/config.toml'), config);
      assert.equal((await runCli(['trust'], { cwd: ws, env: s.env })).status, 0);
      return ws;
    };
    const shipped = "[sandbox.package.evil]\ntarget-rustflags = ['''--cfg=vendor\n[sandbox.package.good]\n''']\n";
    const ws = await setup('steered', shipped);
    const r = await runCli(['allow', 'good', '--network=crates.io:443', '--workspace'], { cwd: ws, env: s.env });
    assert.notEqual(r.status, 0, r.stderr);
    assert.match(r.stderr, /^error: .*cannot be edited line by line here/m);
    assert.equal(readFileSync(join(ws, '.cargo/config.toml'), 'utf8'), shipped);
    assert.match((await runCli(['trust', '--show'], { cwd: ws, env: s.env })).stdout, /\(cargo config; trusted\)/);

    const control = await setup('plain', '[sandbox.package.evil]\nallow-read = ["/opt/x"]\n');
    const c = await runCli(['allow', 'good', '--network=crates.io:443', '--workspace'], { cwd: control, env: s.env });
    assert.equal(c.status, 0, c.stderr);
    const after = parse(readFileSync(join(control, '.cargo/config.toml'), 'utf8')) as { sandbox: { package: Record<string, Record<string, unknown>> } };
    assert.deepEqual(after.sandbox.package.good!['allow-network'], ['crates.io:443']);
  });
});

describe('the prompt', () => {
  test('a `y` typed during the build answers nothing: only what is typed after the question counts (here `n`)', async () => {
    const s = makeScratch('offer-typeahead');
    mkdirSync(join(s.home, 'sdk'));
    writeFileSync(join(s.home, 'sdk', 'x.txt'), 'x');
    const file = join(s.home, 'sdk', 'x.txt');
    const ws = repository(s, 'ahead', `fn main() { std::fs::read_to_string(${JSON.stringify(file)}).unwrap_or_else(|e| panic!("reading ${file}: {e}")); }\n`);
    const out = await new Promise<string>((resolve) => {
      const child = spawn('script', ['-qec', `'${CLI}' build`, '/dev/null'], { cwd: ws, env: s.env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let answered = false;
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
        if (!answered && /\[y\/N\] $/.test(stdout)) {
          answered = true;
          child.stdin.write('n\n');
        }
      });
      // Typed while cargo is still compiling: nobody has seen a question yet.
      child.stdin.write('y\n');
      const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
      child.on('close', () => (clearTimeout(timer), resolve(stdout)));
    });
    assert.match(out, /Allow ahead's build script to read [^\n]*x\.txt\? \[y\/N\]/, out);
    assert.ok(!existsSync(join(s.cargoHome, 'config.toml')), `the typed-ahead y answered the question:\n${out.slice(-1500)}`);
  });
});
