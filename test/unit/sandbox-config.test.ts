// The [sandbox] table: every key, precedence, path variables, and a corpus of malformed configs,
// each with the message, location and hint a user gets.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ConfigLayer } from '../../src/config/cargo-config.js';
import { loadToml, parseConfigText } from '../../src/config/cargo-config.js';
import { locateKeys } from '../../src/config/locate.js';
import { loadSandboxConfig, parseDuration, parseSize } from '../../src/config/sandbox-config.js';
import { describeSource } from '../../src/config/types.js';
import { effectiveGrants, expandPath } from '../../src/policy/effective.js';
import { packagePolicies } from '../../src/policy/package-policies.js';
import { UserError } from '../../src/diagnostics/style.js';

const toml = await loadToml();

function file(path: string, text: string): ConfigLayer {
  return { source: { kind: 'file', path }, rank: 'file', baseDir: path.replace(/\/\.cargo\/config\.toml$/, ''), text, table: parseConfigText(text, path, toml) };
}
function cli(arg: string): ConfigLayer {
  return { source: { kind: 'cli', arg }, rank: 'cli', baseDir: '/cwd', text: arg, table: parseConfigText(arg, arg, toml) };
}
const vars = { HOME: '/home/u', WORKSPACE_ROOT: '/ws', TARGET_DIR: '/ws/target' };
const load = (layers: ConfigLayer[], env: NodeJS.ProcessEnv = {}, known?: string[]) => loadSandboxConfig(layers, env, '/cwd', known);

describe('keys', () => {
  test('every key, globally and per package', () => {
    const { config, issues } = load([
      file(
        '/ws/.cargo/config.toml',
        `[sandbox]
allow-network = false
allow-read = ["/opt/sdk"]
allow-write = []
allow-env = ["MY_TOOL_HOME", "OPENSSL_*"]
timeout = "15m"
bwrap = "/usr/local/bin/bwrap"

[sandbox.package.openssl-sys]
allow-env = ["OPENSSL_DIR"]
allow-read = ["/usr/local/ssl"]
allow-write = ["\${CARGO_MANIFEST_DIR}/generated"]
allow-network = true
timeout = 90

[sandbox.package."foo@1.2"]
sandbox = false
`,
      ),
    ]);
    assert.deepEqual(issues, []);
    assert.equal(config.global.allowNetwork?.value, false);
    assert.deepEqual(config.global.allowRead.map((p) => p.value.raw), ['/opt/sdk']);
    assert.deepEqual(config.global.allowEnv.map((e) => e.value), ['MY_TOOL_HOME', 'OPENSSL_*']);
    assert.equal(config.global.timeoutSecs?.value, 900);
    assert.equal(config.bwrap?.value, '/usr/local/bin/bwrap');
    const ssl = effectiveGrants(config, { name: 'openssl-sys', version: '0.9.80' }, vars);
    assert.equal(ssl.network.value, true);
    assert.equal(describeSource(ssl.network.source), '/ws/.cargo/config.toml:13:1');
    assert.deepEqual(ssl.read.map((p) => p.value.display), ['/opt/sdk', '/usr/local/ssl']);
    assert.deepEqual(ssl.write.map((p) => p.value.display), ['${CARGO_MANIFEST_DIR}/generated']);
    assert.deepEqual(ssl.env.map((e) => e.value), ['MY_TOOL_HOME', 'OPENSSL_*', 'OPENSSL_DIR']);
    assert.equal(ssl.timeoutSecs?.value, 90);
    assert.equal(effectiveGrants(config, { name: 'foo', version: '1.2.5' }, vars).sandboxed.value, false);
    assert.equal(effectiveGrants(config, { name: 'foo', version: '2.0.0' }, vars).sandboxed.value, true);
    assert.equal(effectiveGrants(config, { name: 'other' }, vars).network.value, false);
  });

  test('sizes', () => {
    assert.equal(parseSize('1MiB'), 1024 ** 2);
    assert.equal(parseSize('8GiB'), 8 * 1024 ** 3);
    assert.equal(parseSize('1G'), 1024 ** 3);
    assert.equal(parseSize('500MB'), 500 * 1000 ** 2);
    assert.equal(parseSize(4096), 4096);
    assert.equal(parseSize('unlimited'), 0);
    for (const bad of ['', 'big', '-1MiB', '1 parsecs', 0, -3, 1.5, true]) assert.equal(parseSize(bad), undefined, String(bad));
  });

  test('durations', () => {
    assert.equal(parseDuration('90s'), 90);
    assert.equal(parseDuration('15m'), 900);
    assert.equal(parseDuration('1h'), 3600);
    assert.equal(parseDuration('500ms'), 0.5);
    assert.equal(parseDuration(30), 30);
    for (const bad of ['', 'soon', '-1s', '0', 0, -5, '1d', true]) assert.equal(parseDuration(bad), undefined, String(bad));
  });
});

