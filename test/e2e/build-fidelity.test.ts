// A sandboxed build builds the same thing as a plain one (issue 18): cargo's jobserver reaches
// build scripts' `make -j`, and a tool that writes to descriptors it was not given finds nothing
// of ours there; build-configuration variables (PYO3_PYTHON, CPATH) reach real crates' build
// scripts (pyo3-build-config, cc) with the paths they name, even in the hidden home. Plain cargo
// is the control each time.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { CLI, copyFixture, makeScratch, runCli, runPlainCargo, type Scratch } from '../helpers/sandbox-env.js';

/** A Python "installed" in the home directory (a link to the system's) and an SDK header there. */
function homeTools(s: Scratch): NodeJS.ProcessEnv {
  const venv = join(s.home, 'venvs/build/bin');
  mkdirSync(venv, { recursive: true });
  symlinkSync('/usr/bin/python3', join(venv, 'python3'));
  const include = join(s.home, 'sdk/include');
  mkdirSync(include, { recursive: true });
  writeFileSync(join(include, 'sdkconf.h'), '#define SDK_VERSION 42\n');
  return { ...s.env, PYO3_PYTHON: join(venv, 'python3'), CPATH: include };
}

describe('building the same thing as plain cargo', () => {
  test('the jobserver: make -j in a build script gets cargo\'s tokens; junk written to other descriptors lands nowhere of ours (control: plain cargo)', async () => {
    const plain = makeScratch('jobserver-plain');
    const plainWs = copyFixture(plain, 'jobserver');
    const control = await runPlainCargo(['build', '-j2'], { cwd: plainWs, env: plain.env });
    assert.equal(control.status, 0, control.stderr);
    assert.match(control.stderr, /makeflags MAKEFLAGS=.*--jobserver-auth=\d+,\d+/);
    // Under plain cargo, nothing else is open either (the jobserver's own pipe is left out).
    assert.match(control.stderr, /junk written to descriptors \[\]/);

    const s = makeScratch('jobserver');
    const ws = copyFixture(s, 'jobserver');
    const r = await runCli(['build', '-j2'], { cwd: ws, env: s.env });
    // The Makefile's two jobs finish only when run at once: make had a second token.
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /make exited Some\(0\)/);
    assert.match(r.stderr, /makeflags MAKEFLAGS=.*--jobserver-auth=\d+,\d+/);
    assert.doesNotMatch(r.stderr, /jobserver unavailable|invalid --jobserver/);
    // Descriptors 3 to 63 hold nothing: not our policy files, the cgroup's tasks file, the
    // supervisor's report, nor a stale jobserver.
    assert.match(r.stderr, /junk written to descriptors \[\]/);
    assert.doesNotMatch(r.stderr, /left a symlink|setuid/);
  });

  test('a descriptor cargo inherited from whoever started it (an IDE\'s or a CI runner\'s pipe, here 60) never reaches a build script (control: plain cargo passes it on)', async () => {
    // The test's pipe, given on 9, moved to 60 by a shell before cargo (or cargo-sandbox) starts.
    const withPipeOn60 = (program: string, cwd: string, env: NodeJS.ProcessEnv) =>
      new Promise<{ status: number | null; stderr: string; got: string }>((resolve, reject) => {
        const stdio: ('ignore' | 'pipe')[] = ['ignore', 'ignore', 'pipe', 'ignore', 'ignore', 'ignore', 'ignore', 'ignore', 'ignore', 'pipe'];
        const child = spawn('bash', ['-c', 'exec 60>&9 9>&-; exec "$0" "$@"', program, 'build', '-j2'], { cwd, env, stdio });
        let [stderr, got] = ['', ''];
        child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        (child.stdio[9 as number] as Readable).setEncoding('utf8').on('data', (d: string) => (got += d));
        child.on('error', reject);
        child.on('close', (status) => resolve({ status, stderr, got }));
      });
    const plain = makeScratch('inherited-fd-plain');
    const control = await withPipeOn60('cargo', copyFixture(plain, 'jobserver'), plain.env);
    assert.equal(control.status, 0, control.stderr);
    assert.match(control.stderr, /junk written to descriptors \[60\]/);
    assert.match(control.got, /symlink\t\/etc\/passwd/, 'plain: the junk did not reach the pipe');

    const s = makeScratch('inherited-fd');
    const r = await withPipeOn60(CLI, copyFixture(s, 'jobserver'), s.env);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /junk written to descriptors \[\]/);
    assert.equal(r.got, '');
  });

  test('build-configuration variables: pyo3-build-config uses the Python PYO3_PYTHON names and cc finds CPATH\'s headers, both in the hidden home (control: plain cargo)', async () => {
    const plain = makeScratch('build-config-plain');
    const plainWs = copyFixture(plain, 'build-config', { debianRegistry: true });
    const control = await runPlainCargo(['build'], { cwd: plainWs, env: homeTools(plain) });
    assert.equal(control.status, 0, control.stderr);
    assert.ok(control.stderr.includes(`python executable ${join(plain.home, 'venvs/build/bin/python3')}`), control.stderr);
    assert.match(control.stderr, /compiled against the SDK in CPATH/);

    const s = makeScratch('build-config');
    const ws = copyFixture(s, 'build-config', { debianRegistry: true });
    const env = homeTools(s);
    const r = await runCli(['build'], { cwd: ws, env });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stderr.includes(`python executable ${join(s.home, 'venvs/build/bin/python3')}`), r.stderr);
    assert.match(r.stderr, /compiled against the SDK in CPATH/);
    // `cargo sandbox policy` says what passed and what it shows.
    const policy = await runCli(['policy', 'c-config'], { cwd: ws, env });
    assert.match(policy.stdout, /build config: +passed: .*\bCPATH\b.*\bPYO3_PYTHON\b/);
    assert.match(policy.stdout, /CPATH: ~\/sdk\/include shown read-only/);
  });

  test('a build-configuration variable naming the home directory, or a link into a secret, shows nothing', async () => {
    const s = makeScratch('build-config-secret');
    const ws = copyFixture(s, 'build-config', { debianRegistry: true });
    symlinkSync(join(s.home, '.ssh'), join(ws, 'sdk-link'));
    const env = { ...homeTools(s), CPATH: join(ws, 'sdk-link'), VIRTUAL_ENV: s.home };
    const policy = await runCli(['policy', 'c-config'], { cwd: ws, env });
    assert.equal(policy.status, 0, policy.stderr);
    assert.match(policy.stdout, /CPATH: .*sdk-link not shown \(it is inside a secret the sandbox hides\)/);
    assert.match(policy.stdout, /VIRTUAL_ENV: ~ not shown \(it would show your whole home directory\)/);
    // The header is not found: the link was not followed into ~/.ssh, whose files stay hidden.
    const r = await runCli(['build', '-p', 'c-config'], { cwd: ws, env });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /sdkconf\.h/);
  });

  test('after a build that succeeded, what the sandbox hid that a script wanted is said, once (control: plain cargo sees it)', async () => {
    const setUp = (s: Scratch): NodeJS.ProcessEnv => {
      const bin = join(s.home, 'bin');
      mkdirSync(bin);
      writeFileSync(join(bin, 'fallbacks-tool'), '#!/bin/sh\necho from-home\n', { mode: 0o755 });
      return { ...s.env, PATH: `${bin}:${s.env.PATH}`, FALLBACKS_FEATURE_LEVEL: '3' };
    };
    const plain = makeScratch('fallbacks-plain');
    const control = await runPlainCargo(['build'], { cwd: copyFixture(plain, 'fallbacks'), env: setUp(plain) });
    assert.match(control.stderr, /feature level 3; fallbacks-tool: from-home; RUSTDOC: Ok\("rustdoc"\)/);

    const s = makeScratch('fallbacks');
    const ws = copyFixture(s, 'fallbacks');
    const env = setUp(s);
    const r = await runCli(['build'], { cwd: ws, env });
    assert.equal(r.status, 0, r.stderr);
    // It built something else, and says so.
    // Cargo's RUSTDOC (our wrapper, which the sandbox does not show) is the real rustdoc inside.
    assert.match(r.stderr, /feature level 0 \(default\); fallbacks-tool: not found; RUSTDOC: Ok\("rustdoc"\)/);
    assert.match(r.stderr, /^note: the sandbox hid `~\/bin` \(on your PATH, in your home\) from build scripts/m);
    assert.match(r.stderr, /^help: if a build script needs it: cargo sandbox allow PACKAGE --read ~\/bin \(PACKAGE: its package\)$/m);
    assert.match(r.stderr, /^note: the build script of `fallbacks` reads `FALLBACKS_FEATURE_LEVEL` \(rerun-if-env-changed\)/m);
    assert.match(r.stderr, /^help: to pass it: cargo sandbox allow fallbacks --env FALLBACKS_FEATURE_LEVEL$/m);
    // Said once: the script runs again, the note does not.
    writeFileSync(join(ws, 'build.rs'), `${readFileSync(join(ws, 'build.rs'), 'utf8')}\n// again\n`);
    const again = await runCli(['build'], { cwd: ws, env });
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /Compiling fallbacks/);
    assert.doesNotMatch(again.stderr, /the sandbox hid|rerun-if-env-changed/);
  });
});
