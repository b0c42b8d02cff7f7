// Interrupting a build: Ctrl-C and kill leave no process behind, and kill -9 at any moment never
// leaves an unwrapped build script under a name cargo runs, nor a target dir that fails next time.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  copyFixture,
  isLauncher,
  makeScratch,
  processesWith,
  runCli,
  sleep,
  startCli,
  walkFiles,
} from '../helpers/sandbox-env.js';

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    else child.on('exit', (code, signal) => resolve({ code, signal }));
  });
}

async function waitFor(predicate: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) if (predicate()) return true;
  return predicate();
}

/** A copy of `fixture` whose slow step's child carries a marker of its own, with `config`. */
function slowWorkspace(fixture: string, label: string, config: string) {
  const s = makeScratch(label);
  const ws = copyFixture(s, fixture);
  const marker = `cs-${fixture}-${label}-${process.pid}-${Date.now()}`;
  writeFileSync(join(ws, 'marker.txt'), marker);
  if (config) {
    mkdirSync(join(ws, '.cargo'));
    writeFileSync(join(ws, '.cargo/config.toml'), config);
  }
  return { s, ws, marker };
}

async function startSlowBuild(label: string, config = '') {
  const { s, ws, marker } = slowWorkspace('slow', label, config);
  const child = startCli(['build'], { cwd: ws, env: s.env });
  child.stdout?.resume();
  child.stderr?.resume();
  const started = await waitFor(() => walkFiles(join(ws, 'target')).some((f) => f.endsWith('/out/started')), 120_000);
  assert.ok(started, 'the build script never started');
  assert.ok(await waitFor(() => processesWith(marker).length > 0, 10_000), 'its child never started');
  return { child, marker };
}

/** The cargo process below `root` (or `root` itself): the deepest process named cargo. */
function cargoBelow(root: number): number | undefined {
  const parent = new Map<number, number>();
  const named = new Set<number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const m = /^(\d+) \((.*)\) \S+ (\d+)/s.exec(readFileSync(`/proc/${name}/stat`, 'latin1'));
      if (!m) continue;
      parent.set(Number(m[1]), Number(m[3]));
      if (m[2] === 'cargo') named.add(Number(m[1]));
    } catch {
      /* gone */
    }
  }
  const depth = (pid: number) => {
    let d = 0;
    for (let p: number | undefined = pid; p !== undefined && p > 1; p = parent.get(p), d++) if (p === root) return d;
    return -1;
  };
  return [...named].filter((p) => depth(p) >= 0).sort((a, b) => depth(b) - depth(a))[0];
}

/** A build that waits inside `fixture`'s slow step (a build script, or a proc macro's expansion). */
async function startSlow(fixture: string, label: string, start: (ws: string, env: NodeJS.ProcessEnv) => ChildProcess, config = '') {
  const { s, ws, marker } = slowWorkspace(fixture, label, config);
  const child = start(ws, s.env);
  child.stdout?.resume();
  child.stderr?.resume();
  assert.ok(await waitFor(() => processesWith(marker).length > 0, 120_000), 'the slow step never started');
  return { child, marker };
}

const plainCargo = (ws: string, env: NodeJS.ProcessEnv) => spawn('cargo', ['build'], { cwd: ws, env, stdio: 'ignore', detached: true });

/** kill -9 to cargo alone (not its process group), as an IDE or a CI runner's timeout might. */
async function killCargo(child: ChildProcess): Promise<void> {
  const cargo = cargoBelow(child.pid!);
  assert.ok(cargo, 'no cargo process found');
  process.kill(cargo, 'SIGKILL');
  await waitFor(() => !processesWith('').includes(cargo), 5_000);
}

