// rust-analyzer through the sandbox: its override commands, run exactly as it runs them, print
// only JSON lines on stdout; its proc-macro server runs inside bubblewrap and still answers.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readlinkSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isStaticElf } from '../../src/backends/native-helpers.js';
import { converse, expand, listMacros, macroLibrary, outcome, realMacroServer, versionCheck } from '../helpers/macro-server.js';
import { BASHRC, copyFixture, makeScratch, processesWith, REPO_ROOT, runCli, SECRETS, sleep, type Scratch } from '../helpers/sandbox-env.js';

const SERVER = join(REPO_ROOT, 'bin', 'cargo-sandbox-proc-macro-srv');

/** The fixture's macros built as rust-analyzer builds them (`cargo sandbox check`), with low limits. */
async function macroWorkspace(s: Scratch, config = '[sandbox]\nmax-memory = "1GiB"\nmax-processes = 24\n'): Promise<{ ws: string; lib: string }> {
  const ws = copyFixture(s, 'ra-macros');
  mkdirSync(join(ws, '.cargo'), { recursive: true });
  writeFileSync(join(ws, '.cargo/config.toml'), config);
  const r = await runCli(['check', '--workspace'], { cwd: ws, env: s.env });
  assert.equal(r.status, 0, r.stderr);
  return { ws, lib: macroLibrary(join(ws, 'target'), 'ramac') };
}

