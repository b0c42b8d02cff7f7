// Malicious build scripts against the real tool and real cargo, judged by effects on the host.
// The same fixtures also run under plain cargo as a control: each attack must succeed there, on
// its own loot, so a clean result under cargo-sandbox means the sandbox stopped it, not that the
// attack was broken. The whole suite runs twice: with the user under /tmp (which the sandbox
// replaces) and laid out as on a real machine (home under /home with the workspace inside it,
// sockets under /run/user/<uid>), so a sandbox that showed /home or /run would fail.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { lootOf, outFile, plantSystemSecrets, plantWorkspaceSecrets, ranReport, startVictims, stopVictims, writeParams, type SystemSecret } from '../helpers/attack-env.js';
import { startAttackSinks, type Sink } from '../helpers/attack-sinks.js';
import { ATTACKS, expectedArrivals, LOOT, PWNED_IN_HOME, SINKS } from '../helpers/attack-catalog.js';
import {
  BASHRC,
  BUILDER,
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
  type Layout,
  type RunResult,
  type Scratch,
} from '../helpers/sandbox-env.js';

interface Outcome {
  scratch: Scratch;
  ws: string;
  result: RunResult;
  /** What reached each attack's own listeners, and the ssh-agent (SSH_AUTH_SOCK) they all share. */
  sinks: Sink[];
  agent: string[];
  daemons: number[];
  /** Whether the process the attack tried to kill is still alive. */
  victimAlive: boolean;
  /** Files of home, the workspace's sources and the victim crate's artifacts: before, after. */
  before: Map<string, string>;
  after: Map<string, string>;
  /** A second, normal build right after the attacks. */
  rebuild?: RunResult;
  /** The workspace's git commit (see plantWorkspaceSecrets). */
  commit: string;
}

/** What must come out of an attack byte-identical: home, the workspace's sources, the victim's artifacts. */
function protectedFiles(scratch: Scratch, ws: string): Map<string, string> {
  const home = snapshot(scratch.home, (p) => p === ws);
  const sources = snapshot(ws, (p) => p.startsWith(join(ws, 'target')) || p.endsWith('attack-params.txt'));
  const victim = [...snapshot(join(ws, 'target/debug/deps'))].filter(([p]) => /\/libvictim-/.test(p));
  return new Map([...home, ...sources, ...victim]);
}

async function attack(mode: 'sandbox' | 'plain', layout: Layout, builder: typeof BUILDER, system: SystemSecret[]): Promise<Outcome> {
  const tag = `${layout}-${mode}`;
  const scratch = makeScratch(`attacks-${tag}`, { layout });
  scratch.env.CARGO_SANDBOX_BACKEND = builder;
  const ws = copyFixture(scratch, 'attacks');
  const commit = plantWorkspaceSecrets(ws, scratch.env);
  const sinks = await startAttackSinks(scratch.runtimeDir, SINKS);
  const daemonMarker = `cs-daemon-${tag}-${process.pid}-${Date.now()}`;
  const victims = await startVictims(scratch, tag);
  const tmpToken = `/tmp/cs-tmp-token-${tag}-${process.pid}`;
  writeFileSync(tmpToken, SECRETS.tmpToken);
  writeParams(ws, scratch, sinks.params, {
    ssh_agent: sinks.agent.path,
    daemon_marker: daemonMarker,
    victim_marker: victims.killMarker,
    ptrace_marker: victims.ptraceMarker,
    home_from_cwd: relative(ws, scratch.home),
    system_secrets: system.map((s) => s.path).join(','),
  });
  const env = { ...scratch.env, SSH_AUTH_SOCK: sinks.agent.path };
  const cargo = (args: string[]) => (mode === 'sandbox' ? runCli(args, { cwd: ws, env }) : runPlainCargo(args, { cwd: ws, env }));
  // The victim crate is built first: its artifacts must come out of the attacks untouched
  // (sandboxed) or be tampered with (plain).
  assert.equal((await cargo(['build', '-p', 'victim'])).status, 0);
  const before = protectedFiles(scratch, ws);
  let result: RunResult;
  let rebuild: RunResult | undefined;
  if (mode === 'sandbox') {
    result = await cargo(['build']);
    rebuild = await cargo(['build']);
  } else {
    // Unsandboxed, the attacks hit each other (one overwrites the others' build scripts), so the
    // control runs the target-tampering one first, then the rest; --keep-going because some of
    // them break other packages' builds, and every attack must still get its chance to run.
    await cargo(['build', '-p', 'attack-write-target']);
    result = await cargo(['build', ...ATTACKS.filter((p) => p !== 'attack-write-target').flatMap((p) => ['-p', p]), '--keep-going']);
  }
  // Plain cargo: until each listener has what its attack sent (the build is over: it was sent).
  // Sandboxed: every attempt ended in an error before its script did (the reports say so); a
  // moment for anything late all the same.
  const arrived = () => sinks.sinks.every((k) => k.arrived.length >= expectedArrivals(k)) && sinks.agent.arrived.length > 0;
  if (mode === 'plain') for (const end = Date.now() + 10_000; !arrived() && Date.now() < end; ) await sleep(20);
  else await sleep(300);
  await sinks.close();
  const victimAlive = victims.kill.exitCode === null && victims.kill.signalCode === null;
  stopVictims(victims);
  rmSync(tmpToken, { force: true });
  return { scratch, ws, result, sinks: sinks.sinks, agent: sinks.agent.arrived, daemons: processesWith(daemonMarker), victimAlive, before, after: protectedFiles(scratch, ws), rebuild, commit };
}

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

