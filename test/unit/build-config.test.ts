import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildConfigPaths, type HostPaths } from '../../src/policy/build-config.js';
import { DEFAULT_ENV_RULES, isPassed } from '../../src/policy/environment.js';
import { declaredVariables, hiddenInputsMessages } from '../../src/diagnostics/hidden-inputs.js';

const HOME = '/home/u';
const host = (links: Record<string, string> = {}, missing: string[] = []): HostPaths => ({
  home: HOME,
  masked: [`${HOME}/.ssh`, `${HOME}/.config`, '/etc/ssh'],
  visible: ['/usr', '/etc', '/work/ws'],
  exists: (p) => !missing.includes(p),
  realpath: (p) => links[p] ?? p,
});
const passes = (n: string) => isPassed(DEFAULT_ENV_RULES, n);

test('the well-known build-configuration variables pass; secret-looking names still do not', () => {
  for (const name of ['CPATH', 'LIBRARY_PATH', 'PROTOC', 'PYO3_PYTHON', 'PYO3_CONFIG_FILE', 'VIRTUAL_ENV', 'CONDA_PREFIX', 'NIX_CFLAGS_COMPILE', 'LIBSQLITE3_FLAGS', 'LIBTORCH_USE_PYTORCH', 'JAVA_HOME']) {
    assert.ok(passes(name), name);
  }
  for (const name of ['PYO3_TOKEN', 'ORT_API_KEY', 'GITHUB_TOKEN', 'PYTHONSTARTUP']) assert.ok(!passes(name), name);
});

test('paths named by lists, flags and programs are shown; a program shows its install prefix, where it is and where it leads', () => {
  const env = {
    CPATH: `${HOME}/sdk/include:/usr/include:relative/dir`,
    NIX_CFLAGS_COMPILE: '-isystem /nix/store/abc-zlib/include -I/nix/store/def/include -O2',
    PYO3_PYTHON: `${HOME}/.pyenv/versions/3.11/bin/python3`,
    UNRELATED: `${HOME}/notes`,
  };
  const { shown } = buildConfigPaths(env, passes, host({ [`${HOME}/.pyenv/versions/3.11/bin/python3`]: `${HOME}/.pyenv/versions/3.11/bin/python3.11` }));
  assert.deepEqual(shown.map((s) => `${s.variable} ${s.path}`), [
    `CPATH ${HOME}/sdk/include`,
    'NIX_CFLAGS_COMPILE /nix/store/abc-zlib/include',
    'NIX_CFLAGS_COMPILE /nix/store/def/include',
    `PYO3_PYTHON ${HOME}/.pyenv/versions/3.11`,
  ]);
});

test('never the home itself or above it, never inside a hidden secret, never through a link that leads into one', () => {
  const env = { VIRTUAL_ENV: HOME, CONDA_PREFIX: '/', OPENSSL_DIR: `${HOME}/.ssh/keys`, PROTOC_INCLUDE: '/work/ws/.venv', JAVA_HOME: '/opt/missing' };
  const { shown, skipped } = buildConfigPaths(env, passes, host({ '/work/ws/.venv': `${HOME}/.config/secret` }, ['/opt/missing']));
  assert.deepEqual(shown, []);
  assert.deepEqual(skipped.map((s) => `${s.variable}: ${s.why}`).sort(), [
    'CONDA_PREFIX: it would show your whole home directory',
    'JAVA_HOME: it does not exist',
    'OPENSSL_DIR: it is inside a secret the sandbox hides',
    'PROTOC_INCLUDE: it is inside a secret the sandbox hides',
    'VIRTUAL_ENV: it would show your whole home directory',
  ]);
});

test('a build script\'s declared variables are read from its output, both directive forms', () => {
  assert.deepEqual(declaredVariables('cargo:rerun-if-env-changed=A\ncargo:warning=x\ncargo::rerun-if-env-changed=B\ncargo:rerun-if-env-changed=A\n'), ['A', 'B']);
});

test('the hidden-inputs note names PATH directories as ~/, the package whose script looks for programs, and one allow command', () => {
  const { notes, help } = hiddenInputsMessages({ pathDirs: [`${HOME}/.pyenv/shims`], pathUsers: ['pyo3-build-config'], variables: [{ packageName: 'foo', names: ['A', 'B'] }] }, HOME);
  assert.match(notes[0]!, /`~\/\.pyenv\/shims` \(on your PATH, in your home\) from the build script of `pyo3-build-config`/);
  // The version manager's root, read-only, for that one package.
  assert.equal(help[0], 'if it needs it: cargo sandbox allow pyo3-build-config --read ~/.pyenv');
  assert.match(notes[1]!, /`foo` reads `A`, `B`/);
  assert.equal(help[1], 'to pass them: cargo sandbox allow foo --env A --env B');
  assert.ok(!help.join('\n').includes('[sandbox'), 'the TOML table only with -v');
  const verbose = hiddenInputsMessages({ pathDirs: [], pathUsers: [], variables: [{ packageName: 'foo', names: ['A'] }] }, HOME, [], true);
  assert.equal(verbose.help[1], 'or add to a cargo config file:\n    [sandbox.package.foo]\n    allow-env = ["A"]');
  // No package said it looks for programs: the command names none; a masked or whole-home root is never offered.
  const nobody = hiddenInputsMessages({ pathDirs: [`${HOME}/.nvm/versions/node/v20/bin`], pathUsers: [], variables: [] }, HOME);
  assert.equal(nobody.help[0], 'if a build script needs it: cargo sandbox allow PACKAGE --read ~/.nvm (PACKAGE: its package)');
  const masked = hiddenInputsMessages({ pathDirs: [`${HOME}/.config/tool/bin`], pathUsers: ['x'], variables: [] }, HOME, [`${HOME}/.config`]);
  assert.deepEqual(masked.help, []);
});

test('a PATH directory holding only cargo-sandbox\'s own commands is no hidden input', async () => {
  const { holdsPrograms } = await import('../../src/diagnostics/hidden-inputs.js');
  const { PACKAGE_ROOT } = await import('../../src/paths.js');
  const { chmodSync, mkdtempSync, symlinkSync, writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const bin = mkdtempSync(join(tmpdir(), 'cs-prefix-bin-'));
  symlinkSync(join(PACKAGE_ROOT, 'bin', 'cargo-sandbox'), join(bin, 'cargo-sandbox'));
  assert.equal(holdsPrograms(bin), false);
  writeFileSync(join(bin, 'tool'), '#!/bin/sh\n');
  chmodSync(join(bin, 'tool'), 0o755);
  assert.equal(holdsPrograms(bin), true);
});
