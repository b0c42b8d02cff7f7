// DNS exfiltration, judged on every machine, online or not: the test is the resolver. A small DNS
// server (node:dgram) on a loopback address of its own answers every name under `exfil.test` and
// records each query; cargo, plain or sandboxed, runs in a private mount namespace (`unshare
// --mount`, as root) where /etc/resolv.conf names that server and /etc/nsswitch.conf sends host
// names to DNS. The machine's own files are never touched.
//   - a build script's lookup reaches the resolver under plain cargo (control), and nothing at
//     all reaches it from the sandbox (its network namespace has no route to any resolver);
//   - under an `allow-network` list, the proxy on the host resolves a listed name (through this
//     resolver: the query is recorded and the request arrives), never a refused one (a CONNECT to
//     `refused-secret.exfil.test` would otherwise carry its labels out as a query).

import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { lootOf, soloWorkspace } from '../helpers/attack-env.js';
import { CLI, copyFixture, makeScratch, run, sleep, walkFiles, type RunResult, type Scratch } from '../helpers/sandbox-env.js';

const IS_ROOT = process.getuid?.() === 0;

interface Resolver {
  address: string;
  /** `NAME TYPE` of every query received, in order. */
  queries: string[];
  close(): Promise<void>;
}

/** The question of a DNS query: its name (lower case), type, and where the question ends. */
function question(msg: Buffer): { name: string; type: number; end: number } | undefined {
  let off = 12;
  const labels: string[] = [];
  while (off < msg.length && msg[off] !== 0) {
    const len = msg[off]!;
    if (len > 63) return undefined;
    labels.push(msg.subarray(off + 1, off + 1 + len).toString('latin1'));
    off += len + 1;
  }
  if (off + 5 > msg.length) return undefined;
  return { name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(off + 1), end: off + 5 };
}

/** A DNS server on port 53 of a loopback address of this test's own: `exfil.test` names are 127.0.0.1. */
async function startResolver(): Promise<Resolver> {
  const queries: string[] = [];
  for (let attempt = 0; ; attempt++) {
    const address = `127.53.${(process.pid >> 8) & 255}.${((process.pid + attempt) % 254) + 1}`;
    const udp: Socket = createSocket('udp4');
    udp.on('message', (msg, peer) => {
      const q = question(msg);
      if (!q) return;
      queries.push(`${q.name} ${q.type === 1 ? 'A' : q.type === 28 ? 'AAAA' : q.type}`);
      const ours = q.name === 'exfil.test' || q.name.endsWith('.exfil.test');
      const a = ours && q.type === 1;
      const head = Buffer.alloc(12);
      head.writeUInt16BE(msg.readUInt16BE(0), 0);
      head.writeUInt16BE(ours ? 0x8180 : 0x8183, 2); // a response, recursion available; NXDOMAIN for others
      head.writeUInt16BE(1, 4);
      head.writeUInt16BE(a ? 1 : 0, 6);
      const answer = a ? Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]) : Buffer.alloc(0);
      udp.send(Buffer.concat([head, msg.subarray(12, q.end), answer]), peer.port, peer.address);
    });
    const bound = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false));
      udp.bind(53, address, () => resolve(true));
    });
    if (bound) return { address, queries, close: () => new Promise<void>((r) => udp.close(() => r())) };
    if (attempt > 20) throw new Error('no loopback address with a free port 53');
  }
}

/**
 * Runs `argv` in a private mount namespace whose /etc/resolv.conf names `resolver` and whose
 * /etc/nsswitch.conf looks host names up in files, then DNS (no systemd-resolved, no mDNS).
 */
function withResolver(scratch: Scratch, resolver: Resolver, argv: string[], cwd: string): Promise<RunResult> {
  const dir = join(scratch.root, 'resolver-etc');
  mkdirSync(dir, { recursive: true });
  const resolv = join(dir, 'resolv.conf');
  const nss = join(dir, 'nsswitch.conf');
  writeFileSync(resolv, `nameserver ${resolver.address}\noptions attempts:1 timeout:2\n`);
  const host = existsSync('/etc/nsswitch.conf') ? readFileSync('/etc/nsswitch.conf', 'utf8') : '';
  writeFileSync(nss, host.split('\n').filter((l) => !/^\s*hosts\s*:/.test(l)).join('\n') + '\nhosts: files dns\n');
  const script = 'mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/nsswitch.conf && shift 2 && exec "$@"';
  return run('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', script, 'sh', resolv, nss, ...argv], { cwd, env: scratch.env });
}

