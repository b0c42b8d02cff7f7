// rust-analyzer through the sandbox: its override commands, run exactly as it runs them, print
// only JSON lines on stdout; its proc-macro server runs inside bubblewrap and still answers.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BASHRC, copyFixture, makeScratch, processesWith, REPO_ROOT, runCli, SECRETS, sleep } from '../helpers/sandbox-env.js';

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
        servers = processesWith('rust-analyzer-proc-macro-srv').filter((pid) => !readlinkSync(`/proc/${pid}/exe`).includes('bwrap'));
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
