// `cargo sandbox audit`: what each build script did (traced around its sandbox), the least grants
// that make the build pass, written into config.toml without disturbing it, approvals pinned to
// versions, and real crates from Debian's registry.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startListeners, type Listeners } from '../helpers/listeners.js';
import { copyFixture, makeScratch, runCli, walkFiles, type Scratch } from '../helpers/sandbox-env.js';

interface Script {
  package: string;
  version: string;
  risk: number;
  exitCode?: number;
  executed: { program: string; argv: string[]; blocked: boolean }[];
  readOutside: { path: string; blocked: boolean }[];
  writtenOutside: { path: string; blocked: boolean }[];
  network: { destination: string; blocked: boolean }[];
  envDeclared: string[];
  dependencyPath: string[];
}
interface Report {
  schema: string;
  buildStatus: number;
  scripts: Script[];
  changes: { package: string; approvedVersion: string; version: string; added: Record<string, string[]> }[];
}

const DEBIAN_SOURCE = '# our own comment, kept\n[source.crates-io]\nreplace-with = "debian"   # trailing comment\n\n[source.debian]\ndirectory = "/usr/share/cargo/registry"\n';

function auditWorkspace(s: Scratch, listeners: Listeners): string {
  const ws = copyFixture(s, 'audit');
  mkdirSync(join(s.home, 'tool'));
  writeFileSync(join(s.home, 'tool/config.txt'), 'tool-config\n');
  writeFileSync(join(ws, 'audit-params.txt'), `port=${listeners.tcpPort}\n`);
  mkdirSync(join(ws, '.cargo'));
  writeFileSync(join(ws, '.cargo/config.toml'), DEBIAN_SOURCE);
  return ws;
}

const byName = (r: Report, name: string) => r.scripts.find((s) => s.package === name);
const programs = (s: Script | undefined) => (s?.executed ?? []).map((x) => x.program.split('/').pop());