describe('precedence (as cargo: command line > environment > nearer file > farther file)', () => {
  const far = file('/home/u/.cargo/config.toml', '[sandbox.package.foo]\nallow-network = true\nallow-read = ["/far"]\n');
  const near = file('/ws/.cargo/config.toml', '[sandbox.package.foo]\nallow-network = false\nallow-read = ["/near"]\n');
  // loadConfigLayers returns the highest precedence first.
  test('nearer file beats farther; arrays are joined, higher precedence last', () => {
    const { config } = load([near, far]);
    const g = effectiveGrants(config, { name: 'foo' }, vars);
    assert.equal(g.network.value, false);
    assert.deepEqual(g.read.map((p) => p.value.display), ['/far', '/near']);
  });
  test('environment beats files', () => {
    const { config } = load([near, far], { CARGO_SANDBOX_PACKAGE_FOO_ALLOW_NETWORK: 'true', CARGO_SANDBOX_ALLOW_READ: '/e1 /e2' }, ['foo']);
    const g = effectiveGrants(config, { name: 'foo' }, vars);
    assert.equal(g.network.value, true);
    assert.equal(describeSource(g.network.source), 'environment variable CARGO_SANDBOX_PACKAGE_FOO_ALLOW_NETWORK');
    assert.deepEqual(g.read.map((p) => p.value.display), ['/e1', '/e2', '/far', '/near']);
  });
  test('--config beats the environment; later --config beats earlier', () => {
    const layers = [cli('sandbox.package.foo.allow-network=true'), cli('sandbox.package.foo.allow-network=false'), near, far];
    const { config } = load(layers, { CARGO_SANDBOX_PACKAGE_FOO_ALLOW_NETWORK: 'true' }, ['foo']);
    const g = effectiveGrants(config, { name: 'foo' }, vars);
    assert.equal(g.network.value, true);
    assert.equal(describeSource(g.network.source), '--config sandbox.package.foo.allow-network=true');
  });
  test('a name@version entry beats the plain name entry', () => {
    const { config } = load([file('/ws/.cargo/config.toml', '[sandbox.package."foo@1"]\nallow-network = false\n[sandbox.package.foo]\nallow-network = true\n')]);
    assert.equal(effectiveGrants(config, { name: 'foo', version: '1.4.0' }, vars).network.value, false);
    assert.equal(effectiveGrants(config, { name: 'foo', version: '2.0.0' }, vars).network.value, true);
  });
});

describe('path variables', () => {
  test('~, ${HOME}, ${WORKSPACE_ROOT}, ${TARGET_DIR} expand now; ${CARGO_MANIFEST_DIR}, ${OUT_DIR} at run time; relative paths against the config dir', () => {
    const at = (raw: string) => expandPath({ raw, baseDir: '/ws' }, vars);
    assert.equal(at('~').display, '/home/u');
    assert.equal(at('~/sdk').display, '/home/u/sdk');
    assert.equal(at('${HOME}/sdk').display, '/home/u/sdk');
    assert.equal(at('${WORKSPACE_ROOT}/vendor').display, '/ws/vendor');
    assert.equal(at('${TARGET_DIR}/shared').display, '/ws/target/shared');
    assert.equal(at('vendor/lib').display, '/ws/vendor/lib');
    assert.equal(at('../other').display, '/other');
    assert.deepEqual(at('${CARGO_MANIFEST_DIR}/generated').parts, [{ runtime: 'CARGO_MANIFEST_DIR' }, { lit: '/generated' }]);
    assert.deepEqual(at('${OUT_DIR}').parts, [{ runtime: 'OUT_DIR' }]);
  });
  test('policy files: one per package with grants (per locked version when a grant names versions), plus a default', () => {
    const { config } = load([file('/ws/.cargo/config.toml', '[sandbox.package."foo@1"]\nallow-network = true\n[sandbox.package.bar]\nallow-env = ["X"]\n')]);
    const p = packagePolicies(config, [{ name: 'foo', version: '1.2.0' }, { name: 'foo', version: '2.0.0' }], vars);
    assert.deepEqual(p.files.map((f) => f.file), ['_default', 'foo', 'foo@1.2.0', 'foo@2.0.0', 'bar']);
    assert.equal(p.files.find((f) => f.file === 'foo@1.2.0')!.grants.network.value, true);
    assert.equal(p.files.find((f) => f.file === 'foo@2.0.0')!.grants.network.value, false);
    assert.deepEqual(Object.keys(p.fingerprints.packages), ['foo', 'bar']);
  });
});

