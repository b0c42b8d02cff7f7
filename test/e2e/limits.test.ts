// Resource limits: a build script that fills the disk (one big file, or many), hogs memory, forks
// without end, floods its output or never ends is stopped; the note names the limit, where it was
// set, and the line that raises it; nothing hangs.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { copyFixture, makeScratch, processesWith, runCli, runPlainCargo, sleep, walkFiles } from '../helpers/sandbox-env.js';

/** Plain cargo in its own process group, to be killed whole (rustc and what the macro started). */
function startPlainCargo(args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }) {
  const child = spawn('cargo', args, { ...opts, stdio: 'ignore', detached: true });
  const done = new Promise<void>((r) => child.on('exit', () => r()));
  const running = () => child.exitCode === null && child.signalCode === null;
  return { done, running, kill: () => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } } };
}

/**
 * The name the spin fixtures give the child they leave behind (sleeper-marker.txt): this test's
 * processes, not every `sleep 3600` on the machine.
 */
function sleeperMarker(ws: string, label: string): string {
  const marker = `cs-sleeper-${label}-${process.pid}-${Date.now()}`;
  writeFileSync(join(ws, 'sleeper-marker.txt'), marker);
  return marker;
}

async function waitFor<T>(probe: () => T | undefined, ms: number): Promise<T | undefined> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) {
    const found = probe();
    if (found !== undefined) return found;
  }
  return probe();
}

/** `/proc/PID/stat` fields after the name: state, parent, ... (undefined if it is gone). */
function stat(pid: number | string): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'latin1').replace(/^.*\) /s, '').split(' ');
  } catch {
    return undefined;
  }
}

function limitsWorkspace(label: string, config: string) {
  const s = makeScratch(label);
  const ws = copyFixture(s, 'limits');
  mkdirSync(join(ws, '.cargo'));
  writeFileSync(join(ws, '.cargo/config.toml'), config);
  return { s, ws };
}

