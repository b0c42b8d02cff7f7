// `cargo sandbox allow`: its arguments, the line-level merge into a config file (no duplicate
// table or item, the rest untouched), validation before writing, and what denial notes offer
// from a build script's own error output (never a secret, the home, or a foreign write).

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync, chmodSync, existsSync, symlinkSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'smol-toml';
import { parseAllowArgs } from '../../src/cli/allow-args.js';
import { parseInvocation } from '../../src/cli/args.js';
import { applyAllow, userTarget, workspaceTarget } from '../../src/cli/allow-command.js';
import { allowWords, emptyRequest, type AllowRequest } from '../../src/config/allow-grants.js';
import { mergeTable } from '../../src/config/config-edit.js';
import { allowCommandLine, offerFor, printable, shellWord } from '../../src/diagnostics/allow-offers.js';
import { failureNotes } from '../../src/diagnostics/failure-notes.js';
import { isYes, maybePrompt, mayPrompt } from '../../src/diagnostics/allow-prompt.js';
import { createReporter, UserError } from '../../src/diagnostics/style.js';
import type { Finding } from '../../src/diagnostics/blocked-hints.js';

const request = (key: string, r: Partial<AllowRequest>): AllowRequest => ({ ...emptyRequest(key), ...r });

describe('arguments', () => {
  test('flags mirror the package keys; values as the next word or after `=`; --network with or without a destination', () => {
    const a = parseAllowArgs(['openssl-sys', '--read', '/opt/ssl', '--read=~/sdk', '--env', 'A,B', '--network=crates.io:443', '--max-memory', '8GiB', '--max-processes=64', '--workspace']);
    assert.deepEqual(a.request, request('openssl-sys', { read: ['/opt/ssl', '~/sdk'], env: ['A', 'B'], network: ['crates.io:443'], scalars: [{ key: 'max-memory', value: '8GiB' }, { key: 'max-processes', value: 64 }] }));
    assert.equal(a.workspace, true);
    assert.equal(parseAllowArgs(['foo', '--network=a:1', '--network']).request.network, true);
    assert.equal(parseAllowArgs(['foo@=1.2.3', '--write', 'gen']).request.key, 'foo@=1.2.3');
    // The words printed for a request parse back to the same request.
    const r = request('foo@=1.0.0', { read: ['/a b'], write: ['/w'], env: ['X'], exec: ['cc'], network: ['h:1'], scalars: [{ key: 'timeout', value: '60s' }] });
    assert.deepEqual(parseAllowArgs(allowWords(r)).request, r);
  });

  test('bad input: a clear error with the fix, `--allow-read` and misspellings get "did you mean"', () => {
    const err = (args: string[]) => {
      try {
        parseAllowArgs(args);
      } catch (e) {
        assert.ok(e instanceof UserError);
        return `${e.message}\n${e.help.join('\n')}`;
      }
      assert.fail(`no error for ${args.join(' ')}`);
    };
    assert.match(err(['foo', '--raed', 'x']), /unexpected argument `--raed`[^]*did you mean `--read`\?/);
    assert.match(err(['foo', '--allow-read=/x']), /did you mean `--read`\?/);
    assert.match(err(['foo', '--read']), /a value is required for `--read`/);
    assert.match(err(['--read', '/x']), /a value is required|package to allow is missing/);
    assert.match(err(['foo']), /nothing to allow `foo`/);
    assert.match(err(['foo', 'bar']), /one package at a time/);
    assert.match(err(['foo]', '--read', 'x']), /`foo]` is not a package name/);
    assert.match(err(['foo', '--network=false']), /takes nothing away/);
  });

  test('`cargo sandbox allow` is its own command: its flags never reach cargo, --help is ours', () => {
    const inv = parseInvocation(['sandbox', 'allow', 'foo', '--read', '/x', '-q']);
    assert.equal(inv.kind, 'allow');
    assert.ok(inv.kind === 'allow' && inv.options.quiet && inv.args.request.read[0] === '/x');
    assert.deepEqual(parseInvocation(['allow', '--help']), { kind: 'help', topic: 'allow' });
    assert.deepEqual(parseInvocation(['help', 'allow']), { kind: 'help', topic: 'allow' });
  });
});