function report(ws: string, pkg: string, name: string): string {
  const f = walkFiles(join(ws, 'target')).find((p) => p.includes(`/build/${pkg}-`) && p.endsWith(`/out/${name}`));
  return f ? readFileSync(f, 'utf8') : '';
}

describe('DNS, through a resolver the test runs', { concurrency: false, skip: IS_ROOT ? false : 'needs root, for a private mount namespace with its own /etc/resolv.conf' }, () => {
  let resolver: Resolver;
  before(async () => {
    resolver = await startResolver();
  });
  after(async () => {
    await resolver?.close();
  });

  test('a build script\'s lookup of a name carrying loot reaches no resolver (control: plain cargo\'s reaches ours, and resolves)', async () => {
    const name = 'stolen-7f3a9c.exfil.test';
    const solo = (label: string) => {
      const w = soloWorkspace(label);
      writeFileSync(join(w.ws, 'attack-params.txt'), `dns_name=${name}\n`, { flag: 'a' });
      return w;
    };
    const p = solo('dns-plain');
    resolver.queries.length = 0;
    const plain = await withResolver(p.scratch, resolver, ['cargo', 'build', '-p', 'attack-dns'], p.ws);
    assert.equal(plain.status, 0, plain.stderr);
    assert.ok(resolver.queries.includes(`${name} A`), `plain: the query did not reach the resolver: ${JSON.stringify(resolver.queries)}`);
    assert.match(lootOf(p.ws, 'attack-dns'), /^resolved 127\.0\.0\.1$/m);
    const s = solo('dns');
    resolver.queries.length = 0;
    const r = await withResolver(s.scratch, resolver, [CLI, 'build', '-p', 'attack-dns'], s.ws);
    assert.equal(r.status, 0, r.stderr);
    await sleep(200);
    assert.match(lootOf(s.ws, 'attack-dns'), /^lookup failed/m, 'the attack did not try');
    assert.doesNotMatch(lootOf(s.ws, 'attack-dns'), /resolved/);
    assert.deepEqual(resolver.queries, []);
  });

  test('under an allow-network list, the proxy resolves the listed name through the host\'s resolver and no other: a refused CONNECT\'s name and the script\'s own lookup send no query (control: plain cargo resolves all three)', async () => {
    const server = createServer((_req, res) => res.end('hello-from-granted\n'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    try {
      const params = `lookup=direct-secret.exfil.test\ngranted=granted.exfil.test:${port}\nrefused=refused-secret.exfil.test:${port}\n`;
      const build = async (mode: 'sandbox' | 'plain') => {
        const scratch = makeScratch(`dns-proxy-${mode}`);
        const ws = copyFixture(scratch, 'layers');
        writeFileSync(join(ws, 'layers-params.txt'), params);
        mkdirSync(join(ws, '.cargo'));
        writeFileSync(join(ws, '.cargo/config.toml'), `[sandbox.package.dns-probe]\nallow-network = ["granted.exfil.test:${port}"]\n`);
        resolver.queries.length = 0;
        const result = await withResolver(scratch, resolver, [mode === 'sandbox' ? CLI : 'cargo', 'build', '-p', 'dns-probe'], ws);
        await sleep(200);
        return { result, report: report(ws, 'dns-probe', 'dns-report'), names: [...new Set(resolver.queries.map((q) => q.split(' ')[0]))].sort() };
      };
      const plain = await build('plain');
      assert.equal(plain.result.status, 0, plain.result.stderr);
      assert.equal(plain.report, 'lookup=resolved 127.0.0.1\ngranted=hello-from-granted\nrefused=hello-from-granted\n');
      assert.deepEqual(plain.names, ['direct-secret.exfil.test', 'granted.exfil.test', 'refused-secret.exfil.test']);
      const s = await build('sandbox');
      assert.equal(s.result.status, 0, s.result.stderr);
      assert.match(s.report, /^granted=hello-from-granted$/m, 'the listed name was not reached through the proxy');
      assert.match(s.report, /^refused=proxy said HTTP\/1\.1 403 /m);
      assert.match(s.report, /^lookup=error /m);
      assert.deepEqual(s.names, ['granted.exfil.test']);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
