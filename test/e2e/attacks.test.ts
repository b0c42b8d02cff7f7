// Malicious build scripts against the real tool and real cargo, judged by effects on the host.
// The same fixtures also run under plain cargo as a control: each attack must succeed there, so a
// clean result under cargo-sandbox means the sandbox stopped it, not that the attack was broken.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startListeners, type Listeners } from '../helpers/listeners.js';
import {
  BASHRC,
  copyFixture,
  filesContaining,
  makeScratch,
  processesWith,
  runCli,
  runPlainCargo,
  SECRETS,
  sleep,
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
}

async function attack(mode: 'sandbox' | 'plain'): Promise<Outcome> {
  const scratch = makeScratch(`attacks-${mode}`);
  const ws = copyFixture(scratch, 'attacks');
  const listeners = await startListeners(join(scratch.root, 'agent.sock'));
  const daemonMarker = `cs-daemon-${mode}-${process.pid}-${Date.now()}`;
  writeFileSync(
    join(ws, 'attack-params.txt'),
    [
      `home=${scratch.home}`,
      `cargo_home=${scratch.cargoHome}`,
      `tcp_port=${listeners.tcpPort}`,
      `udp_port=${listeners.udpPort}`,
      `unix_socket=${listeners.unixPath}`,
      `daemon_marker=${daemonMarker}`,
      `abstract_socket=${listeners.abstractName}`,
    ].join('\n') + '\n',
  );
  const env = { ...scratch.env, SSH_AUTH_SOCK: listeners.unixPath };
  let result: RunResult;
  if (mode === 'sandbox') {
    result = await runCli(['build', '--workspace'], { cwd: ws, env });
  } else {
    // Unsandboxed, the attacks hit each other (one overwrites the others' build scripts), so the
    // control runs the target-tampering one first, then the rest; --keep-going because some of
    // them break other packages' builds, and every attack must still get its chance to run.
    await runPlainCargo(['build', '-p', 'attack-write-target'], { cwd: ws, env });
    result = await runPlainCargo(['build', '--workspace', '--exclude', 'attack-write-target', '--keep-going'], { cwd: ws, env });
  }
  await sleep(300); // let any late connection or datagram arrive
  const received = { ...listeners.received };
  await listeners.close();
  return { scratch, ws, result, received, daemonMarker, daemons: processesWith(daemonMarker) };
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
];

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

  test('no TCP, UDP, unix-socket (ssh-agent) or abstract-socket traffic reaches host listeners', () => {
    assert.deepEqual(sandboxed.received, { tcp: 0, udp: 0, unix: 0, abstract: 0 });
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