describe('merging into a config file', () => {
  const entries = (r: AllowRequest) => import('../../src/config/allow-grants.js').then((m) => m.requestEntries(r));

  test('an existing table gets its missing keys and items: no second header, no duplicate item, comments and order kept', async () => {
    const text = '# mine\n[build]\njobs = 2 # two\n\n[sandbox.package.foo] # why\nallow-read = ["/a"] # kept\n\n[term]\nverbose = true\n';
    const { text: out, changes } = mergeTable(text, ['sandbox', 'package', 'foo'], await entries(request('foo', { read: ['/a', '/b'], env: ['X'] })));
    assert.equal(out, '# mine\n[build]\njobs = 2 # two\n\n[sandbox.package.foo] # why\nallow-read = ["/a", "/b"] # kept\nallow-env = ["X"]\n\n[term]\nverbose = true\n');
    assert.deepEqual(changes.map((c) => [c.key, c.added, c.present]), [['allow-read', ['/b'], ['/a']], ['allow-env', ['X'], undefined]]);
    // Twice: nothing changes, and cargo's parser accepts it (no duplicate key).
    const again = mergeTable(out, ['sandbox', 'package', 'foo'], await entries(request('foo', { read: ['/b'], env: ['X'] })));
    assert.equal(again.text, out);
    assert.ok(again.changes.every((c) => c.added === undefined));
    assert.doesNotThrow(() => parse(out));
  });

  test('a new table at the end; a pinned key quoted; the header found however it is quoted or spaced', async () => {
    const { text } = mergeTable('[build]\njobs = 2\n', ['sandbox', 'package', 'foo@=1.0.0'], await entries(request('foo@=1.0.0', { network: ['h.test:443'] })));
    assert.equal(text, '[build]\njobs = 2\n\n[sandbox.package."foo@=1.0.0"]\nallow-network = ["h.test:443"]\n');
    const spaced = '[ sandbox . package . "foo@=1.0.0" ]\nallow-network = ["a.test:1"]\n';
    const merged = mergeTable(spaced, ['sandbox', 'package', 'foo@=1.0.0'], await entries(request('foo@=1.0.0', { network: ['h.test:443'] }))).text;
    assert.equal(merged, '[ sandbox . package . "foo@=1.0.0" ]\nallow-network = ["a.test:1", "h.test:443"]\n');
    assert.equal(mergeTable('', ['sandbox', 'package', 'x'], await entries(request('x', { read: ['/r'] }))).text, '[sandbox.package.x]\nallow-read = ["/r"]\n');
  });

  test('a multi-line array gets items before its `]`; a scalar is replaced with its comment; allow-network true stays', async () => {
    const text = '[sandbox.package.foo]\nallow-read = [\n  "/a", # first\n  "/x#y" # no comma\n]\ntimeout = "1m" # slow\nallow-network = true\n';
    const { text: out } = mergeTable(text, ['sandbox', 'package', 'foo'], await entries(request('foo', { read: ['/b'], network: ['h:1'], scalars: [{ key: 'timeout', value: '5m' }] })));
    assert.equal(out, '[sandbox.package.foo]\nallow-read = [\n  "/a", # first\n  "/x#y", # no comma\n  "/b",\n]\ntimeout = "5m" # slow\nallow-network = true\n');
    assert.deepEqual((parse(out) as { sandbox: { package: { foo: { 'allow-read': string[] } } } }).sandbox.package.foo['allow-read'], ['/a', '/x#y', '/b']);
    // `false` and a list give way to the whole network.
    assert.equal(mergeTable('[sandbox.package.foo]\nallow-network = ["a:1"]\n', ['sandbox', 'package', 'foo'], await entries(request('foo', { network: true }))).text, '[sandbox.package.foo]\nallow-network = true\n');
  });

  test('the allow command: an invalid result writes nothing; a valid one is written atomically, mode kept, through a link', async () => {
    const home = mkdtempSync(join(tmpdir(), 'cs-allow-unit-'));
    mkdirSync(join(home, 'dotfiles'));
    mkdirSync(join(home, '.cargo'));
    const real = join(home, 'dotfiles', 'cargo.toml');
    writeFileSync(real, '# mine\n[sandbox.package.foo]\nallow-env = ["A"]\n');
    chmodSync(real, 0o600);
    symlinkSync(real, join(home, '.cargo', 'config.toml'));
    const env = { HOME: home };
    let said = '';
    const reporter = createReporter({ color: false, write: (s) => void (said += s) });
    const target = userTarget(env, home);
    const before = readFileSync(real, 'utf8');
    await assert.rejects(applyAllow(request('foo', { scalars: [{ key: 'timeout', value: 'forever' }] }), target, { env, home, cwd: home }, reporter), (e: unknown) => e instanceof UserError && /nothing was written/.test(e.message));
    assert.match(said, /^error: `sandbox\.package\.foo\.timeout` must be a duration[^]*--> .*config\.toml:\d+/m);
    assert.equal(readFileSync(real, 'utf8'), before);
    await assert.rejects(applyAllow(request('foo', { env: ['BAD-NAME'] }), target, { env, home, cwd: home }, reporter), UserError);
    assert.equal(readFileSync(real, 'utf8'), before);
    said = '';
    assert.deepEqual(await applyAllow(request('foo', { read: ['/opt/x'], env: ['A'] }), target, { env, home, cwd: home }, reporter), { written: true });
    assert.equal(readFileSync(real, 'utf8'), '# mine\n[sandbox.package.foo]\nallow-env = ["A"]\nallow-read = ["/opt/x"]\n');
    assert.equal(statSync(real).mode & 0o777, 0o600);
    assert.ok(lstatSync(join(home, '.cargo', 'config.toml')).isSymbolicLink(), 'the link stays a link');
    assert.match(said, /^ {5}Allowed foo: read \/opt\/x \(in ~\/\.cargo\/config\.toml\)$/m);
    said = '';
    assert.deepEqual(await applyAllow(request('foo', { read: ['/opt/x'] }), target, { env, home, cwd: home }, reporter), { written: false });
    assert.match(said, /^note: `foo` already has read \/opt\/x in `~\/\.cargo\/config\.toml`; nothing was written$/m);
    assert.ok(!existsSync(join(home, 'dotfiles', `.cargo.toml.cargo-sandbox-${process.pid}.tmp`)));
  });
});

