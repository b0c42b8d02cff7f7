// The compiled front end (libexec/front-end.rs): a repeated build replays its cached session
// without starting Node, and is sandboxed exactly as before: scripts that run are confined, their
// failures explained, and anything the session was derived from (configuration, the host paths it
// masks) invalidates it.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ranReport, soloWorkspace } from '../helpers/attack-env.js';
import { BASHRC, CLI, copyFixture, filesContaining, makeScratch, scriptRanSandboxed, REPO_ROOT, run, runCli, runPlainCargo, SECRETS, TRACE_SANDBOXING, tracedPrograms, walkFiles, type Scratch } from '../helpers/sandbox-env.js';
import { fileIdentity } from '../../src/intercept/session-cache.js';

const cacheDir = join(makeScratch('front-end-cache').root, 'cache');

function setup(s: Scratch, params: string[], config = '') {
  const ws = copyFixture(s, 'replay');
  writeFileSync(join(ws, 'params.txt'), params.join('\n') + '\n');
  if (config) {
    mkdirSync(join(ws, '.cargo'));
    writeFileSync(join(ws, '.cargo', 'config.toml'), config);
  }
  const env = { ...s.env, CARGO_SANDBOX_CACHE_DIR: cacheDir };
  return { ws, env };
}

/** Programs started (execve), in order, while cargo-sandbox ran, and the sandboxes made (tracedPrograms). */
async function tracedBuild(ws: string, env: NodeJS.ProcessEnv, s: Scratch) {
  const trace = join(s.root, `exec-${Date.now()}.trace`);
  const r = await run('strace', [...TRACE_SANDBOXING, '-o', trace, CLI, 'build'], { cwd: ws, env });
  return { ...r, programs: tracedPrograms(readFileSync(trace, 'utf8')) };
}

/** First build: Node (and the front end is compiled); second: Node writes the session; then replays. */
async function warmUp(ws: string, env: NodeJS.ProcessEnv) {
  for (let i = 0; i < 2; i++) {
    const r = await runCli(['build'], { cwd: ws, env });
    assert.equal(r.status, 0, r.stderr);
  }
}

