// allow-network lists: the destination syntax, matching, the merge rule across layers and flags,
// what the launcher reads (connect= entries), config errors, and what `cargo sandbox policy` shows.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { connectEntry, formatDestination, isLoopback, matches, mergeNetwork, parseDestination, type Destination } from '../../src/config/network-destinations.js';
import { loadToml, parseConfigText, type ConfigLayer } from '../../src/config/cargo-config.js';
import { loadSandboxConfig } from '../../src/config/sandbox-config.js';
import { describeSource, emptyGrants, type NetworkAccess, type SandboxConfig, type Sourced } from '../../src/config/types.js';
import { applyGrantFlags, extractGrantFlags } from '../../src/cli/grant-flags.js';
import { effectiveGrants, grantsFingerprint } from '../../src/policy/effective.js';
import { renderPackageData } from '../../src/backends/package-policy.js';
import { describePackagePolicy, networkSummary, policyJson } from '../../src/cli/policy-view.js';
import { defaultPolicy } from '../../src/policy/default-policy.js';
import type { SandboxContext } from '../../src/cli/context.js';
import { UserError } from '../../src/diagnostics/style.js';

const toml = await loadToml();
const vars = { HOME: '/home/u', WORKSPACE_ROOT: '/ws', TARGET_DIR: '/ws/target' };
function file(path: string, text: string): ConfigLayer {
  return { source: { kind: 'file', path }, rank: 'file', baseDir: path.replace(/\/\.cargo\/config\.toml$/, ''), text, table: parseConfigText(text, path, toml) };
}
const load = (layers: ConfigLayer[], env: NodeJS.ProcessEnv = {}) => loadSandboxConfig(layers, env, '/cwd', ['foo', 'bar']);
const dest = (raw: string): Destination => {
  const p = parseDestination(raw);
  assert.ok(p.ok, `${raw}: ${p.ok ? '' : p.problem}`);
  return p.destination;
};
/** The destinations of an effective value, as written; or the boolean. */
const shown = (n: NetworkAccess) => (typeof n === 'boolean' ? n : n.map((d) => formatDestination(d.value)));

