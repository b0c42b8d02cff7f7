// The [sandbox] configuration with real cargo: each grant opens exactly what it names for exactly
// its package, judged on the host; precedence; a grant change reruns only that package's script;
// a malformed config stops the build before anything runs; each denial comes with its grant.

import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { startListeners } from '../helpers/listeners.js';
import { copyFixture, makeScratch, runCli, runPrinted, walkFiles, type Scratch } from '../helpers/sandbox-env.js';

interface Probe {
  s: Scratch;
  ws: string;
  env: NodeJS.ProcessEnv;
}

function probe(label: string, config: string, params: Record<string, string> = {}): Probe {
  const s = makeScratch(label);
  const ws = copyFixture(s, 'probe');
  mkdirSync(join(ws, '.cargo'));
  writeFileSync(join(ws, '.cargo/config.toml'), config);
  writeFileSync(join(ws, 'probe-params.txt'), Object.entries(params).map(([k, v]) => `${k}=${v}\n`).join(''));
  mkdirSync(join(s.home, 'granted'));
  writeFileSync(join(s.home, 'granted/file.txt'), 'GRANTED-CONTENT\n');
  mkdirSync(join(s.home, 'granted-w'));
  mkdirSync(join(s.home, '.local/bin'), { recursive: true });
  writeFileSync(join(s.home, '.local/bin/mytool'), '#!/bin/sh\necho mytool-output\n');
  chmodSync(join(s.home, '.local/bin/mytool'), 0o755);
  const env = { ...s.env, MY_TOOL_HOME: '/opt/mytool', PATH: `${join(s.home, '.local/bin')}:${s.env.PATH}` };
  return { s, ws, env };
}