describe('locations', () => {
  test('keys in tables, dotted keys, quoted keys, after multi-line arrays', () => {
    const pos = locateKeys('[sandbox]\nallow-read = [\n  "/a",\n  "/b",\n]\n  allow-env = ["X"]\npackage.foo.timeout = "1s"\n[sandbox.package."bar@1"]\nsandbox = false\n');
    assert.deepEqual(pos.get(['sandbox', 'allow-read'].join('\0')), { line: 2, column: 1 });
    assert.deepEqual(pos.get(['sandbox', 'allow-env'].join('\0')), { line: 6, column: 3 });
    assert.deepEqual(pos.get(['sandbox', 'package', 'foo', 'timeout'].join('\0')), { line: 7, column: 1 });
    assert.deepEqual(pos.get(['sandbox', 'package', 'bar@1', 'sandbox'].join('\0')), { line: 9, column: 1 });
  });
});

/** Malformed configs: [name, config text, expected message, expected location, expected help]. */
const MALFORMED: [string, string, RegExp, string, RegExp | undefined][] = [
  ['unknown global key', '[sandbox]\nallow-netwrok = true\n', /^unknown key `allow-netwrok` in `\[sandbox\]`$/, ':2:1', /did you mean `allow-network`/],
  ['unknown package key', '[sandbox.package.foo]\nallow-raed = ["/x"]\n', /^unknown key `allow-raed` in `\[sandbox\.package\.foo\]`$/, ':2:1', /did you mean `allow-read`/],
  ['unknown key, no close match', '[sandbox]\nfrobnicate = 1\n', /^unknown key `frobnicate`/, ':2:1', /the keys of `\[sandbox\]` are: allow-network/],
  ['snake_case key', '[sandbox]\nallow_network = true\n', /^unknown key `allow_network`/, ':2:1', /did you mean `allow-network`/],
  ['sandbox not a table', 'sandbox = true\n', /^`sandbox` must be a table, found a boolean$/, ':1:1', /write a `\[sandbox\]` table/],
  ['allow-network string', '[sandbox]\nallow-network = "yes!"\n', /must be a boolean \(true or false\) or a list of destinations, found a string/, ':2:1', /allow-network = true/],
  ['allow-network one destination, not in a list', '[sandbox]\nallow-network = "forge.test:443"\n', /must be a boolean \(true or false\) or a list of destinations, found a string/, ':2:1', /allow-network = \["forge\.test:443"\]/],
  ['allow-network URL in a list', '[sandbox.package.foo]\nallow-network = [\n  "forge.test:443",\n  "https://dl.example.com/x.tar.gz",\n]\n', /^invalid destination `https:\/\/dl\.example\.com\/x\.tar\.gz` in `sandbox\.package\.foo\.allow-network`: it is a URL/, ':2:1', /did you mean `"dl\.example\.com:443"`\?/],
  ['allow-network port out of range', '[sandbox]\nallow-network = ["db:65536"]\n', /invalid destination `db:65536` .*its port `65536` is not a number from 1 to 65535/, ':2:1', /HOST or HOST:PORT/],
  ['allow-network bare IPv6', '[sandbox]\nallow-network = ["::1"]\n', /an IPv6 address goes in brackets/, ':2:1', /did you mean `"\[::1\]"`/],
  ['allow-network number', '[sandbox]\nallow-network = 1\n', /must be a boolean/, ':2:1', undefined],
  ['allow-read string', '[sandbox]\nallow-read = "/opt"\n', /`sandbox\.allow-read` must be an array of strings, found a string/, ':2:1', /allow-read = \["\.\.\."\]/],
  ['allow-read numbers', '[sandbox]\nallow-read = [1, 2]\n', /must be an array of strings, found an array/, ':2:1', undefined],
  ['allow-write table', '[sandbox]\nallow-write = { a = 1 }\n', /`sandbox\.allow-write` must be an array of strings, found a table/, ':2:1', undefined],
  ['allow-env string', '[sandbox]\nallow-env = "FOO"\n', /`sandbox\.allow-env` must be an array of strings/, ':2:1', undefined],
  ['empty path', '[sandbox]\nallow-read = [""]\n', /invalid path `` .*an empty path/, ':2:1', /allowed forms/],
  ['glob path', '[sandbox]\nallow-read = ["/opt/*/lib"]\n', /a glob pattern \(globs are not supported/, ':2:1', undefined],
  ['question glob', '[sandbox]\nallow-write = ["/tmp/out?"]\n', /a glob pattern/, ':2:1', undefined],
  ['bracket glob', '[sandbox]\nallow-read = ["/opt/[ab]"]\n', /a glob pattern/, ':2:1', undefined],
  ['unknown variable', '[sandbox]\nallow-read = ["${SDK_ROOT}/lib"]\n', /the unknown variable `\$\{SDK_ROOT\}`/, ':2:1', /\$\{CARGO_MANIFEST_DIR\}/],
  ['bare $VAR', '[sandbox]\nallow-read = ["$HOME/sdk"]\n', /`\$HOME` \(write variables as `\$\{HOME\}`\)/, ':2:1', undefined],
  ['unclosed ${', '[sandbox]\nallow-read = ["${HOME/sdk"]\n', /an unclosed `\$\{`|unknown variable/, ':2:1', undefined],
  ['~user', '[sandbox]\nallow-read = ["~bob/sdk"]\n', /`~user` \(only `~` and `~\/\.\.\.` are supported\)/, ':2:1', undefined],
  ['bad env name', '[sandbox]\nallow-env = ["MY-VAR"]\n', /invalid environment variable name `MY-VAR`/, ':2:1', /letters, digits and `_`/],
  ['env with $', '[sandbox]\nallow-env = ["$(id)"]\n', /invalid environment variable name/, ':2:1', undefined],
  ['timeout word', '[sandbox]\ntimeout = "forever"\n', /must be a duration such as "90s", "15m" or "1h", found "forever"/, ':2:1', undefined],
  ['timeout zero', '[sandbox]\ntimeout = 0\n', /must be a duration/, ':2:1', undefined],
  ['timeout negative', '[sandbox.package.foo]\ntimeout = "-5s"\n', /must be a duration/, ':2:1', undefined],
  ['timeout days', '[sandbox]\ntimeout = "2d"\n', /must be a duration/, ':2:1', undefined],
  ['max-memory word', '[sandbox]\nmax-memory = "lots"\n', /`sandbox\.max-memory` must be a size such as "512MiB", "8GiB", or "unlimited"/, ':2:1', undefined],
  ['max-file-size unit', '[sandbox.package.foo]\nmax-file-size = "3 parsecs"\n', /`sandbox\.package\.foo\.max-file-size` must be a size/, ':2:1', undefined],
  ['runner empty', '[sandbox]\nrunner = []\n', /`sandbox\.runner` must name a command/, ':2:1', undefined],
  ['runner number', '[sandbox]\nrunner = 5\n', /must be an array of strings/, ':2:1', undefined],
  ['target bad', '[sandbox]\ntarget = "wasm32 wasi"\n', /must be a WebAssembly target such as "wasm32-wasip1"/, ':2:1', undefined],
  ['target not wasm', '[sandbox]\ntarget = "x86_64-unknown-linux-gnu"\n', /must be a WebAssembly target .* or "native"/, ':2:1', undefined],
  ['runner placeholder', '[sandbox]\nrunner = ["wasmtime", "{OUT DIR}"]\n', /invalid placeholder `\{OUT DIR\}`/, ':2:1', /\{OUT_DIR\}/],
  ['target-rustflags string', '[sandbox]\ntarget-rustflags = "-C opt-level=3"\n', /`sandbox\.target-rustflags` must be an array of strings/, ':2:1', undefined],
  ['global sandbox=false', '[sandbox]\nsandbox = false\n', /`sandbox\.sandbox` can only be set per package/, ':2:1', /\[sandbox\.package\.NAME\]/],
  ['package sandbox string', '[sandbox.package.foo]\nsandbox = "off"\n', /`sandbox\.package\.foo\.sandbox` must be a boolean/, ':2:1', undefined],
  ['package not a table', '[sandbox]\npackage = ["foo"]\n', /`sandbox\.package` must be a table of packages, found an array/, ':2:1', /\[sandbox\.package\.NAME\]/],
  ['package entry not a table', '[sandbox.package]\nfoo = true\n', /`sandbox\.package\.foo` must be a table, found a boolean/, ':2:1', undefined],
  ['bad package name', '[sandbox.package."foo bar"]\nallow-network = true\n', /invalid package name `foo bar`/, ':1:1', /name@version-requirement/],
  ['bad version requirement', '[sandbox.package."foo@not-a-version"]\nallow-network = true\n', /invalid version requirement `not-a-version`/, ':1:1', /openssl-sys@0\.9/],
  ['bwrap empty', '[sandbox]\nbwrap = ""\n', /`sandbox\.bwrap` must be the path of the bwrap executable/, ':2:1', undefined],
  ['dotted key error', '[sandbox]\npackage.foo.allow-netwrk = true\n', /unknown key `allow-netwrk` in `\[sandbox\.package\.foo\]`/, ':2:1', /did you mean `allow-network`/],
];

describe('malformed configs: each gets a clear error with file:line:column and a hint', () => {
  for (const [name, text, message, location, help] of MALFORMED) {
    test(name, () => {
      const { issues } = load([file('/ws/.cargo/config.toml', text)]);
      const errors = issues.filter((i) => i.level === 'error');
      assert.equal(errors.length, 1, JSON.stringify(issues));
      const [e] = errors;
      assert.match(e!.message, message);
      assert.equal(describeSource(e!.source), `/ws/.cargo/config.toml${location}`);
      if (help) assert.match(e!.help.join('\n'), help);
    });
  }
  test(`the corpus has at least 30 cases (${MALFORMED.length})`, () => assert.ok(MALFORMED.length >= 30));

  test('invalid TOML is an error with file:line:column, never a stack trace', () => {
    assert.throws(() => parseConfigText('[sandbox\nallow-network = true\n', '/ws/.cargo/config.toml', toml), (e: unknown) => e instanceof UserError && /\/ws\/\.cargo\/config\.toml:1:\d+/.test(e.message));
    assert.throws(() => parseConfigText('[sandbox]\nallow-network = tru\n', '/ws/.cargo/config.toml', toml), (e: unknown) => e instanceof UserError && /config\.toml:2:\d+/.test(e.message));
  });

  test('environment variables: wrong values are errors naming the variable; unknown ones are warnings with a hint', () => {
    const { issues } = load([], { CARGO_SANDBOX_ALLOW_NETWORK: 'yes', CARGO_SANDBOX_ALLOW_NETWRK: 'true' });
    const err = issues.find((i) => i.level === 'error');
    assert.match(err!.message, /must be a boolean/);
    assert.equal(describeSource(err!.source), 'environment variable CARGO_SANDBOX_ALLOW_NETWORK');
    const warn = issues.find((i) => i.level === 'warning');
    assert.match(warn!.message, /unused environment variable `CARGO_SANDBOX_ALLOW_NETWRK`/);
    assert.match(warn!.help.join(), /did you mean `CARGO_SANDBOX_ALLOW_NETWORK`/);
  });

  test('our variables that are not configuration keys draw no warning', () => {
    const { issues } = load([], { CARGO_SANDBOX_CACHE_DIR: '/tmp/c', CARGO_SANDBOX_DEBUG: '1', CARGO_SANDBOX_STRACE: '/usr/bin/strace' });
    assert.deepEqual(issues, []);
  });

  test('--config values are located by their argument', () => {
    const { issues } = load([cli('sandbox.allow-network="yes"')]);
    assert.equal(describeSource(issues[0]!.source), '--config sandbox.allow-network="yes"');
  });

  test('a package that is not in the dependency graph is a warning with a hint', () => {
    const { issues } = load([file('/ws/.cargo/config.toml', '[sandbox.package.opensl-sys]\nallow-network = true\n')], {}, ['openssl-sys', 'libc']);
    assert.equal(issues.length, 1);
    assert.equal(issues[0]!.level, 'warning');
    assert.match(issues[0]!.message, /package `opensl-sys` in `\[sandbox\.package\.opensl-sys\]` is not in the dependency graph/);
    assert.match(issues[0]!.help.join(), /did you mean `openssl-sys`/);
  });
});
