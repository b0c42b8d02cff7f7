// A target/ that came with the repository, with links where cargo makes directories: a sandboxed
// program must never write through them into `deps`, where cargo keeps the libraries later
// compilations load (and where a granted proc macro could be swapped after our check).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { copyFixture, makeScratch, runCli, runPlainCargo, type RunResult } from '../helpers/sandbox-env.js';

/** The tiny fixture, its build script writing `planted.txt` into its OUT_DIR. */
function plantingWorkspace(label: string) {
  const s = makeScratch(label);
  const ws = copyFixture(s, 'tiny');
  writeFileSync(join(ws, 'build.rs'), 'fn main() {\n    println!("cargo:rustc-env=FROM_BUILD_SCRIPT=hello");\n    std::fs::write(format!("{}/planted.txt", std::env::var("OUT_DIR").unwrap()), "planted").unwrap();\n}\n');
  return { s, ws };
}

/** Builds once to learn the name cargo gives a unit directory, then ships `target/` with `link`. */
async function shipLinkedTarget(ws: string, build: () => Promise<RunResult>, unitDir: string, link: (unit: string) => [string, string]) {
  const first = await build();
  assert.equal(first.status, 0, first.stderr);
  const unit = readdirSync(join(ws, 'target/debug', unitDir)).find((n) => n.startsWith(unitDir === 'build' ? 'tiny-' : 'cargo-sandbox-tiny') && (unitDir !== 'build' || existsSync(join(ws, 'target/debug/build', n, 'out'))));
  assert.ok(unit, `no unit directory in target/debug/${unitDir}`);
  rmSync(join(ws, 'target'), { recursive: true, force: true });
  mkdirSync(join(ws, 'target/debug/deps'), { recursive: true });
  const [at, to] = link(unit);
  mkdirSync(join(at, '..'), { recursive: true });
  symlinkSync(to, at);
  return at;
}

