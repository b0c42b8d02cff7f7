// The install path the README gives: `npm pack`, then `npm install -g ./cargo-sandbox-*.tgz`, into a
// temporary prefix, offline (an empty npm cache, a registry nobody answers: the tarball carries its
// npm dependencies); the installed package (not this clone) passes `doctor` and sandboxes a build,
// as root and as an unprivileged user (root's toolchain made visible to it in a private mount
// namespace: /root is not readable by others), who also installs it into a prefix of its own. The
// first run compiles no helper: the tarball's prebuilt ones are copied, byte for byte as their
// manifest records; one with a flipped byte is not used (a warning, then compiled).

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { makeScratch, REPO_ROOT, run, type Scratch } from '../helpers/sandbox-env.js';

const NOBODY = 65534;
/** Nothing listens there: any registry request fails. */
const DEAD_REGISTRY = 'http://127.0.0.1:9';
const COMPILING = /Compiling cargo-sandbox's/;

interface Manifest {
  helpers: Record<string, { name: string; key: string; sha256: string }>;
}

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/**
 * The helpers in a cache directory that are prebuilt copies, byte for byte (the front end and the
 * launcher have the installation's paths written in: not these bytes).
 */
function copiedFromManifest(cache: string, manifest: Manifest): string[] {
  return Object.entries(manifest.helpers)
    .filter(([file]) => existsSync(join(cache, file)))
    .map(([file, h]) => {
      assert.equal(sha256(join(cache, file)), h.sha256, `${file} in ${cache} is not the prebuilt one`);
      return h.name;
    })
    .sort();
}

/** A one-crate workspace whose build script sets a variable the crate reads. */
function tinyWorkspace(dir: string): void {
  mkdirSync(join(dir, 'src'), { recursive: true });
  writeFileSync(join(dir, 'Cargo.toml'), '[package]\nname = "installed"\nversion = "0.1.0"\nedition = "2021"\n');
  writeFileSync(join(dir, 'build.rs'), 'fn main() { println!("cargo:rustc-env=FROM_SCRIPT=1"); }\n');
  writeFileSync(join(dir, 'src/lib.rs'), 'pub const X: &str = env!("FROM_SCRIPT");\n');
}

/** npm, offline: an empty cache of its own and a registry that does not answer. */
function offlineInstall(prefix: string, tarball: string, cache: string): string[] {
  return ['install', '-g', '--prefix', prefix, '--offline', '--cache', cache, '--no-audit', '--no-fund', tarball];
}

