// Listeners on the host that an attack would reach if the sandbox leaked: they count what arrives.

import { createSocket } from 'node:dgram';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { createInterface } from 'node:readline';

const ABSTRACT_LISTENER = `
import os, socket, sys, threading
s = socket.socket(socket.AF_UNIX)
s.bind('\\0' + sys.argv[1])
s.listen(16)
print('ready', flush=True)
threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
while True:
    c, _ = s.accept()
    print('conn', flush=True)
    c.close()
`;

export interface Listeners {
  tcpPort: number;
  udpPort: number;
  unixPath: string;
  /** An abstract unix socket name (no file: only network namespaces separate these). */
  abstractName: string;
  /** Connections or datagrams received so far, per listener. */
  received: { tcp: number; udp: number; unix: number; abstract: number };
  close(): Promise<void>;
}

function listen(server: Server, ...args: unknown[]): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    (server.listen as (...a: unknown[]) => void)(...args, () => resolve());
  });
}

export async function startListeners(unixPath: string): Promise<Listeners> {
  const received = { tcp: 0, udp: 0, unix: 0, abstract: 0 };
  const tcp = createServer((s) => {
    received.tcp++;
    s.on('error', () => {}).resume();
  });
  await listen(tcp, 0, '127.0.0.1');
  const unix = createServer((s) => {
    received.unix++;
    s.on('error', () => {}).resume();
  });
  await listen(unix, unixPath);
  // Node pads abstract socket names to the full address length, so no real client reaches them;
  // a small Python listener binds the exact name, as D-Bus and X11 do.
  const abstractName = `cs-test-${process.pid}-${Date.now()}`;
  const abstract = spawn('python3', ['-c', ABSTRACT_LISTENER, abstractName], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    abstract.on('error', reject);
    createInterface({ input: abstract.stdout! }).on('line', (line) => {
      if (line === 'ready') resolve();
      else if (line === 'conn') received.abstract++;
    });
  });
  const udp = createSocket('udp4');
  udp.on('message', () => received.udp++);
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
  const tcpAddr = tcp.address();
  const udpAddr = udp.address();
  return {
    tcpPort: typeof tcpAddr === 'object' && tcpAddr ? tcpAddr.port : 0,
    udpPort: udpAddr.port,
    unixPath,
    abstractName,
    received,
    close: async () => {
      await Promise.all([
        new Promise<void>((r) => tcp.close(() => r())),
        new Promise<void>((r) => unix.close(() => r())),
        new Promise<void>((r) => {
          abstract.on('exit', () => r());
          abstract.stdin!.end();
        }),
        new Promise<void>((r) => udp.close(() => r())),
      ]);
    },
  };
}
