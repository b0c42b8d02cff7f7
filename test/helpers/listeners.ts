// Listeners on the host that an attack would reach if the sandbox leaked: they count what arrives.

import { createSocket } from 'node:dgram';
import { createServer, type Server } from 'node:net';

export interface Listeners {
  tcpPort: number;
  udpPort: number;
  unixPath: string;
  /** Connections or datagrams received so far, per listener. */
  received: { tcp: number; udp: number; unix: number };
  close(): Promise<void>;
}

function listen(server: Server, ...args: unknown[]): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    (server.listen as (...a: unknown[]) => void)(...args, () => resolve());
  });
}

export async function startListeners(unixPath: string): Promise<Listeners> {
  const received = { tcp: 0, udp: 0, unix: 0 };
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
  const udp = createSocket('udp4');
  udp.on('message', () => received.udp++);
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
  const tcpAddr = tcp.address();
  const udpAddr = udp.address();
  return {
    tcpPort: typeof tcpAddr === 'object' && tcpAddr ? tcpAddr.port : 0,
    udpPort: udpAddr.port,
    unixPath,
    received,
    close: async () => {
      await Promise.all([
        new Promise<void>((r) => tcp.close(() => r())),
        new Promise<void>((r) => unix.close(() => r())),
        new Promise<void>((r) => udp.close(() => r())),
      ]);
    },
  };
}
