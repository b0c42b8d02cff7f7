import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { discoverConfigFiles, loadConfigLayers, userTool } from '../../src/config/cargo-config.js';
import { UserError } from '../../src/diagnostics/style.js';
import { findWorkspaceRoot } from '../../src/config/workspace.js';

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'cs-unit-'));
  for (const [rel, text] of Object.entries(files)) {
    const p = join(root, rel);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, text);
  }
  return root;
}

test('config files are found from the current directory upward, then in CARGO_HOME', () => {
  const root = tree({
    'a/.cargo/config.toml': '',
    'a/b/.cargo/config': '',
    'a/b/.cargo/config.toml': '',
    'home/.cargo/config.toml': '',
  });
  const files = discoverConfigFiles(join(root, 'a/b/c'), join(root, 'home/.cargo'));
  assert.deepEqual(files.filter((f) => f.startsWith(root)), [
    join(root, 'a/b/.cargo/config'), // cargo prefers `config` when both exist
    join(root, 'a/.cargo/config.toml'),
    join(root, 'home/.cargo/config.toml'),
  ]);
});

test('rustc wrapper precedence: RUSTC_WRAPPER, --config, CARGO_BUILD_RUSTC_WRAPPER, nearer file, farther file', async () => {
  const root = tree({
    'ws/.cargo/config.toml': '[build]\nrustc-wrapper = "tools/near-wrapper"\n',
    '.cargo/config.toml': '[build]\nrustc-wrapper = "far-wrapper"\n',
  });
  const cwd = join(root, 'ws');
  const layers = (args: string[] = []) => loadConfigLayers({ cwd, cargoHomeDir: join(root, 'none'), configArgs: args });
  assert.equal(userTool('rustc-wrapper', {}, await layers(), cwd), join(root, 'ws/tools/near-wrapper'));
  assert.equal(userTool('rustc-wrapper', { CARGO_BUILD_RUSTC_WRAPPER: 'envw' }, await layers(), cwd), 'envw');
  assert.equal(
    userTool('rustc-wrapper', { CARGO_BUILD_RUSTC_WRAPPER: 'envw' }, await layers(['build.rustc-wrapper="cliw"']), cwd),
    'cliw',
  );
  assert.equal(userTool('rustc-wrapper', { RUSTC_WRAPPER: 'sccache' }, await layers(['build.rustc-wrapper="cliw"']), cwd), 'sccache');
  assert.equal(userTool('rustc-wrapper', { RUSTC_WRAPPER: '' }, await layers(), cwd), undefined);
  const onlyFar = await loadConfigLayers({ cwd: root, cargoHomeDir: join(root, 'none'), configArgs: [] });
  assert.equal(userTool('rustc-wrapper', {}, onlyFar, root), 'far-wrapper');
  // rustdoc by the same rules: RUSTDOC, then --config, CARGO_BUILD_RUSTDOC, files.
  assert.equal(userTool('rustdoc', {}, await layers(), cwd), undefined);
  assert.equal(userTool('rustdoc', { CARGO_BUILD_RUSTDOC: 'envdoc' }, await layers(['build.rustdoc="tools/clidoc"']), cwd), join(cwd, 'tools/clidoc'));
  assert.equal(userTool('rustdoc', { RUSTDOC: '/opt/rustdoc', CARGO_BUILD_RUSTDOC: 'envdoc' }, await layers(), cwd), '/opt/rustdoc');
});

test('a malformed config file is a UserError naming file, line and column', async () => {
  const root = tree({ '.cargo/config.toml': '[build]\nrustc-wrapper = \n' });
  await assert.rejects(
    () => loadConfigLayers({ cwd: root, cargoHomeDir: join(root, 'none'), configArgs: [] }),
    (err: unknown) => err instanceof UserError && /config\.toml:2:\d+/.test(err.message),
  );
});

test('workspace root: the highest ancestor with [workspace], else the package', () => {
  const root = tree({
    'Cargo.toml': '[workspace]\nmembers = ["crates/*"]\n',
    'crates/a/Cargo.toml': '[package]\nname = "a"\n',
    'solo/Cargo.toml': '[package]\nname = "solo"\n',
  });
  assert.equal(findWorkspaceRoot(join(root, 'crates/a/src'), undefined), root);
  assert.equal(findWorkspaceRoot(root, 'crates/a/Cargo.toml'), root);
  const lone = tree({ 'p/Cargo.toml': '[package]\nname = "p"\n' });
  assert.equal(findWorkspaceRoot(join(lone, 'p'), undefined), join(lone, 'p'));
});

test('config files that cannot concern cargo-sandbox are not parsed (nor is a broken one reported: cargo does)', async () => {
  const root = tree({ '.cargo/config.toml': '[net]\noffline = true\n[broken\n' });
  assert.deepEqual(await loadConfigLayers({ cwd: root, cargoHomeDir: join(root, 'none'), configArgs: [] }), []);
});

test('the build dir is resolved as cargo does, its template as far as we can (a part only cargo computes is left for it)', async () => {
  const { buildDir } = await import('../../src/config/target-dir.js');
  const file = (value: string) => ({ source: { kind: 'file' as const, path: '/ws/.cargo/config.toml' }, rank: 'file' as const, baseDir: '/ws', text: '', table: { build: { 'build-dir': value } } });
  const opts = { cwd: '/ws/sub', env: {}, workspaceRoot: '/ws', cargoHome: '/home/u/.cargo' };
  assert.equal(buildDir({ ...opts, layers: [] }), undefined);
  assert.equal(buildDir({ ...opts, layers: [file('out')] }), '/ws/out');
  assert.equal(buildDir({ ...opts, layers: [file('{workspace-root}/b')] }), '/ws/b');
  assert.equal(buildDir({ ...opts, layers: [file('{cargo-cache-home}/build/{workspace-path-hash}')] }), '/home/u/.cargo/build/{workspace-path-hash}');
  assert.equal(buildDir({ ...opts, env: { CARGO_BUILD_BUILD_DIR: '/elsewhere' }, layers: [file('out')] }), '/elsewhere');
});
