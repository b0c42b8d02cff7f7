// Listeners on the host that an attack would reach if the sandbox leaked: they count what arrives.

import { createSocket, type Socket } from 'node:dgram';
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/**
 * Abstract unix sockets, one per name given: prints `ready`, then `conn NAME HEX` for each
 * connection with (the hex of) what it sent, up to 256 bytes.
 */
export const ABSTRACT_SINKS = `
import os, select, socket, sys, threading
socks = {}
for name in sys.argv[1:]:
    s = socket.socket(socket.AF_UNIX)
    s.bind('\\0' + name)
    s.listen(16)
    socks[s] = name
print('ready', flush=True)
threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
while True:
    for s in select.select(list(socks), [], [])[0]:
        c, _ = s.accept()
        c.settimeout(2)
        data = b''
        try:
            while len(data) < 256:
                d = c.recv(256)
                if not d:
                    break
                data += d
        except OSError:
            pass
        print('conn', socks[s], data.hex(), flush=True)
        c.close()
`;

/** What arrived, per listener. */
export interface Received {
  tcp: number;
  udp: number;
  /** Datagrams to the fake DNS resolver. */
  dns: number;
  /** The fake ssh-agent socket. */
  unix: number;
  abstract: number;
  dbus: number;
  x11: number;
  docker: number;
  /** TCP and DNS datagrams to this machine's own non-loopback address (with `outside`). */
  outside: number;
  outsideDns: number;
}

export interface Listeners {
  tcpPort: number;
  udpPort: number;
  dnsPort: number;
  unixPath: string;
  /** An abstract unix socket name (no file: only network namespaces separate these). */
  abstractName: string;
  dbusPath: string;
  /** The X server's socket file and its abstract twin, as `path,@path`. */
  x11Sockets: string;
  dockerPath: string;
  /** `ip:port` of an HTTP server and of a DNS "resolver" on this machine's non-loopback address (with `outside`). */
  outsideAddr: string;
  outsideDnsAddr: string;
  received: Received;
  close(): Promise<void>;
}

function listen(server: Server, ...args: unknown[]): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    (server.listen as (...a: unknown[]) => void)(...args, () => resolve());
  });
}

async function counter(received: Received, key: keyof Received, ...where: unknown[]): Promise<Server> {
  const server = createServer((s) => {
    received[key]++;
    s.on('error', () => {}).resume();
  });
  await listen(server, ...where);
  return server;
}

async function udpCounter(received: Received, key: keyof Received, address = '127.0.0.1'): Promise<Socket> {
  const udp = createSocket('udp4');
  udp.on('message', () => received[key]++);
  await new Promise<void>((r) => udp.bind(0, address, () => r()));
  return udp;
}

/**
 * This machine's own non-loopback IPv4 address: a host "outside" the sandbox that every machine has,
 * so the outside-network control runs offline too (the traffic never leaves the machine).
 */
export function nonLoopbackAddress(): string {
  const found = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal);
  if (!found) throw new Error('this machine has no non-loopback IPv4 address for the outside-network control');
  return found.address;
}

/** An HTTP server that answers every connection with a status line, counted. */
async function httpCounter(received: Received, address: string): Promise<Server> {
  const server = createServer((s) => {
    received.outside++;
    s.on('error', () => {}).resume().end('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n');
  });
  await listen(server, 0, address);
  return server;
}

let listenerSets = 0;

/**
 * `dir` holds the socket files; the X11 socket goes where X servers put it, /tmp/.X11-unix.
 * `outside`: also listen on this machine's non-loopback address (HTTP and DNS).
 */
export async function startListeners(dir: string, opts: { outside?: boolean } = {}): Promise<Listeners> {
  const received: Received = { tcp: 0, udp: 0, dns: 0, unix: 0, abstract: 0, dbus: 0, x11: 0, docker: 0, outside: 0, outsideDns: 0 };
  const display = 900 + ((process.pid * 16 + listenerSets++) % 60000);
  mkdirSync('/tmp/.X11-unix', { recursive: true, mode: 0o1777 });
  const paths = { unix: join(dir, 'agent.sock'), dbus: join(dir, 'dbus.sock'), docker: join(dir, 'docker.sock'), x11: `/tmp/.X11-unix/X${display}` };
  rmSync(paths.x11, { force: true });
  const servers = [
    await counter(received, 'tcp', 0, '127.0.0.1'),
    await counter(received, 'unix', paths.unix),
    await counter(received, 'dbus', paths.dbus),
    await counter(received, 'docker', paths.docker),
    await counter(received, 'x11', paths.x11),
  ];
  const udp = await udpCounter(received, 'udp');
  const dns = await udpCounter(received, 'dns');
  const outsideIp = opts.outside ? nonLoopbackAddress() : undefined;
  const outsideHttp = outsideIp ? await httpCounter(received, outsideIp) : undefined;
  if (outsideHttp) servers.push(outsideHttp);
  const outsideDns = outsideIp ? await udpCounter(received, 'outsideDns', outsideIp) : undefined;
  // Node pads abstract socket names to the full address length, so no real client reaches them;
  // a small Python listener binds the exact names, as D-Bus and X11 do.
  const abstractName = `cs-test-${process.pid}-${Date.now()}-${listenerSets}`;
  const abstract = spawn('python3', ['-c', ABSTRACT_SINKS, abstractName, paths.x11], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    abstract.on('error', reject);
    createInterface({ input: abstract.stdout! }).on('line', (line) => {
      if (line === 'ready') resolve();
      else if (line.startsWith(`conn ${abstractName} `)) received.abstract++;
      else if (line.startsWith('conn ')) received.x11++;
    });
  });
  const port = (s: Server) => {
    const a = s.address();
    return typeof a === 'object' && a ? a.port : 0;
  };
  return {
    tcpPort: port(servers[0]!),
    udpPort: udp.address().port,
    dnsPort: dns.address().port,
    unixPath: paths.unix,
    abstractName,
    dbusPath: paths.dbus,
    x11Sockets: `${paths.x11},@${paths.x11}`,
    dockerPath: paths.docker,
    outsideAddr: outsideHttp ? `${outsideIp}:${port(outsideHttp)}` : '',
    outsideDnsAddr: outsideDns ? `${outsideIp}:${outsideDns.address().port}` : '',
    received,
    close: async () => {
      await Promise.all([
        ...servers.map((s) => new Promise<void>((r) => s.close(() => r()))),
        new Promise<void>((r) => {
          abstract.on('exit', () => r());
          abstract.stdin!.end();
        }),
        new Promise<void>((r) => udp.close(() => r())),
        new Promise<void>((r) => dns.close(() => r())),
        ...(outsideDns ? [new Promise<void>((r) => outsideDns.close(() => r()))] : []),
      ]);
      rmSync(paths.x11, { force: true });
    },
  };
}