describe('a target/ shipped with links', () => {
  test('a build script\'s OUT_DIR linked to ../../deps: refused before the script runs (control: plain cargo writes into deps)', async () => {
    const outLink = (ws: string) => (unit: string): [string, string] => [join(ws, 'target/debug/build', unit, 'out'), '../../deps'];
    const plain = plantingWorkspace('shipped-out-plain');
    await shipLinkedTarget(plain.ws, () => runPlainCargo(['build'], { cwd: plain.ws, env: plain.s.env }), 'build', outLink(plain.ws));
    const control = await runPlainCargo(['build'], { cwd: plain.ws, env: plain.s.env });
    assert.equal(control.status, 0, control.stderr);
    assert.ok(existsSync(join(plain.ws, 'target/debug/deps/planted.txt')), 'plain cargo: the script did not write into deps');

    const { s, ws } = plantingWorkspace('shipped-out');
    await shipLinkedTarget(ws, () => runCli(['build'], { cwd: ws, env: s.env }), 'build', outLink(ws));
    const r = await runCli(['build'], { cwd: ws, env: s.env });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /is not a directory cargo made \(a link shipped in target\/\?\)/);
    assert.equal(existsSync(join(ws, 'target/debug/deps/planted.txt')), false, 'the sandboxed script wrote into deps');
  });

  test('target/doc shipped as a link to debug/deps: rustdoc (which runs macros) is not let write there', async () => {
    const { s, ws } = plantingWorkspace('shipped-doc');
    mkdirSync(join(ws, 'target/debug/deps'), { recursive: true });
    symlinkSync('debug/deps', join(ws, 'target/doc'));
    const r = await runCli(['doc'], { cwd: ws, env: s.env });
    assert.notEqual(r.status, 0);
    // Refused at the first compilation: cargo never makes a link at the top of its target dir.
    assert.match(r.stderr, /target\/doc is a link, which cargo never makes there/);
    assert.deepEqual(readdirSync(join(ws, 'target/debug/deps')).filter((n) => !n.startsWith('tiny-') && !n.startsWith('build_script')), [], 'rustdoc wrote into deps');
  });

  test('a workspace\'s target-dir and build.target with a <triple> link back up: rustdoc\'s output would be the target dir itself, refused (control: plain cargo documents into it)', async () => {
    const triple = /^host: (\S+)$/m.exec(spawnSync('rustc', ['-vV'], { encoding: 'utf8' }).stdout)![1]!;
    const setUp = (ws: string) => {
      mkdirSync(join(ws, '.cargo'), { recursive: true });
      // rustdoc's -o, doc/<triple>/doc, then leads to doc: the target dir itself.
      writeFileSync(join(ws, '.cargo/config.toml'), `[build]\ntarget-dir = "doc"\ntarget = "${triple}"\n`);
      mkdirSync(join(ws, 'doc'));
      symlinkSync('..', join(ws, 'doc', triple));
    };
    const plain = plantingWorkspace('shipped-triple-plain');
    setUp(plain.ws);
    const control = await runPlainCargo(['doc'], { cwd: plain.ws, env: plain.s.env });
    assert.equal(control.status, 0, control.stderr);
    assert.ok(existsSync(join(plain.ws, 'doc/tiny/index.html')), 'plain cargo: rustdoc did not write into the target dir itself');

    const { s, ws } = plantingWorkspace('shipped-triple');
    setUp(ws);
    const r = await runCli(['doc'], { cwd: ws, env: s.env });
    assert.notEqual(r.status, 0);
    // Refused before anything runs: cargo never makes a link at the top of its target dir.
    assert.match(r.stderr, new RegExp(`doc/${triple} is a link, which cargo never makes there`));
    assert.equal(existsSync(join(ws, 'doc/tiny/index.html')), false, 'the sandboxed rustdoc wrote into the target dir');
  });

  test('build.target with target/<triple> shipped as a link into an OUT_DIR: refused (control: plain cargo builds the whole profile inside it)', async () => {
    const triple = /^host: (\S+)$/m.exec(spawnSync('rustc', ['-vV'], { encoding: 'utf8' }).stdout)![1]!;
    const setUp = (ws: string) => {
      mkdirSync(join(ws, '.cargo'), { recursive: true });
      writeFileSync(join(ws, '.cargo/config.toml'), `[build]\ntarget = "${triple}"\n`);
      mkdirSync(join(ws, 'target/debug/build/some-unit/out/z'), { recursive: true });
      symlinkSync('debug/build/some-unit/out/z', join(ws, 'target', triple));
    };
    const plain = plantingWorkspace('shipped-nested-plain');
    setUp(plain.ws);
    const control = await runPlainCargo(['build'], { cwd: plain.ws, env: plain.s.env });
    assert.equal(control.status, 0, control.stderr);
    assert.ok(existsSync(join(plain.ws, 'target/debug/build/some-unit/out/z/debug/deps')), 'plain cargo: the profile was not built inside the OUT_DIR');

    const { s, ws } = plantingWorkspace('shipped-nested');
    setUp(ws);
    const r = await runCli(['build'], { cwd: ws, env: s.env });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, new RegExp(`target/${triple} is a link, which cargo never makes there`));
  });

  test('our incremental directory shipped as a link to ../deps: replaced by a real one, the build works', async () => {
    const { s, ws } = plantingWorkspace('shipped-incremental');
    const at = await shipLinkedTarget(ws, () => runCli(['build'], { cwd: ws, env: s.env }), 'incremental', (unit) => [join(ws, 'target/debug/incremental', unit), '../deps']);
    const r = await runCli(['build'], { cwd: ws, env: s.env });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(lstatSync(at).isDirectory(), 'the link is still there');
    assert.deepEqual(readdirSync(join(ws, 'target/debug/deps')).filter((n) => n.startsWith('s-')), [], 'incremental files landed in deps');
  });
});