describe('cargo sandbox audit', { concurrency: false }, () => {
  let s: Scratch;
  let ws: string;
  let listeners: Listeners;
  before(async () => {
    s = makeScratch('audit');
    listeners = await startListeners(s.root);
    ws = auditWorkspace(s, listeners);
  });
  after(() => listeners.close());

  test('reports what every build script did, riskiest first, in the documented JSON schema', async () => {
    const plain = await runCli(['build'], { cwd: ws, env: s.env });
    const r = await runCli(['audit', '--format', 'json'], { cwd: ws, env: s.env });
    // Observation does not change results: the same build fails the same way.
    assert.equal(r.status, plain.status);
    assert.equal(r.status, 101);
    const report = JSON.parse(r.stdout) as Report;
    assert.equal(report.schema, 'cargo-sandbox-audit/1');
    assert.deepEqual(report.scripts.map((x) => x.package).sort(), ['needs-net', 'needs-read', 'quiet', 'runs-tools']);
    assert.equal(report.scripts[0]!.package, 'needs-net');
    assert.deepEqual(byName(report, 'needs-net')!.network, [{ destination: `127.0.0.1:${listeners.tcpPort}`, blocked: true }]);
    assert.deepEqual(byName(report, 'needs-read')!.readOutside, [{ path: join(s.home, 'tool/config.txt'), blocked: true }]);
    const tools = byName(report, 'runs-tools')!;
    assert.ok(programs(tools).includes('cc') && programs(tools).includes('pkg-config'), JSON.stringify(tools.executed));
    assert.deepEqual(tools.executed.find((x) => x.program.endsWith('/pkg-config'))?.argv, ['pkg-config', '--version']);
    assert.equal(tools.exitCode, 0);
    const quiet = byName(report, 'quiet')!;
    assert.deepEqual([quiet.executed, quiet.readOutside, quiet.writtenOutside, quiet.network], [[], [], [], []]);
    assert.deepEqual(quiet.dependencyPath, ['quiet 0.1.0']);
    assert.equal(listeners.received.tcp, 0, 'the audit let a connection through');
  });

  test('--suggest never proposes a secret the sandbox hides, or the network: a script that fails without them gets nothing, and the report says why', async () => {
    // needs-read now fails without the user's ssh key (as a malicious script would, to be approved).
    writeFileSync(join(ws, 'audit-params.txt'), `port=${listeners.tcpPort}\nconfig=${join(s.home, '.ssh/id_ed25519')}\n`);
    const before = readFileSync(join(ws, '.cargo/config.toml'), 'utf8');
    for (const args of [['--suggest'], ['--write']]) {
      const r = await runCli(['audit', ...args, '--format', 'json'], { cwd: ws, env: s.env });
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /^warning: not suggested: `allow-read = \["~\/\.ssh\/id_ed25519"\]` for `needs-read v0\.1\.0`, which failed without it: a secret the sandbox hides$/m);
      // The narrowest grant, named, but still not suggested: the script picked the destination.
      assert.ok(r.stderr.includes(`warning: not suggested: \`allow-network = ["127.0.0.1:${listeners.tcpPort}"]\` for \`needs-net v0.1.0\`, which failed without it: the network`), r.stderr);
      assert.match(r.stderr, /^help: .*`cargo sandbox audit --suggest-risky`/m);
      const report = JSON.parse(r.stdout) as Report & { withheld: { package: string; grant: string }[] };
      assert.deepEqual(report.withheld.map((w) => `${w.package}: ${w.grant}`).sort(), [`needs-net: allow-network = ["127.0.0.1:${listeners.tcpPort}"]`, 'needs-read: allow-read = ["~/.ssh/id_ed25519"]']);
      assert.doesNotMatch(r.stdout, /allow-read = \["~\/\.ssh/);
      assert.equal(readFileSync(join(ws, '.cargo/config.toml'), 'utf8'), before, 'the config was written');
    }
    writeFileSync(join(ws, 'audit-params.txt'), `port=${listeners.tcpPort}\n`);
  });

  test('--suggest-risky --write: the least grants, pinned to version, merged into config.toml keeping it; the build then passes', async () => {
    const r = await runCli(['audit', '--suggest-risky', '--write'], { cwd: ws, env: s.env });
    assert.equal(r.status, 0, r.stderr);
    // Round one's failures were fixed by the audit itself: their errors and notes are not shown.
    assert.doesNotMatch(r.stderr, /failed to run custom build command|^note: the build script of/m);
    assert.match(r.stderr, /^note: round 1: 2 packages were blocked; building again/m);
    const config = readFileSync(join(ws, '.cargo/config.toml'), 'utf8');
    assert.ok(config.startsWith(DEBIAN_SOURCE), 'the existing config was changed');
    assert.match(config, /^\[sandbox\.package\."needs-read@=0\.1\.0"\]\nallow-read = \["~\/tool\/config\.txt"\]$/m);
    assert.ok(config.includes(`[sandbox.package."needs-net@=0.1.0"]\nallow-network = ["127.0.0.1:${listeners.tcpPort}"]\n`), config);
    assert.doesNotMatch(config, /runs-tools|quiet/);
    const lock = JSON.parse(readFileSync(join(ws, 'cargo-sandbox.lock'), 'utf8')) as { packages: Record<string, { version: string; executes: string[] }> };
    assert.equal(lock.packages['needs-net']?.version, '0.1.0');
    assert.ok(lock.packages['runs-tools']?.executes.includes('pkg-config'));
    const build = await runCli(['build'], { cwd: ws, env: s.env });
    assert.equal(build.status, 0, build.stderr);
    // Running it again changes nothing: the grants are there.
    const again = await runCli(['audit', '--suggest', '--write'], { cwd: ws, env: s.env });
    assert.equal(again.status, 0, again.stderr);
    assert.equal(readFileSync(join(ws, '.cargo/config.toml'), 'utf8'), config);
  });

  test('an upgraded package loses its approval (default policy, with a warning) and the audit shows what changed', async () => {
    writeFileSync(join(ws, 'needs-net/Cargo.toml'), readFileSync(join(ws, 'needs-net/Cargo.toml'), 'utf8').replace('version = "0.1.0"', 'version = "0.2.0"'));
    writeFileSync(join(ws, 'needs-net/build.rs'), `fn main() {\n    std::process::Command::new("uname").output().unwrap();\n${readFileSync(join(ws, 'needs-net/build.rs'), 'utf8').split('fn main() {\n')[1]}`);
    const before = listeners.received.tcp;
    const build = await runCli(['build'], { cwd: ws, env: s.env });
    assert.equal(build.status, 101);
    assert.match(build.stderr, /^warning: the grants of `\[sandbox\.package\."needs-net@=0\.1\.0"\]` were approved for version 0\.1\.0, not `needs-net v0\.2\.0` in Cargo\.lock; its build script ran with the default policy$/m);
    assert.equal(listeners.received.tcp, before, 'the old grant carried over');
    // The grant it proposes is pinned to the new version, like the approval it replaces.
    assert.ok(build.stderr.includes(`help: to allow this: cargo sandbox allow needs-net@=0.2.0 --network=127.0.0.1:${listeners.tcpPort}\n`), build.stderr);
    const audit = await runCli(['audit', '--format', 'json'], { cwd: ws, env: s.env });
    const report = JSON.parse(audit.stdout) as Report;
    const change = report.changes.find((c) => c.package === 'needs-net');
    assert.deepEqual(change && { from: change.approvedVersion, to: change.version, executes: change.added.executes }, { from: '0.1.0', to: '0.2.0', executes: ['uname'] });
    const table = await runCli(['audit', '--color', 'never'], { cwd: ws, env: s.env });
    assert.match(table.stdout, /^needs-net: approved 0\.1\.0, now 0\.2\.0:\n {4}\+ executes uname$/m);
    // Approving the new version replaces the stale table; the lock stores home paths as ~/.
    const write = await runCli(['audit', '--suggest-risky', '--write'], { cwd: ws, env: s.env });
    assert.equal(write.status, 0, write.stderr);
    const config = readFileSync(join(ws, '.cargo/config.toml'), 'utf8');
    assert.doesNotMatch(config, /needs-net@=0\.1\.0/);
    assert.ok(config.includes(`[sandbox.package."needs-net@=0.2.0"]\nallow-network = ["127.0.0.1:${listeners.tcpPort}"]\n`), config);
    assert.match(config, /^\[sandbox\.package\."needs-read@=0\.1\.0"\]$/m);
    const lock = readFileSync(join(ws, 'cargo-sandbox.lock'), 'utf8');
    assert.ok(!lock.includes(s.home), 'the lock names the home directory');
  });

  test('the terminal table has one row per build script, and the user\'s target dir is not touched', async () => {
    const s2 = makeScratch('audit-table');
    const l2 = await startListeners(s2.root);
    const ws2 = auditWorkspace(s2, l2);
    const r = await runCli(['audit', '-p', 'quiet', '-p', 'runs-tools'], { cwd: ws2, env: s2.env });
    await l2.close();
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^PACKAGE\s+RISK\s+EXECUTED\s+READ OUT\s+WROTE OUT\s+NETWORK\s+BLOCKED\s+TIME\s+EXIT$/);
    assert.match(lines[1]!, /^runs-tools v0\.1\.0\s+\d+\s+.*pkg-config.*\s0$/);
    assert.match(lines[2]!, /^quiet v0\.1\.0\s+0\s+-\s+0\s+0\s+-\s+0\s+\S+s\s+0$/);
    assert.deepEqual(walkFiles(join(ws2, 'target')).filter((f) => !f.includes('/target/cargo-sandbox-audit/')), []);
  });
});

