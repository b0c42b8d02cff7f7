// What the proxy recorded (PID.network, compile-PID.network), and what cargo-sandbox makes of it:
// failure notes with the narrowest list, notes on compilations whose proc macros were refused, and
// the audit's destinations, withheld warning, suggestion and approval.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseDestination } from '../../src/config/network-destinations.js';
import type { NetworkAccess } from '../../src/config/types.js';
import { parseCompileRecord, parseNetworkLines, readCompileRecords } from '../../src/intercept/network-records.js';
import { renderRecord } from '../../src/backends/records.js';
import { readRuns, type BuildScriptRun } from '../../src/intercept/session.js';
import { blockedHints, destinationCheck, networkProposal, proxyFindings, type Finding, type HintContext } from '../../src/diagnostics/blocked-hints.js';
import { failureNotes } from '../../src/diagnostics/failure-notes.js';
import { compileNetworkNotes } from '../../src/diagnostics/compile-network.js';
import { DEFAULT_ENV_RULES } from '../../src/policy/environment.js';
import { withProxyRecords, type ScriptObservation } from '../../src/audit/observe.js';
import { grantArgs, mergeIntoConfig, mergeSuggestedNetwork, renderSuggestion, suggestGrants } from '../../src/audit/suggest.js';
import { approvalsFor } from '../../src/audit/approvals.js';
import { macroAudits, suggestMacroGrants } from '../../src/audit/macros.js';
import type { ScriptAudit } from '../../src/audit/report.js';

const list = (...raw: string[]): NetworkAccess => raw.map((r) => {
  const p = parseDestination(r);
  assert.ok(p.ok);
  return { value: p.destination, source: { kind: 'file', path: '/ws/.cargo/config.toml', line: 3 } };
});
const run = { packageName: 'foo-sys', packageVersion: '1.0.0', outDir: '/t/out', manifestDir: '/m', startedAtMs: 0, launcherPath: '/t/b', envFile: '/s/1.env', findings: [], supervised: true, processRefusals: 0 } satisfies BuildScriptRun;

