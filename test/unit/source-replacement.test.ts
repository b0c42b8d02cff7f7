// Checksum pins match only checksums cargo verified (THREAT-MODEL case 118): a vendored source the
// repository configures declares any checksum it likes, and cargo writes the claim into Cargo.lock.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadToml, parseConfigText, type ConfigLayer } from '../../src/config/cargo-config.js';
import type { LockedPackage } from '../../src/config/lockfile.js';
import { loadSandboxConfig } from '../../src/config/sandbox-config.js';
import { loadUserSourceConfigs, sourceFacts, unverifiedChecksum, verifiedLockfile, type SourceConfigLayer } from '../../src/config/source-replacement.js';
import type { WorkspaceFile } from '../../src/config/workspace-trust.js';
import { effectiveGrants } from '../../src/policy/effective.js';
import { packagePolicies, staleApprovals } from '../../src/policy/package-policies.js';

const toml = await loadToml();
const WS = '/ws';
const SUM = '24da5222a4a8a293b6e3998109a5792d3f60724ff3f713014791fdcc575ee26e';
const CRATES_IO = 'registry+https://github.com/rust-lang/crates.io-index';
const vict: LockedPackage = { name: 'vict', version: '1.0.0', source: CRATES_IO, checksum: SUM };
const vars = { HOME: '/home/u', WORKSPACE_ROOT: WS, TARGET_DIR: `${WS}/target` };

const repoFile = (text: string, trust: WorkspaceFile['trust'] = 'new', path = `${WS}/.cargo/config.toml`): WorkspaceFile => ({ path, kind: 'cargo-config', text, table: toml.parse(text) as Record<string, unknown>, baseDir: WS, trust, exists: true });
const userLayer = (text: string, where = '/home/u/.cargo/config.toml', baseDir = '/home/u'): SourceConfigLayer => ({ where, table: toml.parse(text) as Record<string, unknown>, baseDir, user: true });
const REPLACE = (dir: string) => `[source.crates-io]\nreplace-with = "vend"\n[source.vend]\ndirectory = "${dir}"\n`;

/** The user's own config: the grant pinned to vict's checksum, and one pinned to its version only. */
function userConfig(text: string) {
  const layer: ConfigLayer = { source: { kind: 'file', path: '/home/u/.cargo/config.toml' }, rank: 'file', baseDir: '/home/u', text, table: parseConfigText(text, '/home/u/.cargo/config.toml', toml) };
  return loadSandboxConfig([layer], {}, WS, ['vict']).config;
}
const pinned = userConfig(`[sandbox.package."vict@=1.0.0"]\nchecksum = "${SUM}"\nallow-read = ["/home/u/secretdir"]\n`);

test('a registry package with nothing replacing its source: its checksum is verified and the pin applies', () => {
  const facts = sourceFacts(WS, [], []);
  assert.equal(unverifiedChecksum(vict, facts), undefined);
  const locked = verifiedLockfile([vict], facts)!;
  assert.equal(locked[0]!.checksum, SUM);
  assert.deepEqual(effectiveGrants(pinned, locked[0]!, vars).read.map((r) => r.value.display), ['/home/u/secretdir']);
  assert.deepEqual(staleApprovals(pinned, locked), []);
});