describe('resource limits', () => {
  test('max-file-size stops a disk fill in OUT_DIR; raising it as suggested lets it build', async () => {
    const { s, ws } = limitsWorkspace('limit-file', '[sandbox.package.fill]\nmax-file-size = "1MiB"\n');
    const r = await runCli(['build', '-p', 'fill'], { cwd: ws, env: s.env });
    assert.equal(r.status, 101);
    assert.match(r.stderr, /^note: it was stopped writing a file larger than its limit of 1MiB \(max-file-size, \S+\/\.cargo\/config\.toml:2:1\)$/m);
    assert.match(r.stderr, /^help: to allow this: cargo sandbox allow fill --max-file-size 4MiB$/m);
    const big = walkFiles(join(ws, 'target')).filter((f) => f.endsWith('/big.bin'));
    assert.ok(big.every((f) => statSync(f).size <= 1024 * 1024), 'a file grew past the limit');
    writeFileSync(join(ws, '.cargo/config.toml'), '[sandbox.package.fill]\nmax-file-size = "16MiB"\n');
    const again = await runCli(['build', '-p', 'fill'], { cwd: ws, env: s.env });
    assert.equal(again.status, 0, again.stderr);
  });

  test('max-memory stops a memory hog, named with its key', async () => {
    const { s, ws } = limitsWorkspace('limit-mem', '[sandbox.package.hog]\nmax-memory = "256MiB"\n');
    const r = await runCli(['build', '-p', 'hog'], { cwd: ws, env: s.env });
    assert.equal(r.status, 101);
    assert.match(r.stderr, /^note: it ran out of memory under its limit of 256MiB \(max-memory, \S+\/\.cargo\/config\.toml:2:1\)$/m);
    assert.match(r.stderr, /^help: to allow this: cargo sandbox allow hog --max-memory 1GiB$/m);
  });

  test('max-processes stops a fork bomb (control: unsandboxed, all 400 processes start)', async () => {
    const { s, ws } = limitsWorkspace('limit-pids', '[sandbox.package.bomb]\nmax-processes = 64\n');
    const plain = await runPlainCargo(['build', '-p', 'bomb'], { cwd: ws, env: s.env });
    assert.equal(plain.status, 0, plain.stderr);
    const r = await runCli(['build', '-p', 'bomb'], { cwd: ws, env: s.env });
    assert.equal(r.status, 101);
    assert.match(r.stderr, /fork bomb stopped after \d+ processes/);
    assert.match(r.stderr, /^note: it was refused \d+ new process\(es\) at its limit of 64 processes alive at once \(max-processes, \S+\/\.cargo\/config\.toml:2:1\)$/m);
    assert.match(r.stderr, /^help: to allow this: cargo sandbox allow bomb --max-processes 256$/m);
  });

  test('max-output stops gigabytes on stdout before cargo stores them (control: unsandboxed, cargo keeps 1 GiB)', async () => {
    const { s, ws } = limitsWorkspace('limit-output', '[sandbox.package.flood]\nmax-output = "16MiB"\n');
    // The script records in OUT_DIR/written how many MiB it got out.
    const written = () => {
      const f = walkFiles(join(ws, 'target')).find((p) => /\/build\/flood-[^/]+\/out\/written$/.test(p));
      assert.ok(f, 'the script did not run');
      return Number(readFileSync(f, 'utf8'));
    };
    const plain = await runPlainCargo(['build', '-p', 'flood'], { cwd: ws, env: s.env });
    assert.equal(plain.status, 0, plain.stderr.slice(-2000));
    assert.equal(written(), 1024);
    const output = walkFiles(join(ws, 'target')).filter((f) => /\/build\/flood-[^/]+\/output$/.test(f));
    assert.deepEqual(output.map((f) => statSync(f).size), [1024 ** 3]);
    rmSync(join(ws, 'target'), { recursive: true }); // 1 GiB: not left in /tmp; and a fresh run below

    const r = await runCli(['build', '-p', 'flood'], { cwd: ws, env: s.env, timeoutMs: 120_000 });
    assert.equal(r.status, 101);
    assert.match(r.stderr, /^note: it was stopped after writing more than 16MiB of output \(max-output, \S+:2:1\)$/m);
    // The supervisor passes whole lines to cargo up to the limit, then kills the script: cargo
    // prints what it got (indented) with its error, at most 16 MiB and not much less; the script
    // itself got no further than the limit and the pipe's buffer.
    const lines = r.stderr.match(/^ *x{1023}$/gm)?.length ?? 0;
    assert.ok(lines > 15 * 1024 && lines <= 16 * 1024, `${lines} KiB of the script's output reached cargo`);
    assert.ok(r.stderr.length < 17 * 1024 * 1024, `${r.stderr.length} bytes on stderr`);
    assert.ok(written() <= 17, `the script wrote ${written()} MiB before it was stopped`);
    assert.deepEqual(walkFiles(join(ws, 'target')).filter((f) => /\/build\/flood-[^/]+\/output$/.test(f)), [], 'cargo stored the output');
  });

  test('timeout stops an infinite loop, and the process it started, without hanging the build', async () => {
    const { s, ws } = limitsWorkspace('limit-time', '[sandbox.package.spin]\ntimeout = "3s"\n');
    const marker = sleeperMarker(ws, 'limit-time');
    const started = Date.now();
    // The bound fails the test (and stops a build that hangs): the result is judged by state below.
    const r = await runCli(['build', '-p', 'spin'], { cwd: ws, env: s.env, timeoutMs: 120_000 });
    assert.equal(r.signal, null, 'the build hung');
    assert.equal(r.status, 101);
    assert.ok(Date.now() - started < 60_000, 'the build hung');
    assert.match(r.stderr, /^note: it was stopped after its timeout of 3s \(\S+:2:1\)$/m);
    // The script started its child (the test's marker as its name) ...
    const sleeper = walkFiles(join(ws, 'target')).find((f) => /\/build\/spin-[^/]+\/out\/sleeper$/.test(f));
    assert.match(sleeper ? readFileSync(sleeper, 'utf8') : 'the script did not run', new RegExp(`^${marker} \\d+$`));
    // ... and no process of this test is left.
    assert.deepEqual(processesWith(marker), [], 'its child outlived it');
  });

  test('timeout stops a proc macro that never returns, and what it started (control: plain cargo hangs)', async () => {
    const { s, ws } = limitsWorkspace('limit-macro-time', '[sandbox.package.spin-macro-user]\ntimeout = "3s"\n');
    const marker = sleeperMarker(ws, 'limit-macro-time');
    // Control, by state: the macro started its child (named with the marker), whose parent, the
    // rustc expanding it, is still there with a thread running (the macro's endless loop, which
    // follows the start), and cargo has not finished: the compilation cannot end.
    const plain = startPlainCargo(['build', '-p', 'spin-macro-user'], { cwd: ws, env: s.env });
    let spinning: string | undefined;
    try {
      const child = await waitFor(() => processesWith(marker)[0], 120_000);
      assert.ok(child, 'plain: the macro never started its child');
      const rustc = stat(child)?.[1];
      assert.equal(readFileSync(`/proc/${rustc}/comm`, 'utf8').trim(), 'rustc', 'plain: the child\'s parent is not the rustc expanding the macro');
      spinning = await waitFor(() => readdirSync(`/proc/${rustc}/task`).find((t) => stat(`${rustc}/task/${t}`)?.[0] === 'R'), 10_000);
      assert.ok(plain.running(), 'plain: the compilation finished: the macro did not hang it');
    } finally {
      plain.kill();
      await plain.done;
    }
    assert.ok(spinning, 'plain: no thread of rustc is running the macro\'s loop');
    for (const pid of processesWith(marker)) process.kill(pid, 'SIGKILL');
    rmSync(join(ws, 'target'), { recursive: true, force: true });
    const started = Date.now();
    // The bound fails the test (and stops a build that hangs): the result is judged by state below.
    const r = await runCli(['build', '-p', 'spin-macro-user'], { cwd: ws, env: s.env, timeoutMs: 120_000 });
    assert.equal(r.signal, null, 'the build hung');
    assert.equal(r.status, 101, r.stderr);
    assert.ok(Date.now() - started < 60_000, 'the build hung');
    assert.match(r.stderr, /error: cargo-sandbox: rustc ran longer than its timeout of 3s; stopped with everything it started/);
    // The macro started its child in the sandbox too, and nothing of this test is left.
    assert.match(r.stderr, new RegExp(`^spin-macro: started ${marker} \\d+$`, 'm'), 'the macro did not start its child');
    assert.deepEqual(processesWith(marker), [], 'its child outlived it');
  });

  test('max-disk stops many files that each stay under max-file-size, and gives the space back', async () => {
    const { s, ws } = limitsWorkspace('limit-disk', '[sandbox.package.many-files]\nmax-disk = "64MiB"\n');
    const r = await runCli(['build', '-p', 'many-files'], { cwd: ws, env: s.env, timeoutMs: 120_000 });
    assert.equal(r.status, 101);
    assert.match(r.stderr, /^note: it was stopped when its files \(OUT_DIR and \/tmp\) grew over its limit of 64MiB \(max-disk, \S+:2:1\); OUT_DIR was emptied$/m);
    // target/debug/build/many-files-HASH is both where the script was compiled and where it ran;
    // only the run directory holds its OUT_DIR (`out/`): it is there, emptied.
    const build = join(ws, 'target/debug/build');
    const runDirs = readdirSync(build).filter((d) => d.startsWith('many-files-') && ['out', 'output', 'root-output'].some((f) => existsSync(join(build, d, f))));
    assert.equal(runDirs.length, 1, `no run directory of the script: ${readdirSync(build).join(' ')}`);
    assert.ok(existsSync(join(build, runDirs[0]!, 'out')), 'its OUT_DIR is gone');
    assert.deepEqual(readdirSync(join(build, runDirs[0]!, 'out')), [], 'the space was not given back');
  });

  test('max-disk counts what the sandbox\'s /tmp holds, files deleted while still open too', async () => {
    const { s, ws } = limitsWorkspace('limit-disk-hidden', '[sandbox.package.hidden-tmp]\nmax-disk = "64MiB"\n');
    const r = await runCli(['build', '-p', 'hidden-tmp'], { cwd: ws, env: s.env, timeoutMs: 120_000 });
    assert.equal(r.status, 101, r.stderr);
    assert.match(r.stderr, /^note: it was stopped when its files \(OUT_DIR and \/tmp\) grew over its limit of 64MiB \(max-disk, \S+:2:1\); OUT_DIR was emptied$/m);
  });

  test('max-disk counts only what the script wrote: a workspace under /tmp (seen inside, read-only) is not', async () => {
    const s = makeScratch('limit-disk-tmp');
    const ws = copyFixture(s, 'tiny');
    assert.ok(ws.startsWith('/tmp/'), `this test needs its workspace under /tmp, not ${ws}`);
    writeFileSync(join(ws, 'big.bin'), randomBytes(8 * 1024 * 1024));
    mkdirSync(join(ws, '.cargo'));
    writeFileSync(join(ws, '.cargo/config.toml'), '[sandbox]\nmax-disk = "4MiB"\n');
    const r = await runCli(['build'], { cwd: ws, env: s.env });
    assert.equal(r.status, 0, r.stderr);
  });

  test('the default limits let real build scripts through (1 GiB of memory, 400 processes, 400 MiB of files)', async () => {
    const { s, ws } = limitsWorkspace('limit-default', '');
    const r = await runCli(['build', '-p', 'hog', '-p', 'fill', '-p', 'bomb', '-p', 'many-files'], { cwd: ws, env: s.env });
    assert.equal(r.status, 0, r.stderr);
  });
});