describe('the front end replays cached sessions', () => {
  test('a repeated build starts no Node; scripts that run stay sandboxed and failures are explained', async () => {
    const s = makeScratch('replay');
    const { ws, env } = setup(s, [join(s.home, '.ssh', 'id_ed25519'), `write=${join(s.home, '.bashrc')}`]);
    await warmUp(ws, env);
    assert.ok(existsSync(join(cacheDir, 'front-end')), 'the front end was not built');
    assert.equal(readdirSync(join(cacheDir, 'sessions')).filter((d) => existsSync(join(cacheDir, 'sessions', d, 'entry'))).length >= 1, true);

    const noop = await tracedBuild(ws, env, s);
    assert.equal(noop.status, 0, noop.stderr);
    assert.ok(noop.programs.includes('cargo'), noop.programs.join(' '));
    assert.ok(!noop.programs.includes('node'), `Node started on a no-op rebuild: ${noop.programs.join(' ')}`);

    // The build script runs again (its trigger changed): replayed session, same sandbox.
    writeFileSync(join(ws, 'trigger.txt'), '2\n');
    const rerun = await tracedBuild(ws, env, s);
    assert.equal(rerun.status, 0, rerun.stderr);
    const cargoAt = rerun.programs.indexOf('cargo');
    assert.ok(cargoAt >= 0 && rerun.programs.indexOf('node') > cargoAt, `Node ran before cargo: ${rerun.programs.join(' ')}`);
    assert.ok(scriptRanSandboxed(rerun.programs), `the build script did not run in the sandbox: ${rerun.programs.join(' ')}`);
    assert.deepEqual(filesContaining(join(ws, 'target'), SECRETS.sshKey), []);
    assert.equal(readFileSync(join(s.home, '.bashrc'), 'utf8'), BASHRC);

    // A failure is explained by Node after cargo, as without the front end.
    writeFileSync(join(ws, 'trigger.txt'), 'fail\n');
    const failed = await tracedBuild(ws, env, s);
    assert.equal(failed.status, 101, failed.stderr);
    assert.ok(failed.programs.indexOf('node') > failed.programs.indexOf('cargo'), failed.programs.join(' '));
    assert.match(failed.stderr, /note: .*\.ssh/, failed.stderr);
    // (A secret: explained, and never offered.)
    assert.match(failed.stderr, /^help: not offered for the build script of `replay`: read `~\/\.ssh\/id_ed25519` \(a secret the sandbox hides\)/m, failed.stderr);
  });

  test('a secret that appears after the session was cached is masked all the same', async () => {
    const s = makeScratch('late-secret');
    rmSync(join(s.home, '.kube'), { recursive: true });
    const kube = join(s.home, '.kube', 'config');
    const notes = join(s.home, 'notes.txt');
    const marker = 'LATE-NOTES-MARKER-3e8d21';
    // Home is readable by grant, so only the mask over ~/.kube stands between the script and the token.
    const { ws, env } = setup(s, [notes, kube], '[sandbox]\nallow-read = ["~"]\n');
    await warmUp(ws, env);
    // Both appear after the session was cached: an unmasked file of the home, and the secret.
    writeFileSync(notes, `${marker}\n`);
    mkdirSync(join(s.home, '.kube'));
    writeFileSync(kube, `users:\n- user:\n    token: ${SECRETS.kube}\n`);
    writeFileSync(join(ws, 'trigger.txt'), '2\n');
    const r = await runCli(['build'], { cwd: ws, env });
    assert.equal(r.status, 0, r.stderr);
    // The replayed run read the home through its grant (so the script did try), but not the token.
    assert.notDeepEqual(filesContaining(join(ws, 'target'), marker), [], 'the replayed run did not read ~/notes.txt: allow-read = ["~"] did not apply');
    assert.deepEqual(filesContaining(join(ws, 'target'), SECRETS.kube), []);
  });

  test('a rust-toolchain.toml that switches to an older cargo (Debian\'s 1.65) is refused, not replayed', async () => {
    const s = makeScratch('toolchain-switch');
    const { ws, env } = setup(s, []);
    await warmUp(ws, env);
    // rustup's proxy now runs /usr/bin/cargo (1.65), which cargo-sandbox refuses.
    writeFileSync(join(ws, 'rust-toolchain.toml'), '[toolchain]\npath = "/usr"\n');
    const r = await runCli(['build'], { cwd: ws, env });
    assert.equal(r.status, 101, r.stderr);
    assert.match(r.stderr, /^error: cargo 1\.65\.\d+ is older than 1\.79/m);
  });

  test('a cached policy file changed after the session was written is not replayed: the build script stays sandboxed', async () => {
    const s = makeScratch('tampered-session');
    const { ws, env } = setup(s, [join(s.home, '.ssh', 'id_ed25519'), `write=${join(s.home, '.bashrc')}`]);
    await warmUp(ws, env);
    // What a process that could write the cache would do: turn the sandbox off in the policy file
    // the launcher reads (`sandbox = false`), leaving the entry itself as it was.
    const sessions = join(cacheDir, 'sessions');
    let tampered = 0;
    for (const d of readdirSync(sessions)) {
      const file = join(sessions, d, 'packages', '_default.data');
      if (!existsSync(file) || !readFileSync(file, 'utf8').includes('sandbox=1\0')) continue;
      writeFileSync(file, readFileSync(file, 'utf8').replace('sandbox=1\0', 'sandbox=0\0'));
      tampered++;
    }
    assert.ok(tampered > 0, 'no cached policy file found');
    writeFileSync(join(ws, 'trigger.txt'), '3\n');
    const r = await tracedBuild(ws, env, s);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.programs.indexOf('node') >= 0 && r.programs.indexOf('node') < r.programs.indexOf('cargo'), `the tampered session was replayed: ${r.programs.join(' ')}`);
    assert.ok(scriptRanSandboxed(r.programs), `the build script did not run in the sandbox: ${r.programs.join(' ')}`);
    assert.deepEqual(filesContaining(join(ws, 'target'), SECRETS.sshKey), []);
    assert.equal(readFileSync(join(s.home, '.bashrc'), 'utf8'), BASHRC);
  });

  test('revoking a grant in .cargo/config.toml takes effect on the next build', async () => {
    const s = makeScratch('revoke');
    const outbox = join(s.home, 'outbox');
    mkdirSync(outbox);
    const config = '[sandbox]\nallow-write = ["~/outbox"]\n';
    const { ws, env } = setup(s, [`write=${join(outbox, 'granted')}`], config);
    await warmUp(ws, env);
    assert.ok(existsSync(join(outbox, 'granted')), 'the grant did not work');
    rmSync(join(outbox, 'granted'));
    writeFileSync(join(ws, '.cargo', 'config.toml'), config.replace('allow-write', '# allow-write'));
    writeFileSync(join(ws, 'trigger.txt'), '2\n');
    const r = await runCli(['build'], { cwd: ws, env });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(!existsSync(join(outbox, 'granted')), 'a revoked grant still applied');
  });
});