test("the repository's vendor directory voids the pin, trusted or not: default policy, stale with the reason", () => {
  for (const trust of ['new', 'trusted'] as const) {
    const facts = sourceFacts(WS, [], [repoFile(`${REPLACE('vendor')}[net]\noffline = true\n`, trust)]);
    assert.match(unverifiedChecksum(vict, facts)!, /^the repository's `\/ws\/\.cargo\/config\.toml` configures source replacement \(`source\.crates-io\.replace-with`\)/);
    const locked = verifiedLockfile([vict], facts)!;
    assert.equal(locked[0]!.checksum, undefined);
    assert.equal(locked[0]!.claimedChecksum, SUM);
    assert.deepEqual(effectiveGrants(pinned, locked[0]!, vars).read, []);
    const file = packagePolicies(pinned, locked, vars).files.find((f) => f.file === 'vict@1.0.0')!;
    assert.deepEqual(file.grants.read, []);
    const stale = staleApprovals(pinned, locked);
    assert.equal(stale.length, 1);
    assert.match(stale[0]!.locked.unverified!, /source replacement/);
  }
});

test("any [source], `paths` or alias with --config in a file the repository controls (a parent directory's, an include) voids pins", () => {
  const cases = [
    repoFile('[source.vend]\nlocal-registry = "reg"\n'),
    repoFile('paths = ["../vict"]\n', 'trusted'),
    repoFile('[alias]\nxb = "build --config source.crates-io.replace-with=\\"v\\""\n', 'trusted'),
    repoFile(REPLACE('/elsewhere'), 'new', '/.cargo/config.toml'),
    // Not TOML cargo-sandbox can read: it may say anything.
    { ...repoFile(''), text: '[source.crates-io\n', table: undefined },
  ];
  for (const f of cases) assert.ok(unverifiedChecksum(vict, sourceFacts(WS, [], [f])), f.text);
  // Keys that move no sources leave it verified.
  assert.equal(unverifiedChecksum(vict, sourceFacts(WS, [], [repoFile('[net]\noffline = true\n[build]\njobs = 2\n')])), undefined);
});

test("the user's own replacement keeps pins when its directory is outside the workspace, not inside", () => {
  assert.equal(unverifiedChecksum(vict, sourceFacts(WS, [userLayer(REPLACE('/home/u/vendor'))], [])), undefined);
  // Relative to the parent of ~/.cargo.
  assert.equal(unverifiedChecksum(vict, sourceFacts(WS, [userLayer(REPLACE('vendor'))], [])), undefined);
  assert.match(unverifiedChecksum(vict, sourceFacts(WS, [userLayer(REPLACE('/ws/vendor'))], []))!, /replaces `crates-io` with `\/ws\/vendor`, inside the workspace/);
  assert.match(unverifiedChecksum(vict, sourceFacts(WS, [userLayer('[source.crates-io]\nreplace-with = "a"\n[source.a]\nreplace-with = "b"\n[source.b]\nlocal-registry = "/ws/reg"\n')], []))!, /inside the workspace/);
  assert.match(unverifiedChecksum(vict, sourceFacts(WS, [userLayer('paths = ["/ws/vict"]\n')], []))!, /`paths`/);
  // A `--config` value outranks the file: its directory is the one cargo uses.
  const cli = userLayer('source.vend.directory = "/ws/v"', '--config source.vend.directory="/ws/v"', '/ws');
  assert.match(unverifiedChecksum(vict, sourceFacts(WS, [cli, userLayer(REPLACE('/home/u/vendor'))], []))!, /inside the workspace/);
  // A registry of the user's, named by URL, replaced the same way.
  const other = { ...vict, source: 'sparse+https://reg.example/index/' };
  assert.match(unverifiedChecksum(other, sourceFacts(WS, [userLayer('[source.mine]\nregistry = "sparse+https://reg.example/index/"\nreplace-with = "v"\n[source.v]\ndirectory = "/ws/v"\n')], []))!, /replaces `mine`/);
  assert.equal(unverifiedChecksum(other, sourceFacts(WS, [userLayer(REPLACE('/ws/vendor'))], [])), undefined);
});

test("the repository cannot redefine the user's replacement source: any source key of its voids pins", () => {
  const facts = sourceFacts(WS, [userLayer('[source.crates-io]\nreplace-with = "vendored-sources"\n[source.vendored-sources]\ndirectory = "/home/u/vendor"\n')], [repoFile('[source.vendored-sources]\ndirectory = "vendor"\n', 'trusted')]);
  assert.match(unverifiedChecksum(vict, facts)!, /the repository's/);
});

test('path and git packages, and a package Cargo.toml [replace]s, have no checksum a pin may match', () => {
  const facts = sourceFacts(WS, [], []);
  assert.match(unverifiedChecksum({ name: 'vict', version: '1.0.0', checksum: SUM }, facts)!, /only for registry packages/);
  assert.match(unverifiedChecksum({ ...vict, source: 'git+https://example.com/vict#abc' }, facts)!, /only for registry packages/);
  assert.match(unverifiedChecksum({ ...vict, replace: 'vict 1.0.0' }, facts)!, /\[replace\]/);
  // As cargo writes [replace]: the registry entry (checksum, `replace`) and the path package built instead.
  const locked = verifiedLockfile([{ ...vict, replace: 'vict 1.0.0' }, { name: 'vict', version: '1.0.0' }], facts)!;
  assert.deepEqual(packagePolicies(pinned, locked, vars).files.find((f) => f.file === 'vict@1.0.0')!.grants.read, []);
});

test('approvals by name or version only keep their meaning under a replacement (they never bound the sources)', () => {
  const byVersion = userConfig('[sandbox.package."vict@=1.0.0"]\nallow-read = ["/home/u/secretdir"]\n[sandbox.package.vict]\nallow-env = ["X"]\n');
  const locked = verifiedLockfile([vict], sourceFacts(WS, [], [repoFile(REPLACE('vendor'))]))!;
  const g = effectiveGrants(byVersion, locked[0]!, vars);
  assert.deepEqual(g.read.map((r) => r.value.display), ['/home/u/secretdir']);
  assert.deepEqual(g.env.map((e) => e.value), ['X']);
  assert.deepEqual(staleApprovals(byVersion, locked), []);
});

test("loadUserSourceConfigs: the cargo home's config and `--config` are the user's, a `--config` file inside the workspace is the repository's", async () => {
  const root = mkdtempSync(join(tmpdir(), 'cs-source-'));
  const home = join(root, 'home');
  const ws = join(root, 'ws');
  mkdirSync(join(home, '.cargo'), { recursive: true });
  mkdirSync(join(ws, '.cargo'), { recursive: true });
  writeFileSync(join(home, '.cargo/config.toml'), `include = "more.toml"\n${REPLACE('vendor')}`);
  writeFileSync(join(home, '.cargo/more.toml'), '[net]\noffline = true\n');
  writeFileSync(join(ws, '.cargo/config.toml'), '[net]\noffline = true\n');
  writeFileSync(join(ws, 'extra.toml'), REPLACE('vendor'));
  const layers = await loadUserSourceConfigs({ cwd: ws, cargoHomeDir: join(home, '.cargo'), home, configArgs: ['net.retry = 2', 'extra.toml'], workspaceRoot: ws });
  assert.deepEqual(layers.map((l) => [l.where, l.user]), [
    [join(ws, 'extra.toml'), false],
    ['--config net.retry = 2', true],
    [join(home, '.cargo/config.toml'), true],
    [join(home, '.cargo/more.toml'), true],
  ]);
  const pkg = { ...vict };
  assert.match(unverifiedChecksum(pkg, sourceFacts(ws, layers, []))!, /the repository's `\S+extra\.toml`/);
  assert.equal(unverifiedChecksum(pkg, sourceFacts(ws, layers.slice(1), [])), undefined);
});