function killAll(marker: string, child: ChildProcess): void {
  for (const pid of processesWith(marker)) process.kill(pid, 'SIGKILL');
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

/**
 * kill -9 to cargo alone in `fixture`'s slow step: plain cargo's step keeps running (control);
 * under `cargo sandbox COMMAND`, with a list on `pkg`, neither the step nor its proxy is left.
 */
async function killedCargoLeaves(fixture: string, command: string, pkg: string): Promise<void> {
  const plain = await startSlow(fixture, `kill9-${command}-plain`, plainCargo);
  await killCargo(plain.child);
  await sleep(1_000);
  const orphaned = processesWith(plain.marker).length > 0;
  killAll(plain.marker, plain.child);
  assert.ok(orphaned, 'plain cargo: the step ended with cargo');

  const destination = `kill9-${command}-${process.pid}.test:4242`;
  const config = `[sandbox.package.${pkg}]\nallow-network = ["${destination}"]\n`;
  const { child, marker } = await startSlow(fixture, `kill9-${command}`, (ws, env) => startCli([command], { cwd: ws, env }), config);
  assert.ok(processesWith(destination).length > 0, 'no proxy ran');
  await killCargo(child);
  const ended = await waitFor(() => processesWith(marker).length === 0 && processesWith(destination).length === 0, 5_000);
  killAll(marker, child);
  assert.ok(ended, 'the sandboxed step or its proxy outlived cargo');
}

/**
 * Three builds of the slow fixture sharing a cache: 1, Node, which builds the front end; 2, the
 * front end misses and Node writes the session; 3, the front end replays it. `interrupt` is called
 * in each once the build script runs.
 */
async function throughTheFrontEnd(label: string, config: string, interrupt: (child: ChildProcess, marker: string, run: number) => Promise<void>): Promise<void> {
  const { s, ws, marker } = slowWorkspace('slow', label, config);
  const env = { ...s.env, CARGO_SANDBOX_CACHE_DIR: join(s.root, 'cache') };
  for (let run = 1; run <= 3; run++) {
    const child = startCli(['build'], { cwd: ws, env });
    child.stdout?.resume();
    child.stderr?.resume();
    assert.ok(await waitFor(() => processesWith(marker).length > 0, 120_000), `run ${run}: the build script never started`);
    if (run === 3) assert.match(readlinkSync(`/proc/${child.pid}/exe`), /front-end/, 'the third run was not the front end');
    await interrupt(child, marker, run);
  }
}

/** Names under which cargo could run a build script binary: both must be launchers. */
function unwrappedBuildScripts(targetDir: string): string[] {
  return walkFiles(targetDir).filter((f) => {
    const m = /\/build\/[^/]+\/([^/]+)$/.exec(f);
    if (!m) return false;
    const name = m[1]!;
    const runnable = /^build-script-[^.]+$/.test(name) || /^build_script_[A-Za-z0-9_]+-[0-9a-f]+$/.test(name);
    return runnable && !isLauncher(f);
  });
}

describe('interrupting a build', () => {
  test('Ctrl-C (SIGINT to the process group) ends cargo and the sandboxed script, nothing left', async () => {
    const { child, marker } = await startSlowBuild('sigint');
    process.kill(-child.pid!, 'SIGINT');
    const end = await exited(child);
    assert.ok(end.signal === 'SIGINT' || end.code === 130, JSON.stringify(end));
    assert.ok(await waitFor(() => processesWith(marker).length === 0, 5_000), 'a sandboxed process survived');
  });

  test('Ctrl-C with an allow-network list: the filtering proxy ends with the script (control: it ran)', async () => {
    // A destination no other test names: it marks this build's proxy.
    const destination = `interrupt-${process.pid}.test:4242`;
    const { child, marker } = await startSlowBuild('sigint-proxy', `[sandbox.package.slow]\nallow-network = ["${destination}"]\n`);
    assert.ok(processesWith(destination).length > 0, 'no proxy ran for the build script');
    process.kill(-child.pid!, 'SIGINT');
    await exited(child);
    assert.ok(await waitFor(() => processesWith(marker).length === 0 && processesWith(destination).length === 0, 5_000), 'a sandboxed process or the proxy survived');
  });

  test('Ctrl-C during an audit: exit 130, and the report is marked interrupted', async () => {
    const s = makeScratch('audit-sigint');
    const ws = copyFixture(s, 'slow');
    const marker = `cs-slow-audit-${process.pid}-${Date.now()}`;
    writeFileSync(join(ws, 'marker.txt'), marker);
    const child = startCli(['audit', '--format', 'json'], { cwd: ws, env: s.env });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    assert.ok(await waitFor(() => processesWith(marker).length > 0, 120_000), 'the build script never started');
    process.kill(-child.pid!, 'SIGINT');
    const end = await exited(child);
    assert.equal(end.code, 130, stderr);
    assert.equal((JSON.parse(stdout) as { interrupted?: boolean }).interrupted, true);
    assert.match(stderr, /^warning: the audit was interrupted: the report covers only the build scripts that ran before it stopped$/m);
  });

  test('SIGTERM to cargo-sandbox alone is passed on to cargo, nothing left', async () => {
    const { child, marker } = await startSlowBuild('sigterm');
    process.kill(child.pid!, 'SIGTERM');
    const end = await exited(child);
    assert.ok(end.signal === 'SIGTERM' || end.code !== 0, JSON.stringify(end));
    assert.ok(await waitFor(() => processesWith(marker).length === 0, 5_000), 'a sandboxed process survived');
  });

  test('the front end passes SIGTERM on to cargo too, when it replays a cached session', async () => {
    await throughTheFrontEnd('sigterm-front', '', async (child, marker, run) => {
      process.kill(child.pid!, 'SIGTERM');
      const end = await exited(child);
      assert.ok(end.signal === 'SIGTERM' || end.code !== 0, JSON.stringify(end));
      assert.ok(await waitFor(() => processesWith(marker).length === 0, 5_000), `run ${run}: a sandboxed process survived`);
    });
  });

  // Plain cargo's children outlive it; sandboxed ones must not (their proxy would stay open).
  test('kill -9 to cargo alone mid-compilation: the sandboxed compiler and its macro\'s proxy end with it (control: plain cargo\'s keeps running)', async () => {
    await killedCargoLeaves('slow-macro', 'build', 'slow-macros');
  });

  test('kill -9 to cargo alone during an audit: the launcher, strace, the sandbox and the proxy end with it (control: plain cargo\'s script keeps running)', async () => {
    await killedCargoLeaves('slow', 'audit', 'slow');
  });

  test('kill -9 to cargo-sandbox itself, in Node and in the front end replaying a cached session: cargo and everything sandboxed end with it', async () => {
    const destination = `kill9-self-${process.pid}.test:4242`;
    await throughTheFrontEnd('kill9-self', `[sandbox.package.slow]\nallow-network = ["${destination}"]\n`, async (child, marker, run) => {
      assert.ok(processesWith(destination).length > 0, `run ${run}: no proxy ran`);
      const cargo = cargoBelow(child.pid!);
      assert.ok(cargo, `run ${run}: no cargo process found`);
      process.kill(child.pid!, 'SIGKILL');
      const ended = await waitFor(() => processesWith(marker).length === 0 && processesWith(destination).length === 0 && !processesWith('').includes(cargo), 5_000);
      killAll(marker, child);
      assert.ok(ended, `run ${run}: cargo, the script or its proxy outlived cargo-sandbox`);
    });
  });

  test('kill -9 at any moment: never an unwrapped build script, and the next build succeeds', async () => {
    const s = makeScratch('kill9');
    const ws = copyFixture(s, 'attacks');
    const marker = `cs-kill9-${process.pid}-${Date.now()}`;
    writeFileSync(join(ws, 'attack-params.txt'), `home=${s.home}\ndaemon_marker=${marker}\nvictim_marker=${marker}-none\nptrace_marker=${marker}-none\n`);
    const target = join(ws, 'target');
    for (const delayMs of [150, 400, 700, 1000, 1300, 1700, 2100, 2600, 3200, 4000]) {
      const child = startCli(['build'], { cwd: ws, env: s.env });
      child.stdout?.resume();
      child.stderr?.resume();
      await sleep(delayMs);
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already finished */
      }
      await exited(child);
      assert.deepEqual(unwrappedBuildScripts(target), [], `after kill -9 at ${delayMs} ms`);
    }
    const r = await runCli(['build'], { cwd: ws, env: s.env });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(unwrappedBuildScripts(target), []);
    const dirs = readdirSync(join(target, 'debug', 'build'));
    assert.ok(dirs.length >= 9, dirs.join(' '));
    assert.ok(await waitFor(() => processesWith(marker).length === 0, 5_000), 'a sandboxed process survived');
    assert.equal(readFileSync(join(s.home, '.bashrc'), 'utf8').includes('PWNED'), false);
  });
});
