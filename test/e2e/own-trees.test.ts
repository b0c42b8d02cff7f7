// cargo-sandbox's own trees (the session, its caches, its package directory, the PATH directory
// holding its command) stay read-only under any write grant that covers them: a literal path, a
// grant with a runtime part (`${CARGO_MANIFEST_DIR}`, the documented form) or one spelled through
// a link, each resolved by the entry point (libexec/entry/launch.rs keep_own_read_only). Found by a review: a
// build script swapped the cached front end, which bin/cargo-sandbox then ran on the host
// (THREAT-MODEL case 129). Each attack has a plain-cargo control.

import assert from 'node:assert/strict';
import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { CLI, copyFixture, makeScratch, REPO_ROOT, run, runCli, runPlainCargo } from '../helpers/sandbox-env.js';

function workspace(label: string) {
  const s = makeScratch(label);
  const ws = copyFixture(s, 'own-trees');
  const cache = join(ws, 'gen', '.sbcache');
  const marker = join(s.root, 'host-marker.txt');
  const env = { ...s.env, CARGO_SANDBOX_CACHE_DIR: cache };
  const targets = (lines: string[]) => writeFileSync(join(ws, 'gen', 'targets.txt'), lines.join('\n') + '\n');
  return { s, ws, cache, marker, env, targets };
}