describe('records', () => {
  test('allowed and refused lines, each once; other lines ignored', () => {
    const text = 'allowed\tforge.test:443\nrefused\tdl.example.com:443\tnot in allow-network\nrefused\tdl.example.com:443\tnot in allow-network\nrefused\t[::1]:80\tthe Host header names another host\r\njunk\n\n';
    assert.deepEqual(parseNetworkLines(text), [
      { destination: 'forge.test:443', allowed: true },
      { destination: 'dl.example.com:443', allowed: false, reason: 'not in allow-network' },
      { destination: '[::1]:80', allowed: false, reason: 'the Host header names another host' },
    ]);
  });

  test('a compilation record names the crate and the macro packages whose list applied', () => {
    assert.deepEqual(parseCompileRecord('compiling\tapp\t0.1.0\nmacros\tsqlx-macros\t0.7.4\nrefused\tdb.example.com:5432\tnot in allow-network\n'), {
      crate: { name: 'app', version: '0.1.0' },
      macros: [{ name: 'sqlx-macros', version: '0.7.4' }],
      network: [{ destination: 'db.example.com:5432', allowed: false, reason: 'not in allow-network' }],
    });
    assert.equal(parseCompileRecord('refused\tx:1\tnot in allow-network\n'), undefined);
  });

  test('read from the runs directory: PID.network beside a run, absent when no proxy ran; compile-PID.network', () => {
    const dir = mkdtempSync(join(tmpdir(), 'network-records-'));
    try {
      const record = (name: string, version: string) =>
        renderRecord('run', [['package', name], ['package-version', version], ['out-dir', `/t/${name}/out`], ['manifest-dir', `/m/${name}`], ['launcher', `/t/${name}/build-script-build`], ['policy', '/s/packages/_default.data'], ['refused-before', '0']]);
      writeFileSync(join(dir, '100'), record('a', '1.0.0'));
      writeFileSync(join(dir, '101'), record('b', '2.0.0'));
      writeFileSync(join(dir, '100.network'), 'refused\tdl.example.com:443\tnot in allow-network\n');
      writeFileSync(join(dir, 'compile-200.network'), 'compiling\tapp\t0.1.0\nmacros\tm\t1.0.0\nallowed\tdb:5432\n');
      mkdirSync(join(dir, 'compile-300.network.d'));
      const runs = readRuns(dir).sort((x, y) => x.packageName.localeCompare(y.packageName));
      assert.deepEqual(runs.map((r) => r.network), [[{ destination: 'dl.example.com:443', allowed: false, reason: 'not in allow-network' }], undefined]);
      assert.deepEqual(readCompileRecords(dir).map((r) => [r.crate.name, r.macros.map((m) => m.name), r.network.length]), [['app', ['m'], 1]]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('failure notes', () => {
  const refused = proxyFindings(parseNetworkLines('allowed\tforge.test:443\nrefused\tdl.example.com:443\tnot in allow-network\nrefused\tcdn.example.com:80\tthe Host header names another host\n'));

  test('each refused destination is a network finding that says why', () => {
    assert.deepEqual(refused.map((f) => f.message), [
      'it tried to reach `dl.example.com:443` through the proxy, which its allow-network list does not include',
      'it tried to reach `cdn.example.com:80` through the proxy, which refused it: the Host header names another host',
    ]);
  });

  test('the snippet gives the narrowest list, joined with the package\'s current one; the flag only the new destination', () => {
    const { notes, help } = failureNotes([{ run, blocked: refused, network: list('forge.test:443') }], '/home/u', undefined, { verbose: true });
    assert.match(notes[0]!, /^the build script of `foo-sys v1\.0\.0` ran inside the cargo-sandbox sandbox: network only to its allow-network list,/);
    // The command adds the new destination to the package's list; the table (-v) replaces the key whole.
    assert.equal(help[0], 'to allow this: cargo sandbox allow foo-sys --network=dl.example.com:443');
    assert.equal(help[1], 'or add to a cargo config file:\n    [sandbox.package.foo-sys]\n    allow-network = ["forge.test:443", "dl.example.com:443"]');
    assert.equal(help[2], 'or, for one build only, add to the command: `--allow-network=foo-sys:dl.example.com:443`');
    assert.ok(!help.some((h) => /read from its error output/.test(h)));
  });

  test('a destination guessed from the error output: the list too, and a word on `true`; unknown: `allow-network = true`', () => {
    const ctx: HintContext = { home: '/home/u', visible: [], writable: [], env: {}, envRules: DEFAULT_ENV_RULES, exists: () => false };
    const guessed = blockedHints('error sending request for url (https://static.example.com/lib.tar.gz): dns error: failed to lookup address information', ctx);
    const report = failureNotes([{ run, blocked: guessed }], '/home/u');
    assert.equal(report.help[0], 'to allow this: cargo sandbox allow foo-sys --network=static.example.com:443');
    assert.equal(report.help[1], 'or, for one build only, add to the command: `--allow-network=foo-sys:static.example.com:443`');
    assert.match(report.help[2]!, /read from its error output.*`--network` \(`allow-network = true`\) shares the whole network/);
    const unknown = failureNotes([{ run, blocked: blockedHints('error: Temporary failure in name resolution', ctx) }], '/home/u');
    assert.equal(unknown.help[0], 'to allow this: cargo sandbox allow foo-sys --network');
    assert.equal(unknown.help[1], 'or, for one build only, add to the command: `--allow-network=foo-sys`');
  });

  test('a list is never widened to `true`: a destination no list can hold is named, not granted', () => {
    const odd: Finding[] = [
      { kind: 'network', destination: 'x.test:443', message: 'm' },
      { kind: 'network', destination: 'not a host:443', message: 'odd' },
      { kind: 'network', message: 'unknown' },
    ];
    assert.deepEqual(networkProposal(odd, list('forge.test:443')), { list: ['forge.test:443', 'x.test:443'], added: ['x.test:443'] });
    assert.equal(networkProposal(odd.slice(1), list('forge.test:443')), undefined);
    const report = failureNotes([{ run, blocked: odd.slice(1), network: list('forge.test:443') }], '/home/u');
    assert.ok(!report.help.some((h) => /allow-network/.test(h)), report.help.join('\n'));
    // Printed text is no destination: a `*` never becomes a wildcard, and with a list (the proxy
    // records what was tried) a destination read from the error output is not proposed at all.
    const ctx: HintContext = { home: '/home/u', visible: [], writable: [], env: {}, envRules: DEFAULT_ENV_RULES, exists: () => false };
    const printed = blockedHints('error: Connection refused (os error 111) fetching https://*.storage.example/models.bin', ctx);
    assert.ok(!JSON.stringify(networkProposal(printed) ?? {}).includes('*'), JSON.stringify(networkProposal(printed)));
    assert.equal(networkProposal(blockedHints('error: Connection refused (os error 111) fetching https://dl.example.com/x', ctx), list('forge.test:443')), undefined);
    // Without a list, an unknown destination still means the whole network.
    assert.deepEqual(networkProposal(odd.slice(2)), { whole: true });
    // What the proxy records with `_` is proposed as a list entry.
    assert.deepEqual(networkProposal(proxyFindings(parseNetworkLines('refused\tdl_mirror.example.com:80\tnot in allow-network\n')), list('forge.test:443')), {
      list: ['forge.test:443', 'dl_mirror.example.com:80'],
      added: ['dl_mirror.example.com:80'],
    });
  });

  test('a scan (more refused destinations than a list should hold): one note with the first few, nothing proposed', () => {
    const lines = Array.from({ length: 30 }, (_, i) => `refused\th${i}.example.com:443\tnot in allow-network\n`).join('') + 'truncated\t1000\n';
    const scan = proxyFindings(parseNetworkLines(lines));
    assert.deepEqual(scan.map((f) => f.message), [
      'it tried to reach at least 30 destinations (the first: `h0.example.com:443`, `h1.example.com:443`, `h2.example.com:443`) through the proxy, which its allow-network list does not include: too many to propose as a list',
    ]);
    const report = failureNotes([{ run, blocked: scan, network: list('forge.test:443') }], '/home/u');
    assert.ok(!report.help.some((h) => /allow-network/.test(h)), report.help.join('\n'));
    const compiled = compileNetworkNotes([{ crate: { name: 'app', version: '0.1.0' }, macros: [{ name: 'm', version: '1.0.0' }], network: parseNetworkLines(lines) }], () => list('forge.test:443'), (n) => n, '/home/u');
    assert.match(compiled.notes[0]!, /tried to reach at least 30 destinations \(the first: `h0\.example\.com:443`.*: too many to propose as a list$/);
    assert.deepEqual(compiled.help, []);
  });

  test('a proposed destination on this machine, link-local or private is pointed out (the process chose it)', () => {
    const found = proxyFindings(parseNetworkLines(['needed.test:443', '127.0.0.1:22', '169.254.169.254:80', '10.0.0.5:8080', '[::1]:6379'].map((d) => `refused\t${d}\tnot in allow-network\n`).join('')));
    const { help } = failureNotes([{ run, blocked: found, network: list('forge.test:443') }], '/home/u');
    assert.equal(
      help.find((h) => h.startsWith('the process chose')),
      'the process chose these destinations: check them before adding them: `127.0.0.1:22` (a service on this machine), `169.254.169.254:80` (link-local: a cloud metadata service answers at 169.254.169.254), `10.0.0.5:8080` (your private network), `[::1]:6379` (a service on this machine)',
    );
    // Other spellings of this machine: unspecified, IPv4-mapped, its host name, a name /etc/hosts maps.
    const hosts = new Map([['db.lan', '127.0.1.1'], ['meta.test', '::ffff:169.254.169.254']]);
    assert.equal(
      destinationCheck(['0.0.0.0:1', '[::]:1', '[::ffff:127.0.0.1]:1', 'vm:1', 'db.lan:1', 'meta.test:80', 'LOCALHOST.:1', 'x.example.com:1'], hosts, 'vm'),
      'the process chose these destinations: check them before adding them: `0.0.0.0:1` (a service on this machine), `[::]:1` (a service on this machine), `[::ffff:127.0.0.1]:1` (a service on this machine), `vm:1` (a service on this machine), `db.lan:1` (a service on this machine), `meta.test:80` (link-local: a cloud metadata service answers at 169.254.169.254), `LOCALHOST.:1` (a service on this machine)',
    );
    const plain = failureNotes([{ run, blocked: proxyFindings(parseNetworkLines('refused\tneeded.test:443\tnot in allow-network\n')), network: list('forge.test:443') }], '/home/u');
    assert.ok(!plain.help.some((h) => h.startsWith('the process chose')));
  });

  test('audit: a macro\'s destinations go to its package; several macros in one compilation name each other, and no grant is suggested', () => {
    const record = (macros: string[], lines: string) => ({ crate: { name: 'app', version: '0.1.0' }, macros: macros.map((name) => ({ name, version: '1.0.0' })), network: parseNetworkLines(lines) });
    const alone = macroAudits([record(['sqlx-macros'], 'refused\tdb.test:5432\tnot in allow-network\n')], () => [{ destination: '127.0.0.1:5432', blocked: true }]);
    assert.deepEqual(alone, [{ package: 'sqlx-macros', version: '1.0.0', compiling: ['app 0.1.0'], network: [{ destination: 'db.test:5432', blocked: true, proxy: true, reason: 'not in allow-network' }, { destination: '127.0.0.1:5432', blocked: true }], loadedWith: [] }]);
    assert.deepEqual(suggestMacroGrants(alone[0]!, true).grants?.network, ['127.0.0.1:5432', 'db.test:5432']);
    assert.equal(suggestMacroGrants(alone[0]!, false).grants, undefined);
    // A re-exported macro loaded beside another (macro_set.rs finds both): whose destination it was is unknown.
    const both = macroAudits([record(['innocent', 'evilmac'], 'refused\texfil.test:443\tnot in allow-network\n')]);
    assert.deepEqual(both.map((m) => [m.package, m.loadedWith]), [['evilmac', ['innocent 1.0.0']], ['innocent', ['evilmac 1.0.0']]]);
    const innocent = suggestMacroGrants(both[1]!, true);
    assert.equal(innocent.grants, undefined);
    assert.match(innocent.withheld[0]!.why, /also loaded the macros of `evilmac 1\.0\.0`, which may be the ones that asked/);
  });

  test('with the whole network already, nothing network-related is proposed', () => {
    const report = failureNotes([{ run, blocked: [{ kind: 'network', destination: 'x.test:443', guessed: true, message: 'm' }], network: true }], '/home/u');
    assert.match(report.notes[0]!, /sandbox: the host's network,/);
    assert.ok(!report.help.some((h) => /allow-network/.test(h)), report.help.join('\n'));
  });

  test('a refusal no list fixes gets no grant', () => {
    const report = failureNotes([{ run, blocked: refused.slice(1), network: list('cdn.example.com:80') }], '/home/u');
    assert.ok(!report.help.some((h) => /allow-network/.test(h)), report.help.join('\n'));
  });

  test('a compilation whose proc macros were refused: the grant goes to the one macro package, or the candidates are listed', () => {
    const one = parseCompileRecord('compiling\tapp\t0.1.0\nmacros\tsqlx-macros\t0.7.4\nrefused\tdb.example.com:5432\tnot in allow-network\n')!;
    const { notes, help } = compileNetworkNotes([one, one], () => list('127.0.0.1:5432'), (name) => name, '/home/u');
    assert.deepEqual(notes, ['compiling `app v0.1.0`, the proc macros of `sqlx-macros v0.7.4` tried to reach `db.example.com:5432` through the proxy, which the allow-network list of `sqlx-macros` does not include']);
    assert.equal(help[0], 'a proc-macro package\'s allow-network also applies to the compilations that load its macros; to allow this: cargo sandbox allow sqlx-macros --network=db.example.com:5432');
    assert.equal(help[1], 'or, for one build only, add to the command: `--allow-network=sqlx-macros:db.example.com:5432`');
    const verbose = compileNetworkNotes([one], () => list('127.0.0.1:5432'), (name) => name, '/home/u', true);
    assert.equal(verbose.help[1], 'or add to a cargo config file:\n    [sandbox.package.sqlx-macros]\n    allow-network = ["127.0.0.1:5432", "db.example.com:5432"]');
    const two = parseCompileRecord('compiling\tapp\t0.1.0\nmacros\ta-macros\t1.0.0\nmacros\tb-macros\t2.0.0\nrefused\tx.test:443\tnot in allow-network\n')!;
    const both = compileNetworkNotes([two], () => false, (name) => name, '/home/u');
    assert.equal(both.help.length, 0);
    assert.match(both.notes[0]!, /^compiling `app v0\.1\.0`, the proc macros of `a-macros v1\.0\.0` and `b-macros v2\.0\.0` tried to reach `x\.test:443`/);
    assert.match(both.notes[1]!, /one of: `a-macros`, `b-macros`/);
    assert.deepEqual(compileNetworkNotes([parseCompileRecord('compiling\tapp\t0.1.0\nmacros\tm\t1\nallowed\tx.test:443\n')!], () => false, (n) => n, '/h'), { notes: [], help: [], offers: [] });
  });
});

describe('audit', () => {
  const observation = (network: ScriptObservation['network']): ScriptObservation => ({ executed: [], readOutside: [], writtenOutside: [], network, filesRead: 0 });
  const audit = (o: ScriptObservation): ScriptAudit => ({ package: 'dl', version: '1.0.0', dependencyPath: [], durationMs: 0, risk: 0, envDeclared: [], exitCode: 1, ...o });
  const view = { home: '/home/u', masked: [], codeTrees: [] };

  test('with a proxy record, its destinations by name replace the connects to the proxy, forwarders and Unix sockets; a failed connect to a local service stays', () => {
    const traced = observation([
      { destination: '127.0.0.1:41234', blocked: false },
      { destination: '127.0.0.2:5432', blocked: false },
      { destination: 'unix:/run/nscd/socket', blocked: true },
      { destination: '127.0.0.1:6379', blocked: true },
      { destination: '[::1]:5432', blocked: true },
      { destination: '10.1.2.3:443', blocked: true },
    ]);
    const records = parseNetworkLines('refused\tdl.example.com:443\tnot in allow-network\nallowed\tdb.internal:5432\n');
    assert.deepEqual(withProxyRecords(traced, records).network, [
      { destination: 'dl.example.com:443', blocked: true, proxy: true, reason: 'not in allow-network' },
      { destination: 'db.internal:5432', blocked: false, proxy: true },
      { destination: '127.0.0.1:6379', blocked: true },
      { destination: '[::1]:5432', blocked: true },
      { destination: '10.1.2.3:443', blocked: true },
    ]);
    assert.equal(withProxyRecords(traced, undefined), traced);
  });

  test('the network is withheld, as the narrowest list; --suggest-risky suggests it, flags and table included', () => {
    const s = audit(withProxyRecords(observation([{ destination: '127.0.0.1:5432', blocked: true }]), parseNetworkLines('refused\tdl.example.com:443\tnot in allow-network\n')));
    const safe = suggestGrants(s, view);
    assert.equal(safe.grants, undefined);
    assert.deepEqual(safe.withheld.map((w) => w.grant), ['allow-network = ["127.0.0.1:5432", "dl.example.com:443"]']);
    assert.match(safe.withheld[0]!.why, /^the network/);
    const risky = suggestGrants(s, view, true).grants!;
    assert.deepEqual(risky.network, ['127.0.0.1:5432', 'dl.example.com:443']);
    assert.deepEqual(grantArgs(risky), ['--allow-network=dl:127.0.0.1:5432', '--allow-network=dl:dl.example.com:443']);
    assert.deepEqual(renderSuggestion(risky), ['[sandbox.package."dl@=1.0.0"]', 'allow-network = ["127.0.0.1:5432", "dl.example.com:443"]']);
    assert.deepEqual(approvalsFor([s]).packages.dl?.network, ['127.0.0.1:5432', 'dl.example.com:443']);
  });

  test('never `true`, even under --suggest-risky: a direct connection to a remote address is named as needing the whole network, and withheld', () => {
    const direct = suggestGrants(audit(observation([{ destination: '10.1.2.3:443', blocked: true }, { destination: 'dl.example.com:443', blocked: true, proxy: true }])), view, true);
    assert.deepEqual(direct.grants?.network, ['dl.example.com:443']);
    assert.deepEqual(direct.withheld.map((w) => [w.grant, w.why]), [['allow-network = true', 'it connects directly (not through the proxy) to `10.1.2.3:443`, which no list allows; the whole network is never suggested for an address the script chose']]);
    assert.equal(suggestGrants(audit(observation([{ destination: 'unix:/var/run/docker.sock', blocked: true }])), view, true).grants, undefined);
    assert.deepEqual(suggestGrants(audit(observation([{ destination: '10.1.2.3:443', blocked: true, proxy: true }])), view, true).grants?.network, ['10.1.2.3:443']);
    // Refused for another reason than the list: nothing to grant.
    assert.equal(suggestGrants(audit(observation([{ destination: 'a.test:80', blocked: true, proxy: true, reason: 'the Host header names another host' }])), view, true).grants, undefined);
    assert.deepEqual(mergeSuggestedNetwork(['b:1'], ['a:1', 'b:1']), ['a:1', 'b:1']);
    assert.equal(mergeSuggestedNetwork(['b:1'], true), true);
    assert.equal(mergeSuggestedNetwork(false, []), false);
  });

  test('--write: a list joins the table\'s list, replaces `false`, and gives way to `true`; the key is never written twice', () => {
    const g = { package: 'dl', version: '1.0.0', read: [], write: [], network: ['dl.example.com:443'], exec: [] };
    const table = (line: string) => `[sandbox.package."dl@=1.0.0"]\n${line}\n\n[build]\njobs = 2\n`;
    assert.equal(mergeIntoConfig(table('allow-network = ["forge.test:443"] # why'), [g]), table('allow-network = ["forge.test:443", "dl.example.com:443"] # why'));
    assert.equal(mergeIntoConfig(table('allow-network = false'), [g]), table('allow-network = ["dl.example.com:443"]'));
    assert.equal(mergeIntoConfig(table('allow-network = true'), [g]), table('allow-network = true'));
    assert.equal(mergeIntoConfig(table('allow-network = ["forge.test:443"]'), [{ ...g, network: true }]), table('allow-network = true'));
    const merged = mergeIntoConfig(table('allow-network = ["dl.example.com:443"]'), [g]);
    assert.equal(merged, table('allow-network = ["dl.example.com:443"]'));
    assert.equal(mergeIntoConfig('', [g]), '[sandbox.package."dl@=1.0.0"]\nallow-network = ["dl.example.com:443"]\n');
  });
});
