// `allow-network = [...]` (issue 17), judged by what reaches servers on this machine: the allowed
// destinations get their requests (curl through the proxy, HTTPS tunnelled untouched, plain TCP
// forwards by name and by address), and nothing else does — another host, another port, a direct
// address, IPv6, raw DNS, a CONNECT or plain request for a refused host, a Host header that
// names another host. Plain cargo is the control: every probe reaches its server there. Names
// come from /etc/hosts lines this file adds (both to 127.0.0.1) and removes.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startListeners, type Listeners } from '../helpers/listeners.js';
import { copyFixture, makeScratch, processesWith, runCli, runPlainCargo, sleep, walkFiles, type RunResult } from '../helpers/sandbox-env.js';

const HOSTS_MARK = `# cargo-sandbox-test-${process.pid}`;

/** Every request path (with its Host header) each server saw, and the fake database's lines. */
interface Seen {
  http: string[];
  other: string[];
  tls: string[];
  db: string[];
  v6: string[];
}

interface Servers {
  ports: { http: number; http_other: number; tls: number; db: number; v6: number };
  seen: Seen;
  listeners: Listeners;
  close(): Promise<void>;
}

function listen(server: HttpServer | TcpServer, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve((server.address() as { port: number }).port));
  });
}

async function startServers(dir: string): Promise<Servers> {
  const seen: Seen = { http: [], other: [], tls: [], db: [], v6: [] };
  const recorder = (into: string[]) => (req: { url?: string; headers: { host?: string } }, res: { end(s: string): void }) => {
    into.push(`${req.url} ${req.headers.host ?? ''}`);
    res.end('hello\n');
  };
  const key = join(dir, 'tls.key');
  const cert = join(dir, 'tls.crt');
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=allowed.test'], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const http = createHttpServer(recorder(seen.http));
  const other = createHttpServer(recorder(seen.other));
  const tls = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, recorder(seen.tls));
  const v6 = createHttpServer(recorder(seen.v6));
  const db = createTcpServer((s) => {
    s.setEncoding('utf8').on('error', () => {});
    s.once('data', (line: string) => {
      seen.db.push(line.trim());
      s.end('PONG\n');
    });
  });
  const ports = {
    http: await listen(http, '127.0.0.1'),
    http_other: await listen(other, '127.0.0.1'),
    tls: await listen(tls, '127.0.0.1'),
    db: await listen(db, '127.0.0.1'),
    v6: await listen(v6, '::1'),
  };
  const listeners = await startListeners(dir, { outside: true });
  const servers = [http, other, tls, v6, db];
  return {
    ports,
    seen,
    listeners,
    close: async () => {
      await listeners.close();
      for (const s of servers) {
        (s as HttpServer).closeAllConnections?.();
        await new Promise((r) => s.close(r));
      }
    },
  };
}

function clear(seen: Seen): void {
  for (const list of Object.values(seen) as string[][]) list.length = 0;
}

function editHosts(add: boolean): void {
  const lines = readFileSync('/etc/hosts', 'utf8').split('\n').filter((l) => !l.endsWith(HOSTS_MARK));
  if (add) lines.splice(lines.length - (lines.at(-1) === '' ? 1 : 0), 0, `127.0.0.1 allowed.test other.test under_score.test ${HOSTS_MARK}`);
  writeFileSync('/etc/hosts', lines.join('\n'));
}

let servers: Servers;