describe('cargo sandbox audit on real crates from Debian', () => {
  test('lists what openssl-sys, ring, zstd-sys and libsqlite3-sys really run; no grants needed', async () => {
    const s = makeScratch('audit-real');
    const ws = copyFixture(s, 'real-crates', { debianRegistry: true });
    const r = await runCli(['audit', '--suggest', '--format', 'json'], { cwd: ws, env: s.env, timeoutMs: 1_200_000 });
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout.slice(0, r.stdout.lastIndexOf('}') + 1)) as Report;
    const ran = (name: string) => programs(byName(report, name));
    assert.ok(ran('openssl-sys').includes('pkg-config'), JSON.stringify(ran('openssl-sys')));
    assert.ok(ran('openssl-sys').some((p) => p === 'cc' || p === 'cc1'), JSON.stringify(ran('openssl-sys')));
    assert.ok(ran('ring').includes('cc'), JSON.stringify(ran('ring')));
    assert.ok(ran('zstd-sys').includes('pkg-config'), JSON.stringify(ran('zstd-sys')));
    assert.ok(ran('libsqlite3-sys').includes('pkg-config'), JSON.stringify(ran('libsqlite3-sys')));
    assert.ok(report.scripts.every((x) => x.network.length === 0 && x.writtenOutside.length === 0));
    assert.match(r.stderr, /no grants needed/);
    assert.ok(existsSync(join(ws, 'Cargo.lock')));
  });
});