describe('destination syntax', () => {
  test('valid forms, normalised: lowercase, one trailing dot dropped, IPv6 kept as written in brackets', () => {
    assert.deepEqual(dest('forge.test:443'), { host: 'forge.test', kind: 'name', port: 443 });
    assert.deepEqual(dest('Forge.TEST.:443'), { host: 'forge.test', kind: 'name', port: 443 });
    assert.deepEqual(dest('dl.example.com'), { host: 'dl.example.com', kind: 'name' });
    assert.deepEqual(dest('*.Example.com:443'), { host: '*.example.com', kind: 'wildcard', port: 443 });
    assert.deepEqual(dest('127.0.0.1:5432'), { host: '127.0.0.1', kind: 'ipv4', port: 5432 });
    assert.deepEqual(dest('localhost:5432'), { host: 'localhost', kind: 'name', port: 5432 });
    assert.deepEqual(dest('[::1]:5432'), { host: '[::1]', kind: 'ipv6', port: 5432 });
    assert.deepEqual(dest('[FE80::A:1]'), { host: '[fe80::a:1]', kind: 'ipv6' });
    assert.deepEqual(dest('db:65535'), { host: 'db', kind: 'name', port: 65535 });
    // `_` as the proxy takes it (proxy.rs Host::parse): whatever it records can be listed back.
    assert.deepEqual(dest('Dl_Mirror.example.com:80'), { host: 'dl_mirror.example.com', kind: 'name', port: 80 });
    assert.equal(dest(`${'a'.repeat(63)}.com`).host.length, 67);
  });

  test('formats: as written in a list, and as the launcher reads it (connect=HOST:PORT, * for any port)', () => {
    assert.equal(formatDestination(dest('Forge.test:443')), 'forge.test:443');
    assert.equal(formatDestination(dest('dl.example.com')), 'dl.example.com');
    assert.equal(connectEntry(dest('forge.test:443')), 'forge.test:443');
    assert.equal(connectEntry(dest('*.example.com')), '*.example.com:*');
    assert.equal(connectEntry(dest('[::1]:5432')), '[::1]:5432');
  });

  const INVALID: [string, RegExp, string | undefined][] = [
    ['', /empty/, undefined],
    [' forge.test:443', /space/, 'forge.test:443'],
    ['for ge.test', /space/, undefined],
    ['https://dl.example.com/x.tar.gz', /URL/, 'dl.example.com:443'],
    ['http://Mirror.example.org:8080/a', /URL/, 'mirror.example.org:8080'],
    ['/run/postgresql/.s.PGSQL.5432', /`\/`/, undefined],
    ['dl.example.com/x.tar.gz', /`\/`/, 'dl.example.com'],
    ['*', /every host.*allow-network = true/, undefined],
    ['*:443', /every host/, undefined],
    ['*.com', /whole top-level domain/, undefined],
    ['*.com:443', /whole top-level domain/, undefined],
    ['foo.*.com', /may only start the name/, undefined],
    ['*example.com', /may only start the name/, undefined],
    ['*.*.example.com', /may only start the name/, undefined],
    ['*.10.0.0.1', /not an IP address/, undefined],
    ['a+b.example.com', /contains `\+`: host names are letters, digits, `-`, `_` and `.`/, undefined],
    ['a..example.com', /empty label/, undefined],
    ['.example.com', /empty label/, undefined],
    [`${'a'.repeat(64)}.com`, /longer than 63/, undefined],
    [`${'abcdefghi.'.repeat(26)}com`, /longer than 253/, undefined],
    [':443', /no host/, undefined],
    ['forge.test:0', /port `0` is not a number from 1 to 65535/, undefined],
    ['forge.test:65536', /from 1 to 65535/, undefined],
    ['forge.test:https', /port `https`/, undefined],
    ['forge.test:', /port is empty/, 'forge.test'],
    ['forge.test:*', /leave the port out/, 'forge.test'],
    ['::1', /IPv6 address goes in brackets/, '[::1]'],
    ['fe80::1:5432', /IPv6 address goes in brackets/, '[fe80::1:5432]'],
    ['[::1', /not an IPv6 address in brackets/, undefined],
    ['[fe80::1%eth0]:80', /not an IPv6 address/, undefined],
    ['[1.2.3.4]:80', /not an IPv6 address/, undefined],
    ['[::1]5432', /optional `:PORT`/, undefined],
    ['1.2.3', /neither a name .* nor an IPv4 address/, undefined],
    ['256.1.1.1', /neither a name/, undefined],
    ['127.0.0.01', /neither a name/, undefined],
    ['exämple.com', /contains `ä`/, undefined],
  ];
  for (const [raw, problem, suggestion] of INVALID) {
    test(`invalid: ${JSON.stringify(raw)}`, () => {
      const p = parseDestination(raw);
      assert.equal(p.ok, false);
      if (p.ok) return;
      assert.match(p.problem, problem);
      assert.equal(p.suggestion, suggestion);
    });
  }

  test('matching: exact names case-insensitively, wildcards strictly below, any port without one, IPv6 by address', () => {
    assert.ok(matches(dest('forge.test:443'), 'Forge.test.', 443));
    assert.ok(!matches(dest('forge.test:443'), 'forge.test', 80));
    assert.ok(!matches(dest('forge.test:443'), 'api.forge.test', 443));
    assert.ok(matches(dest('forge.test'), 'forge.test', 22));
    assert.ok(matches(dest('*.example.com:443'), 'dl.example.com', 443));
    assert.ok(matches(dest('*.example.com:443'), 'a.b.example.com', 443));
    assert.ok(!matches(dest('*.example.com:443'), 'example.com', 443));
    assert.ok(!matches(dest('*.example.com:443'), 'badexample.com', 443));
    assert.ok(matches(dest('127.0.0.1:5432'), '127.0.0.1', 5432));
    assert.ok(!matches(dest('127.0.0.1:5432'), 'localhost', 5432));
    assert.ok(matches(dest('[::1]:5432'), '::1', 5432));
    assert.ok(matches(dest('[0:0::0001]:5432'), '[::1]', 5432));
    assert.ok(!matches(dest('[::1]:5432'), '::2', 5432));
  });

  test('loopback: 127.0.0.0/8, ::1, localhost', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '[::1]', '::1', 'localhost']) assert.ok(isLoopback(h), h);
    for (const h of ['10.0.0.1', '[::2]', 'forge.test', '128.0.0.1']) assert.ok(!isLoopback(h), h);
  });
});

