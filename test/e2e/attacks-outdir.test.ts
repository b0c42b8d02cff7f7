// What a build script leaves for the programs that run after it outside the sandbox: the
// directives cargo hands to rustc and the linker, and OUT_DIR, which rustc reads. Each attack runs
// on its own (`cargo build -p NAME`), with a plain-cargo control showing it works unsandboxed.

import assert from 'node:assert/strict';
import { appendFileSync, closeSync, constants, existsSync, lstatSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ranReport, soloWorkspace } from '../helpers/attack-env.js';
import { BASHRC, filesContaining, runCli, runPlainCargo, SECRETS, sleep } from '../helpers/sandbox-env.js';

const BWRAP = process.env.CARGO_SANDBOX_BWRAP || '/usr/bin/bwrap';

/** `userConfig`: added to the user's cargo config (where `[sandbox]` settings that widen belong). */
async function sandboxed(pkg: string, userConfig = '') {
  const { scratch, ws } = soloWorkspace(`outdir-${pkg}${userConfig ? '-configured' : ''}`);
  if (userConfig) appendFileSync(join(scratch.cargoHome, 'config.toml'), `\n${userConfig}`);
  // Bounded: a regression that lets rustc block on a FIFO fails here instead of hanging the suite.
  const result = await runCli(['build', '-p', pkg], { cwd: ws, env: scratch.env, timeoutMs: 120_000 });
  return { scratch, ws, result };
}

async function plain(pkg: string) {
  const { scratch, ws } = soloWorkspace(`outdir-plain-${pkg}`);
  const result = await runPlainCargo(['build', '-p', pkg], { cwd: ws, env: scratch.env });
  return { scratch, ws, result };
}

