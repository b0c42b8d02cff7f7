import assert from 'node:assert/strict';
import { test } from 'node:test';
import { blockedHints as findings, grantSnippet, type HintContext } from '../../src/diagnostics/blocked-hints.js';

const blockedHints = (stderr: string, c: HintContext) => findings(stderr, c).map((f) => f.message);
import { DEFAULT_ENV_RULES } from '../../src/policy/environment.js';

const ctx: HintContext = {
  home: '/home/u',
  visible: ['/usr', '/etc', '/home/u/.cargo/registry', '/ws', '/ws/target/debug/build'],
  writable: ['/ws/target/debug/build/foo-1/out'],
  env: { OPENSSL_DIR: '/opt/ssl', GITHUB_TOKEN: 'x', MY_SDK_ROOT: '/opt/sdk', PATH: '/usr/bin' },
  envRules: DEFAULT_ENV_RULES,
  exists: (p) => !p.includes('missing') && p !== '/ws/gen.rs',
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
  assert.deepEqual(blockedHints('open /home/u/missing.txt: No such file or directory', ctx), []);
  assert.deepEqual(blockedHints('fatal error: /usr/include/missing.h: No such file or directory', ctx), []);
  assert.deepEqual(blockedHints('/ws/data.txt: No such file or directory', ctx), []);
});

test('writes outside OUT_DIR and /tmp', () => {
  assert.deepEqual(blockedHints('failed to write /ws/src/generated.rs: Read-only file system (os error 30)', ctx), [
    'it tried to write `/ws/src/generated.rs`, which is read-only in the sandbox (only OUT_DIR and /tmp are writable)',
  ]);
  assert.deepEqual(blockedHints('wrote /ws/target/debug/build/foo-1/out/x: Read-only file system', ctx), []);
  assert.deepEqual(blockedHints('wrote /tmp/scratch/x: Read-only file system', ctx), []);
  const inTmp = { ...ctx, visible: [...ctx.visible, '/tmp/ws'] };
  assert.deepEqual(blockedHints('wrote /tmp/ws/src/x.rs: Read-only file system', inTmp), [
    'it tried to write `/tmp/ws/src/x.rs`, which is read-only in the sandbox (only OUT_DIR and /tmp are writable)',
  ]);
});