describe('what a denial offers', () => {
  const home = '/home/u';
  const view = { home, masked: [`${home}/.ssh`, `${home}/.aws`, '/etc/shadow', '/w/.env'], codeTrees: [], workspaceRoot: '/w' };
  const read = (path: string): Finding => ({ kind: 'read', path, message: `it tried to access ${path}` });

  test('never a masked secret, the home, a hidden file of the home, a credential-looking name, or a foreign write', () => {
    const findings: Finding[] = [
      read(`${home}/.ssh/id_ed25519`), read(home), read('/home'), read(`${home}/.vault-token`), read('/w/.env'), read('/etc/shadow'), read(`${home}/sdk/api-token.txt`),
      { kind: 'write', path: `${home}/.bashrc`, grant: `${home}/.bashrc`, message: '' },
      { kind: 'write', path: '/w/.cargo/config.toml', grant: '/w/.cargo', message: '' },
      { kind: 'write', path: '/w/other/src/x.rs', grant: '/w/other/src', message: '' },
      // A PATH directory inside a secret (the user's PATH names it, the script only a program in it).
      { kind: 'exec', program: 'tool', dir: `${home}/.aws/bin`, message: '' },
      { kind: 'exec', program: 'tool', dir: home, message: '' },
      read(`${home}/sdk/include/foo.h`),
      { kind: 'write', path: '/w/pkg/generated/x.rs', grant: '/w/pkg/generated', message: '' },
    ];
    const { request: r, withheld } = offerFor('pkg', findings, view, undefined, '/w/pkg');
    assert.deepEqual(r.read, ['~/sdk/include/foo.h']);
    assert.deepEqual(r.write, ['/w/pkg/generated']);
    assert.equal(withheld.length, 12, JSON.stringify(withheld));
    const report = failureNotes([{ run: { packageName: 'pkg', packageVersion: '1.0.0', manifestDir: '/w/pkg' } as never, blocked: findings }], home, undefined, { view, verbose: true });
    const all = report.help.join('\n');
    for (const secret of ['.ssh', '.vault-token', '.env', 'shadow', 'api-token', '.bashrc', '.cargo']) {
      assert.ok(!/^to allow this|^or add|^or, for one build/m.test(all.split('\n').filter((l) => l.includes(secret)).join('\n')), `${secret} offered:\n${all}`);
    }
    assert.match(all, /^to allow this: cargo sandbox allow pkg --read ~\/sdk\/include\/foo\.h --write \/w\/pkg\/generated$/m);
    assert.match(all, /not offered for the build script of `pkg`: read `~\/\.ssh\/id_ed25519` \(a secret the sandbox hides\)/);
    assert.deepEqual(report.offers.map((o) => o.request.read), [['~/sdk/include/foo.h']]);
  });

  test('a path that leads into a secret is judged where it leads', () => {
    const { request: r, withheld } = offerFor('pkg', [read('/opt/innocent')], { ...view, realpath: (p) => (p === '/opt/innocent' ? `${home}/.ssh` : p) });
    assert.deepEqual(r.read, []);
    assert.match(withheld[0]!.why, /secret/);
  });

  test('control characters are never printed raw nor offered; shell metacharacters are quoted', () => {
    const evil = `/opt/x\x1b]0;pwned\x07`;
    const { request: r, withheld } = offerFor('pkg', [read(evil)], view);
    assert.deepEqual(r.read, []);
    assert.ok(!withheld[0]!.what.includes('\x1b'));
    const report = failureNotes([{ run: { packageName: 'pkg', packageVersion: '1', manifestDir: '/w/pkg' } as never, blocked: [read(evil)] }], home);
    assert.ok(![...report.notes, ...report.help].some((l) => /[\x00-\x08\x0b-\x1f\x7f]/.test(l)), JSON.stringify(report));
    assert.equal(printable('a\x1bb\u202ec'), 'a\\u{1b}b\\u{202e}c');
    assert.equal(shellWord("/opt/$(rm -rf ~)'x"), `'/opt/$(rm -rf ~)'\\''x'`);
    assert.equal(allowCommandLine(request('foo@=1.0.0', { read: ['~/my sdk;ls'], network: ['h:1'] })), "cargo sandbox allow foo@=1.0.0 --read '~/my sdk;ls' --network=h:1");
    assert.equal(shellWord('~root/x'), "'~root/x'");
  });
});