describe('merging across layers', () => {
  const at = (line: number) => ({ kind: 'file', path: '/c', line }) as const;
  const list = (line: number, ...raw: string[]): Sourced<NetworkAccess> => ({ value: raw.map((r) => ({ value: dest(r), source: at(line) })), source: at(line) });
  const bool = (line: number, value: boolean): Sourced<NetworkAccess> => ({ value, source: at(line) });

  test('a boolean replaces; a list after a list is their union (each keeps its source); a list after true narrows', () => {
    const union = mergeNetwork(list(1, 'a.test:443', 'b.test'), list(2, 'b.test', 'c.test:80'));
    assert.deepEqual(shown(union.value), ['a.test:443', 'b.test', 'c.test:80']);
    assert.deepEqual(typeof union.value === 'object' && union.value.map((d) => describeSource(d.source)), ['/c:1', '/c:1', '/c:2']);
    assert.equal(mergeNetwork(list(1, 'a.test'), bool(2, false)).value, false);
    assert.equal(mergeNetwork(list(1, 'a.test'), bool(2, true)).value, true);
    assert.deepEqual(shown(mergeNetwork(bool(1, true), list(2, 'a.test:443')).value), ['a.test:443']);
    assert.deepEqual(shown(mergeNetwork(undefined, list(2, 'a.test:443')).value), ['a.test:443']);
  });

  test('config layers: global, then name, then name@version; a nearer false clears a farther list', () => {
    const far = file('/home/u/.cargo/config.toml', '[sandbox]\nallow-network = ["proxy.corp.test:3128"]\n[sandbox.package.foo]\nallow-network = ["forge.test:443"]\n[sandbox.package.bar]\nallow-network = ["x.test"]\n');
    const near = file('/ws/.cargo/config.toml', '[sandbox.package.foo]\nallow-network = ["127.0.0.1:5432"]\n[sandbox.package.bar]\nallow-network = false\n[sandbox.package."foo@2"]\nallow-network = true\n');
    const { config, issues } = load([near, far]);
    assert.deepEqual(issues, []);
    const foo = effectiveGrants(config, { name: 'foo', version: '1.0.0' }, vars);
    assert.deepEqual(shown(foo.network.value), ['proxy.corp.test:3128', 'forge.test:443', '127.0.0.1:5432']);
    assert.deepEqual(typeof foo.network.value === 'object' && foo.network.value.map((d) => describeSource(d.source)), ['/home/u/.cargo/config.toml:2:1', '/home/u/.cargo/config.toml:4:1', '/ws/.cargo/config.toml:2:1']);
    assert.equal(effectiveGrants(config, { name: 'foo', version: '2.1.0' }, vars).network.value, true);
    assert.equal(effectiveGrants(config, { name: 'bar' }, vars).network.value, false);
  });

  test('environment variables: destinations separated by spaces', () => {
    const { config, issues } = load([], { CARGO_SANDBOX_PACKAGE_FOO_ALLOW_NETWORK: 'forge.test:443  *.registry.test' });
    assert.deepEqual(issues, []);
    assert.deepEqual(shown(effectiveGrants(config, { name: 'foo' }, vars).network.value), ['forge.test:443', '*.registry.test']);
  });

  test('a changed list reruns the script (the fingerprint changes); a moved line does not', () => {
    const fp = (text: string) => grantsFingerprint(load([file('/ws/.cargo/config.toml', text)]).config.packages.map((p) => p.grants), vars);
    const one = fp('[sandbox.package.foo]\nallow-network = ["forge.test:443"]\n');
    assert.equal(fp('# moved\n\n[sandbox.package.foo]\nallow-network = ["Forge.test:443"]\n'), one);
    assert.notEqual(fp('[sandbox.package.foo]\nallow-network = ["forge.test:443", "x.test:443"]\n'), one);
    assert.notEqual(fp('[sandbox.package.foo]\nallow-network = true\n'), one);
  });

  test('a bad entry is an error at the key\'s file:line; the others still count', () => {
    const { config, issues } = load([file('/ws/.cargo/config.toml', '\n[sandbox.package.foo]\nallow-network = ["forge.test:443", "*.com", "x.test"]\n')]);
    assert.equal(issues.length, 1);
    assert.equal(describeSource(issues[0]!.source), '/ws/.cargo/config.toml:3:1');
    assert.match(issues[0]!.message, /^invalid destination `\*\.com` in `sandbox\.package\.foo\.allow-network`: `\*\.com` would allow a whole top-level domain/);
    assert.deepEqual(shown(effectiveGrants(config, { name: 'foo' }, vars).network.value), ['forge.test:443', 'x.test']);
  });
});

