import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runnerCommand, runnerWord } from '../../src/backends/package-policy.js';
import { parseRecord, retarget, splitProgram } from '../../src/intercept/wasm-compile.js';
import { preopensFor } from '../../src/backends/wasi-runner.js';

test('runner words: literals quoted, {} the script, {VAR} a variable; the script appended when no {}', () => {
  assert.equal(runnerWord("--dir={OUT_DIR}"), `'--dir='"\${OUT_DIR-}"`);
  assert.equal(runnerWord('{}'), '"$bin"');
  assert.equal(runnerWord("it's"), `'it'\\''s'`);
  assert.equal(runnerCommand(['wasmtime', '--dir', '{CARGO_MANIFEST_DIR}']), `'wasmtime' '--dir' "\${CARGO_MANIFEST_DIR-}" "$bin"`);
  assert.equal(runnerCommand(['docker', 'run', '{}', '--x']), `'docker' 'run' "$bin" '--x'`);
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
