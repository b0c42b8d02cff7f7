// What the attack fixtures (test/fixtures/attacks) aim at and leave behind: the processes and host
// secrets they go after, the parameters file that tells them where, and the reports they write.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Listeners } from './listeners.js';
import { copyFixture, makeScratch, SECRETS, sleep, walkFiles, type Scratch } from './sandbox-env.js';

export interface Victims {
  /** A process the attacks try to kill. */
  kill: ChildProcess;
  others: ChildProcess[];
  killMarker: string;
  ptraceMarker: string;
}

/** Processes the attacks aim at: a victim to kill, one to ptrace, one holding a deleted secret. */
export async function startVictims(scratch: Scratch, tag: string): Promise<Victims> {
  const killMarker = `cs-victim-${tag}-${process.pid}`;
  const ptraceMarker = `cs-ptrace-victim-${tag}-${process.pid}`;
  const kill = spawn('/bin/sleep', ['600'], { argv0: killMarker, stdio: 'ignore' });
  // The secret reaches the traced shell through a pipe: it is in its heap only, not in its
  // environment or command line, so /proc/<pid>/environ cannot stand in for ptrace.
  const traced = spawn('/bin/bash', ['-c', 'read -r secret; while :; do sleep 600; done'], { argv0: ptraceMarker, stdio: ['pipe', 'ignore', 'ignore'], env: {} });
  traced.stdin!.end(`${SECRETS.ptrace}\n`);
  const held = join(scratch.runtimeDir, 'held-open-secret');
  writeFileSync(held, SECRETS.openFile);
  const holder = spawn('/bin/sh', ['-c', 'exec 3<"$0"; rm -f "$0"; exec sleep 600', held], { stdio: 'ignore' });
  for (let i = 0; i < 100 && existsSync(held); i++) await sleep(20);
  return { kill, others: [traced, holder], killMarker, ptraceMarker };
}

export function stopVictims(victims: Victims): void {
  for (const p of [victims.kill, ...victims.others]) p.kill('SIGKILL');
}

/** A host secret in the system tree, and a line of it that must not leave the host. */
export interface SystemSecret {
  path: string;
  marker: string;
}

/**
 * The host's own secrets, readable by root: the real /etc/shadow and /etc/gshadow, and an ssh host
 * key, a sudoers rule and a TLS key planted for the test (removed by `remove`, with any directory
 * it had to create).
 */
export function plantSystemSecrets(): { secrets: SystemSecret[]; remove(): void } {
  const tag = `cstest${process.pid}`;
  const created: string[] = [];
  const planted: SystemSecret[] = [];
  for (const [dir, name, mode] of [
    ['/etc/ssh', `ssh_host_${tag}_ed25519_key`, 0o755],
    ['/etc/sudoers.d', tag, 0o750],
    ['/etc/ssl/private', `${tag}.key`, 0o710],
  ] as const) {
    if (!existsSync(dir)) {
      mkdirSync(dir, { mode });
      created.push(dir);
    }
    const marker = `SYSTEM-SECRET-${name}`;
    // A comment: valid for sudo too, should it read the file before the test removes it.
    writeFileSync(join(dir, name), `# ${marker}\n`, { mode: 0o400 });
    planted.push({ path: join(dir, name), marker });
  }
  const real = ['/etc/shadow', '/etc/gshadow'].flatMap((path) => {
    const first = existsSync(path) ? readFileSync(path, 'utf8').split('\n')[0] : '';
    return first ? [{ path, marker: first }] : [];
  });
  return {
    secrets: [...real, ...planted],
    remove() {
      for (const s of planted) rmSync(s.path, { force: true });
      for (const dir of created) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function writeParams(ws: string, scratch: Scratch, listeners: Listeners, extra: Record<string, string>): void {
  const params = {
    home: scratch.home,
    cargo_home: scratch.cargoHome,
    tcp_port: listeners.tcpPort,
    udp_port: listeners.udpPort,
    dns_port: listeners.dnsPort,
    unix_socket: listeners.unixPath,
    abstract_socket: listeners.abstractName,
    dbus_socket: listeners.dbusPath,
    x11_socket: listeners.x11Sockets,
    docker_socket: listeners.dockerPath,
    outside_addr: listeners.outsideAddr,
    outside_dns: listeners.outsideDnsAddr,
    ...extra,
  };
  writeFileSync(join(ws, 'attack-params.txt'), Object.entries(params).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
}

/** A file the attack `pkg` wrote into its own OUT_DIR (`loot`, `ran`, ...), if it ran. */
export function outFile(ws: string, pkg: string, name: string): string | undefined {
  const f = walkFiles(join(ws, 'target')).find((p) => p.includes(`/build/${pkg}-`) && p.endsWith(`/out/${name}`));
  return f && readFileSync(f, 'utf8');
}

/** What the attack `pkg` obtained ('' if nothing, or if it did not run). */
export function lootOf(ws: string, pkg: string): string {
  return outFile(ws, pkg, 'loot') ?? '';
}

/** The attack's own report: proof that it ran, and how each attempt ended. */
export function ranReport(ws: string, pkg: string): string | undefined {
  return outFile(ws, pkg, 'ran');
}

/** A fresh user and copy of the attack workspace for an attack run on its own (`cargo build -p NAME`). */
export function soloWorkspace(label: string): { scratch: Scratch; ws: string } {
  const scratch = makeScratch(label);
  const ws = copyFixture(scratch, 'attacks');
  writeFileSync(join(ws, 'attack-params.txt'), `home=${scratch.home}\ncargo_home=${scratch.cargoHome}\n`);
  return { scratch, ws };
}
