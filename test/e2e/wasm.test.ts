// sandbox.target: build scripts compiled for WebAssembly (with their build-dependencies) and run
// on the built-in WASI runner inside bubblewrap; WASI's walls explained; mixed mode.
// Uses Debian's rustc 1.63 with its wasm32-wasi standard library (scripts/setup.sh installs it).

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { copyFixture, filesContaining, makeScratch, run, runCli, SECRETS, walkFiles } from '../helpers/sandbox-env.js';

const WASM_CONFIG = '[sandbox]\ntarget = "wasm32-wasi"\ntarget-rustc = "/usr/bin/rustc"\ntarget-rustflags = ["-C", "linker=wasm-ld"]\n';

function wasmWorkspace(label: string, extra = '') {
  const s = makeScratch(label);
  const ws = copyFixture(s, 'wasm');
  mkdirSync(join(ws, '.cargo'));
  writeFileSync(join(ws, '.cargo/config.toml'), WASM_CONFIG + extra);
  return { s, ws };
}

function buildScripts(ws: string, pkg: string): string[] {
  return walkFiles(join(ws, 'target')).filter((f) => new RegExp(`/build/${pkg}-[^/]+/build_script_build-[0-9a-f]+\\.(wasm|real)$`).test(f));
}

describe('WebAssembly build scripts', () => {
  test('a build script with a build-dependency, generating code into OUT_DIR, compiled and run as wasm', async () => {
    const { s, ws } = wasmWorkspace('wasm-gen');
    const r = await runCli(['build', '-p', 'gen'], { cwd: ws, env: s.env });
    assert.equal(r.status, 0, r.stderr);
    const scripts = buildScripts(ws, 'gen');
    assert.equal(scripts.length, 1);
    assert.ok(scripts[0]!.endsWith('.wasm'));
    assert.deepEqual([...readFileSync(scripts[0]!).subarray(0, 4)], [0, 0x61, 0x73, 0x6d], 'not a wasm module');
    const out = await run(join(ws, 'target/debug/gen'), [], { cwd: ws, env: s.env });
    // The build-dependency ran inside the wasm build script: it reports the wasm32 architecture.
    assert.equal(out.stdout, 'answer=42 build-script-arch=wasm32\n');
  });

  test('turning `target` on after a native build rebuilds what it needs (no `cargo clean`)', async () => {
    const { s, ws } = wasmWorkspace('wasm-later');
    writeFileSync(join(ws, '.cargo/config.toml'), '');
    const native = await runCli(['build', '-p', 'gen'], { cwd: ws, env: s.env });
    assert.equal(native.status, 0, native.stderr);
    assert.ok(buildScripts(ws, 'gen').every((f) => f.endsWith('.real')));
    writeFileSync(join(ws, '.cargo/config.toml'), WASM_CONFIG);
    const r = await runCli(['build', '-p', 'gen'], { cwd: ws, env: s.env });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(buildScripts(ws, 'gen').some((f) => f.endsWith('.wasm')), 'no wasm build script');
    const out = await run(join(ws, 'target/debug/gen'), [], { cwd: ws, env: s.env });
    assert.equal(out.stdout, 'answer=42 build-script-arch=wasm32\n');
  });

  test('reading outside its preopens: denied, with a clear note and the native fallback', async () => {
    const { s, ws } = wasmWorkspace('wasm-read');
    const r = await runCli(['build', '-p', 'reader'], { cwd: ws, env: s.env });
    assert.equal(r.status, 101);
    assert.match(r.stderr, /^note: it tried to open `\/etc\/passwd`, outside what a WebAssembly build script can see/m);
    assert.match(r.stderr, /^help: to allow this: cargo sandbox allow reader --target native$/m);
  });

  test('spawning cc: WASI cannot; the note says so and suggests mixed mode, which then builds', async () => {
    const { s, ws } = wasmWorkspace('wasm-spawn');
    const r = await runCli(['build', '-p', 'spawner'], { cwd: ws, env: s.env });
    assert.equal(r.status, 101);
    assert.match(r.stderr, /^note: it tried to start a process, which a WebAssembly \(WASI\) build script cannot do$/m);
    assert.match(r.stderr, /^help: to allow this: cargo sandbox allow spawner --target native$/m);
    writeFileSync(join(ws, '.cargo/config.toml'), `${WASM_CONFIG}\n[sandbox.package.spawner]\ntarget = "native"\n`);
    const mixed = await runCli(['build', '-p', 'spawner', '-p', 'gen'], { cwd: ws, env: s.env });
    assert.equal(mixed.status, 0, mixed.stderr);
    assert.ok(buildScripts(ws, 'spawner').every((f) => f.endsWith('.real')), 'spawner runs natively');
    assert.ok(buildScripts(ws, 'gen').every((f) => f.endsWith('.wasm')), 'gen stays wasm');
    // `policy` shows each package's real view: WASI's for gen, bubblewrap's for spawner.
    const gen = await runCli(['policy', 'gen'], { cwd: ws, env: s.env });
    assert.match(gen.stdout, /^ {2}runs as: +WebAssembly \(wasm32-wasi\) under Node's WASI, inside bubblewrap \(\S+config\.toml:2:1\), compiled by \/usr\/bin\/rustc/m);
    assert.match(gen.stdout, /^ {2}programs: +none: WASI cannot start processes/m);
    const spawner = await runCli(['policy', 'spawner'], { cwd: ws, env: s.env });
    assert.match(spawner.stdout, /^ {2}runs as: +a native process under bubblewrap/m);
  });

  test('an invalid target is a configuration error', async () => {
    const { s, ws } = wasmWorkspace('wasm-bad', '');
    writeFileSync(join(ws, '.cargo/config.toml'), '[sandbox]\ntarget = "x86_64-unknown-linux-musl"\n');
    const r = await runCli(['build', '-p', 'gen'], { cwd: ws, env: s.env });
    assert.equal(r.status, 101);
    assert.match(r.stderr, /^error: `sandbox\.target` must be a WebAssembly target such as "wasm32-wasip1"/m);
  });

  test('a proc macro used by a wasm build script runs in the sandbox while it is compiled (control: it reads ~/.ssh and appends to ~/.bashrc)', async () => {
    const plain = makeScratch('wasm-evil-plain');
    const pws = copyFixture(plain, 'wasm');
    const p = await run('cargo', ['build', '-p', 'evil-script'], { cwd: pws, env: plain.env });
    assert.equal(p.status, 0, p.stderr);
    assert.match(readFileSync(join(plain.home, '.bashrc'), 'utf8'), /PWNED-BY-EVIL-PROC-MACRO/, 'plain: the macro did not run');
    const { s, ws } = wasmWorkspace('wasm-evil');
    const r = await runCli(['build', '-p', 'evil-script'], { cwd: ws, env: s.env });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(buildScripts(ws, 'evil-script').some((f) => f.endsWith('.wasm')), 'the build script was not compiled for wasm');
    const report = walkFiles(join(ws, 'target')).find((f) => /\/build\/evil-script-[^/]+\/out\/report\.txt$/.test(f));
    assert.ok(report, 'the build script did not run');
    assert.match(readFileSync(report, 'utf8'), /^key=ERR\(/);
    assert.doesNotMatch(readFileSync(join(s.home, '.bashrc'), 'utf8'), /PWNED/);
    assert.deepEqual(filesContaining(join(ws, 'target'), SECRETS.sshKey), []);
  });
});

