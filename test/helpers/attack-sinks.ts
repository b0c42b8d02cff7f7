// One listener per attack and per thing it reaches for (a port, a socket file, an abstract socket):
// a connection that arrives at an attack's sink is that attack's, not another's. Each sink also
// keeps what arrived (the attacks send `PWNED <package>`), for attacks that must share a socket
// (the ssh-agent named by SSH_AUTH_SOCK, which every build script is given).

import { spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ABSTRACT_SINKS, nonLoopbackAddress } from './listeners.js';


/**
 * What listens: TCP or UDP on 127.0.0.1 (the value is the port), or on this machine's non-loopback
 * address (`ip:port`), a socket file, an abstract socket (its name), or an X server (its socket
 * file and the abstract twin, as `path,@path`).
 */
export type SinkKind = 'tcp' | 'udp' | 'outside-tcp' | 'outside-udp' | 'unix' | 'abstract' | 'x11';

export interface SinkSpec {
  /** The attack package this sink is for; its parameter is written as `ATTACK.PARAM=value`. */
  attack: string;
  param: string;
  kind: SinkKind;
}

export interface Sink extends SinkSpec {
  /** Where it listens: what the attack is given. */
  value: string;
  /** What arrived: one entry per connection or datagram (an X server's two sockets both count). */
  arrived: string[];
}

export interface AttackSinks {
  sinks: Sink[];
  /** A socket file shared by every build script (SSH_AUTH_SOCK): who connected shows only in what it sent. */
  agent: { path: string; arrived: string[] };
  /** `ATTACK.PARAM=value` for attack-params.txt. */
  params: Record<string, string>;
  close(): Promise<void>;
}

function listen(server: Server, ...args: unknown[]): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    (server.listen as (...a: unknown[]) => void)(...args, () => resolve());
  });
}

/** A stream listener that keeps what each connection sent; `answer` is written back first. */
async function streamSink(arrived: string[], where: unknown[], answer?: string): Promise<Server> {
  const server = createServer((s) => {
    const chunks: Buffer[] = [];
    s.on('error', () => {});
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('close', () => arrived.push(Buffer.concat(chunks).toString('latin1')));
    if (answer) s.end(answer);
  });
  await listen(server, ...where);
  return server;
}

async function datagramSink(arrived: string[], address: string): Promise<Socket> {
  const udp = createSocket('udp4');
  udp.on('message', (m) => arrived.push(m.toString('latin1')));
  await new Promise<void>((r) => udp.bind(0, address, () => r()));
  return udp;
}

let sinkSets = 0;

/** An X display number whose socket file is free. */
function freeDisplay(): number {
  for (;;) {
    const display = 20000 + Math.floor(Math.random() * 40000);
    if (!existsSync(`/tmp/.X11-unix/X${display}`)) return display;
  }
}

/** Starts the sinks of `specs`, their socket files in `dir` (X servers' in /tmp/.X11-unix, where X puts them). */
export async function startAttackSinks(dir: string, specs: SinkSpec[]): Promise<AttackSinks> {
  const set = sinkSets++;
  const servers: Server[] = [];
  const datagrams: Socket[] = [];
  const files: string[] = [];
  const abstract = new Map<string, string[]>();
  const sinks: Sink[] = [];
  let outside: string | undefined;
  const portOf = (s: Server | Socket) => {
    const a = s.address();
    return typeof a === 'object' && a ? a.port : 0;
  };
  for (const [i, spec] of specs.entries()) {
    const arrived: string[] = [];
    let value: string;
    switch (spec.kind) {
      case 'tcp':
      case 'outside-tcp': {
        const address = spec.kind === 'tcp' ? '127.0.0.1' : (outside ??= nonLoopbackAddress());
        // The outside "host" is an HTTP server: it answers with a status line.
        const server = await streamSink(arrived, [0, address], spec.kind === 'outside-tcp' ? 'HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n' : undefined);
        servers.push(server);
        value = spec.kind === 'tcp' ? String(portOf(server)) : `${address}:${portOf(server)}`;
        break;
      }
      case 'udp':
      case 'outside-udp': {
        const address = spec.kind === 'udp' ? '127.0.0.1' : (outside ??= nonLoopbackAddress());
        const udp = await datagramSink(arrived, address);
        datagrams.push(udp);
        value = spec.kind === 'udp' ? String(portOf(udp)) : `${address}:${portOf(udp)}`;
        break;
      }
      case 'unix': {
        value = join(dir, `${spec.attack}-${spec.param}.sock`);
        servers.push(await streamSink(arrived, [value]));
        files.push(value);
        break;
      }
      case 'abstract': {
        value = `cs-sink-${process.pid}-${Date.now()}-${set}-${i}`;
        abstract.set(value, arrived);
        break;
      }
      case 'x11': {
        mkdirSync('/tmp/.X11-unix', { recursive: true, mode: 0o1777 });
        const path = `/tmp/.X11-unix/X${freeDisplay()}`;
        servers.push(await streamSink(arrived, [path]));
        files.push(path);
        // Node pads abstract names to the full address length: the Python listener binds the twin.
        abstract.set(path, arrived);
        value = `${path},@${path}`;
        break;
      }
    }
    sinks.push({ ...spec, value, arrived });
  }
  const agent = { path: join(dir, 'agent.sock'), arrived: [] as string[] };
  servers.push(await streamSink(agent.arrived, [agent.path]));
  files.push(agent.path);
  // Node pads abstract socket names to the full address length, so no real client reaches them;
  // a small Python listener binds the exact names, as D-Bus and X11 do.
  const python = abstract.size
    ? spawn('python3', ['-c', ABSTRACT_SINKS, ...abstract.keys()], { stdio: ['pipe', 'pipe', 'inherit'] })
    : undefined;
  if (python) {
    await new Promise<void>((resolve, reject) => {
      python.on('error', reject);
      createInterface({ input: python.stdout! }).on('line', (line) => {
        if (line === 'ready') return resolve();
        const [, name, hex] = line.split(' ');
        abstract.get(name!)?.push(Buffer.from(hex ?? '', 'hex').toString('latin1'));
      });
    });
  }
  const params = Object.fromEntries(sinks.map((s) => [`${s.attack}.${s.param}`, s.value]));
  return {
    sinks,
    agent,
    params,
    close: async () => {
      await Promise.all([
        ...servers.map((s) => new Promise<void>((r) => s.close(() => r()))),
        ...datagrams.map((u) => new Promise<void>((r) => u.close(() => r()))),
        ...(python
          ? [
              new Promise<void>((r) => {
                python.on('exit', () => r());
                python.stdin!.end();
              }),
            ]
          : []),
      ]);
      for (const f of files) rmSync(f, { force: true });
    },
  };
}
