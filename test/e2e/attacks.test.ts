// Malicious build scripts against the real tool and real cargo, judged by effects on the host.
// The same fixtures also run under plain cargo as a control: each attack must succeed there, so a
// clean result under cargo-sandbox means the sandbox stopped it, not that the attack was broken.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startListeners, type Listeners } from '../helpers/listeners.js';
import {
  BASHRC,
  CLI,
  run,
  copyFixture,
  filesContaining,
  makeScratch,
  processesWith,
  runCli,
  runPlainCargo,
  SECRETS,
  sleep,
  snapshot,
  snapshotDiff,
  walkFiles,
  type RunResult,
  type Scratch,
} from '../helpers/sandbox-env.js';

interface Outcome {
  scratch: Scratch;
  ws: string;
  result: RunResult;
  received: Listeners['received'];
  daemonMarker: string;
  daemons: number[];
  /** Whether the process the attack tried to kill is still alive. */
  victimAlive: boolean;
  /** Files of home, the workspace's sources and the victim crate's artifacts: before, after. */
  before: Map<string, string>;
  after: Map<string, string>;
  /** A second, normal build right after the attacks. */
  rebuild?: RunResult;
}

const SOLO = ['attack-symlink-include', 'attack-rustc-env-preload', 'attack-rustc-env-path', 'attack-signal-parent', 'attack-tiocsti'];

/** Processes the attacks aim at: a victim to kill, one to ptrace, one holding a deleted secret. */
function startVictims(scratch: Scratch, tag: string): { kill: ChildProcess; others: ChildProcess[]; killMarker: string; ptraceMarker: string } {
  const killMarker = `cs-victim-${tag}-${process.pid}`;
  const ptraceMarker = `cs-ptrace-victim-${tag}-${process.pid}`;
  const kill = spawn('/bin/sleep', ['600'], { argv0: killMarker, stdio: 'ignore' });
  const traced = spawn('/bin/sleep', ['600'], { argv0: ptraceMarker, stdio: 'ignore', env: { VICTIM_SECRET: SECRETS.ptrace } });
  const held = join(scratch.root, 'held-open-secret');
  writeFileSync(held, SECRETS.openFile);
  const holder = spawn('/bin/sh', ['-c', 'exec 3<"$0"; rm -f "$0"; exec sleep 600', held], { stdio: 'ignore' });
  return { kill, others: [traced, holder], killMarker, ptraceMarker };
}

function writeParams(ws: string, scratch: Scratch, listeners: Listeners, extra: Record<string, string>): void {
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
    ...extra,
  };
  writeFileSync(join(ws, 'attack-params.txt'), Object.entries(params).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
}

/** What must come out of an attack byte-identical: home, the workspace's sources, the victim's artifacts. */
function protectedFiles(scratch: Scratch, ws: string): Map<string, string> {
  const home = snapshot(scratch.home, (p) => p === join(scratch.cargoHome, 'bin'));
  const sources = snapshot(ws, (p) => p.startsWith(join(ws, 'target')) || p.endsWith('attack-params.txt'));
  const victim = [...snapshot(join(ws, 'target/debug/deps'))].filter(([p]) => /\/libvictim-/.test(p));
  return new Map([...home, ...sources, ...victim]);
}