/** A fresh copy of the fixture with its parameters and, when given, a config. */
function workspace(label: string, config: string, extra: Record<string, string> = {}) {
  const s = makeScratch(label);
  const ws = copyFixture(s, 'network');
  const params = { ...servers.ports, dns: servers.listeners.dnsPort, outside: servers.listeners.outsideAddr, ...extra };
  writeFileSync(join(ws, 'network-params.txt'), Object.entries(params).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
  if (config) {
    spawnSync('mkdir', ['-p', join(ws, '.cargo')]);
    writeFileSync(join(ws, '.cargo/config.toml'), config);
  }
  return { s, ws };
}

function allowList(ports: Servers['ports']): string {
  // privileged.test:443: a port below 1024 is served by the proxy alone (no forward can bind it).
  return `["allowed.test:${ports.http}", "allowed.test:${ports.tls}", "127.0.0.1:${ports.db}", "privileged.test:443"]`;
}

/** What reached the servers, by probe name. */
function reached(seen: Seen, received: Listeners['received']): Set<string> {
  const names = new Set<string>();
  for (const entry of [...seen.http, ...seen.other, ...seen.tls, ...seen.v6]) names.add(entry.split(' ')[0]!.replace(/^\//, ''));
  for (const line of seen.db) names.add(line.split(' ')[1]!);
  if (received.dns > 0) names.add('dns');
  if (received.outside > 0) names.add('direct-outside');
  return names;
}

const ALLOWED = ['curl-allowed', 'curl-tls', 'forward-name', 'forward-db'];
const REFUSED = ['curl-other-host', 'curl-underscore', 'curl-other-port', 'direct-ip', 'direct-outside', 'ipv6', 'connect-refused', 'connect-host-header', 'plain-refused', 'plain-host-header', 'dns'];

describe('network allowlists', () => {
  before(async () => {
    const s = makeScratch('network-servers');
    servers = await startServers(s.root);
    editHosts(true);
  });
  after(async () => {
    editHosts(false);
    await servers?.close();
  });

  test('control: plain cargo reaches every destination the probes try', async () => {
    clear(servers.seen);
    const { s, ws } = workspace('network-plain', '');
    const r = await runPlainCargo(['build', '-p', 'net-probe'], { cwd: ws, env: s.env });
    assert.equal(r.status, 0, r.stderr);
    const got = reached(servers.seen, servers.listeners.received);
    for (const name of [...ALLOWED, ...REFUSED]) assert.ok(got.has(name), `plain cargo: ${name} did not reach its server (reached: ${[...got].join(', ')})\n${r.stderr}`);
  });

  test('allow-network = [list]: the allowed destinations are reached, by curl and by plain TCP; nothing else is', async () => {
    clear(servers.seen);
    const before = { ...servers.listeners.received };
    const { s, ws } = workspace('network-list', `[sandbox.package.net-probe]\nallow-network = ${allowList(servers.ports)}\n`);
    const r = await runCli(['build', '-p', 'net-probe'], { cwd: ws, env: s.env });
    assert.equal(r.status, 0, r.stderr);
    if (process.env.SHOW_PROBES) console.log(r.stderr);
    const received = { ...servers.listeners.received, dns: servers.listeners.received.dns - before.dns, outside: servers.listeners.received.outside - before.outside };
    const got = reached(servers.seen, received);
    for (const name of ALLOWED) assert.ok(got.has(name), `${name} did not reach its server\n${r.stderr}`);
    for (const name of REFUSED) assert.ok(!got.has(name), `${name} reached its server\n${r.stderr}`);
    // HTTPS was tunnelled, not intercepted: the server saw the request over its own TLS.
    assert.deepEqual(servers.seen.tls, [`/curl-tls allowed.test:${servers.ports.tls}`]);
    assert.match(r.stderr, /probe curl-other-host: 403/);
    // The proxy ended with the build script.
    assert.deepEqual(processesWith(`127.0.0.1:${servers.ports.db}`), []);

    // Again through the cached session (no Node before cargo): the same, proxy and all.
    clear(servers.seen);
    writeFileSync(join(ws, 'probe/build.rs'), `${readFileSync(join(ws, 'probe/build.rs'), 'utf8')}\n// again\n`);
    const again = await runCli(['build', '-p', 'net-probe'], { cwd: ws, env: s.env });
    assert.equal(again.status, 0, again.stderr);
    const second = reached(servers.seen, { ...received, dns: 0, outside: 0 });
    for (const name of ALLOWED) assert.ok(second.has(name), `cached session: ${name} did not reach its server\n${again.stderr}`);
    for (const name of REFUSED.filter((n) => n !== 'dns' && n !== 'direct-outside')) assert.ok(!second.has(name), `cached session: ${name} reached its server`);
  });

  test('a failed build script names each destination its proxy refused, and the list to paste (the current one, extended)', async () => {
    const { s, ws } = workspace('network-note', `[sandbox.package.net-probe]\nallow-network = ${allowList(servers.ports)}\n`, { fail: '1' });
    // -v: the table to paste too, besides the allow command.
    const r = await runCli(['build', '-v', '-p', 'net-probe'], { cwd: ws, env: s.env });
    assert.notEqual(r.status, 0);
    const { http, http_other: other } = servers.ports;
    // The command adds only the new destinations to the list, never the whole network.
    const command = /^help: to allow this: (cargo sandbox allow net-probe .*)$/m.exec(r.stderr)?.[1] ?? '';
    assert.ok(command.includes(`--network=other.test:${http}`), r.stderr);
    assert.doesNotMatch(command, /--network(?!=)/);
    assert.doesNotMatch(command, new RegExp(`--network=allowed\\.test:${http}(\\s|$)`), 'a destination already listed is not offered again');
    assert.ok(r.stderr.includes(`other.test:${http}`) && r.stderr.includes(`allowed.test:${other}`), r.stderr);
    const list = /^\s*allow-network = \[(.*)\]$/m.exec(r.stderr)?.[1] ?? '';
    // under_score.test: a name the proxy takes is one a list can hold, so the list grows (never `true`).
    for (const d of [`allowed.test:${http}`, `127.0.0.1:${servers.ports.db}`, `other.test:${http}`, `allowed.test:${other}`, `under_score.test:${http}`]) assert.ok(list.includes(`"${d}"`), `${d} missing from the proposed list: ${list}\n${r.stderr}`);
    assert.doesNotMatch(r.stderr, /allow-network = true|--allow-network=net-probe[ `]/);
    assert.ok(r.stderr.includes(`--allow-network=net-probe:other.test:${http}`), r.stderr);
  });

  test('a script that floods its proxy: the record keeps each decision once, at most 1000, and the note calls it a scan', async () => {
    const marker = `flood-${process.pid}.test:1`;
    const { s, ws } = workspace('network-flood', `[sandbox.package.flood]\nallow-network = ["${marker}"]\n`);
    const build = runCli(['build', '-p', 'flood'], { cwd: ws, env: s.env });
    let log = '';
    for (const end = Date.now() + 120_000; !log && Date.now() < end; await sleep(50)) {
      const proxy = processesWith(marker)[0];
      const args = proxy ? readFileSync(`/proc/${proxy}/cmdline`, 'utf8').split('\0') : [];
      if (args.includes('--log')) log = args[args.indexOf('--log') + 1]!;
    }
    assert.ok(log, `no proxy ran for the script\n${log ? '' : (await build).stderr}`);
    const flooded = () => walkFiles(join(ws, 'target')).some((f) => f.endsWith('/out/flooded'));
    for (const end = Date.now() + 60_000; !flooded() && Date.now() < end; ) await sleep(50);
    const record = readFileSync(log, 'utf8');
    const r = await build;
    // The flood happened: every one of its 3000 requests was answered (refused) by the proxy.
    assert.match(r.stderr, /flood: 3000 of 3000 refusals answered/);
    const lines = record.trimEnd().split('\n');
    assert.equal(lines.length, 1001, `${lines.length} lines, ${record.length} bytes`);
    // A target longer than any HOST:PORT is cut visibly, never to a shorter port.
    assert.ok(lines.some((l) => /^refused\t(a{50}\.){4}a{50}\.test:[0-9]*\.\.\.\t/.test(l) && l.split('\t')[1]!.length === 263), lines.slice(0, 3).join('\n'));
    assert.equal(lines.at(-1), 'truncated\t1000');
    assert.equal(lines.filter((l) => l.includes('same.test:1')).length, 1);
    assert.ok(record.length < 100_000, `${record.length} bytes`);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /tried to reach at least \d+ destinations \(the first: `flood0\.test:1`.*too many to propose as a list/);
    assert.doesNotMatch(r.stderr, /allow-network = \[.*flood\d|--network=flood\d/);
  });

  test('audit: the destinations a proc macro tried are listed under its package, every audit; --suggest-risky --write grants its narrow list', async () => {
    const { s, ws } = workspace('network-macro-audit', '');
    const db = `127.0.0.1:${servers.ports.db}`;
    for (const round of [1, 2]) {
      clear(servers.seen);
      const r = await runCli(['audit', '-p', 'db-user', '--format', 'json'], { cwd: ws, env: s.env });
      assert.notEqual(r.status, 0, `round ${round}: the macro reached the database during the audit`);
      const report = JSON.parse(r.stdout) as { macros?: { package: string; compiling: string[]; network: { destination: string; blocked: boolean; reason?: string }[] }[] };
      // Observed again on the second audit: the macro and the crates that load it are rebuilt.
      assert.deepEqual(report.macros, [{ package: 'fake-sqlx-macros', version: '0.1.0', compiling: ['db-user 0.1.0'], network: [{ destination: db, blocked: true }], loadedWith: [] }], `round ${round}\n${r.stderr}`);
      assert.equal(servers.seen.db.length, 0);
    }
    const suggest = await runCli(['audit', '-p', 'db-user', '--suggest'], { cwd: ws, env: s.env });
    assert.match(suggest.stderr, new RegExp(`not suggested: \`allow-network = \\["${db}"\\]\` for \`fake-sqlx-macros v0\\.1\\.0\``), suggest.stderr);
    const write = await runCli(['audit', '-p', 'db-user', '--suggest-risky', '--write'], { cwd: ws, env: s.env });
    assert.equal(write.status, 0, write.stderr);
    assert.match(readFileSync(join(ws, '.cargo/config.toml'), 'utf8'), new RegExp(`\\[sandbox\\.package\\."fake-sqlx-macros@=0\\.1\\.0"\\]\nallow-network = \\["${db}"\\]`));
    clear(servers.seen);
    const build = await runCli(['build', '-p', 'db-user'], { cwd: ws, env: s.env });
    assert.equal(build.status, 0, build.stderr);
    assert.ok(servers.seen.db.some((l) => l.startsWith('PING macro')), 'the granted macro did not reach the database');
  });

  test('a proc macro that checks queries against a local database at compile time works with its package\'s list, and only with it, also through a re-export', async () => {
    // db-reexport-user writes `fake_sqlx::query!`, as sqlx users do: no `--extern` names the macro.
    const users = ['-p', 'db-user', '-p', 'db-reexport-user'];
    const plain = workspace('network-macro-plain', '');
    clear(servers.seen);
    const control = await runPlainCargo(['build', ...users], { cwd: plain.ws, env: plain.s.env });
    assert.equal(control.status, 0, control.stderr);
    assert.deepEqual(servers.seen.db.filter((l) => l.startsWith('PING macro')).sort(), ['PING macro SELECT 1', 'PING macro SELECT 2'], 'plain cargo: the macro did not reach the database');

    for (const user of ['db-user', 'db-reexport-user']) {
      clear(servers.seen);
      const denied = workspace(`network-macro-denied-${user}`, '');
      const refused: RunResult = await runCli(['build', '-p', user], { cwd: denied.ws, env: denied.s.env });
      assert.notEqual(refused.status, 0, `${user}: the macro reached the database without a grant`);
      assert.equal(servers.seen.db.length, 0, `the macro reached the database: ${servers.seen.db.join(', ')}`);
    }

    clear(servers.seen);
    const { s, ws } = workspace('network-macro', `[sandbox.package.fake-sqlx-macros]\nallow-network = ["127.0.0.1:${servers.ports.db}"]\n`);
    // The macro package named too: cargo also links the macro into target/debug, which must not cost it its grant.
    const r = await runCli(['build', '-p', 'fake-sqlx-macros', ...users], { cwd: ws, env: s.env });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(servers.seen.db.filter((l) => l.startsWith('PING macro')).sort(), ['PING macro SELECT 1', 'PING macro SELECT 2'], 'the macro did not reach the database');

    // The grant follows the macro's bytes, not its file: rewritten in place (same inode, size and
    // mtime, as a build script could through a link a repository ships), it carries no grant.
    // (cargo's link of it in target/debug is the same file as the one in deps that rustc loads.)
    const library = join(ws, 'target/debug/libfake_sqlx_macros.so');
    const rebuild = async () => {
      writeFileSync(join(ws, 'db-user/src/lib.rs'), `${readFileSync(join(ws, 'db-user/src/lib.rs'), 'utf8')}\n// again\n`);
      clear(servers.seen);
      return runCli(['build', '-p', 'fake-sqlx-macros', ...users], { cwd: ws, env: s.env });
    };
    const rewrite = (change: (bytes: Buffer) => void) => {
      const { mtimeNs } = statSync(library, { bigint: true });
      const bytes = readFileSync(library);
      change(bytes);
      writeFileSync(library, bytes); // in place: the same inode
      spawnSync('touch', ['-m', '-d', `@${mtimeNs / 1_000_000_000n}.${String(mtimeNs % 1_000_000_000n).padStart(9, '0')}`, library]);
    };
    rewrite(() => {}); // the same bytes: checked again (the ctime moved), still ours
    const same = await rebuild();
    assert.equal(same.status, 0, same.stderr);
    assert.doesNotMatch(same.stderr, /Compiling fake-sqlx-macros/);
    assert.ok(servers.seen.db.some((l) => l.startsWith('PING macro')), 'the unchanged macro lost its grant');
    rewrite((bytes) => {
      const at = bytes.indexOf('rustc version');
      bytes.write('RUSTC', at + 0, 'latin1'); // a string in .comment: still a loadable library
    });
    const changed = await rebuild();
    assert.notEqual(changed.status, 0, 'the rewritten macro kept its grant');
    // It ran (the library still loads), without the network.
    assert.match(changed.stderr, /cannot reach the database/);
    assert.equal(servers.seen.db.length, 0, `the rewritten macro reached the database: ${servers.seen.db.join(', ')}`);

    // The same bytes under another inode (a copied or restored target/) are still ours.
    rewrite((bytes) => bytes.write('rustc', bytes.indexOf('RUSTC version'), 'latin1'));
    const deps = join(ws, 'target/debug/deps');
    const inDeps = walkFiles(deps).find((f) => /libfake_sqlx_macros-[0-9a-f]+\.so$/.test(f) && statSync(f).ino === statSync(library).ino)!;
    spawnSync('cp', ['-p', inDeps, `${inDeps}.copy`]);
    spawnSync('mv', [`${inDeps}.copy`, inDeps]);
    const copied = await rebuild();
    assert.equal(copied.status, 0, copied.stderr);
    assert.ok(servers.seen.db.some((l) => l.startsWith('PING macro')), 'the copied macro lost its grant');

    // deps as a link (a repository can ship one into a build script's OUT_DIR, where the script
    // could swap the library once checked): nothing there is trusted.
    spawnSync('mv', [deps, `${deps}-real`]);
    symlinkSync('deps-real', deps);
    const linked = await rebuild();
    assert.notEqual(linked.status, 0, 'a macro in a linked deps directory kept its grant');
    // Refused before anything compiles: cargo never makes such a link.
    assert.match(linked.stderr, /debug\/deps is a link, which cargo never makes there/);
    assert.equal(servers.seen.db.length, 0, `the macro reached the database: ${servers.seen.db.join(', ')}`);
  });

});
