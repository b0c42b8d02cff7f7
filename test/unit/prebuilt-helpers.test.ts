// The package's prebuilt helpers (src/backends/prebuilt-helpers.ts): one is copied into the cache
// only if it is exactly the helper the first use would compile, intact (its SHA-256), static and
// for this machine; the installation's paths are written into the launcher's placeholders and
// read back by it at run time. Anything else is compiled instead, with a warning when the package
// on disk is not what was packed.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { helperFile, helperKey, rustcArgs, type HelperBuild } from '../../src/backends/native-helpers.js';
import { installPrebuilt, MANIFEST_VERSION, packedHelpers, placeholder, prebuiltDir, templateBuild, type PrebuiltManifest } from '../../src/backends/prebuilt-helpers.js';

/** The launcher as an installation at /opt/cs would compile it, with `echo` as its Node. */
const launcher: HelperBuild = { name: 'proc-macro-srv', compileEnv: { CARGO_SANDBOX_ROOT: '/opt/cs', CARGO_SANDBOX_NODE: '/bin/echo' } };
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('prebuilt helpers', () => {
  let root: string;
  let dir: string;
  let file: string;
  let packed: Buffer;
  const manifest = (over: Partial<PrebuiltManifest['helpers'][string]> = {}): void => {
    const key = helperKey(templateBuild(launcher));
    const m: PrebuiltManifest = { version: MANIFEST_VERSION, platform: process.platform, arch: process.arch, rustc: 'test', helpers: { [file]: { name: 'proc-macro-srv', key, sha256: sha256(packed), ...over } } };
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
  };
  const install = (): { ok: boolean; dest: string; warnings: string[] } => {
    const cache = mkdtempSync(join(tmpdir(), 'cs-prebuilt-cache-'));
    const dest = join(cache, helperFile(launcher, helperKey(launcher)));
    const warnings: string[] = [];
    const ok = installPrebuilt(launcher, dest, (text) => warnings.push(text), root);
    return { ok, dest, warnings };
  };

  before(() => {
    // Packed as scripts/prebuild-helpers.mjs packs it: the template build, statically linked.
    root = mkdtempSync(join(tmpdir(), 'cs-prebuilt-'));
    dir = prebuiltDir(root);
    mkdirSync(dir, { recursive: true });
    const template = templateBuild(launcher);
    file = helperFile(launcher, helperKey(template));
    const r = spawnSync(process.env.RUSTC || 'rustc', rustcArgs(template, join(dir, file), true), { cwd: dir, env: { ...process.env, ...template.compileEnv }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    packed = readFileSync(join(dir, file));
  });

  test('what is packed: every helper the first use compiles, static, the installation paths as placeholders', () => {
    const names = packedHelpers().map((b) => `${b.name}${b.compileEnv?.CARGO_SANDBOX_ENTRY_MODE ? `:${b.compileEnv.CARGO_SANDBOX_ENTRY_MODE}` : ''}`);
    assert.deepEqual(names.sort(), ['confine', 'direct-sandbox', 'entry:proc-macro-server', 'entry:run-binary', 'entry:rustc-wrapper', 'entry:rustc-wrapper-keep-args', 'entry:rustdoc-wrapper', 'front-end', 'proc-macro-srv']);
    assert.ok(packedHelpers().every((b) => b.mustBeStatic));
    const frontEnd = packedHelpers().find((b) => b.name === 'front-end');
    assert.equal(frontEnd?.compileEnv?.CARGO_SANDBOX_ROOT, placeholder('CARGO_SANDBOX_ROOT'));
    assert.equal(placeholder('CARGO_SANDBOX_ROOT').length, 4096);
  });

  test('an intact copy is installed, with the paths written in: it runs the installation\'s Node on its main.js', () => {
    manifest();
    const { ok, dest, warnings } = install();
    assert.deepEqual(warnings, []);
    assert.ok(ok);
    assert.equal(statSync(dest).mode & 0o777, 0o755);
    assert.ok(!readFileSync(dest).includes('@CARGO_SANDBOX_ROOT@'));
    const r = spawnSync(dest, ['--format', 'json'], { encoding: 'utf8' });
    assert.equal(r.stdout, '/opt/cs/dist/src/cli/main.js proc-macro-server --format json\n', r.stderr);
  });

  test('a copy whose bytes differ from the manifest (one byte flipped) is not used: a warning, nothing in the cache', () => {
    manifest();
    const tampered = Buffer.from(packed);
    tampered.writeUInt8(tampered.readUInt8(tampered.length - 100) ^ 0xff, tampered.length - 100);
    writeFileSync(join(dir, file), tampered);
    try {
      const { ok, dest, warnings } = install();
      assert.equal(ok, false);
      assert.ok(!existsSync(dest));
      assert.equal(warnings.length, 1);
      assert.match(warnings[0] ?? '', /prebuilt proc-macro-srv helper .* is not used: its SHA-256 is [0-9a-f]{64}, not [0-9a-f]{64} as its manifest records; compiling it instead/);
    } finally {
      writeFileSync(join(dir, file), packed);
    }
  });

  test('a copy built from other sources (another key) is not used, silently: it is compiled as without one', () => {
    manifest({ key: '0'.repeat(64) });
    const { ok, warnings } = install();
    assert.equal(ok, false);
    assert.deepEqual(warnings, []);
  });

  test('a dynamically linked program, even with the SHA-256 its manifest records, is not used', () => {
    const confine: HelperBuild = { name: 'confine' };
    const key = helperKey(templateBuild(confine));
    const ls = readFileSync('/bin/ls');
    const other = mkdtempSync(join(tmpdir(), 'cs-prebuilt-'));
    mkdirSync(prebuiltDir(other), { recursive: true });
    writeFileSync(join(prebuiltDir(other), helperFile(confine, key)), ls);
    const m: PrebuiltManifest = { version: MANIFEST_VERSION, platform: process.platform, arch: process.arch, rustc: 'test', helpers: { [helperFile(confine, key)]: { name: 'confine', key, sha256: sha256(ls) } } };
    writeFileSync(join(prebuiltDir(other), 'manifest.json'), JSON.stringify(m));
    const cache = mkdtempSync(join(tmpdir(), 'cs-prebuilt-cache-'));
    const warnings: string[] = [];
    assert.equal(installPrebuilt(confine, join(cache, helperFile(confine, helperKey(confine))), (text) => warnings.push(text), other), false);
    assert.match(warnings[0] ?? '', /prebuilt confine helper .* is not used: it is not statically linked/);
    assert.deepEqual(readdirSync(cache), []);
  });

  test('a manifest that cannot be read: a warning, and compiled instead', () => {
    writeFileSync(join(dir, 'manifest.json'), '{ not json');
    const { ok, warnings } = install();
    assert.equal(ok, false);
    assert.match(warnings[0] ?? '', /its manifest cannot be read/);
  });
});