async function attack(mode: 'sandbox' | 'plain'): Promise<Outcome> {
  const scratch = makeScratch(`attacks-${mode}`);
  const ws = copyFixture(scratch, 'attacks');
  const listeners = await startListeners(scratch.root);
  const daemonMarker = `cs-daemon-${mode}-${process.pid}-${Date.now()}`;
  const victims = startVictims(scratch, mode);
  const tmpToken = `/tmp/cs-tmp-token-${mode}-${process.pid}`;
  writeFileSync(tmpToken, SECRETS.tmpToken);
  writeParams(ws, scratch, listeners, { daemon_marker: daemonMarker, victim_marker: victims.killMarker, ptrace_marker: victims.ptraceMarker });
  const env = { ...scratch.env, SSH_AUTH_SOCK: listeners.unixPath };
  let result: RunResult;
  let rebuild: RunResult | undefined;
  let before: Map<string, string>;
  if (mode === 'sandbox') {
    // The victim crate is built first: its artifacts must come out of the attacks untouched.
    assert.equal((await runCli(['build', '-p', 'victim'], { cwd: ws, env })).status, 0);
    before = protectedFiles(scratch, ws);
    result = await runCli(['build'], { cwd: ws, env });
    rebuild = await runCli(['build'], { cwd: ws, env });
  } else {
    before = protectedFiles(scratch, ws);
    // Unsandboxed, the attacks hit each other (one overwrites the others' build scripts), so the
    // control runs the target-tampering one first, then the rest; --keep-going because some of
    // them break other packages' builds, and every attack must still get its chance to run.
    await runPlainCargo(['build', '-p', 'attack-write-target'], { cwd: ws, env });
    result = await runPlainCargo(['build', '--workspace', '--exclude', 'attack-write-target', ...SOLO.flatMap((p) => ['--exclude', p]), '--keep-going'], { cwd: ws, env });
  }
  await sleep(300); // let any late connection or datagram arrive
  const received = { ...listeners.received };
  await listeners.close();
  const victimAlive = victims.kill.exitCode === null && victims.kill.signalCode === null;
  for (const p of [victims.kill, ...victims.others]) p.kill('SIGKILL');
  rmSync(tmpToken, { force: true });
  return { scratch, ws, result, received, daemonMarker, daemons: processesWith(daemonMarker), victimAlive, before, after: protectedFiles(scratch, ws), rebuild };
}

function lootOf(ws: string, pkg: string): string {
  const f = walkFiles(join(ws, 'target')).find((p) => p.includes(`/build/${pkg}-`) && p.endsWith('/out/loot'));
  return f ? readFileSync(f, 'utf8') : '';
}

function ranReport(ws: string, pkg: string): string | undefined {
  const f = walkFiles(join(ws, 'target')).find((p) => p.includes(`/build/${pkg}-`) && p.endsWith('/out/ran'));
  return f && readFileSync(f, 'utf8');
}

const ATTACKS = [
  'attack-read-secrets',
  'attack-env',
  'attack-proc',
  'attack-write-home',
  'attack-write-workspace',
  'attack-write-target',
  'attack-network',
  'attack-daemon',
  'attack-setuid',
  'attack-links',
  'attack-abstract-socket',
  'attack-namespaces',
  'attack-parent-memory',
  'attack-proc-root',
  'attack-proc-fd',
  'attack-mountinfo',
  'attack-tmp-snoop',
  'attack-registry-src',
  'attack-link-arg',
  'attack-dns',
  'attack-outside-net',
  'attack-dbus',
  'attack-x11',
  'attack-docker',
  'attack-kill-processes',
  'attack-ptrace',
  'attack-crafted-directives',
];

const PWNED_IN_HOME = ['PWNED-BY-LINKER', 'PWNED-BY-LD_PRELOAD', 'PWNED-BY-PATH', 'PWNED-BY-INJECTION'];

/** Files in target/ that are setuid, setgid or writable by others. */
function dangerousModes(ws: string): string[] {
  return walkFiles(join(ws, 'target')).filter((f) => (statSync(f).mode & 0o6002) !== 0);
}

function namespaceMarkers(ws: string): string[] {
  return walkFiles(join(ws, 'target')).filter((f) => /\/namespace-created/.test(f));
}

function secretsFoundIn(dir: string): string[] {
  return Object.values(SECRETS).filter((secret) => filesContaining(dir, secret).length > 0);
}

function pwnedInTarget(ws: string): string[] {
  return walkFiles(join(ws, 'target')).filter((f) => {
    if (f.endsWith('/PWNED')) return true;
    const bytes = readFileSync(f);
    return bytes.subarray(-5).toString() === 'PWNED' || bytes.subarray(0, 30).toString().includes('echo PWNED');
  });
}

