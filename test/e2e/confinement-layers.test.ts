// The supervisor's layers one at a time (libexec/confine.rs): each probe is a build script of the
// `layers` fixture, built alone, judged by what it reports and by what reaches the host; each has a
// plain-cargo control showing the same calls work unsandboxed.
//   - seccomp (confine/seccomp.rs): every call the filter refuses, refused with its answer;
//   - Landlock's scoping where it is the only barrier (`allow-network = true` shares the host's
//     network namespace, so the host's abstract sockets are there; the supervisor is in the
//     script's PID namespace, so only the signal scope keeps signals off it);
//   - Landlock's TCP rules under an `allow-network` list (bind refused, connect only to the
//     supervisor's forwards: EACCES where the namespace alone would answer ECONNREFUSED).

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { homedir } from 'node:os';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, test } from 'node:test';
import { CLI, copyFixture, makeScratch, REPO_ROOT, run, runCli, runPlainCargo, sleep, walkFiles, type RunResult, type Scratch } from '../helpers/sandbox-env.js';

interface Built {
  scratch: Scratch;
  ws: string;
  result: RunResult;
  /** The probe's report, `key` -> rest of the line. */
  report: Map<string, string>;
}

/** A fresh copy of the `layers` fixture with its parameters and, when given, a config; `pkg` built alone. */
async function build(mode: 'sandbox' | 'plain', pkg: string, reportName: string, params: Record<string, string | number> = {}, config = ''): Promise<Built> {
  const scratch = makeScratch(`layers-${mode}`);
  const ws = copyFixture(scratch, 'layers');
  writeFileSync(join(ws, 'layers-params.txt'), Object.entries(params).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
  if (config) {
    mkdirSync(join(ws, '.cargo'));
    writeFileSync(join(ws, '.cargo/config.toml'), config);
  }
  const opts = { cwd: ws, env: scratch.env };
  const result = mode === 'sandbox' ? await runCli(['build', '-p', pkg], opts) : await runPlainCargo(['build', '-p', pkg], opts);
  return { scratch, ws, result, report: readReport(ws, pkg, reportName) };
}

function readReport(ws: string, pkg: string, name: string): Map<string, string> {
  const f = walkFiles(join(ws, 'target')).find((p) => p.includes(`/build/${pkg}-`) && p.endsWith(`/out/${name}`));
  const lines = f ? readFileSync(f, 'utf8').split('\n').filter(Boolean) : [];
  // `key=value` or `key value`: the key ends at the first `=` or space.
  return new Map(lines.map((l) => {
    const end = l.search(/[= ]/);
    return [l.slice(0, end), l.slice(end + 1)];
  }));
}

/** The kernel's Landlock ABI, as the supervisor this checkout compiled sees it (0 without Landlock). */
function landlockAbi(): number {
  const cache = join(REPO_ROOT, '.cache');
  const confine = readdirSync(cache).filter((f) => /^confine-[0-9a-f]+$/.test(f)).map((f) => join(cache, f))[0];
  assert.ok(confine, `no compiled supervisor in ${cache}`);
  return Number(spawnSync(confine, ['--landlock-abi'], { encoding: 'utf8' }).stdout.trim() || 0);
}

/** A TCP server on the host's loopback that counts connections and answers each with `answer`. */
async function tcpServer(answer: string): Promise<{ server: Server; port: number; connections: () => number }> {
  let n = 0;
  const server = createServer((s) => {
    n++;
    s.on('error', () => {});
    s.end(answer);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, port: (server.address() as { port: number }).port, connections: () => n };
}

/** An abstract unix socket on the host (Python: Node pads abstract names), counting connections. */
async function abstractListener(name: string): Promise<{ connections: () => number; close: () => Promise<void> }> {
  const py = `
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
  const p = spawn('python3', ['-c', py, name], { stdio: ['pipe', 'pipe', 'inherit'] });
  let n = 0;
  await new Promise<void>((resolve, reject) => {
    p.on('error', reject);
    createInterface({ input: p.stdout! }).on('line', (l) => (l === 'ready' ? resolve() : n++));
  });
  return {
    connections: () => n,
    close: () =>
      new Promise<void>((r) => {
        p.on('exit', () => r());
        p.stdin!.end();
      }),
  };
}

const EPERM = 'errno=1';
const EACCES = 'errno=13';
const ENOSYS = 'errno=38';

describe('the supervisor\'s layers, one at a time', { concurrency: false }, () => {
  test('seccomp: every call the filter refuses is refused with its answer, allowed calls pass (control: plain cargo\'s kernel answers from the arguments)', async () => {
    // What the filter answers (confine/seccomp.rs): ENOSYS for ABSENT, EPERM for DENIED, the
    // terminal ioctls, unusual personalities and the other ABIs.
    const refused: Record<string, string> = {
      io_uring_setup: ENOSYS,
      io_uring_enter: ENOSYS,
      io_uring_register: ENOSYS,
      bpf: ENOSYS,
      perf_event_open: ENOSYS,
      userfaultfd: ENOSYS,
      process_vm_readv: ENOSYS,
      add_key: EPERM,
      request_key: EPERM,
      keyctl: EPERM,
      kexec_load: EPERM,
      kexec_file_load: EPERM,
      init_module: EPERM,
      finit_module: EPERM,
      delete_module: EPERM,
      // (acct is refused with EPERM without the filter too: bubblewrap drops CAP_SYS_PACCT, which
      // the kernel checks first. Every other answer here is the filter's alone on this kernel.)
      acct: EPERM,
      process_vm_writev: EPERM,
      'ioctl-TIOCSTI': EPERM,
      'ioctl-TIOCLINUX': EPERM,
      'personality-flag': EPERM,
      'x32-getpid': EPERM,
      'i386-getpid': EPERM,
    };
    const plain = await build('plain', 'seccomp-probe', 'seccomp-report');
    assert.equal(plain.result.status, 0, plain.result.stderr);
    assert.equal(plain.report.get('status'), 'Seccomp: 0', 'plain: a filter was already on');
    const s = await build('sandbox', 'seccomp-probe', 'seccomp-report');
    assert.equal(s.result.status, 0, s.result.stderr);
    assert.equal(s.report.get('status'), 'Seccomp: 2', 'no seccomp filter on the build script');
    for (const [call, answer] of Object.entries(refused)) {
      const plainLine = plain.report.get(call);
      assert.ok(plainLine, `plain: ${call} was not tried`);
      // The control: unsandboxed, the kernel itself answers (EBADF, EFAULT, EINVAL, ENOENT, ENOSYS
      // for a kernel built without it, or success), never what the filter would have said.
      assert.ok(!plainLine.endsWith(answer), `plain: ${call} already answered ${plainLine}, so its refusal cannot be judged here`);
      assert.equal(s.report.get(call), `ret=-1 ${answer}`, call);
    }
    // Not a blanket refusal: what the filter lets through ends as under plain cargo.
    for (const call of ['allowed-personality-query', 'allowed-ioctl-FIONREAD', 'allowed-getpid']) {
      assert.ok(plain.report.get(call), call);
      assert.equal(s.report.get(call), plain.report.get(call), call);
    }
  });

  test('Landlock scope alone: with allow-network = true (the host\'s network namespace), the host\'s abstract socket and the supervisor are out of reach, TCP and its own child are not (control: plain cargo reaches all four)', async (t) => {
    const tcp = await tcpServer('');
    const abstractName = `cs-scope-${process.pid}-${Date.now()}`;
    const abs = await abstractListener(abstractName);
    try {
      const params = { abstract: abstractName, tcp: tcp.port };
      const plain = await build('plain', 'scope-probe', 'scope-report', params);
      assert.equal(plain.result.status, 0, plain.result.stderr);
      await sleep(200);
      assert.deepEqual([...plain.report], [['abstract', 'ok'], ['tcp', 'ok'], ['signal-parent', 'ok'], ['signal-child', 'ok']]);
      assert.equal(abs.connections(), 1, 'plain: the abstract socket saw no connection');
      assert.equal(tcp.connections(), 1, 'plain: the TCP server saw no connection');
      const s = await build('sandbox', 'scope-probe', 'scope-report', params, '[sandbox.package.scope-probe]\nallow-network = true\n');
      assert.equal(s.result.status, 0, s.result.stderr);
      if (landlockAbi() < 6) return t.skip('this kernel\'s Landlock has no scoping (ABI < 6): the grant then reaches the host\'s abstract sockets (THREAT-MODEL, "Landlock is a second layer")');
      await sleep(200);
      // The network namespace is the host's: TCP reached the host's server.
      assert.equal(s.report.get('tcp'), 'ok');
      assert.equal(tcp.connections(), 2, 'the grant did not share the host\'s network');
      // ... and only Landlock's scope refused the abstract socket beside it.
      assert.equal(s.report.get('abstract'), EPERM);
      assert.equal(abs.connections(), 1, 'the sandboxed script reached the host\'s abstract socket');
      // The supervisor (its parent, visible in its PID namespace) cannot be signalled; its own child can.
      assert.equal(s.report.get('signal-parent'), EPERM);
      assert.equal(s.report.get('signal-child'), 'ok');
    } finally {
      await abs.close();
      tcp.server.close();
    }
  });

  test('Landlock TCP rules under an allow-network list: no bind, no connect but to the listed port\'s forward; EACCES, not the namespace\'s ECONNREFUSED (control: plain cargo binds and reaches both)', async () => {
    const listed = await tcpServer('hello-from-listed\n');
    const unlisted = await tcpServer('hello-from-unlisted\n');
    try {
      const params = { listed: listed.port, unlisted: unlisted.port };
      const plain = await build('plain', 'tcp-probe', 'tcp-report', params);
      assert.equal(plain.result.status, 0, plain.result.stderr);
      assert.deepEqual([...plain.report], [['bind', 'ok'], ['listed', 'ok hello-from-listed'], ['unlisted', 'ok']]);
      assert.equal(unlisted.connections(), 1, 'plain: the unlisted server saw no connection');
      const s = await build('sandbox', 'tcp-probe', 'tcp-report', params, `[sandbox.package.tcp-probe]\nallow-network = ["127.0.0.1:${listed.port}"]\n`);
      assert.equal(s.result.status, 0, s.result.stderr);
      // The list works: the listed port's forward reached the host's server.
      assert.equal(s.report.get('listed'), 'ok hello-from-listed');
      assert.equal(listed.connections(), 2);
      // Landlock: a port of its own cannot be bound (the namespace alone allows it), and the
      // unlisted port is refused before any TCP is sent (EACCES: without Landlock, ECONNREFUSED
      // from the empty namespace).
      assert.equal(s.report.get('bind'), EACCES);
      assert.equal(s.report.get('unlisted'), EACCES);
      assert.equal(unlisted.connections(), 1, 'the sandboxed script reached the unlisted server');
    } finally {
      listed.server.close();
      unlisted.server.close();
    }
  });

  test('`proc-macros = false`: a proc macro expands on the host (documented), but not in a compilation that names a native search path, and build scripts stay confined (controls: plain cargo lets all three write into the home; the default setting lets none)', async () => {
    const run = async (mode: 'sandbox' | 'plain', config: string) => {
      const scratch = makeScratch(`layers-macros-${mode}`);
      const ws = copyFixture(scratch, 'layers');
      const marks = join(scratch.home, 'marks');
      mkdirSync(marks);
      writeFileSync(join(ws, 'layers-params.txt'), `marks=${marks}\n`);
      if (config) {
        mkdirSync(join(ws, '.cargo'));
        writeFileSync(join(ws, '.cargo/config.toml'), config);
      }
      const args = ['build', '-p', 'mac-user', '-p', 'mac-user-native', '-p', 'script-on-host'];
      const result = mode === 'sandbox' ? await runCli(args, { cwd: ws, env: scratch.env }) : await runPlainCargo(args, { cwd: ws, env: scratch.env });
      const marked = ['expanded-by-mac_user', 'expanded-by-mac_user_native', 'build-script'].filter((m) => existsSync(join(marks, m)));
      return { result, marked, script: readReport(ws, 'script-on-host', 'host-report') };
    };
    const plain = await run('plain', '');
    assert.equal(plain.result.status, 0, plain.result.stderr);
    assert.deepEqual(plain.marked, ['expanded-by-mac_user', 'expanded-by-mac_user_native', 'build-script']);
    assert.equal(plain.script.get('read'), 'ok', 'plain: the build script did not read the ssh key');
    const sandboxed = await run('sandbox', '');
    assert.equal(sandboxed.result.status, 0, sandboxed.result.stderr);
    assert.deepEqual(sandboxed.marked, [], 'the default: every compilation and build script sandboxed');
    const off = await run('sandbox', '[sandbox]\nproc-macros = false\n');
    assert.equal(off.result.status, 0, off.result.stderr);
    // Documented (THREAT-MODEL, "What is not protected"): compilations run on the host, so the
    // macro in mac-user wrote into the home; mac-user-native names a native search path, so its
    // compilation stayed sandboxed; the build script is confined as ever.
    assert.deepEqual(off.marked, ['expanded-by-mac_user']);
    assert.match(off.script.get('write') ?? '', /^errno=/);
    assert.match(off.script.get('read') ?? '', /^errno=/);
  });

  test('a setuid-root program run by a build script gains nothing (no_new_privs, nosuid binds, root unmapped); control: run by plain cargo as the same unprivileged user, it runs as root', { skip: process.getuid?.() === 0 ? false : 'needs root: it makes the setuid-root program and runs cargo as nobody' }, async () => {
    // cargo runs as nobody (65534): as root there is nothing to gain. The toolchain under root's
    // home is made reachable in a private mount namespace only (a world-readable view of
    // /root holding just .rustup); nothing of the machine changes.
    const nobody = 65534;
    const sysroot = spawnSync('rustc', ['--print', 'sysroot'], { encoding: 'utf8' }).stdout.trim();
    const rustupHome = process.env.RUSTUP_HOME || join(homedir(), '.rustup');
    const asNobody = async (mode: 'sandbox' | 'plain') => {
      const scratch = makeScratch(`layers-setuid-${mode}`);
      const ws = copyFixture(scratch, 'layers');
      const program = join(ws, 'suid-id');
      writeFileSync(join(ws, 'layers-params.txt'), `setuid=${program}\n`);
      spawnSync('chown', ['-R', `${nobody}:${nobody}`, scratch.root]);
      spawnSync('chmod', ['755', scratch.root]);
      spawnSync('cp', ['/usr/bin/id', program]);
      spawnSync('chown', ['0:0', program]);
      spawnSync('chmod', ['4755', program]);
      const view = join(scratch.root, 'root-view');
      mkdirSync(join(view, '.rustup'), { recursive: true, mode: 0o755 });
      const script = sysroot.startsWith('/root/') ? 'mount --bind "$1" "$2/.rustup" && mount --rbind "$2" /root && shift 2' : 'shift 2';
      const env = { ...scratch.env, PATH: `${sysroot}/bin:/usr/bin:/bin`, RUSTUP_HOME: rustupHome };
      const argv = [mode === 'sandbox' ? CLI : 'cargo', 'build', '-p', 'setuid-probe'];
      const result = await run('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', `${script} && exec setpriv --reuid=${nobody} --regid=${nobody} --clear-groups -- "$@"`, 'sh', rustupHome, view, ...argv], { cwd: ws, env });
      return { result, report: readReport(ws, 'setuid-probe', 'setuid-report') };
    };
    const plain = await asNobody('plain');
    assert.equal(plain.result.status, 0, plain.result.stderr);
    assert.deepEqual([...plain.report], [['euid', '0'], ['uid', String(nobody)], ['nnp', '0']], 'plain: the setuid program did not run as root');
    const s = await asNobody('sandbox');
    assert.equal(s.result.status, 0, s.result.stderr);
    // It ran (it printed an id), as the script's own user, under no_new_privs.
    assert.deepEqual([...s.report], [['euid', String(nobody)], ['uid', String(nobody)], ['nnp', '1']]);
  });
});