const IS_ROOT = process.getuid?.() === 0;
// The second layout runs on the other sandbox builder: every run of the suite holds both to the
// whole catalogue (the direct builder by default, bubblewrap where the direct one is unavailable).
const OTHER_BUILDER = BUILDER === 'direct' ? 'bubblewrap' : 'direct';
const LAYOUTS: [Layout, string, typeof BUILDER][] = [
  ['host', 'home under /home, sockets under /run/user', BUILDER],
  ['tmp', 'home and sockets under /tmp', OTHER_BUILDER],
];
/** What the sandbox's init is called, per builder. */
const INIT = { direct: 'sandbox-init', bubblewrap: 'bwrap' };

for (const [layout, where, builder] of LAYOUTS) {
  describe(`attacks by build scripts (${where}; ${builder} builds the sandbox)`, { concurrency: false }, () => {
    let sandboxed: Outcome;
    let plain: Outcome;
    let system: ReturnType<typeof plantSystemSecrets> | undefined;
    before(async () => {
      system = IS_ROOT ? plantSystemSecrets() : undefined;
      sandboxed = await attack('sandbox', layout, builder, system?.secrets ?? []);
      plain = await attack('plain', layout, builder, system?.secrets ?? []);
    });
    after(() => {
      system?.remove();
      killAll(sandboxed?.daemons ?? []);
      killAll(plain?.daemons ?? []);
    });

    test('the sandboxed build succeeds and every attack script really ran', () => {
      assert.equal(sandboxed.result.status, 0, sandboxed.result.stderr);
      for (const pkg of ATTACKS) assert.ok(ranReport(sandboxed.ws, pkg), `${pkg} did not run`);
      assert.equal(ranReport(sandboxed.ws, 'attack-mountinfo'), `mountinfo; init ${INIT[builder]}`, `not in the sandbox ${builder} builds`);
    });

    test('control: under plain cargo every attack runs, and each takes its own loot', () => {
      for (const pkg of ATTACKS) assert.ok(ranReport(plain.ws, pkg), `${pkg} did not run`);
      for (const [pkg, secrets] of Object.entries(LOOT)) {
        const loot = lootOf(plain.ws, pkg);
        for (const s of secrets) assert.ok(loot.includes(SECRETS[s]), `plain: ${pkg} did not get ${s}`);
      }
    });

    test('each attack\'s own loot holds none of its secrets, and no secret is anywhere in target/', () => {
      for (const [pkg, secrets] of Object.entries(LOOT)) {
        const loot = lootOf(sandboxed.ws, pkg);
        for (const s of secrets) assert.ok(!loot.includes(SECRETS[s]), `${pkg} got ${s}`);
      }
      assert.deepEqual(secretsFoundIn(join(sandboxed.ws, 'target')), []);
    });

    test('the host\'s own secrets (/etc/shadow, gshadow, ssh host keys, sudoers, TLS keys) stay hidden (control: root reads them)', (t) => {
      if (!system) {
        assert.ok(!process.env.CI, 'CI must run as root: only root can read the host secrets the control needs');
        return t.skip('needs root: only root can read /etc/shadow, so the control cannot work');
      }
      assert.ok(system.secrets.some((s) => s.path === '/etc/shadow'), 'this host has no /etc/shadow');
      const [plainLoot, sandboxLoot] = [lootOf(plain.ws, 'attack-system-secrets'), lootOf(sandboxed.ws, 'attack-system-secrets')];
      for (const s of system.secrets) {
        assert.ok(plainLoot.includes(s.marker), `plain: ${s.path} was not read`);
        assert.ok(!sandboxLoot.includes(s.marker), `${s.path} was read`);
        assert.deepEqual(filesContaining(join(sandboxed.ws, 'target'), s.marker), [], s.path);
      }
    });

    test('git still works on the workspace (as vergen or built use it), without the token in its config', () => {
      for (const o of [plain, sandboxed]) {
        assert.equal(outFile(o.ws, 'attack-workspace-secrets', 'git-head'), o.commit, 'git rev-parse HEAD');
      }
      assert.equal(outFile(sandboxed.ws, 'attack-workspace-secrets', 'git-remote'), 'https://git.example.com/example/app.git');
      assert.match(lootOf(sandboxed.ws, 'attack-workspace-secrets'), /remote\.origin\.url https:\/\/git\.example\.com\/example\/app\.git/);
    });

    test('home files are neither changed nor created (control: plain cargo changes them)', () => {
      for (const o of [plain, sandboxed]) {
        const home = o.scratch.home;
        const touched = [
          readFileSync(join(home, '.bashrc'), 'utf8') !== BASHRC,
          existsSync(join(home, '.ssh/authorized_keys')),
          existsSync(join(home, '.cargo/config.toml')),
          existsSync(join(home, '.cargo/bin/cargo-evil')),
          existsSync(join(home, '.profile')),
        ];
        assert.deepEqual(touched, touched.map(() => o === plain));
      }
    });

    test('workspace sources and git hooks are untouched (control: plain cargo changes them)', () => {
      assert.match(readFileSync(join(plain.ws, 'victim/src/lib.rs'), 'utf8'), /PWNED/);
      assert.ok(existsSync(join(plain.ws, '.git/hooks/pre-commit')));
      const ws = sandboxed.ws;
      assert.equal(readFileSync(join(ws, 'victim/src/lib.rs'), 'utf8'), 'pub fn answer() -> u32 { 42 }\n');
      assert.doesNotMatch(readFileSync(join(ws, 'Cargo.toml'), 'utf8'), /PWNED/);
      assert.doesNotMatch(readFileSync(join(ws, 'attack-write-workspace/src/lib.rs'), 'utf8'), /PWNED/);
      assert.equal(existsSync(join(ws, '.git/hooks/pre-commit')), false);
    });

    test('other packages\' build directories and artifacts are untouched (control: plain cargo changes the victim\'s rlib)', () => {
      const changed = snapshotDiff(plain.before, plain.after);
      assert.ok(changed.some((c) => /^changed .*\/libvictim-[^/]+\.rlib$/.test(c)), `plain: the victim's rlib did not change: ${changed.join(', ')}`);
      assert.ok(pwnedInTarget(plain.ws).length > 0, 'plain: other packages\' artifacts were not touched');
      assert.match(ranReport(sandboxed.ws, 'attack-write-target') ?? '', /attempts=[1-9]/);
      assert.deepEqual(pwnedInTarget(sandboxed.ws), []);
    });

    test('the registry sources in ~/.cargo are untouched (control: plain cargo backdoors them)', () => {
      const lib = (o: Outcome) => readFileSync(join(o.scratch.cargoHome, 'registry/src/index.registry.example-1949cf8c6b5b557f/victim-reg-1.0.0/src/lib.rs'), 'utf8');
      assert.match(lib(plain), /PWNED/);
      assert.doesNotMatch(lib(sandboxed), /PWNED/);
    });

    test('each attack\'s own listener (TCP, UDP, DNS, ssh-agent, D-Bus, X11 file and abstract, Docker, another host) gets nothing from it (control: under plain cargo it gets the attack\'s own connection)', () => {
      for (const sink of plain.sinks) {
        const what = `plain: ${sink.attack}'s ${sink.param} (${sink.kind}, ${sink.value})`;
        assert.ok(sink.arrived.length >= expectedArrivals(sink), `${what}: ${sink.arrived.length} arrived`);
        for (const got of sink.arrived) assert.match(got, SINKS.find((k) => k.attack === sink.attack && k.param === sink.param)!.sends, what);
      }
      assert.deepEqual(plain.agent, ['PWNED attack-network'], 'plain: the ssh-agent');
      for (const sink of sandboxed.sinks) assert.deepEqual(sink.arrived, [], `${sink.attack}'s ${sink.param} (${sink.kind}, ${sink.value})`);
      assert.deepEqual(sandboxed.agent, [], 'the ssh-agent');
    });

    test('each of those attacks aimed at its own listener and was refused (control: connected under plain cargo)', () => {
      const value = (o: Outcome, attack: string, param: string) => o.sinks.find((k) => k.attack === attack && k.param === param)!.value;
      const network = (o: Outcome) => ranReport(o.ws, 'attack-network') ?? '';
      assert.match(network(plain), /^tcp connected\nudp 127\.0\.0\.1:\d+: sent 5\nunix connected\nagent connected\n$/);
      const refused = network(sandboxed);
      for (const [param, attempt] of [['tcp_port', 'tcp 127.0.0.1:'], ['udp_port', 'udp 127.0.0.1:'], ['unix_socket', 'unix ']]) {
        assert.ok(refused.includes(`${attempt}${value(sandboxed, 'attack-network', param!)}: `), `${param}: ${refused}`);
      }
      assert.doesNotMatch(refused, /connected/);
      assert.match(refused, /^agent \S+agent\.sock: /m);
      const abstract = (o: Outcome) => `abstract ${value(o, 'attack-abstract-socket', 'abstract_socket')}: `;
      assert.equal(ranReport(plain.ws, 'attack-abstract-socket'), `${abstract(plain)}Ok(())`);
      assert.ok(ranReport(sandboxed.ws, 'attack-abstract-socket')?.startsWith(`${abstract(sandboxed)}Err(`), ranReport(sandboxed.ws, 'attack-abstract-socket'));
      for (const [attack, reached] of [['dbus', 1], ['x11', 2], ['docker', 1]] as const) {
        const sockets = (o: Outcome) => value(o, `attack-${attack}`, `${attack}_socket`);
        assert.equal(ranReport(plain.ws, `attack-${attack}`), `${attack} ${reached} of ${sockets(plain)}`);
        assert.equal(ranReport(sandboxed.ws, `attack-${attack}`), `${attack} 0 of ${sockets(sandboxed)}`);
      }
      assert.ok(lootOf(sandboxed.ws, 'attack-outside-net').startsWith(`${value(sandboxed, 'attack-outside-net', 'outside_addr')}: `), lootOf(sandboxed.ws, 'attack-outside-net'));
    });

    test('no outside host answers (control: this machine\'s non-loopback address answers plain cargo)', () => {
      assert.match(lootOf(plain.ws, 'attack-outside-net'), /^HTTP\//);
      assert.doesNotMatch(lootOf(sandboxed.ws, 'attack-outside-net'), /HTTP\//);
    });

    test('other processes can be neither killed nor ptraced (control: plain cargo kills one and reads the other\'s heap)', () => {
      assert.equal(plain.victimAlive, false, 'plain: the victim process was not killed');
      assert.match(ranReport(plain.ws, 'attack-ptrace') ?? '', /attached \d+, read [1-9]\d* bytes/);
      assert.equal(sandboxed.victimAlive, true);
      assert.match(ranReport(sandboxed.ws, 'attack-kill-processes') ?? '', /killed=0/);
      assert.doesNotMatch(ranReport(sandboxed.ws, 'attack-ptrace') ?? '', /attached/);
    });

    test('no ancestor\'s memory can be read, PID 1 included: the supervisor and PID 1 are not dumpable (control: plain cargo\'s is read)', () => {
      assert.match(ranReport(plain.ws, 'attack-parent-memory') ?? '', /^read \d+/);
      // Each ancestor up to PID 1 (under the direct builder, a copy of the entry point, which read cargo's environment).
      const tried = (ranReport(sandboxed.ws, 'attack-parent-memory') ?? '').split('; ');
      assert.ok(tried.some((t) => t.startsWith('1: ')), tried.join('; '));
      for (const t of tried) assert.match(t, /^\d+: \w+: .*(Permission denied|Operation not permitted)/);
    });

    test('mountinfo shows the sandbox\'s own mounts, not the host\'s (/sys is not there)', () => {
      assert.match(lootOf(plain.ws, 'attack-mountinfo'), /^\/sys$/m);
      const points = lootOf(sandboxed.ws, 'attack-mountinfo');
      assert.match(points, /^\/proc$/m, 'the attack read mountinfo');
      assert.doesNotMatch(points, /^\/sys$/m);
    });

    test('a linker planted through cargo:rustc-link-arg runs only inside the sandbox', () => {
      assert.ok(existsSync(join(plain.scratch.home, 'PWNED-BY-LINKER')), 'plain: the planted linker did not run');
      assert.equal(existsSync(join(sandboxed.scratch.home, 'PWNED-BY-LINKER')), false);
      assert.ok(walkFiles(join(sandboxed.ws, 'target/debug')).some((f) => f.endsWith('/attack-link-arg')), 'the binary was linked');
    });

    test('shell metacharacters in directives reach rustc as data and run nowhere', () => {
      for (const marker of PWNED_IN_HOME) assert.equal(existsSync(join(sandboxed.scratch.home, marker)), false, marker);
      const rlibs = walkFiles(join(sandboxed.ws, 'target/debug/deps')).filter((f) => /\/libattack_crafted_directives-[^/]+\.rlib$/.test(f));
      assert.equal(rlibs.length, 1, 'the crate was not compiled');
      assert.ok(readFileSync(rlibs[0]!).includes('$(touch '), 'the payload did not reach the compiled crate');
    });

    test('nothing lost: home, the workspace\'s sources and the victim crate\'s artifacts are byte-identical', () => {
      assert.ok(snapshotDiff(plain.before, plain.after).length > 0);
      assert.deepEqual(snapshotDiff(sandboxed.before, sandboxed.after), []);
    });

    test('a following normal build succeeds and has nothing to redo', () => {
      assert.equal(sandboxed.rebuild?.status, 0, sandboxed.rebuild?.stderr);
      assert.doesNotMatch(sandboxed.rebuild?.stderr ?? '', /Compiling|Running/);
    });

    test('no setuid, setgid or world-writable file is left in target/ (and each removal is reported)', () => {
      assert.ok(dangerousModes(plain.ws).length >= 2, 'plain: no setuid or world-writable file was left');
      assert.deepEqual(dangerousModes(sandboxed.ws), []);
      assert.match(sandboxed.result.stderr, /^warning: the build script of `attack-setuid v0\.1\.0` left `\S+\/suid-shell` with mode 4755; its setuid, setgid and world-writable bits were removed$/m);
    });

    test('no namespace can be created inside the sandbox (unshare runs, and is refused)', () => {
      assert.equal(namespaceMarkers(plain.ws).length, 2, 'plain: namespaces were not created');
      assert.deepEqual(namespaceMarkers(sandboxed.ws), []);
      const report = ranReport(sandboxed.ws, 'attack-namespaces') ?? '';
      assert.match(report, /^-U: refused, exit Some\(\d+\)/m);
      assert.match(report, /^-n: refused, exit Some\(\d+\)/m);
    });

    test('links planted in OUT_DIR reach nothing: ~/.bashrc is unchanged', () => {
      const bashrc = readFileSync(join(plain.scratch.home, '.bashrc'), 'utf8');
      assert.match(bashrc, /PWNED-THROUGH-SYMLINK/);
      assert.match(bashrc, /PWNED-THROUGH-HARDLINK/);
      assert.match(ranReport(sandboxed.ws, 'attack-links') ?? '', /symlink Ok/);
      assert.equal(readFileSync(join(sandboxed.scratch.home, '.bashrc'), 'utf8'), BASHRC);
    });

    test('no process outlives its build script (the daemon was started; control: it survives plain cargo)', () => {
      assert.ok(plain.daemons.length > 0, 'plain: the daemon did not survive the build');
      assert.equal(ranReport(sandboxed.ws, 'attack-daemon'), 'daemon started: exit Some(0)');
      assert.deepEqual(sandboxed.daemons, []);
    });
  });
}