describe('a write grant whose path is not written as ours still covers our trees', () => {
  test('control: a literal grant of the package directory holding the cache leaves the cache read-only', async () => {
    const w = workspace('own-trees-literal');
    w.targets([`plant ${join(w.cache, 'PWNED')}`, `swap-front ${w.cache}`, `marker ${w.marker}`]);
    for (let i = 0; i < 2; i++) {
      writeFileSync(join(w.ws, 'gen', 'targets.txt'), readFileSync(join(w.ws, 'gen', 'targets.txt'), 'utf8') + '\n');
      const r = await runCli(['build', `--allow-write=gen:${join(w.ws, 'gen')}`], { cwd: w.ws, env: w.env });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /plant .*: Err\(ReadOnlyFilesystem\)/);
    }
    assert.equal(existsSync(join(w.cache, 'PWNED')), false);
    assert.ok(lstatSync(join(w.cache, 'front-end')).isSymbolicLink(), 'the front end was replaced');
  });

  test('control: plain cargo writes there', async () => {
    const w = workspace('own-trees-plain');
    w.targets([`plant ${join(w.cache, 'PWNED')}`]);
    mkdirSync(w.cache, { recursive: true });
    const p = await runPlainCargo(['build'], { cwd: w.ws, env: w.env });
    assert.equal(p.status, 0, p.stderr);
    assert.ok(existsSync(join(w.cache, 'PWNED')));
  });

  test('attack: the same directory granted as ${CARGO_MANIFEST_DIR} (default builder): the cache stays read-only', async () => {
    const w = workspace('own-trees-runtime');
    w.targets([`plant ${join(w.cache, 'PWNED')}`, `swap-front ${w.cache}`, `marker ${w.marker}`]);
    for (let i = 0; i < 2; i++) {
      writeFileSync(join(w.ws, 'gen', 'targets.txt'), readFileSync(join(w.ws, 'gen', 'targets.txt'), 'utf8') + '\n');
      const r = await runCli(['build', '--allow-write=gen:${CARGO_MANIFEST_DIR}'], { cwd: w.ws, env: w.env });
      assert.equal(r.status, 0, r.stderr);
    }
    // The next, unrelated command: bin/cargo-sandbox execs CACHE/front-end.
    await run(CLI, ['--version'], { cwd: w.ws, env: w.env });
    const onHost = existsSync(w.marker) ? readFileSync(w.marker, 'utf8') : '';
    assert.equal(onHost, '', `a build script's program ran on the host:\n${onHost}`);
    assert.equal(existsSync(join(w.cache, 'PWNED')), false, 'a file was planted in the cache');
    assert.ok(lstatSync(join(w.cache, 'front-end')).isSymbolicLink(), 'the front end was replaced');
  });

  test('attack: a grant spelled through a link to cargo-sandbox\'s directory (bubblewrap) leaves it read-only', async () => {
    const w = workspace('own-trees-link');
    const link = join(w.s.root, 'tools');
    symlinkSync(REPO_ROOT, link);
    const planted = join(REPO_ROOT, 'dist', 'PWNED-own-trees-link');
    rmSync(planted, { force: true });
    w.targets([`plant ${join(link, 'dist', 'PWNED-own-trees-link')}`]);
    const env = { ...w.env, CARGO_SANDBOX_BACKEND: 'bubblewrap' };
    // Control: the same directory granted as it is written: read-only.
    const c = await runCli(['build', `--allow-write=gen:${REPO_ROOT}`], { cwd: w.ws, env });
    assert.equal(c.status, 0, c.stderr);
    w.targets([`plant ${join(REPO_ROOT, 'dist', 'PWNED-own-trees-link')}`, '']);
    const c2 = await runCli(['build', `--allow-write=gen:${REPO_ROOT}`], { cwd: w.ws, env });
    assert.equal(c2.status, 0, c2.stderr);
    assert.match(c2.stderr, /plant .*: Err\(ReadOnlyFilesystem\)/);
    w.targets([`plant ${join(link, 'dist', 'PWNED-own-trees-link')}`, '', '']);
    const r = await runCli(['build', `--allow-write=gen:${link}`], { cwd: w.ws, env });
    const was = existsSync(planted);
    rmSync(planted, { force: true });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(was, false, `planted in cargo-sandbox's directory through ${link}:\n${r.stderr}`);
  });

  test('attack: a grant over a --prefix install\'s prefix: the package directory is read-only, the command on PATH that leads to it is not', async () => {
    const w = workspace('own-trees-prefix');
    // npm install -g --prefix PREFIX: PREFIX/lib/node_modules/cargo-sandbox, PREFIX/bin/cargo-sandbox a link into it.
    const prefix = join(w.s.root, 'prefix');
    const pkg = join(prefix, 'lib', 'node_modules', 'cargo-sandbox');
    mkdirSync(join(prefix, 'bin'), { recursive: true });
    for (const f of ['bin', 'dist', 'libexec', 'package.json']) cpSync(join(REPO_ROOT, f), join(pkg, f), { recursive: true, verbatimSymlinks: true });
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(pkg, 'node_modules'));
    // The helpers whose key does not name the installation, as compiled for the clone (saves minutes).
    mkdirSync(join(pkg, '.cache'));
    for (const f of readdirSync(join(REPO_ROOT, '.cache'))) if (/^(entry|confine|direct-sandbox)-[0-9a-f]{16}$/.test(f)) cpSync(join(REPO_ROOT, '.cache', f), join(pkg, '.cache', f));
    const command = join(prefix, 'bin', 'cargo-sandbox');
    symlinkSync('../lib/node_modules/cargo-sandbox/bin/cargo-sandbox', command);
    w.targets([`plant ${join(pkg, 'dist', 'PWNED')}`, `swap-link ${command}`, `marker ${w.marker}`]);
    // PREFIX/bin is on the user's PATH, as the install instructions say.
    const env = { ...w.s.env, PATH: `${join(prefix, 'bin')}:${w.s.env.PATH}` };
    const r = await run(command, ['build', `--allow-write=gen:${prefix}`], { cwd: w.ws, env });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /plant .*PWNED: Err\(ReadOnlyFilesystem\)/, 'control: the package directory is read-only');
    // The user's next command, through the link on PATH.
    await run(command, ['--version'], { cwd: w.ws, env });
    const onHost = existsSync(w.marker) ? readFileSync(w.marker, 'utf8') : '';
    assert.equal(onHost, '', `a build script's program ran on the host through ${join(prefix, 'bin')}:\n${onHost}`);
  });
});