describe('directives that reach programs outside the sandbox', () => {
  test('cargo:rustc-env=LLD_REPRODUCE (rust-lld writes a tar over ~/.bashrc) is refused (control: ~/.bashrc is overwritten)', async () => {
    const p = await plain('attack-rustc-env-lld');
    assert.notEqual(readFileSync(join(p.scratch.home, '.bashrc'), 'utf8'), BASHRC, 'plain: the linker did not write ~/.bashrc (is rust-lld the linker?)');
    const s = await sandboxed('attack-rustc-env-lld');
    assert.equal(readFileSync(join(s.scratch.home, '.bashrc'), 'utf8'), BASHRC);
    assert.equal(s.result.status, 101);
    assert.match(s.result.stderr, /^note: it asked cargo to set `LLD_REPRODUCE` for rustc/m);
  });

  test('cargo:rustc-env=CARGO_MANIFEST_DIR=/ (the sandboxed rustc would bind the whole system) is refused', async () => {
    const s = await sandboxed('attack-rustc-env-manifest');
    assert.equal(s.result.status, 101);
    assert.match(s.result.stderr, /^note: it asked cargo to set `CARGO_MANIFEST_DIR` for rustc/m);
  });

  test('a proc macro compiled into OUT_DIR and found through rustc-link-search is never loaded by rustc on the host (control: it runs)', async () => {
    const pkg = 'attack-link-search-crate';
    const p = await plain(pkg);
    assert.ok(existsSync(join(p.scratch.home, 'PWNED-BY-PROC-MACRO')), `plain: the macro did not run\n${p.result.stderr}`);
    const s = await sandboxed(pkg);
    assert.match(ranReport(s.ws, pkg) ?? '', /built=Ok\(true\)/, 'the attack did not compile its macro');
    assert.equal(existsSync(join(s.scratch.home, 'PWNED-BY-PROC-MACRO')), false);
    // The search path was narrowed to native libraries: rustc does not find the crate at all.
    assert.notEqual(s.result.status, 0);
    assert.match(s.result.stderr, /can't find crate for `evil_pm`/);
  });
});

describe('argument files, which rustc reads before it parses anything', () => {
  test('cargo:rustc-cfg=@FILE (a linker of the script\'s in the file) is refused, with rustc confined or on the host (control: the linker runs)', async () => {
    const pkg = 'attack-cfg-argfile';
    const p = await plain(pkg);
    assert.ok(existsSync(join(p.scratch.home, 'PWNED-BY-ARGFILE')), `plain: the script's linker did not run\n${p.result.stderr}`);
    for (const config of ['', '[sandbox]\nproc-macros = false\n']) {
      const s = await sandboxed(pkg, config);
      assert.ok(ranReport(s.ws, pkg), `the attack did not run (${config || 'default'})`);
      assert.equal(existsSync(join(s.scratch.home, 'PWNED-BY-ARGFILE')), false, config || 'default');
      assert.equal(s.result.status, 101, s.result.stderr);
      assert.match(s.result.stderr, /^note: it gave cargo `cargo:rustc-cfg` with a value starting with `@`/m);
    }
  });
});

describe('LD_LIBRARY_PATH, which cargo fills with build scripts\' OUT_DIRs', () => {
  test('a planted libcap.so.2 is never loaded by a host program we start (control: a shell wrapper that starts bwrap, under plain cargo, loads it)', async () => {
    const pkg = 'attack-ld-path';
    const marker = (home: string) => join(home, 'PWNED-BY-LD_LIBRARY_PATH');
    // The control: plain cargo with a naive sandboxing wrapper (a shell script that starts bwrap).
    const { scratch, ws } = soloWorkspace('outdir-plain-ld-path');
    const naive = join(scratch.root, 'naive-wrapper');
    writeFileSync(naive, `#!/bin/sh\n${BWRAP} --version >/dev/null 2>&1\nexec "$@"\n`, { mode: 0o755 });
    const p = await runPlainCargo(['build', '-p', pkg], { cwd: ws, env: { ...scratch.env, RUSTC_WRAPPER: naive } });
    assert.equal(p.status, 0, p.stderr);
    assert.ok(existsSync(marker(scratch.home)), 'plain: the planted library was not loaded by bwrap');
    const s = await sandboxed(pkg);
    assert.equal(s.result.status, 0, s.result.stderr);
    assert.match(ranReport(s.ws, 'attack-ld-path-macro') ?? '', /cc=true/, 'the attack did not build its library');
    assert.equal(existsSync(marker(s.scratch.home)), false, 'the planted library ran on the host');
  });
});

describe('the staging directory a sandboxed rustc writes', () => {
  test('a `launcher` link planted there by a proc macro is removed, never written through to ~/.profile', async () => {
    const pkg = 'attack-stage-launcher';
    const s = await sandboxed(pkg);
    assert.equal(s.result.status, 0, s.result.stderr);
    assert.match(ranReport(s.ws, pkg) ?? '', /planted=true/, 'the macro did not plant its link in staging');
    assert.equal(existsSync(join(s.scratch.home, '.profile')), false, 'the launcher was written through the planted link');
  });
});

describe('OUT_DIR, read by rustc outside the sandbox', () => {
  for (const [pkg, how] of [
    ['attack-outdir-readonly', 'in a directory the script made read-only'],
    ['attack-outdir-dotdot', 'inside OUT_DIR as written, outside on disk (`x -> .` then `x/..`)'],
    ['attack-outdir-late', 'planted again, by a child the script left, after the sweep'],
  ] as const) {
    test(`a symlink to ~/.ssh ${how} never reaches rustc (control: the key is compiled in)`, async () => {
      const p = await plain(pkg);
      assert.ok(filesContaining(join(p.ws, 'target/debug/deps'), SECRETS.sshKey).length > 0, `plain: the key was not compiled in\n${p.result.stderr}`);
      const s = await sandboxed(pkg);
      assert.ok(ranReport(s.ws, pkg), 'the attack did not run');
      assert.deepEqual(filesContaining(join(s.ws, 'target'), SECRETS.sshKey), []);
      assert.notEqual(s.result.status, 0, 'the crate compiled: something was left for include_str!');
      assert.match(s.result.stderr, new RegExp(`^warning: the build script of \`${pkg} v0\\.1\\.0\` left a symlink \`\\S+/key\` -> `, 'm'));
    });
  }

  test('with `proc-macros = false` (rustc on the host), a symlink planted again by a child the script left never reaches rustc: the child is killed before the sweep', async () => {
    // rustc's own sandbox no longer hides the home here: only the order "kill, then sweep" keeps
    // the link out (the control above shows plain cargo, like a host rustc, compiles the key in).
    const pkg = 'attack-outdir-late';
    const s = await sandboxed(pkg, '[sandbox]\nproc-macros = false\n');
    assert.match(ranReport(s.ws, pkg) ?? '', /outdir-late child=true/, 'the attack did not run, or could not leave its child');
    assert.deepEqual(filesContaining(join(s.ws, 'target'), SECRETS.sshKey), []);
    assert.notEqual(s.result.status, 0, 'the crate compiled: something was left for include_str!');
  });

  test('a link hidden at a path longer than PATH_MAX fails the script instead of reaching rustc (control: the key is compiled in)', async () => {
    const pkg = 'attack-outdir-longpath';
    const p = await plain(pkg);
    assert.ok(filesContaining(join(p.ws, 'target/debug/deps'), SECRETS.sshKey).length > 0, `plain: the key was not compiled in\n${p.result.stderr}`);
    const s = await sandboxed(pkg);
    assert.match(ranReport(s.ws, pkg) ?? '', /outdir-longpath Ok/);
    assert.deepEqual(filesContaining(join(s.ws, 'target'), SECRETS.sshKey), []);
    assert.equal(s.result.status, 101);
    assert.match(s.result.stderr, /cannot sweep .*File name too long/);
  });

  test('a linker script left in OUT_DIR as libkeyblob.so is read only by a sandboxed linker (control: the key is linked into the binary)', async () => {
    const pkg = 'attack-ldscript';
    const p = await plain(pkg);
    assert.ok(filesContaining(join(p.ws, 'target/debug'), SECRETS.sshKey).some((f) => f.endsWith('/attack-ldscript')), `plain: the key was not linked in\n${p.result.stderr}`);
    const s = await sandboxed(pkg);
    assert.match(ranReport(s.ws, pkg) ?? '', /ldscript/);
    assert.deepEqual(filesContaining(join(s.ws, 'target'), SECRETS.sshKey), []);
    assert.notEqual(s.result.status, 0, 'the binary linked: the linker read the key');
  });

  test('a thin archive whose member is ~/.ssh/id_ed25519 is bundled only by a sandboxed rustc (control: the key is in the rlib)', async () => {
    const pkg = 'attack-thin-archive';
    const p = await plain(pkg);
    assert.ok(filesContaining(join(p.ws, 'target/debug/deps'), SECRETS.sshKey).some((f) => /libattack_thin_archive-[^/]+\.rlib$/.test(f)), `plain: the key was not bundled\n${p.result.stderr}`);
    const s = await sandboxed(pkg);
    assert.match(ranReport(s.ws, pkg) ?? '', /thin/);
    assert.deepEqual(filesContaining(join(s.ws, 'target'), SECRETS.sshKey), []);
  });

  test('a linker script named by a `+verbatim` library path, with no search path, is read only by a sandboxed linker (control: the key is in the binary)', async () => {
    const pkg = 'attack-verbatim-lib';
    const p = await plain(pkg);
    assert.ok(filesContaining(join(p.ws, 'target/debug'), SECRETS.sshKey).some((f) => f.endsWith('/attack-verbatim-lib')), `plain: the key was not linked in\n${p.result.stderr}`);
    const s = await sandboxed(pkg);
    assert.match(ranReport(s.ws, pkg) ?? '', /verbatim-lib/);
    assert.deepEqual(filesContaining(join(s.ws, 'target'), SECRETS.sshKey), []);
  });

  test('a FIFO is removed before rustc blocks on it (control: plain cargo hangs)', async () => {
    const pkg = 'attack-outdir-fifo';
    const { scratch, ws } = soloWorkspace('outdir-plain-fifo');
    let finished = false;
    const build = runPlainCargo(['build', '-p', pkg], { cwd: ws, env: scratch.env }).finally(() => (finished = true));
    // Control, by state: rustc has opened the FIFO to read it (include_bytes!) and waits for a
    // writer that never comes. Opening it for writing without blocking succeeds only while a
    // reader is there (ENXIO otherwise); the build must not have finished meanwhile. Closing the
    // writer gives rustc its end of file, and the build ends.
    let writer: number | undefined;
    for (const end = Date.now() + 120_000; writer === undefined && !finished && Date.now() < end; await sleep(50)) {
      const fifo = findFifo(ws);
      try {
        if (fifo) writer = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
      } catch {
        /* no reader yet */
      }
    }
    const blocked = writer !== undefined && !finished;
    if (writer !== undefined) closeSync(writer);
    await build;
    assert.ok(blocked, `plain: rustc did not block on the FIFO (${finished ? 'cargo finished' : 'no reader came'})`);
    const started = Date.now();
    const s = await sandboxed(pkg);
    assert.ok(Date.now() - started < 60_000 && s.result.signal === null, 'the sandboxed build hung');
    assert.match(ranReport(s.ws, pkg) ?? '', /mkfifo=0/);
    assert.notEqual(s.result.status, 0);
    assert.equal(findFifo(s.ws), undefined);
    assert.match(s.result.stderr, /^warning: the build script of `attack-outdir-fifo v0\.1\.0` left a fifo `\S+\/fifo` in its OUT_DIR; it was removed/m);
  });
});

/** The FIFO the attack left in its OUT_DIR, if it is still there. */
function findFifo(ws: string): string | undefined {
  const build = join(ws, 'target/debug/build');
  if (!existsSync(build)) return undefined;
  return readdirSync(build)
    .map((d) => join(build, d, 'out/fifo'))
    .find((f) => {
      try {
        return lstatSync(f).isFIFO();
      } catch {
        return false;
      }
    });
}