function killAll(pids: number[]) {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

describe('attacks by build scripts', { concurrency: false }, () => {
  let sandboxed: Outcome;
  let plain: Outcome;
  before(async () => {
    sandboxed = await attack('sandbox');
    plain = await attack('plain');
  });
  after(() => {
    killAll(sandboxed?.daemons ?? []);
    killAll(plain?.daemons ?? []);
  });

  test('the sandboxed build succeeds and every attack script really ran', () => {
    assert.equal(sandboxed.result.status, 0, sandboxed.result.stderr);
    for (const pkg of ATTACKS) assert.ok(ranReport(sandboxed.ws, pkg), `${pkg} did not run`);
  });

  test('control: under plain cargo every attack works', () => {
    for (const pkg of ATTACKS) assert.ok(ranReport(plain.ws, pkg), `${pkg} did not run`);
    assert.deepEqual(secretsFoundIn(join(plain.ws, 'target')).sort(), Object.values(SECRETS).slice().sort());
    assert.notEqual(readFileSync(join(plain.scratch.home, '.bashrc'), 'utf8'), BASHRC);
    assert.ok(existsSync(join(plain.scratch.home, '.cargo/bin-planted-cargo-evil')) && existsSync(join(plain.scratch.home, '.profile')));
    assert.match(readFileSync(join(plain.ws, 'victim/src/lib.rs'), 'utf8'), /PWNED/);
    assert.ok(pwnedInTarget(plain.ws).length > 0, 'plain: other packages\' artifacts were not touched');
    assert.ok(plain.received.tcp > 0 && plain.received.udp > 0 && plain.received.unix > 0 && plain.received.abstract > 0, JSON.stringify(plain.received));
    const bashrc = readFileSync(join(plain.scratch.home, '.bashrc'), 'utf8');
    assert.match(bashrc, /PWNED-THROUGH-SYMLINK/);
    assert.match(bashrc, /PWNED-THROUGH-HARDLINK/);
    assert.ok(dangerousModes(plain.ws).length >= 2, 'plain: no setuid or world-writable file was left');
    assert.equal(namespaceMarkers(plain.ws).length, 2, 'plain: namespaces were not created');
    const parentMemory = walkFiles(join(plain.ws, 'target')).find((f) => /\/build\/attack-parent-memory-[^/]+\/out\/loot$/.test(f));
    assert.ok(parentMemory && readFileSync(parentMemory, 'utf8').includes(SECRETS.envGithubToken), 'plain: the parent cargo\'s memory was not read');
    assert.ok(plain.daemons.length > 0, 'plain: the daemon did not survive the build');
    const r = plain.received;
    assert.ok(r.dns > 0 && r.dbus > 0 && r.x11 > 0 && r.docker > 0, JSON.stringify(r));
    assert.equal(plain.victimAlive, false, 'plain: the victim process was not killed');
    assert.match(lootOf(plain.ws, 'attack-mountinfo'), /^\/sys$/m);
    assert.ok(existsSync(join(plain.scratch.home, 'PWNED-BY-LINKER')), 'plain: the planted linker did not run');
    assert.match(readFileSync(join(plain.scratch.cargoHome, 'registry/src/index.crates.io-1949cf8c6b5b557f/victim-reg-1.0.0/src/lib.rs'), 'utf8'), /PWNED/);
    assert.ok(snapshotDiff(plain.before, plain.after).length > 0);
  });

  test('control: from outside hosts, DNS and TCP work unsandboxed where this machine reaches the Debian mirror', async (t) => {
    const reachable = await lookup('deb.debian.org').then(() => true, () => false);
    if (!reachable) return t.skip('this machine does not resolve deb.debian.org');
    assert.match(lootOf(plain.ws, 'attack-dns'), /^resolved /m);
    assert.match(lootOf(plain.ws, 'attack-outside-net'), /^HTTP\//);
  });

  test('secrets (ssh, cloud, kube, docker, gh, npm and cargo credentials, shell history, browser logins, env tokens, /proc and memory of cargo) stay out of target/', () => {
    assert.deepEqual(secretsFoundIn(join(sandboxed.ws, 'target')), []);
  });

  test('home files are neither changed nor created', () => {
    const home = sandboxed.scratch.home;
    assert.equal(readFileSync(join(home, '.bashrc'), 'utf8'), BASHRC);
    assert.equal(existsSync(join(home, '.ssh/authorized_keys')), false);
    assert.equal(existsSync(join(home, '.cargo/config.toml')), false);
    assert.equal(existsSync(join(home, '.cargo/bin-planted-cargo-evil')), false);
    assert.equal(existsSync(join(home, '.profile')), false);
  });

  test('workspace sources and git hooks are untouched', () => {
    const ws = sandboxed.ws;
    assert.equal(readFileSync(join(ws, 'victim/src/lib.rs'), 'utf8'), 'pub fn answer() -> u32 { 42 }\n');
    assert.doesNotMatch(readFileSync(join(ws, 'Cargo.toml'), 'utf8'), /PWNED/);
    assert.doesNotMatch(readFileSync(join(ws, 'attack-write-workspace/src/lib.rs'), 'utf8'), /PWNED/);
    assert.equal(existsSync(join(ws, '.git/hooks/pre-commit')), false);
  });

  test('other packages\' build directories and artifacts are untouched', () => {
    assert.match(ranReport(sandboxed.ws, 'attack-write-target') ?? '', /attempts=[1-9]/);
    assert.deepEqual(pwnedInTarget(sandboxed.ws), []);
  });

  test('no TCP, UDP, DNS or unix-socket traffic (ssh-agent, D-Bus, X11 file and abstract, Docker) reaches host listeners', () => {
    assert.deepEqual(sandboxed.received, { tcp: 0, udp: 0, dns: 0, unix: 0, abstract: 0, dbus: 0, x11: 0, docker: 0 });
  });

  test('no name resolves and no outside host answers', () => {
    assert.doesNotMatch(lootOf(sandboxed.ws, 'attack-dns'), /resolved/);
    assert.doesNotMatch(lootOf(sandboxed.ws, 'attack-outside-net'), /HTTP\//);
  });

  test('other processes can be neither killed nor ptraced (the victims live; their secrets stay out of target/)', () => {
    assert.equal(sandboxed.victimAlive, true);
    assert.match(ranReport(sandboxed.ws, 'attack-kill-processes') ?? '', /killed=0/);
    assert.deepEqual(filesContaining(join(sandboxed.ws, 'target'), SECRETS.ptrace), []);
    assert.deepEqual(filesContaining(join(sandboxed.ws, 'target'), SECRETS.openFile), []);
  });

  test('mountinfo shows the sandbox\'s own mounts, not the host\'s (/sys is not there)', () => {
    const points = lootOf(sandboxed.ws, 'attack-mountinfo');
    assert.match(points, /^\/proc$/m, 'the attack read mountinfo');
    assert.doesNotMatch(points, /^\/sys$/m);
  });

  test('a linker planted through cargo:rustc-link-arg runs only inside the sandbox', () => {
    assert.equal(existsSync(join(sandboxed.scratch.home, 'PWNED-BY-LINKER')), false);
    assert.ok(walkFiles(join(sandboxed.ws, 'target/debug')).some((f) => f.endsWith('/attack-link-arg')), 'the binary was linked');
  });

  test('shell metacharacters in directives reach rustc as data and run nowhere', () => {
    for (const marker of PWNED_IN_HOME) assert.equal(existsSync(join(sandboxed.scratch.home, marker)), false, marker);
    assert.ok(filesContaining(join(sandboxed.ws, 'target'), '$(touch ').length > 0, 'the payload did not reach the compiled crate');
  });

  test('nothing lost: home, the workspace\'s sources and the victim crate\'s artifacts are byte-identical', () => {
    assert.deepEqual(snapshotDiff(sandboxed.before, sandboxed.after), []);
  });

  test('a following normal build succeeds and has nothing to redo', () => {
    assert.equal(sandboxed.rebuild?.status, 0, sandboxed.rebuild?.stderr);
    assert.doesNotMatch(sandboxed.rebuild?.stderr ?? '', /Compiling|Running/);
  });

  test('no setuid, setgid or world-writable file is left in target/ (and each removal is reported)', () => {
    assert.deepEqual(dangerousModes(sandboxed.ws), []);
    assert.match(sandboxed.result.stderr, /^warning: the build script of `attack-setuid v0\.1\.0` left `\S+\/suid-shell` with mode 4755; its setuid, setgid and world-writable bits were removed$/m);
  });

  test('no namespace can be created inside the sandbox', () => {
    assert.deepEqual(namespaceMarkers(sandboxed.ws), []);
  });

  test('links planted in OUT_DIR reach nothing: ~/.bashrc is unchanged', () => {
    assert.match(ranReport(sandboxed.ws, 'attack-links') ?? '', /symlink Ok/);
    assert.equal(readFileSync(join(sandboxed.scratch.home, '.bashrc'), 'utf8'), BASHRC);
  });

  test('no process outlives its build script', () => {
    assert.deepEqual(sandboxed.daemons, []);
  });
});

/** Runs `command` (sh) on a new pseudo-terminal; then reads one line typed into it, as a shell would. */
function inTerminal(command: string, typedFile: string, opts: { cwd: string; env: NodeJS.ProcessEnv }): Promise<RunResult> {
  const py = `
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execvp('bash', ['bash', '-c', sys.argv[1] + '; read -r -t 2 line; printf "%s" "$line" > "$0"', sys.argv[2]])
out = b''
while True:
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode('utf-8', 'replace'))
sys.exit(os.waitstatus_to_exitcode(status))
`;
  return run('python3', ['-c', py, command, typedFile], opts);
}

describe('attacks that break their own package, or need a terminal (one cargo run each)', { concurrency: false }, () => {
  interface Solo {
    scratch: Scratch;
    ws: string;
    result: RunResult;
    typed: string;
  }
  async function solo(mode: 'sandbox' | 'plain', pkg: string): Promise<Solo> {
    const scratch = makeScratch(`solo-${mode}`);
    const ws = copyFixture(scratch, 'attacks');
    writeFileSync(join(ws, 'attack-params.txt'), `home=${scratch.home}\ncargo_home=${scratch.cargoHome}\n`);
    const cargo = mode === 'sandbox' ? [CLI] : ['cargo'];
    const typedFile = join(scratch.root, 'typed');
    const opts = { cwd: ws, env: scratch.env };
    const result = pkg === 'attack-tiocsti'
      ? await inTerminal(`${cargo.join(' ')} build -p ${pkg}`, typedFile, opts)
      : mode === 'sandbox' ? await runCli(['build', '-p', pkg], opts) : await runPlainCargo(['build', '-p', pkg], opts);
    return { scratch, ws, result, typed: existsSync(typedFile) ? readFileSync(typedFile, 'utf8') : '' };
  }

  test('a symlink planted in OUT_DIR is removed before rustc can follow it to ~/.ssh (control: the key is compiled in)', async () => {
    const plain = await solo('plain', 'attack-symlink-include');
    assert.ok(filesContaining(join(plain.ws, 'target'), SECRETS.sshKey).length > 0, 'plain: the key was not compiled in');
    const s = await solo('sandbox', 'attack-symlink-include');
    assert.match(ranReport(s.ws, 'attack-symlink-include') ?? '', /symlink-include Ok/);
    assert.deepEqual(filesContaining(join(s.ws, 'target'), SECRETS.sshKey), []);
    assert.notEqual(s.result.status, 0);
    assert.match(s.result.stderr, /^warning: the build script of `attack-symlink-include v0\.1\.0` left a symlink `\S+\/out\/key` -> `\S+\/\.ssh\/id_ed25519` leading out of its OUT_DIR; it was removed/m);
  });

  for (const [pkg, variable, marker] of [
    ['attack-rustc-env-preload', 'LD_PRELOAD', 'PWNED-BY-LD_PRELOAD'],
    ['attack-rustc-env-path', 'PATH', 'PWNED-BY-PATH'],
  ] as const) {
    test(`cargo:rustc-env=${variable} (code run by rustc, outside the sandbox) is refused (control: it runs)`, async () => {
      const plain = await solo('plain', pkg);
      assert.ok(existsSync(join(plain.scratch.home, marker)), `plain: ${marker} was not created`);
      const s = await solo('sandbox', pkg);
      assert.equal(existsSync(join(s.scratch.home, marker)), false);
      assert.equal(s.result.status, 101);
      assert.match(s.result.stderr, new RegExp(`^note: it asked cargo to set \`${variable}\` for rustc`, 'm'));
    });
  }

  test('the build script cannot kill the cargo that runs it (control: cargo dies)', async () => {
    const plain = await solo('plain', 'attack-signal-parent');
    assert.ok(plain.result.signal !== null || plain.result.status !== 0, 'plain: cargo survived');
    const s = await solo('sandbox', 'attack-signal-parent');
    assert.equal(s.result.status, 0, s.result.stderr);
    assert.ok(ranReport(s.ws, 'attack-signal-parent'));
  });

  test('no keystrokes are pushed into the user\'s terminal with TIOCSTI (control: the shell reads them)', async () => {
    const plain = await solo('plain', 'attack-tiocsti');
    assert.equal(plain.typed, 'echo PWNED-BY-TIOCSTI', plain.result.stdout);
    const s = await solo('sandbox', 'attack-tiocsti');
    assert.equal(s.result.status, 0, s.result.stdout);
    assert.match(ranReport(s.ws, 'attack-tiocsti') ?? '', /injected=0/);
    assert.equal(s.typed, '');
  });
});