describe('flags', () => {
  const apply = (args: string[], config: SandboxConfig = { global: emptyGrants(), packages: [] }) => {
    applyGrantFlags(config, extractGrantFlags(args).flags, '/cwd');
    return config;
  };

  test('--allow-network=PKG:DEST: the package is what comes before the first colon; comma-separated items', () => {
    const config = apply(['--allow-network=sqlx-macros:127.0.0.1:5432,foo:[::1]:5432', '--allow-network=foo:*.Example.com:443', '--allow-network=bar']);
    assert.deepEqual(shown(effectiveGrants(config, { name: 'sqlx-macros' }, vars).network.value), ['127.0.0.1:5432']);
    const foo = effectiveGrants(config, { name: 'foo' }, vars).network;
    assert.deepEqual(shown(foo.value), ['[::1]:5432', '*.example.com:443']);
    assert.deepEqual(typeof foo.value === 'object' && foo.value.map((d) => describeSource(d.source)), ['--allow-network=sqlx-macros:127.0.0.1:5432,foo:[::1]:5432', '--allow-network=foo:*.Example.com:443']);
    assert.equal(effectiveGrants(config, { name: 'bar' }, vars).network.value, true);
  });

  test('a flag\'s list joins the tables\' lists, after name@version tables too', () => {
    const { config } = load([file('/ws/.cargo/config.toml', '[sandbox.package.foo]\nallow-network = true\n[sandbox.package."foo@1"]\nallow-network = ["forge.test:443"]\n')]);
    apply(['--allow-network=foo:127.0.0.1:5432'], config);
    assert.deepEqual(shown(effectiveGrants(config, { name: 'foo', version: '1.2.0' }, vars).network.value), ['forge.test:443', '127.0.0.1:5432']);
    // Without the versioned table's list, the flag's list narrows `true`.
    assert.deepEqual(shown(effectiveGrants(config, { name: 'foo', version: '2.0.0' }, vars).network.value), ['127.0.0.1:5432']);
    apply(['--allow-network=foo'], config);
    assert.equal(effectiveGrants(config, { name: 'foo', version: '1.2.0' }, vars).network.value, true);
  });

  test('a bad destination, or one without its package, is a clear error with an example', () => {
    const error = (args: string[]) => {
      try {
        apply(args);
      } catch (e) {
        assert.ok(e instanceof UserError);
        return `${e.message}\n${e.help.join('\n')}`;
      }
      assert.fail(`no error for ${args.join(' ')}`);
    };
    assert.match(error(['--allow-network=foo:https://dl.example.com/x']), /^invalid `--allow-network=foo:https:\/\/dl\.example\.com\/x`: `https:\/\/dl\.example\.com\/x` is not a destination: it is a URL[^]*did you mean `--allow-network=foo:dl\.example\.com:443`\?[^]*--allow-network=sqlx-macros:127\.0\.0\.1:5432/);
    assert.match(error(['--allow-network=foo:db:99999']), /port `99999`/);
    assert.match(error(['--allow-network=forge.test:443']), /`forge\.test:443` names no package[^]*for example: `--allow-network=sqlx-macros:forge\.test:443`/);
    assert.match(error(['--allow-network=foo:a.test:443,b.test:443']), /`b\.test:443` names no package/);
  });
});

