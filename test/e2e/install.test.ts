// The install path the README gives: `npm pack`, then `npm install -g ./cargo-sandbox-*.tgz`, into a
// temporary prefix; the installed package (not this clone) passes `doctor` and sandboxes a build,
// as root and as an unprivileged user (root's toolchain made visible to it in a private mount
// namespace: /root is not readable by others).

import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { makeScratch, REPO_ROOT, run, type Scratch } from '../helpers/sandbox-env.js';

const NOBODY = 65534;

/** A one-crate workspace whose build script sets a variable the crate reads. */
function tinyWorkspace(dir: string): void {
  mkdirSync(join(dir, 'src'), { recursive: true });
  writeFileSync(join(dir, 'Cargo.toml'), '[package]\nname = "installed"\nversion = "0.1.0"\nedition = "2021"\n');
  writeFileSync(join(dir, 'build.rs'), 'fn main() { println!("cargo:rustc-env=FROM_SCRIPT=1"); }\n');
  writeFileSync(join(dir, 'src/lib.rs'), 'pub const X: &str = env!("FROM_SCRIPT");\n');
}

describe('the packed package, installed with npm', { concurrency: false }, () => {
  let s: Scratch;
  let prefix: string;
  let installLog: string;
  before(async () => {
    s = makeScratch('install');
    chmodSync(s.root, 0o755);
    prefix = join(s.root, 'prefix');
    // dist/ is built by the test command; --ignore-scripts: no second build while tests run.
    const pack = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', s.root], { cwd: REPO_ROOT, env: process.env });
    assert.equal(pack.status, 0, pack.stderr);
    const tarball = readdirSync(s.root).find((f) => f.endsWith('.tgz'));
    assert.ok(tarball, 'npm pack wrote no tarball');
    const install = await run('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', join(s.root, tarball)], { cwd: s.root, env: process.env });
    assert.equal(install.status, 0, install.stderr);
    installLog = install.stdout + install.stderr;
  });

  test('it is complete (the docs the README links, the helpers\' sources) and installing runs no script', () => {
    const pkg = join(prefix, 'lib/node_modules/cargo-sandbox');
    for (const f of ['THREAT-MODEL.md', 'README.md', 'docs/configuration.md', 'docs/policy.md', 'libexec/entry.rs', 'libexec/confine.rs', 'libexec/front-end.rs', 'dist/src/cli/main.js', 'bin/cargo-sandbox']) {
      assert.ok(existsSync(join(pkg, f)), `${f} is missing from the package`);
    }
    assert.ok(!existsSync(join(pkg, 'dist/test')), 'the tests were packed');
    const scripts = (JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    assert.deepEqual(['preinstall', 'install', 'postinstall', 'prepare'].filter((k) => k in scripts), []);
    assert.doesNotMatch(installLog, /install-scripts|allow-scripts/);
  });

  test('as root: doctor passes and a build is sandboxed, from the installed copy', async () => {
    const ws = join(s.root, 'ws-root');
    tinyWorkspace(ws);
    const env = { ...s.env, PATH: `${join(prefix, 'bin')}:${s.env.PATH}` };
    const doctor = await run('cargo-sandbox', ['doctor'], { cwd: ws, env });
    assert.equal(doctor.status, 0, doctor.stdout + doctor.stderr);
    assert.match(doctor.stdout, /^ok +supervisor +\S+\/lib\/node_modules\/cargo-sandbox\//m);
    // Through cargo, as the README says: cargo finds the external subcommand on PATH.
    const build = await run('cargo', ['sandbox', 'build'], { cwd: ws, env });
    assert.equal(build.status, 0, build.stderr);
    assert.ok(readdirSync(join(ws, 'target/debug/build')).some((d) => d.startsWith('installed-')), 'no build script ran');
  });

  test('as an unprivileged user: doctor passes and a build is sandboxed (max-processes said to be unenforced)', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('needs root to switch to an unprivileged user');
    const home = join(s.root, 'nobody');
    const ws = join(home, 'ws');
    tinyWorkspace(ws);
    const rust = join(s.root, 'rust');
    for (const d of ['rustup', 'bin']) mkdirSync(join(rust, d), { recursive: true });
    chmodSync(rust, 0o755);
    const chownAll = (dir: string) => {
      chownSync(dir, NOBODY, NOBODY);
      for (const e of readdirSync(dir, { withFileTypes: true })) e.isDirectory() ? chownAll(join(dir, e.name)) : chownSync(join(dir, e.name), NOBODY, NOBODY);
    };
    chownAll(home);
    const realRustup = process.env.RUSTUP_HOME || join(homedir(), '.rustup');
    const realCargoBin = join(process.env.CARGO_HOME || join(homedir(), '.cargo'), 'bin');
    const asNobody = (command: string) =>
      run('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `mount --bind "$0" "$1/rustup" && mount --bind "$2" "$1/bin" && cd "$3" && exec setpriv --reuid ${NOBODY} --regid ${NOBODY} --clear-groups env -i HOME="$4" PATH="$1/bin:$5/bin:/usr/local/bin:/usr/bin:/bin" RUSTUP_HOME="$1/rustup" CARGO_HOME="$4/.cargo" CARGO_TERM_COLOR=never sh -c "$6"`, realRustup, rust, realCargoBin, ws, home, prefix, command], { cwd: s.root, env: process.env });
    const doctor = await asNobody('cargo-sandbox doctor');
    assert.equal(doctor.status, 0, doctor.stdout + doctor.stderr);
    assert.match(doctor.stdout, /^warn max-processes +not enforced/m);
    const build = await asNobody('cargo sandbox build');
    assert.equal(build.status, 0, build.stderr);
    assert.ok(readdirSync(join(ws, 'target/debug/build')).some((d) => d.startsWith('installed-')), 'no build script ran');
  });
});