describe('rust-analyzer', () => {
  for (const args of [
    // rust-analyzer.cargo.buildScripts.overrideCommand
    ['check', '--quiet', '--workspace', '--message-format=json', '--all-targets'],
    // rust-analyzer.check.overrideCommand
    ['check', '--workspace', '--message-format=json-diagnostic-rendered-ansi', '--all-targets'],
  ]) {
    test(`cargo sandbox ${args.join(' ')}: every stdout line is JSON`, async () => {
      const s = makeScratch('ra');
      const ws = copyFixture(s, 'evil-macro');
      const r = await runCli(args, { cwd: ws, env: s.env });
      assert.equal(r.status, 0, r.stderr);
      const lines = r.stdout.trim().split('\n');
      assert.ok(lines.length > 3);
      const messages = lines.map((l) => JSON.parse(l) as { reason: string });
      assert.ok(messages.some((m) => m.reason === 'compiler-artifact'));
      assert.equal(messages.at(-1)?.reason, 'build-finished');
    });
  }

  test('the proc-macro server runs in its own namespaces and answers the version check', async () => {
    const s = makeScratch('ra-pms');
    const ws = copyFixture(s, 'tiny');
    const child = spawn(join(REPO_ROOT, 'bin', 'cargo-sandbox-proc-macro-srv'), [], {
      cwd: ws,
      env: { ...s.env, RUST_ANALYZER_INTERNALS_DO_NOT_USE: 'this is unstable' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    // Checked while the server runs; stdin is ended either way, so a failure does not leave it running.
    try {
      let servers: number[] = [];
      for (let i = 0; i < 100 && servers.length === 0; i++) {
        await sleep(100);
        // The server itself (not bwrap, nor our entry point that starts it, which name it in their arguments).
        servers = processesWith('rust-analyzer-proc-macro-srv').filter((pid) => {
          try {
            return readlinkSync(`/proc/${pid}/exe`).endsWith('/rust-analyzer-proc-macro-srv');
          } catch {
            return false;
          }
        });
      }
      assert.ok(servers.length > 0, 'the server did not start');
      // The home's secret and an ordinary home file: the home is not mounted at all. Control: here
      // both are read through our own root.
      const homeFiles = [join(s.home, '.ssh/id_ed25519'), join(s.home, '.bashrc')];
      assert.match(readFileSync(`/proc/self/root${homeFiles[0]}`, 'utf8'), new RegExp(SECRETS.sshKey));
      assert.equal(readFileSync(`/proc/self/root${homeFiles[1]}`, 'utf8'), BASHRC);
      // Control: the tokens are in the environment we started the launcher with (and it holds them).
      const tokens = [SECRETS.envGithubToken, SECRETS.envAws, SECRETS.envRegistryToken, SECRETS.envCustom];
      const launcherEnv = readFileSync(`/proc/${child.pid}/environ`, 'latin1');
      for (const t of tokens) {
        assert.ok(Object.values(s.env).includes(t), `control: ${t} not in the test's environment`);
        assert.ok(launcherEnv.includes(t), `control: ${t} not in the launcher's environment`);
      }
      for (const pid of servers) {
        assert.notEqual(readlinkSync(`/proc/${pid}/ns/net`), readlinkSync('/proc/self/ns/net'), 'shares our network');
        assert.notEqual(readlinkSync(`/proc/${pid}/ns/mnt`), readlinkSync('/proc/self/ns/mnt'), 'sees our file system');
        // Through its root, before stdin ends (the server exits then, and its /proc entry goes).
        for (const f of homeFiles) assert.throws(() => readFileSync(`/proc/${pid}/root${f}`), `the server sees ${f}`);
        const environ = readFileSync(`/proc/${pid}/environ`, 'latin1');
        for (const t of tokens) assert.equal(environ.includes(t), false, `the server's environment holds ${t}`);
      }
    } finally {
      child.stdin.end('{"ApiVersionCheck":{}}\n');
    }
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    assert.equal(code, 0);
    assert.match(stdout, /^\{"ApiVersionCheck":\d+\}$/m);
  });
});

describe('rust-analyzer: macros expanded by the proc-macro server', () => {
  test('run under the supervisor: no keyring, no home, no network, the memory and process limits (control: the real server, unconfined)', async () => {
    const s = makeScratch('ra-attacks', { layout: 'host' });
    const { ws, lib } = await macroWorkspace(s);
    let connections = 0;
    const listener = createServer((c) => {
      connections++;
      c.destroy();
    });
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
    const port = (listener.address() as { port: number }).port;
    const key: [string, string] = ['cargo-sandbox-ra-key', 'KEYRING-SECRET-a11ce5'];
    const target = join(s.home, 'written-by-macro');
    const requests = [
      versionCheck,
      listMacros(lib),
      expand(lib, 'hello'),
      expand(lib, 'keyring', { RA_KEY_NAME: key[0] }),
      expand(lib, 'write_home', { RA_WRITE_PATH: target }),
      expand(lib, 'connect', { RA_CONNECT: `127.0.0.1:${port}` }),
      // Over max-memory (1GiB), and over max-processes (24), not over this machine's.
      expand(lib, 'alloc', { RA_ALLOC_BYTES: String(2 * 1024 ** 3) }),
      expand(lib, 'forks', { RA_FORKS: '40' }),
    ];
    try {
      // Control: the real server, unconfined, in the same keyring session, home and listener.
      const control = await converse(realMacroServer(), requests, { cwd: ws, env: s.env, key });
      assert.equal(control.responses.length, requests.length, control.stderr);
      const c = control.responses.slice(2).map(outcome);
      assert.deepEqual(c, ['HELLO=world', `KEYRING=${key[1]}`, 'WRITE=ok', 'CONNECT=ok', 'ALLOC=ok', 'FORKS=40']);
      assert.ok(existsSync(target), 'control: the home was not written');
      assert.equal(connections, 1, 'control: the listener was not reached');
      rmSync(target);

      const sandboxed = await converse(SERVER, requests, { cwd: ws, env: s.env, key });
      assert.equal(sandboxed.code, 0, sandboxed.stderr);
      assert.equal(sandboxed.responses.length, requests.length, sandboxed.stderr);
      assert.match(sandboxed.responses[0]!, /^\{"ApiVersionCheck":\d+\}$/);
      assert.match(sandboxed.responses[1]!, /"Ok":\[\["hello","FuncLike"\]/);
      const [hello, keyring, write, connect, alloc, forks] = sandboxed.responses.slice(2).map(outcome);
      assert.equal(hello, 'HELLO=world');
      assert.match(keyring!, /^KEYRING=refused: /);
      assert.ok(!sandboxed.responses.join('\n').includes(key[1]), 'the key reached the macro');
      assert.match(write!, /^WRITE=refused: /);
      assert.equal(existsSync(target), false, 'a macro wrote into the home');
      assert.match(connect!, /^CONNECT=refused: /);
      assert.equal(connections, 1, 'a macro reached the listener on the host');
      assert.match(alloc!, /^ALLOC=refused: /);
      const started = Number(/^FORKS=(\d+)$/.exec(forks!)?.[1]);
      assert.ok(started < 24, `${started} processes started under max-processes = 24`);
    } finally {
      listener.close();
    }
  });

  for (const dir of ['/', '/tmp']) {
    test(`started from ${dir}, it answers and expands a workspace's macros`, async () => {
      const s = makeScratch('ra-cwd');
      const { lib } = await macroWorkspace(s);
      const r = await converse(SERVER, [versionCheck, listMacros(lib), expand(lib, 'hello')], { cwd: dir, env: s.env });
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /panicked|Read-only file system/);
      assert.match(r.responses[0] ?? '', /^\{"ApiVersionCheck":\d+\}$/);
      assert.equal(outcome(r.responses[2]), 'HELLO=world');
    });
  }

  test("one server process serves two workspaces' macros, each from a sandbox of its own; libraries through a link or outside deps/ are refused", async () => {
    const s = makeScratch('ra-two');
    const one = await macroWorkspace(s);
    const twoScratch = { ...s, root: join(s.root, 'second') };
    mkdirSync(twoScratch.root);
    const two = await macroWorkspace(twoScratch);
    assert.notEqual(one.ws, two.ws);
    const linked = join(s.root, 'linked-deps');
    symlinkSync(join(two.ws, 'target', 'debug', 'deps'), linked);
    const viaLink = join(linked, two.lib.split('/').at(-1)!);
    const outside = join(two.ws, 'target', 'debug', two.lib.split('/').at(-1)!);
    copyFileSync(two.lib, outside);
    const requests = [versionCheck, listMacros(one.lib), listMacros(two.lib), expand(one.lib, 'hello'), expand(two.lib, 'hello'), listMacros(viaLink), expand(outside, 'hello')];
    const r = await converse(SERVER, requests, { cwd: one.ws, env: s.env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.responses.length, requests.length, r.stderr);
    assert.equal(outcome(r.responses[3]), 'HELLO=world');
    assert.equal(outcome(r.responses[4]), 'HELLO=world');
    assert.match(r.responses[5]!, /^\{"ListMacros":\{"Err":"cargo-sandbox: .*passes through a link/);
    assert.match(outcome(r.responses[6]), /^error: cargo-sandbox: .*not a proc-macro library in a target dir's `deps`/);
    // Control: the real server loads both (the refusals are the relay's).
    const control = await converse(realMacroServer(), requests, { cwd: one.ws, env: s.env });
    assert.match(control.responses[5]!, /"Ok":\[\["hello"/);
    assert.equal(outcome(control.responses[6]), 'HELLO=world');
  });

  test("the launcher `cargo sandbox doctor` names is static and serves with no Node on the editor's PATH", async () => {
    const s = makeScratch('ra-launcher');
    const { lib } = await macroWorkspace(s);
    const doctor = await runCli(['doctor'], { cwd: s.root, env: s.env });
    const launcher = /proc-macro server\s+(\S+) \(/.exec(doctor.stdout)?.[1];
    assert.ok(launcher, doctor.stdout);
    assert.ok(isStaticElf(realpathSync(launcher)), `${launcher} loads libraries`);
    // The editor's PATH, where the first `node` is not one (a version manager's shim, say).
    const bin = join(s.root, 'editor-bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'node'), '#!/bin/sh\necho "not this node" >&2\nexit 1\n', { mode: 0o755 });
    const env = { ...s.env, PATH: `${bin}:${s.env.PATH}` };
    // Control: `node` there fails.
    assert.notEqual(spawnSync('node', ['--version'], { env }).status, 0);
    const r = await converse(launcher, [versionCheck, listMacros(lib), expand(lib, 'hello')], { cwd: '/', env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(outcome(r.responses[2]), 'HELLO=world');
  });
});

