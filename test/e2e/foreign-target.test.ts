// A target/ that someone else built (a repository that ships it, built by cargo-sandbox on the
// attacker's machine) with the build script's binary swapped for the attacker's program: cargo
// finds the unit fresh and runs what it finds there, on the host. With the user's identity in the
// compiler's version text, nothing built elsewhere is ever fresh (libexec/entry/identity.rs).

import assert from 'node:assert/strict';
import { chmodSync, cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { copyFixture, makeScratch, runCli, runPlainCargo, type RunResult } from '../helpers/sandbox-env.js';

/** The tiny fixture, its build script rerun on every build (it names a file that never exists). */
function alwaysRerunning(label: string) {
  const s = makeScratch(label);
  const ws = copyFixture(s, 'tiny');
  writeFileSync(join(ws, 'build.rs'), 'fn main() {\n    println!("cargo:rerun-if-changed=never-there.txt");\n    println!("cargo:rustc-env=FROM_BUILD_SCRIPT=hello");\n}\n');
  return { s, ws };
}

/** Builds, then swaps every build-script binary under target/ for a program that writes `marker`. */
async function shipSwappedTarget(ws: string, build: () => Promise<RunResult>, marker: string): Promise<number> {
  const first = await build();
  assert.equal(first.status, 0, first.stderr);
  const buildDir = join(ws, 'target/debug/build');
  let swapped = 0;
  for (const unit of readdirSync(buildDir)) {
    for (const name of readdirSync(join(buildDir, unit)).filter((n) => n.startsWith('build_script_build-') && !n.includes('.'))) {
      const path = join(buildDir, unit, name);
      rmSync(path);
      writeFileSync(path, `#!/bin/sh\necho "ran on the host as $(id -u)" > '${marker}'\necho cargo:rustc-env=FROM_BUILD_SCRIPT=pwned\n`);
      chmodSync(path, 0o755);
      swapped++;
    }
  }
  assert.ok(swapped > 0, 'no build-script binary found to swap');
  return swapped;
}

describe('a target/ built elsewhere', () => {
  test('a swapped build script in a shipped target/ never runs: another identity finds nothing fresh (control: plain cargo runs it)', async () => {
    const plain = alwaysRerunning('foreign-plain');
    const plainMarker = join(plain.s.root, 'plain-marker');
    await shipSwappedTarget(plain.ws, () => runPlainCargo(['build'], { cwd: plain.ws, env: plain.s.env }), plainMarker);
    const control = await runPlainCargo(['build'], { cwd: plain.ws, env: plain.s.env });
    assert.equal(control.status, 0, control.stderr);
    assert.ok(existsSync(plainMarker), 'plain cargo did not run the swapped build script');

    // The attacker builds with cargo-sandbox under their own identity (their own home), swaps the
    // binary, and ships the workspace with target/; the user builds it where it landed.
    const attacker = alwaysRerunning('foreign-attacker');
    const marker = join(attacker.s.root, 'marker');
    await shipSwappedTarget(attacker.ws, () => runCli(['build'], { cwd: attacker.ws, env: attacker.s.env }), marker);
    const shippedUnits = readdirSync(join(attacker.ws, 'target/debug/build'));
    const user = makeScratch('foreign-user');
    const r = await runCli(['build'], { cwd: attacker.ws, env: user.env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(existsSync(marker), false, `the shipped program ran on the host: ${existsSync(marker) ? readFileSync(marker, 'utf8') : ''}`);
    const units = readdirSync(join(attacker.ws, 'target/debug/build'));
    assert.ok(units.some((u) => !shippedUnits.includes(u)), 'cargo reused the shipped build-script units instead of building its own');
  });

  test('a shipped .rustc_info.json is not believed: it is removed before cargo starts', async () => {
    const { s, ws } = alwaysRerunning('foreign-rustc-info');
    const built = await runCli(['build'], { cwd: ws, env: s.env });
    assert.equal(built.status, 0, built.stderr);
    const info = join(ws, 'target/.rustc_info.json');
    assert.ok(existsSync(info), 'cargo kept no .rustc_info.json');
    // A copy from elsewhere: the same bytes under a new identity (inode, change time).
    const text = readFileSync(info, 'utf8');
    rmSync(info);
    writeFileSync(info, text.replace(/cargo-sandbox: build-script-launcher-v\d+[^\\]*/, 'forged'));
    const r = await runCli(['build'], { cwd: ws, env: s.env });
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(readFileSync(info, 'utf8'), /forged/, 'cargo believed the shipped compiler version text');
  });

  test('the identity in the version text differs between users and between target dirs', async () => {
    const one = alwaysRerunning('identity-one');
    const other = makeScratch('identity-other');
    const line = async (cwd: string, env: NodeJS.ProcessEnv) => {
      const r = await runCli(['build'], { cwd, env });
      assert.equal(r.status, 0, r.stderr);
      return /cargo-sandbox: build-script-launcher-v\d+[^\\"]*/.exec(readFileSync(join(cwd, 'target/.rustc_info.json'), 'utf8'))?.[0];
    };
    const mine = await line(one.ws, one.s.env);
    assert.ok(mine, 'no identity line in the version text');
    const copy = join(one.s.root, 'copy');
    cpSync(one.ws, copy, { recursive: true });
    rmSync(join(copy, 'target'), { recursive: true });
    assert.notEqual(await line(copy, one.s.env), mine, 'two target dirs of one user share the identity');
    rmSync(join(one.ws, 'target'), { recursive: true });
    assert.notEqual(await line(one.ws, other.env), mine, 'two users share the identity');
  });
});