test('network attempts, with the destination when it is named', () => {
  assert.deepEqual(blockedHints('error sending request for url (https://static.example.com/lib.tar.gz): dns error: failed to lookup address information', ctx), [
    'it tried to use the network (static.example.com:443), which the sandbox blocks',
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

test('a program on a hidden PATH directory', () => {
  const c: HintContext = { ...ctx, env: { PATH: '/home/u/.local/bin:/usr/bin' }, isExecutable: (p) => p === '/home/u/.local/bin/protoc' };
  assert.deepEqual(blockedHints('failed to run `protoc`: No such file or directory (os error 2)', c), [
    'it tried to run `protoc`, which is on your PATH in `~/.local/bin`, a directory the sandbox hides',
  ]);
});

test('grant lines, ready to paste', () => {
  const found = findings(
    'open ~/.ssh/config: No such file or directory\nconnect example.com:443: Network is unreachable\nMY_SDK_ROOT missing\nwrite /ws/gen.rs: Read-only file system',
    ctx,
  );
  assert.deepEqual(grantSnippet('foo', found, '/home/u'), [
    '[sandbox.package.foo]',
    'allow-read = ["~/.ssh/config"]',
    'allow-write = ["/ws"]',
    'allow-env = ["MY_SDK_ROOT"]',
    'allow-network = ["example.com:443"]',
  ]);
  assert.deepEqual(grantSnippet('foo', [], '/home/u'), []);
  // With no destination known, the whole network.
  assert.deepEqual(grantSnippet('foo', findings('error: dns error: failed to lookup address information', ctx), '/home/u'), ['[sandbox.package.foo]', 'allow-network = true']);
});

test('a path with spaces is found whole (the longest prefix that exists), quoted or not', () => {
  const spaced: HintContext = { ...ctx, exists: (p) => p === '/home/u/my sdk/include/foo.h' || p === '/home/u/my sdk' };
  assert.deepEqual(blockedHints('error: /home/u/my sdk/include/foo.h: No such file or directory', spaced), [
    'it tried to access `~/my sdk/include/foo.h`, which the sandbox hides (your home directory is hidden)',
  ]);
  assert.deepEqual(blockedHints('reading "/home/u/my sdk/include/foo.h" failed: No such file or directory (os error 2)', spaced), [
    'it tried to access `~/my sdk/include/foo.h`, which the sandbox hides (your home directory is hidden)',
  ]);
});

test('the one-off flags name the package and the path (quoted for the shell); an error that names nothing points to audit -p', async () => {
  const { failureNotes, grantFlags } = await import('../../src/diagnostics/failure-notes.js');
  const found = findings('error: /home/u/sdk/foo.h: No such file or directory\nconnecting to 10.0.0.1:443: Network is unreachable', ctx);
  assert.deepEqual(grantFlags('foo-sys', [...found, { kind: 'read', path: '/home/u/my sdk', message: '' }], '/home/u'), ['--allow-read=foo-sys:~/sdk/foo.h', "'--allow-read=foo-sys:~/my sdk'", '--allow-network=foo-sys:10.0.0.1:443']);
  const run = { packageName: 'quiet-fail', packageVersion: '1.0.0' } as Parameters<typeof failureNotes>[0][0]['run'];
  const report = failureNotes([{ run, blocked: [] }], '/home/u');
  assert.ok(report.help.some((h) => h.includes('`cargo sandbox audit -p quiet-fail`')), report.help.join('\n'));
  const wasm = failureNotes([{ run, blocked: [], wasm: true }], '/home/u');
  assert.match(wasm.notes[0]!, /ran as WebAssembly \(WASI\).*cannot start processes/);
  assert.equal(wasm.help[0], 'to allow this: cargo sandbox allow quiet-fail --target native');
  assert.ok(!wasm.help.join('\n').includes('[sandbox'), 'the TOML table only with -v');
  const verbose = failureNotes([{ run, blocked: [], wasm: true }], '/home/u', undefined, { verbose: true });
  assert.ok(verbose.help.some((h) => /\[sandbox\.package\.quiet-fail\]\n {4}target = "native"/.test(h)), verbose.help.join('\n'));
});

test('a package whose build script failed twice (two feature sets) gets one table with every key, pasteable as is', async () => {
  const { failureNotes } = await import('../../src/diagnostics/failure-notes.js');
  const run = { packageName: 'twice', packageVersion: '1.0.0' } as Parameters<typeof failureNotes>[0][0]['run'];
  const report = failureNotes(
    [
      { run, blocked: [{ kind: 'read', path: '/home/u/sdk', message: 'a' }, { kind: 'limit', key: 'max-memory', suggest: '4GiB', message: 'm' }] },
      { run, blocked: [{ kind: 'env', name: 'SDK_LEVEL', message: 'b' }, { kind: 'read', path: '/home/u/sdk', message: 'a' }, { kind: 'limit', key: 'max-memory', suggest: '4GiB', message: 'm' }] },
    ],
    '/home/u',
  );
  assert.deepEqual(report.help.filter((h) => h.startsWith('to allow this')), ['to allow this: cargo sandbox allow twice --read ~/sdk --env SDK_LEVEL --max-memory 4GiB']);
  assert.deepEqual(report.offers.map((o) => o.request.key), ['twice']);
  const verbose = failureNotes([{ run, blocked: [{ kind: 'read', path: '/home/u/sdk', message: 'a' }, { kind: 'env', name: 'SDK_LEVEL', message: 'b' }, { kind: 'limit', key: 'max-memory', suggest: '4GiB', message: 'm' }] }], '/home/u', undefined, { verbose: true });
  const table = verbose.help.find((h) => h.startsWith('or add to a cargo config file'))!;
  assert.equal(table, 'or add to a cargo config file:\n    [sandbox.package.twice]\n    allow-read = ["~/sdk"]\n    allow-env = ["SDK_LEVEL"]\n    max-memory = "4GiB"');
  assert.equal(report.help.filter((h) => h.includes('--allow-read=twice:~/sdk')).length, 1);
  assert.doesNotMatch(report.help.join('\n'), /--allow-read=twice:~\/sdk.*--allow-read=twice:~\/sdk/);
});