describe('cached sessions and helpers cannot be altered from a sandbox', () => {
  /** The attack workspace with its cache in ~/.cache/cargo-sandbox, filled by two sandboxed builds. */
  async function withFilledCache(label: string) {
    const { scratch, ws } = soloWorkspace(label);
    const cache = join(scratch.home, '.cache', 'cargo-sandbox');
    // A grant over cargo-sandbox's own directory too (as `~/.local` over a `--prefix` install).
    writeFileSync(join(ws, 'attack-params.txt'), `home=${scratch.home}\ncache_dir=${cache}\npackage_dir=${REPO_ROOT}\n`);
    mkdirSync(join(ws, '.cargo'));
    writeFileSync(join(ws, '.cargo', 'config.toml'), `[sandbox.package.attack-session-cache]\nallow-write = ["~/.cache", "${REPO_ROOT}"]\n`);
    const env = { ...scratch.env, CARGO_SANDBOX_CACHE_DIR: cache };
    for (let i = 0; i < 2; i++) {
      const r = await runCli(['build', '-p', 'victim'], { cwd: ws, env });
      assert.equal(r.status, 0, r.stderr);
    }
    const before = new Map(walkFiles(cache).map((f) => [f, readFileSync(f)]));
    assert.ok([...before.keys()].some((f) => f.includes('/sessions/')), 'no session was cached');
    return { scratch, ws, cache, env, before };
  }

  test('a build script granted write access to ~/.cache and to cargo-sandbox\'s own directory leaves both as they were (control: plain cargo rewrites them)', async () => {
    const plain = await withFilledCache('cache-tamper-plain');
    const p = await runPlainCargo(['build', '-p', 'attack-session-cache'], { cwd: plain.ws, env: plain.env });
    assert.equal(p.status, 0, p.stderr);
    assert.ok(existsSync(join(plain.cache, 'PWNED')), 'plain: nothing was planted');
    assert.ok([...plain.before].some(([f, data]) => !readFileSync(f).equals(data)), 'plain: no cached file was changed');
    const planted = join(REPO_ROOT, 'dist', 'PWNED-package');
    assert.ok(existsSync(planted), 'plain: nothing was planted in cargo-sandbox\'s directory');
    rmSync(planted);

    const s = await withFilledCache('cache-tamper');
    const r = await runCli(['build', '-p', 'attack-session-cache'], { cwd: s.ws, env: s.env });
    assert.equal(r.status, 0, r.stderr);
    const report = ranReport(s.ws, 'attack-session-cache') ?? '';
    assert.match(report, /^append .*\/sessions\/.*packages\/.* Err/m, `the attack did not reach the cached sessions:\n${report}`);
    assert.doesNotMatch(report, /Ok\(\(\)\)/);
    assert.equal(existsSync(join(s.cache, 'PWNED')), false);
    assert.match(report, /^plant-package Err/m);
    assert.equal(existsSync(join(REPO_ROOT, 'dist', 'PWNED-package')), false);
    for (const [f, data] of s.before) {
      // Our record of cargo's version-text cache is rewritten by the host after each run (rustc-info.ts):
      // it must name the file cargo wrote, whatever the sandbox did.
      if (f.includes('/rustc-info/')) assert.equal(readFileSync(f, 'utf8'), fileIdentity(join(s.ws, 'target', '.rustc_info.json')), `${f} does not record cargo's file`);
      else assert.ok(readFileSync(f).equals(data), `${f} was changed`);
    }
    // The cached session still replays, sandboxed.
    const again = await runCli(['build', '-p', 'victim'], { cwd: s.ws, env: s.env });
    assert.equal(again.status, 0, again.stderr);
  });
});
