import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderPackageData } from '../../src/backends/package-policy.js';
import { effectiveGrants } from '../../src/policy/effective.js';
import { loadToml, parseConfigText, type ConfigLayer } from '../../src/config/cargo-config.js';
import { loadSandboxConfig } from '../../src/config/sandbox-config.js';
import { parseRecord, retarget, splitProgram } from '../../src/intercept/wasm-compile.js';
import { preopensFor } from '../../src/backends/wasi-runner.js';

const toml = await loadToml();
const vars = { HOME: '/home/u', WORKSPACE_ROOT: '/ws', TARGET_DIR: '/ws/target' };
function parsed(text: string) {
  const layer: ConfigLayer = { source: { kind: 'file', path: '/ws/.cargo/config.toml' }, rank: 'file', baseDir: '/ws', text, table: parseConfigText(text, '/ws/.cargo/config.toml', toml) };
  return loadSandboxConfig([layer], {}, '/ws', undefined).config;
}

test('runner words as data: kept as written, the script appended when no word has {}', () => {
  const grants = effectiveGrants(parsed('[sandbox.package.x]\nrunner = ["wasmtime", "--dir", "{CARGO_MANIFEST_DIR}"]\n'), { name: 'x' }, vars);
  assert.match(renderPackageData(grants), /runner=wasmtime\0runner=--dir\0runner=\{CARGO_MANIFEST_DIR\}\0runner=\{\}\0$/);
  const docker = effectiveGrants(parsed('[sandbox.package.x]\nrunner = ["docker", "run", "{}", "--x"]\n'), { name: 'x' }, vars);
  assert.match(renderPackageData(docker), /runner=docker\0runner=run\0runner=\{\}\0runner=--x\0$/);
});

test('recorded rustc invocations: environment, directory, program behind a workspace wrapper', () => {
  const rec = parseRecord(['PWD=/ws', 'OUT_DIR=', 'CARGO_PKG_NAME=helper', '--', '/bin/rustc', '--crate-name', 'helper', ''].join('\0'));
  assert.deepEqual(rec, { env: { CARGO_PKG_NAME: 'helper' }, cwd: '/ws', program: '/bin/rustc', args: ['--crate-name', 'helper'] });
  assert.deepEqual(splitProgram(['clippy-driver', '/bin/rustc', '--crate-name', 'x']), ['/bin/rustc', ['--crate-name', 'x']]);
});

test('retargeting a compilation: target, out dir, deps, externs; host-only flags dropped', () => {
  const args = ['--crate-name', 'x', 'src/lib.rs', '--error-format=json', '--json=artifacts', '--crate-type', 'lib', '--emit=dep-info,metadata,link',
    '--check-cfg', 'cfg(test)', '-C', 'incremental=/t/inc', '-C', 'metadata=ab', '--out-dir', '/t/deps', '-L', 'dependency=/t/deps', '--extern', 'y=/t/deps/liby-1.rlib', '--cap-lints', 'allow'];
  assert.deepEqual(
    retarget(args, { target: 'wasm32-wasi', outDir: '/w/deps', depsDirs: ['/w/deps'], externs: (n, p) => p.replace('/t/', '/w/'), rustflags: ['-C', 'linker=wasm-ld'] }),
    ['--crate-name', 'x', 'src/lib.rs', '--crate-type', 'lib', '--emit=dep-info,link', '-C', 'metadata=ab', '--out-dir', '/w/deps', '--extern', 'y=/w/deps/liby-1.rlib', '--cap-lints', 'allow',
      '-L', 'dependency=/w/deps', '--target', 'wasm32-wasi', '-C', 'linker=wasm-ld'],
  );
});

test('WASI preopens: the package (also as `.`), OUT_DIR, /tmp at their host paths', () => {
  assert.deepEqual(preopensFor({ CARGO_MANIFEST_DIR: '/ws/p', OUT_DIR: '/t/out' }, '/ws/p'), { '/ws/p': '/ws/p', '/t/out': '/t/out', '/tmp': '/tmp', '.': '/ws/p' });
});