describe('the prompt', () => {
  const reporter = createReporter({ color: false, write: () => {} });
  const tty = { stdin: true, stderr: true };

  test('only at two terminals, outside CI, without -q and CARGO_SANDBOX_PROMPT=never', () => {
    assert.equal(mayPrompt({}, reporter, tty), true);
    assert.equal(mayPrompt({ CI: '1' }, reporter, tty), false);
    assert.equal(mayPrompt({ CI: '' }, reporter, tty), false);
    assert.equal(mayPrompt({ CARGO_SANDBOX_PROMPT: 'never' }, reporter, tty), false);
    assert.equal(mayPrompt({}, reporter, { stdin: false, stderr: true }), false);
    assert.equal(mayPrompt({}, reporter, { stdin: true, stderr: false }), false);
    assert.equal(mayPrompt({}, createReporter({ color: false, quiet: true, write: () => {} }), tty), false);
    assert.deepEqual(['y', 'Y', ' yes ', 'n', '', 'yy', undefined].map(isYes), [true, true, true, false, false, false, false]);
  });

  test('asks once per package; yes writes the user config, no and end of input write nothing', async () => {
    const home = mkdtempSync(join(tmpdir(), 'cs-prompt-unit-'));
    let said = '';
    const r = createReporter({ color: false, write: (s) => void (said += s) });
    const offers = [
      { packageName: 'a', request: request('a', { read: ['/opt/a'], network: ['crates.io:443'] }) },
      { packageName: 'a', request: request('a', { read: ['/opt/a2'] }) },
      { packageName: 'b', request: request('b', { env: ['B'] }) },
      { packageName: 'c', request: request('c', { env: ['C'] }) },
    ];
    const answers = ['y', 'n'];
    const written = await maybePrompt(offers, { HOME: home }, home, home, r, () => answers.shift(), tty);
    assert.equal(written, 1);
    assert.match(said, /^Allow a's build script to read \/opt\/a, \/opt\/a2, network crates\.io:443\? \[y\/N\] /m);
    assert.equal((said.match(/\[y\/N\]/g) ?? []).length, 3);
    assert.equal(readFileSync(join(home, '.cargo', 'config.toml'), 'utf8'), '[sandbox.package.a]\nallow-read = ["/opt/a", "/opt/a2"]\nallow-network = ["crates.io:443"]\n');
    assert.match(said, /run the build again/);
    assert.equal(await maybePrompt(offers, { HOME: home, CI: 'true' }, home, home, r, () => assert.fail('asked in CI'), tty), 0);
  });

  test('the whole network is never asked for: the rest is, and the note gives the command', async () => {
    const home = mkdtempSync(join(tmpdir(), 'cs-prompt-unit-'));
    let said = '';
    const r = createReporter({ color: false, write: (s) => void (said += s) });
    const offers = [
      { packageName: 'a', request: request('a', { read: ['/opt/a'], network: true }) },
      { packageName: 'b', request: request('b', { network: true }) },
    ];
    const written = await maybePrompt(offers, { HOME: home }, home, home, r, () => 'y', tty);
    assert.equal(written, 1);
    assert.equal((said.match(/\[y\/N\]/g) ?? []).length, 1, said);
    assert.match(said, /^Allow a's build script to read \/opt\/a\? \[y\/N\] /m);
    assert.match(said, /^note: the whole network for `b` is not asked here: `cargo sandbox allow b --network` grants it, if you mean it$/m);
    assert.equal(readFileSync(join(home, '.cargo', 'config.toml'), 'utf8'), '[sandbox.package.a]\nallow-read = ["/opt/a"]\n');
  });
});

test("--workspace never writes through a link the repository made (its .cargo, its config file)", () => {
  const home = mkdtempSync(join(tmpdir(), 'cs-allow-link-'));
  const elsewhere = join(home, 'elsewhere.toml');
  writeFileSync(elsewhere, '[build]\n');
  for (const linked of ['file', 'dir'] as const) {
    const ws = join(home, `ws-${linked}`);
    mkdirSync(ws);
    writeFileSync(join(ws, 'Cargo.toml'), '[package]\nname = "x"\nversion = "0.1.0"\n');
    if (linked === 'file') {
      mkdirSync(join(ws, '.cargo'));
      symlinkSync(elsewhere, join(ws, '.cargo', 'config.toml'));
    } else {
      mkdirSync(join(home, 'dotcargo'), { recursive: true });
      symlinkSync(join(home, 'dotcargo'), join(ws, '.cargo'));
    }
    assert.throws(() => workspaceTarget(ws, undefined, home), (e: unknown) => e instanceof UserError && /is a symbolic link: cargo-sandbox does not write a workspace's config through a link/.test(e.message));
  }
  assert.equal(readFileSync(elsewhere, 'utf8'), '[build]\n');
  // Control: a real file is the target.
  const ws = join(home, 'ws-real');
  mkdirSync(join(ws, '.cargo'), { recursive: true });
  writeFileSync(join(ws, 'Cargo.toml'), '[package]\nname = "x"\nversion = "0.1.0"\n');
  assert.equal(workspaceTarget(ws, undefined, home).path, join(ws, '.cargo', 'config.toml'));
});
