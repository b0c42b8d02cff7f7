// What the attack fixtures (test/fixtures/attacks) aim at and leave behind: the processes and host
// secrets they go after, the parameters file that tells them where, and the reports they write.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
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
  // One of each family the sandbox masks: ssh host keys, sudo rules, TLS keys, VPN and network
  // credentials, Kerberos keys, IPsec and PPP secrets; and files of services no mask names.
  for (const file of [
    `/etc/ssh/ssh_host_${tag}_ed25519_key`,
    `/etc/sudoers.d/${tag}`,
    `/etc/ssl/private/${tag}.key`,
    `/etc/wireguard/${tag}.conf`,
    `/etc/NetworkManager/system-connections/${tag}.nmconnection`,
    `/etc/openvpn/${tag}.key`,
    `/etc/ipsec.d/private/${tag}.pem`,
    // No mask names these: only /etc's allow-list keeps them out (a service's credentials).
    `/etc/kubernetes/admin-${tag}.conf`,
    `/etc/mysql/debian-${tag}.cnf`,
    ...['/etc/krb5.keytab', '/etc/ipsec.secrets', '/etc/ppp/chap-secrets'].filter((f) => !existsSync(f)),
  ]) {
    // The directories it needs, the topmost new one remembered for removal.
    let dir = dirname(file);
    const missing: string[] = [];
    while (!existsSync(dir)) {
      missing.unshift(dir);
      dir = dirname(dir);
    }
    for (const d of missing) mkdirSync(d, { mode: 0o700 });
    created.push(missing[0] ?? file);
    const marker = `SYSTEM-SECRET-${basename(file)}`;
    // A comment: valid for sudo too, should it read the file before the test removes it.
    writeFileSync(file, `# ${marker}\n`, { mode: 0o400 });
    planted.push({ path: file, marker });
  }
  const real = ['/etc/shadow', '/etc/gshadow'].flatMap((path) => {
    const first = existsSync(path) ? readFileSync(path, 'utf8').split('\n')[0] : '';
    return first ? [{ path, marker: first }] : [];
  });
  return {
    secrets: [...real, ...planted],
    remove() {
      for (const path of created) rmSync(path, { recursive: true, force: true });
    },
  };
}

/**
 * The workspace's own secrets, as a CI checkout leaves them: `.env` files, and a git repository
 * whose config holds the token it was cloned with (an `extraheader` and a remote URL's userinfo).
 * Returns the commit, which git must still report inside the sandbox.
 */
export function plantWorkspaceSecrets(ws: string, env: NodeJS.ProcessEnv): string {
  writeFileSync(join(ws, '.env'), `DATABASE_URL=postgres://app:${SECRETS.dotEnv}@localhost/app\n`);
  writeFileSync(join(ws, 'victim', '.env.local'), `API_KEY=${SECRETS.dotEnvMember}\n`);
  const git = (...args: string[]) => {
    const r = spawnSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd: ws, env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  git('init', '-q');
  git('add', 'Cargo.toml');
  git('commit', '-q', '-m', 'init');
  git('config', 'http.https://git.example.com/.extraheader', `AUTHORIZATION: basic ${SECRETS.gitExtraheader}`);
  git('remote', 'add', 'origin', `https://x-access-token:${SECRETS.gitUrlToken}@git.example.com/example/app.git`);
  return git('rev-parse', 'HEAD');
}

/**
 * attack-params.txt: where the attacks aim. `sinks` gives each attack its own listeners
 * (`ATTACK.KEY=value`, which that attack reads for KEY: see startAttackSinks).
 */
export function writeParams(ws: string, scratch: Scratch, sinks: Record<string, string>, extra: Record<string, string>): void {
  const params = { home: scratch.home, cargo_home: scratch.cargoHome, ...sinks, ...extra };
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