test('the launcher\'s data: network=0 and one connect= entry per destination; network=1 for the whole network', () => {
  const { config } = load([file('/ws/.cargo/config.toml', '[sandbox.package.foo]\nallow-network = ["Forge.test:443", "*.example.com", "[::1]:5432", "127.0.0.1:5432"]\n[sandbox.package.bar]\nallow-network = true\n')]);
  const entries = (name: string) => renderPackageData(effectiveGrants(config, { name }, vars)).split('\0').filter((e) => /^(network|connect)=/.test(e));
  assert.deepEqual(entries('foo'), ['network=0', 'connect=forge.test:443', 'connect=*.example.com:*', 'connect=[::1]:5432', 'connect=127.0.0.1:5432']);
  assert.deepEqual(entries('bar'), ['network=1']);
  assert.deepEqual(entries('other'), ['network=0']);
});

test('`cargo sandbox policy`: the destinations with where each came from; json gives the list and each source', () => {
  const { config } = load([file('/ws/.cargo/config.toml', '[sandbox.package.foo]\nallow-network = ["forge.test:443", "127.0.0.1:5432"]\n')]);
  applyGrantFlags(config, extractGrantFlags(['--allow-network=foo:x.test:80']).flags, '/cwd');
  const ctx = { config, vars, workspaceRoot: '/ws', workspaceSecrets: { envFiles: [], gitConfigs: [] }, workspaceFiles: [], env: {}, home: '/home/u', policy: defaultPolicy({ home: '/home/u', cargoHome: '/home/u/.cargo', rustupHome: undefined, workspaceRoot: '/ws' }) } as unknown as SandboxContext;
  const text = describePackagePolicy(ctx, { name: 'foo', version: '1.0.0', procMacro: true });
  assert.match(text, /^ {2}network: {8}forge\.test:443, 127\.0\.0\.1:5432 \(\/ws\/\.cargo\/config\.toml:2:1\)\n {18}x\.test:80 \(--allow-network=foo:x\.test:80\)\n {18}only these: .*\n {18}also for the compilations that load its proc macros$/m);
  assert.match(describePackagePolicy(ctx, { name: 'bar', version: '1.0.0' }), /^ {2}network: {8}none \(default\)$/m);
  const json = JSON.parse(policyJson(ctx, [{ name: 'foo', version: '1.0.0' }], { enforced: false, why: 'a test' })) as { packages: { network: unknown }[] };
  assert.deepEqual(json.packages[0]!.network, {
    value: ['forge.test:443', '127.0.0.1:5432', 'x.test:80'],
    from: '--allow-network=foo:x.test:80',
    destinations: [
      { value: 'forge.test:443', from: '/ws/.cargo/config.toml:2:1' },
      { value: '127.0.0.1:5432', from: '/ws/.cargo/config.toml:2:1' },
      { value: 'x.test:80', from: '--allow-network=foo:x.test:80' },
    ],
  });
  assert.equal(networkSummary(effectiveGrants(config, { name: 'foo' }, vars).network.value), 'forge.test:443 127.0.0.1:5432 x.test:80');
  assert.equal(networkSummary(true), 'yes');
  assert.equal(networkSummary([]), 'no');
});
