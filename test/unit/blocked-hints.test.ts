import assert from 'node:assert/strict';
import { test } from 'node:test';
import { blockedHints, type HintContext } from '../../src/diagnostics/blocked-hints.js';
import { DEFAULT_ENV_RULES } from '../../src/policy/environment.js';

const ctx: HintContext = {
  home: '/home/u',
  visible: ['/usr', '/etc', '/home/u/.cargo/registry', '/ws', '/ws/target/debug/build'],
  writable: ['/ws/target/debug/build/foo-1/out', '/tmp'],
  env: { OPENSSL_DIR: '/opt/ssl', GITHUB_TOKEN: 'x', MY_SDK_ROOT: '/opt/sdk', PATH: '/usr/bin' },
  envRules: DEFAULT_ENV_RULES,
};

test('a hidden path in the home directory, with ~ or absolute', () => {
  assert.deepEqual(blockedHints('reading ~/.ssh/config: Os { code: 2, kind: NotFound }', ctx), [
    'it tried to access `~/.ssh/config`, which the sandbox hides (your home directory is hidden)',
  ]);
  assert.deepEqual(blockedHints('error: /home/u/sdk/include/foo.h: No such file or directory', ctx), [
    'it tried to access `~/sdk/include/foo.h`, which the sandbox hides (your home directory is hidden)',
  ]);
  assert.deepEqual(blockedHints('open "/srv/data/x.bin": No such file or directory (os error 2)', ctx), [
    'it tried to access `/srv/data/x.bin`, which the sandbox hides (it is outside the sandbox\'s view)',
  ]);
});

test('a missing file that is missing on the host too is not blamed on the sandbox', () => {
  assert.deepEqual(blockedHints('fatal error: /usr/include/missing.h: No such file or directory', ctx), []);
  assert.deepEqual(blockedHints('/ws/data.txt: No such file or directory', ctx), []);
});

test('writes outside OUT_DIR and /tmp', () => {
  assert.deepEqual(blockedHints('failed to write /ws/src/generated.rs: Read-only file system (os error 30)', ctx), [
    'it tried to write `/ws/src/generated.rs`, which is read-only in the sandbox (only OUT_DIR and /tmp are writable)',
  ]);
  assert.deepEqual(blockedHints('wrote /ws/target/debug/build/foo-1/out/x: Read-only file system', ctx), []);
});

test('network attempts, with the destination when it is named', () => {
  assert.deepEqual(blockedHints('error sending request for url (https://static.example.com/lib.tar.gz): dns error: failed to lookup address information', ctx), [
    'it tried to use the network (static.example.com), which the sandbox blocks',
  ]);
  assert.deepEqual(blockedHints('connect 10.1.2.3:8080: Network is unreachable (os error 101)', ctx), [
    'it tried to use the network (10.1.2.3:8080), which the sandbox blocks',
  ]);
});

test('environment variables that are set but removed; passed ones are not mentioned', () => {
  assert.deepEqual(blockedHints('MY_SDK_ROOT must be set', ctx), [
    'it looked for the environment variable `MY_SDK_ROOT`, which is set but removed in the sandbox',
  ]);
  assert.deepEqual(blockedHints('OPENSSL_DIR is set but the directory has no include/', ctx), []);
});