describe('the packed package, installed with npm', { concurrency: false }, () => {
  let s: Scratch;
  let prefix: string;
  let tarball: string;
  let manifest: Manifest;
  let installLog: string;
  const pkg = () => join(prefix, 'lib/node_modules/cargo-sandbox');
  const rootEnv = (p: string) => ({ ...s.env, PATH: `${join(p, 'bin')}:${s.env.PATH}` });
  before(async () => {
    s = makeScratch('install');
    chmodSync(s.root, 0o755);
    prefix = join(s.root, 'prefix');
    // What prepack does after tsc (dist/ is built by the test command; --ignore-scripts below: no
    // second build while tests run): the helpers, prebuilt (kept from an earlier run if current).
    const prebuild = await run('node', ['scripts/prebuild-helpers.mjs'], { cwd: REPO_ROOT, env: process.env });
    assert.equal(prebuild.status, 0, prebuild.stderr);
    const pack = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', s.root], { cwd: REPO_ROOT, env: process.env });
    assert.equal(pack.status, 0, pack.stderr);
    const name = readdirSync(s.root).find((f) => f.endsWith('.tgz'));
    assert.ok(name, 'npm pack wrote no tarball');
    tarball = join(s.root, name);
    const install = await run('npm', offlineInstall(prefix, tarball, mkdtempSync(join(s.root, 'npm-cache-'))), { cwd: s.root, env: { ...process.env, npm_config_registry: DEAD_REGISTRY } });
    assert.equal(install.status, 0, install.stdout + install.stderr);
    installLog = install.stdout + install.stderr;
    manifest = JSON.parse(readFileSync(join(pkg(), `prebuilt/${process.platform}-${process.arch}/manifest.json`), 'utf8')) as Manifest;
  });

  test('it is complete (the docs the README links, the helpers\' sources and prebuilt copies, its npm dependencies) and installing runs no script', () => {
    for (const f of ['THREAT-MODEL.md', 'README.md', 'docs/configuration.md', 'docs/policy.md', 'docs/install.md', 'libexec/entry.rs', 'libexec/confine.rs', 'libexec/front-end.rs', 'dist/src/cli/main.js', 'bin/cargo-sandbox', 'node_modules/semver/package.json', 'node_modules/smol-toml/package.json']) {
      assert.ok(existsSync(join(pkg(), f)), `${f} is missing from the package`);
    }
    assert.ok(!existsSync(join(pkg(), 'dist/test')), 'the tests were packed');
    assert.deepEqual([...new Set(Object.values(manifest.helpers).map((h) => h.name))].sort(), ['confine', 'direct-sandbox', 'entry', 'front-end', 'proc-macro-srv']);
    for (const [file, h] of Object.entries(manifest.helpers)) assert.equal(sha256(join(pkg(), 'prebuilt', `${process.platform}-${process.arch}`, file)), h.sha256, file);
    const scripts = (JSON.parse(readFileSync(join(pkg(), 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    assert.deepEqual(['preinstall', 'install', 'postinstall', 'prepare'].filter((k) => k in scripts), []);
    assert.doesNotMatch(installLog, /install-scripts|allow-scripts/);
  });

  test('as root: doctor passes and a build is sandboxed, from the installed copy, with the prebuilt helpers', async () => {
    const ws = join(s.root, 'ws-root');
    tinyWorkspace(ws);
    const env = rootEnv(prefix);
    const doctor = await run('cargo-sandbox', ['doctor'], { cwd: ws, env });
    assert.equal(doctor.status, 0, doctor.stdout + doctor.stderr);
    assert.match(doctor.stdout, /^ok +supervisor +\S+\/lib\/node_modules\/cargo-sandbox\//m);
    assert.match(doctor.stdout, new RegExp(`^ok +prebuilt +9 helpers for ${process.platform}-${process.arch} in \\S+/lib/node_modules/cargo-sandbox/prebuilt/`, 'm'));
    // Through cargo, as the README says: cargo finds the external subcommand on PATH.
    const build = await run('cargo', ['sandbox', 'build'], { cwd: ws, env });
    assert.equal(build.status, 0, build.stderr);
    assert.ok(readdirSync(join(ws, 'target/debug/build')).some((d) => d.startsWith('installed-')), 'no build script ran');
    assert.doesNotMatch(doctor.stderr + build.stderr, COMPILING);
    assert.doesNotMatch(doctor.stderr + build.stderr, /warning: cargo-sandbox's prebuilt/);
    // Root can write the package: its cache is there.
    assert.deepEqual([...new Set(copiedFromManifest(join(pkg(), '.cache'), manifest))], ['confine', 'direct-sandbox', 'entry']);
    assert.ok(readdirSync(join(pkg(), '.cache')).some((f) => /^front-end-[0-9a-f]{16}$/.test(f)), 'no front end');
    // The next run starts in the front end, the prebuilt one with this installation's paths written
    // in: it hands `--version` to this Node and this package's main.js.
    const version = await run('cargo-sandbox', ['--version'], { cwd: ws, env });
    assert.equal(version.status, 0, version.stderr);
    assert.match(version.stdout, /^cargo-sandbox \d+\.\d+\.\d+/);
    const again = await run('cargo', ['sandbox', 'build'], { cwd: ws, env });
    assert.equal(again.status, 0, again.stderr);
  });

  /**
   * Runs `command` (sh) as nobody in the home `home`, with root's toolchain bound where it can read
   * it, `bin` first on PATH and no npm registry that answers.
   */
  async function asNobody(home: string, bin: string, command: string) {
    const rust = join(s.root, 'rust');
    for (const d of ['rustup', 'bin']) mkdirSync(join(rust, d), { recursive: true });
    chmodSync(rust, 0o755);
    const realRustup = process.env.RUSTUP_HOME || join(homedir(), '.rustup');
    const realCargoBin = join(process.env.CARGO_HOME || join(homedir(), '.cargo'), 'bin');
    return run('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `mount --bind "$0" "$1/rustup" && mount --bind "$2" "$1/bin" && cd "$3" && exec setpriv --reuid ${NOBODY} --regid ${NOBODY} --clear-groups env -i HOME="$3" PATH="$4:$1/bin:/usr/local/bin:/usr/bin:/bin" RUSTUP_HOME="$1/rustup" CARGO_HOME="$3/.cargo" CARGO_TERM_COLOR=never npm_config_registry=${DEAD_REGISTRY} sh -c "$5"`, realRustup, rust, realCargoBin, home, bin, command], { cwd: s.root, env: process.env });
  }

  /** A home for nobody with the tiny workspace in it, all its own. */
  function nobodyHome(name: string): string {
    const home = join(s.root, name);
    tinyWorkspace(join(home, 'ws'));
    const chownAll = (dir: string) => {
      chownSync(dir, NOBODY, NOBODY);
      for (const e of readdirSync(dir, { withFileTypes: true })) e.isDirectory() ? chownAll(join(dir, e.name)) : chownSync(join(dir, e.name), NOBODY, NOBODY);
    };
    chownAll(home);
    return home;
  }

  test('as an unprivileged user, with root\'s installation: doctor passes and a build is sandboxed (max-processes said to be unenforced)', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('needs root to switch to an unprivileged user');
    const home = nobodyHome('nobody');
    const doctor = await asNobody(home, join(prefix, 'bin'), 'cd ws && cargo-sandbox doctor');
    assert.equal(doctor.status, 0, doctor.stdout + doctor.stderr);
    assert.match(doctor.stdout, /^warn max-processes +not enforced/m);
    const build = await asNobody(home, join(prefix, 'bin'), 'cd ws && cargo sandbox build');
    assert.equal(build.status, 0, build.stderr);
    assert.ok(readdirSync(join(home, 'ws/target/debug/build')).some((d) => d.startsWith('installed-')), 'no build script ran');
    // Root's copies in the package serve it; its front end, in its own cache, is the prebuilt one.
    assert.doesNotMatch(doctor.stderr + build.stderr, COMPILING);
    assert.ok(readdirSync(join(home, '.cache/cargo-sandbox')).some((f) => /^front-end-[0-9a-f]{16}$/.test(f)), 'no front end');
  });

  test('as an unprivileged user installing it into ~/.local, offline, as the README says: its first build compiles no helper', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('needs root to switch to an unprivileged user');
    const home = nobodyHome('nobody-own');
    const local = join(home, '.local');
    const install = await asNobody(home, join(local, 'bin'), `mkdir "$HOME/npm-cache" && npm ${offlineInstall('"$HOME/.local"', tarball, '"$HOME/npm-cache"').join(' ')}`);
    assert.equal(install.status, 0, install.stdout + install.stderr);
    const build = await asNobody(home, join(local, 'bin'), 'cd ws && command -v cargo-sandbox && cargo sandbox build && cargo sandbox build && cargo-sandbox --version');
    assert.equal(build.status, 0, build.stderr);
    assert.equal(build.stdout.split('\n')[0], join(local, 'bin/cargo-sandbox'));
    assert.match(build.stdout, /^cargo-sandbox \d+\.\d+\.\d+$/m);
    assert.ok(readdirSync(join(home, 'ws/target/debug/build')).some((d) => d.startsWith('installed-')), 'no build script ran');
    assert.doesNotMatch(build.stderr, COMPILING);
    // Its package is its own to write: the cache is there, and holds the prebuilt copies.
    const cache = join(local, 'lib/node_modules/cargo-sandbox/.cache');
    assert.deepEqual([...new Set(copiedFromManifest(cache, manifest))], ['confine', 'direct-sandbox', 'entry']);
  });

  test('a prebuilt helper with a flipped byte is not used: a warning, it is compiled instead, and the build works', async () => {
    const tampered = join(s.root, 'prefix-tampered');
    const install = await run('npm', offlineInstall(tampered, tarball, mkdtempSync(join(s.root, 'npm-cache-'))), { cwd: s.root, env: { ...process.env, npm_config_registry: DEAD_REGISTRY } });
    assert.equal(install.status, 0, install.stdout + install.stderr);
    const dir = join(tampered, 'lib/node_modules/cargo-sandbox/prebuilt', `${process.platform}-${process.arch}`);
    const file = Object.keys(manifest.helpers).find((f) => f.startsWith('direct-sandbox-'));
    assert.ok(file);
    const bytes = readFileSync(join(dir, file));
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 64) ^ 0x01, bytes.length - 64);
    writeFileSync(join(dir, file), bytes);
    const ws = join(s.root, 'ws-tampered');
    tinyWorkspace(ws);
    const build = await run('cargo', ['sandbox', 'build'], { cwd: ws, env: rootEnv(tampered) });
    assert.equal(build.status, 0, build.stderr);
    assert.match(build.stderr, /^warning: cargo-sandbox's prebuilt direct-sandbox helper \(\S+\) is not used: its SHA-256 is [0-9a-f]{64}, not [0-9a-f]{64} as its manifest records; compiling it instead$/m);
    assert.match(build.stderr, /^help: reinstall cargo-sandbox/m);
    // Only that one is compiled; the others are still the prebuilt copies.
    assert.deepEqual(build.stderr.match(/Compiling cargo-sandbox's \S+/g), ["Compiling cargo-sandbox's direct-sandbox"]);
    assert.ok(readdirSync(join(ws, 'target/debug/build')).some((d) => d.startsWith('installed-')), 'no build script ran');
  });
});