function report(ws: string, pkg: string): Record<string, string> {
  const f = walkFiles(join(ws, 'target')).find((p) => p.includes(`/build/${pkg}-`) && p.endsWith('/out/report'));
  assert.ok(f, `no report for ${pkg}`);
  return Object.fromEntries(readFileSync(f, 'utf8').trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

function runs(ws: string, pkg: string): number {
  const f = walkFiles(join(ws, 'target')).find((p) => p.includes(`/build/${pkg}-`) && p.endsWith('/out/runs'));
  return f ? Number(readFileSync(f, 'utf8')) : 0;
}

describe('grants', () => {
  test('allow-read, allow-write, allow-env, allow-network and ${CARGO_MANIFEST_DIR} open exactly their package', async () => {
    const listeners = await startListeners(makeScratch('unused').root);
    const p = probe(
      'grants',
      [
        '[sandbox.package.probe-a]',
        'allow-read = ["~/granted", "~/.local/bin"]',
        'allow-write = ["~/granted-w", "${CARGO_MANIFEST_DIR}/generated"]',
        'allow-env = ["MY_TOOL_HOME"]',
        'allow-network = true',
        '',
      ].join('\n'),
      { port: String(listeners.tcpPort) },
    );
    const r = await runCli(['build', '--workspace'], { cwd: p.ws, env: p.env });
    await listeners.close();
    assert.equal(r.status, 0, r.stderr);
    const a = report(p.ws, 'probe-a');
    const b = report(p.ws, 'probe-b');
    assert.equal(a.read, 'ok:GRANTED-CONTENT');
    assert.match(b.read!, /^err:.*No such file/);
    assert.equal(readFileSync(join(p.s.home, 'granted-w/probe-a.txt'), 'utf8'), 'written by probe-a');
    assert.equal(existsSync(join(p.s.home, 'granted-w/probe-b.txt')), false);
    assert.ok(existsSync(join(p.ws, 'probe-a/generated/probe-a.rs')));
    assert.equal(existsSync(join(p.ws, 'probe-b/generated/probe-b.rs')), false);
    assert.equal(a.env, 'ok:/opt/mytool');
    assert.match(b.env!, /^err:/);
    assert.equal(a.exec, 'ok:mytool-output');
    assert.match(b.exec!, /^err:/);
    assert.equal(listeners.received.tcp, 1, 'exactly one connection: probe-a\'s');
    // ... and each probe's own report says whose: probe-a connected, probe-b tried and was refused.
    assert.equal(a.net, 'ok:');
    assert.match(b.net!, new RegExp(`^err:connecting to 127\\.0\\.0\\.1:${listeners.tcpPort}: `));
  });

  test('sandbox = false runs that one script unsandboxed, with a warning', async () => {
    const p = probe('nosandbox', '[sandbox.package.probe-b]\nsandbox = false\n');
    const r = await runCli(['build', '--workspace'], { cwd: p.ws, env: p.env });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^warning: the build script of `probe-b` runs UNSANDBOXED \(sandbox = false, .*config\.toml:2:1\)/m);
    assert.equal(report(p.ws, 'probe-b').read, 'ok:GRANTED-CONTENT');
    assert.match(report(p.ws, 'probe-a').read!, /^err:/);
  });

  test('timeout stops a hanging script, names the limit and the key that raises it', async () => {
    const p = probe('timeout', '[sandbox]\ntimeout = "2s"\n', { 'sleep.probe-a': '60' });
    const started = Date.now();
    const r = await runCli(['build', '-p', 'probe-a'], { cwd: p.ws, env: p.env });
    assert.equal(r.status, 101);
    assert.ok(Date.now() - started < 40_000, 'the build hung');
    assert.match(r.stderr, /^note: it was stopped after its timeout of 2s \(.*config\.toml:2:1\)$/m);
    assert.match(r.stderr, /^help: to allow this: cargo sandbox allow probe-a --timeout 8s$/m);
  });

  test('command-line grants for one build', async () => {
    const p = probe('flags', '');
    const r = await runCli(['build', '--workspace', '--allow-read=probe-b:~/granted', '--allow-env=probe-b:MY_TOOL_HOME'], { cwd: p.ws, env: p.env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(report(p.ws, 'probe-b').read, 'ok:GRANTED-CONTENT');
    assert.equal(report(p.ws, 'probe-b').env, 'ok:/opt/mytool');
    assert.match(report(p.ws, 'probe-a').read!, /^err:/);
  });

  test('precedence: --config beats the environment beats the nearer file beats the farther one', async (t) => {
    const listeners = await startListeners(makeScratch('unused').root);
    t.after(() => listeners.close());
    const p = probe('precedence', '', { port: String(listeners.tcpPort) });
    // A farther file (the scratch root, above the workspace) grants the read; arrays are joined.
    mkdirSync(join(p.s.root, '.cargo'));
    writeFileSync(join(p.s.root, '.cargo/config.toml'), '[sandbox.package.probe-a]\nallow-read = ["~/granted"]\nallow-network = true\n');
    writeFileSync(join(p.ws, '.cargo/config.toml'), '[sandbox.package.probe-a]\nallow-env = ["MY_TOOL_HOME"]\nallow-network = false\n');
    const env = { ...p.env, CARGO_SANDBOX_PACKAGE_PROBE_A_ALLOW_NETWORK: 'true' };
    const cli = ['--config', 'sandbox.package.probe-a.allow-network=false'];
    // What `policy` says each layer decides...
    const r1 = await runCli(['policy', 'probe-a'], { cwd: p.ws, env: p.env });
    assert.equal(r1.status, 0, r1.stderr);
    assert.match(r1.stdout, /network:\s+none \(.*\/probe\/\.cargo\/config\.toml:3:1\)/);
    assert.match(r1.stdout, /\/granted \(.*cs-test-precedence-[^/]+\/\.cargo\/config\.toml:2:1\)/);
    assert.match(r1.stdout, /MY_TOOL_HOME \(.*\/probe\/\.cargo\/config\.toml:2:1\)/);
    const r2 = await runCli(['policy', 'probe-a'], { cwd: p.ws, env });
    assert.match(r2.stdout, /network:\s+allowed \(environment variable CARGO_SANDBOX_PACKAGE_PROBE_A_ALLOW_NETWORK\)/);
    const r3 = await runCli(['policy', 'probe-a', ...cli], { cwd: p.ws, env });
    assert.match(r3.stdout, /network:\s+none \(--config sandbox\.package\.probe-a\.allow-network=false\)/);
    const r4 = await runCli(['policy'], { cwd: p.ws, env });
    assert.match(r4.stdout, /^probe-a v0\.1\.0\s+yes\s+yes\s+\S+\/granted\s+-\s+MY_TOOL_HOME\s+1800s$/m);
    assert.match(r4.stdout, /^probe-b v0\.1\.0\s+yes\s+no\s+-\s+-\s+-\s+1800s$/m);

    // ...is what the build does. Each layer changes the grants, so the script reruns (`runs`) and
    // its report and the listener's count are this run's. Files only: the farther read and the
    // nearer env are both granted, and the nearer `false` keeps the network shut.
    const build = async (args: string[], e: NodeJS.ProcessEnv) => {
      const r = await runCli(['build', '-p', 'probe-a', ...args], { cwd: p.ws, env: e });
      assert.equal(r.status, 0, r.stderr);
      return report(p.ws, 'probe-a');
    };
    const b1 = await build([], p.env);
    assert.equal(runs(p.ws, 'probe-a'), 1);
    assert.equal(b1.read, 'ok:GRANTED-CONTENT');
    assert.equal(b1.env, 'ok:/opt/mytool');
    assert.match(b1.net!, /^err:/);
    assert.equal(listeners.received.tcp, 0, 'the nearer file\'s allow-network = false did not hold');
    // The environment beats the files: the connection arrives (the control: the probe does connect).
    const b2 = await build([], env);
    assert.equal(runs(p.ws, 'probe-a'), 2, 'the environment\'s grant did not rerun the script');
    assert.equal(b2.net, 'ok:');
    assert.equal(listeners.received.tcp, 1, 'the environment\'s allow-network = true did not apply');
    assert.equal(b2.read, 'ok:GRANTED-CONTENT');
    // --config beats the environment: shut again.
    const b3 = await build(cli, env);
    assert.equal(runs(p.ws, 'probe-a'), 3, 'the --config grant did not rerun the script');
    assert.match(b3.net!, /^err:/);
    assert.equal(listeners.received.tcp, 1, '--config allow-network = false did not beat the environment');
    assert.equal(b3.env, 'ok:/opt/mytool');
  });
});

describe('grant changes', () => {
  test('changing one package\'s grants reruns exactly its build script', async () => {
    const p = probe('rerun', '[sandbox.package.probe-a]\nallow-env = ["MY_TOOL_HOME"]\n');
    const build = () => runCli(['build', '--workspace'], { cwd: p.ws, env: p.env });
    assert.equal((await build()).status, 0);
    assert.deepEqual([runs(p.ws, 'probe-a'), runs(p.ws, 'probe-b')], [1, 1]);
    assert.equal((await build()).status, 0);
    assert.deepEqual([runs(p.ws, 'probe-a'), runs(p.ws, 'probe-b')], [1, 1], 'nothing changed: nothing reruns');
    writeFileSync(join(p.ws, '.cargo/config.toml'), '[sandbox.package.probe-a]\nallow-env = ["MY_TOOL_HOME"]\nallow-read = ["~/granted"]\n');
    assert.equal((await build()).status, 0);
    assert.deepEqual([runs(p.ws, 'probe-a'), runs(p.ws, 'probe-b')], [2, 1]);
    assert.equal(report(p.ws, 'probe-a').read, 'ok:GRANTED-CONTENT');
    writeFileSync(join(p.ws, '.cargo/config.toml'), '# comments and moved lines do not count\n[sandbox.package.probe-a]\nallow-read = ["~/granted"]\nallow-env = ["MY_TOOL_HOME"]\n');
    assert.equal((await build()).status, 0);
    assert.deepEqual([runs(p.ws, 'probe-a'), runs(p.ws, 'probe-b')], [2, 1]);
  });
});

describe('configuration errors', () => {
  test('a malformed [sandbox] table stops the build before anything runs, with file:line and a hint', async () => {
    const p = probe('malformed', '[sandbox]\nallow-netwrok = true\n');
    const r = await runCli(['build', '--workspace'], { cwd: p.ws, env: p.env });
    assert.equal(r.status, 101);
    assert.match(r.stderr, /^error: unknown key `allow-netwrok` in `\[sandbox\]`$/m);
    assert.match(r.stderr, /^ {2}--> \S+\/\.cargo\/config\.toml:2:1$/m);
    assert.match(r.stderr, /^help: did you mean `allow-network`\?$/m);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.equal(existsSync(join(p.ws, 'target')), false);
  });
});

describe('denials that explain themselves', () => {
  // What each note names, and the grant its `cargo sandbox allow` command must carry.
  const cases: [string, string, RegExp, string[]][] = [
    ['read', 'read', /^note: it tried to access `~\/granted\/file\.txt`, which the sandbox hides/m, ['--read ~/granted/file.txt']],
    ['write', 'gen', /^note: it tried to write `\S+\/probe-a\/generated\/probe-a\.rs`, which is read-only/m, ['--write /']],
    ['env', 'env', /^note: it looked for the environment variable `MY_TOOL_HOME`/m, ['--env MY_TOOL_HOME']],
    // The narrowest grant: the one address, reached through the forward once granted.
    ['network', 'net', /^note: it tried to use the network \(127\.0\.0\.1:\d+\)/m, ['--network=127.0.0.1:']],
    ['program', 'exec', /^note: it tried to run `mytool`, which is on your PATH in `~\/\.local\/bin`/m, ['--read ~/.local/bin']],
  ];
  for (const [label, action, note, grant] of cases) {
    test(`${label}: the note names it, the help gives the allow command, and that command, run as printed, makes the build pass`, async (t) => {
      const listeners = await startListeners(makeScratch('unused').root);
      t.after(() => listeners.close());
      const p = probe(`deny-${label}`, '', { 'strict.probe-a': action, port: String(listeners.tcpPort) });
      const r = await runCli(['build', '-p', 'probe-a'], { cwd: p.ws, env: p.env });
      assert.equal(r.status, 101);
      assert.match(r.stderr, note);
      const command = /^help: to allow this: (cargo sandbox allow probe-a .*)$/m.exec(r.stderr)?.[1];
      assert.ok(command, r.stderr);
      for (const g of grant) assert.ok(command.includes(g), command);
      // The table is for -v only; the one-off flags stay.
      assert.doesNotMatch(r.stderr, /\[sandbox\.package/);
      assert.match(r.stderr, /^help: or, for one build only, add to the command: `--allow-/m);
      if (label === 'read') {
        const verbose = await runCli(['build', '-v', '-p', 'probe-a'], { cwd: p.ws, env: p.env });
        assert.match(verbose.stderr, /^help: or add to a cargo config file:\n {4}\[sandbox\.package\.probe-a\]\n {4}allow-read = \["~\/granted\/file\.txt"\]$/m);
      }
      const allowed = await runPrinted(command, { cwd: p.ws, env: p.env });
      assert.equal(allowed.status, 0, allowed.stderr);
      assert.match(allowed.stderr, /^ {5}Allowed probe-a: .* \(in ~\/\.cargo\/config\.toml\)$/m);
      assert.match(readFileSync(join(p.s.cargoHome, 'config.toml'), 'utf8'), /^\[sandbox\.package\.probe-a\]$/m);
      const denied = listeners.received.tcp;
      const again = await runCli(['build', '-p', 'probe-a'], { cwd: p.ws, env: p.env });
      assert.equal(again.status, 0, again.stderr);
      // The network grant is judged by the listener too: refused before, one connection after.
      if (label === 'network') assert.deepEqual([denied, listeners.received.tcp], [0, 1]);
    });
  }
});

describe('cargo sandbox policy', () => {
  test('reads checksums from Cargo.lock (as the build does), and shows every key with its interpreted value', async () => {
    const s = makeScratch('policy-keys');
    const ws = join(s.root, 'ws');
    mkdirSync(join(ws, 'src'), { recursive: true });
    mkdirSync(join(ws, '.cargo'));
    writeFileSync(join(ws, 'Cargo.toml'), '[package]\nname = "ws"\nversion = "0.1.0"\nedition = "2021"\n[dependencies]\nscripted = "1"\n');
    writeFileSync(join(ws, 'src/lib.rs'), '');
    writeFileSync(join(ws, '.env'), 'PASSWORD=x\n');
    // A registry package with a real checksum, from a directory source (Debian's have none): the
    // user's own, outside the workspace, so that the checksum pin applies (case 118).
    const vendored = join(s.root, 'vendor/scripted');
    mkdirSync(join(vendored, 'src'), { recursive: true });
    writeFileSync(join(vendored, 'Cargo.toml'), '[package]\nname = "scripted"\nversion = "1.2.3"\nedition = "2021"\nbuild = "build.rs"\n');
    writeFileSync(join(vendored, 'build.rs'), 'fn main() {}\n');
    writeFileSync(join(vendored, 'src/lib.rs'), '');
    const checksum = 'ab'.repeat(32);
    writeFileSync(join(vendored, '.cargo-checksum.json'), `{"files":{},"package":"${checksum}"}`);
    const source = `[source.crates-io]\nreplace-with = "vendored"\n[source.vendored]\ndirectory = "${join(s.root, 'vendor')}"\n[net]\noffline = true\n`;
    writeFileSync(join(s.cargoHome, 'config.toml'), source);
    const lock = await runCli(['generate-lockfile'], { cwd: ws, env: s.env });
    assert.equal(lock.status, 0, lock.stderr);
    assert.match(readFileSync(join(ws, 'Cargo.lock'), 'utf8'), new RegExp(`checksum = "${checksum}"`));
    writeFileSync(
      join(ws, '.cargo/config.toml'),
      `[sandbox.package."scripted@=1.2.3"]\nchecksum = "${checksum}"\nallow-network = true\nallow-exec = ["cc", "pkg-config"]\nmax-memory = "2GiB"\nmax-processes = "unlimited"\ntimeout = "90s"\n`,
    );
    const r = await runCli(['policy', 'scripted'], { cwd: ws, env: s.env });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^ {2}network: +allowed \(\S+\/ws\/\.cargo\/config\.toml:3:1\)$/m);
    assert.match(r.stdout, /^ {2}programs: +cc \(\S+:4:1\)\n {18}pkg-config \(/m);
    assert.match(r.stdout, /^ {2}max-memory: +2GiB \(\S+:5:1\)$/m);
    assert.match(r.stdout, /^ {2}max-processes: +unlimited \(\S+:6:1\)$/m);
    assert.match(r.stdout, /^ {2}timeout: +90s \(/m);
    assert.match(r.stdout, /^ {2}max-disk: +16GiB \(default\)/m);
    assert.match(r.stdout, /^ {2}runs as: +a native process under bubblewrap/m);
    assert.match(r.stdout, /^ {18}system secrets: .*\/etc\/shadow .*\/etc\/wireguard/m);
    assert.match(r.stdout, /^ {18}workspace \.env files: \S+\/ws\/\.env$/m);
    assert.match(r.stdout, /^ {2}compilations: +every rustc and rustdoc call sandboxed/m);
    const table = await runCli(['policy'], { cwd: ws, env: s.env });
    assert.match(table.stdout, /^scripted v1\.2\.3\s+yes\s+yes\s/m);
  });
});
