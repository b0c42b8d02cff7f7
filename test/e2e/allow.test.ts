// `cargo sandbox allow` with real cargo: the command a denial prints, run as printed, twice for one
// package, leaves a config cargo still reads (no `duplicate key`); `--workspace` keeps a trusted
// workspace trusted and an untrusted one untrusted; at a terminal the build asks, and a yes
// writes the grant; in CI or without a terminal it never asks (and never hangs).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { CLI, makeScratch, runCli, runPlainCargo, runPrinted, type RunResult, type Scratch } from '../helpers/sandbox-env.js';

/** A crate whose build script reads two files of the (hidden) home, in order, and fails without them. */
function reader(label: string, opts: { untrusted?: boolean } = {}): { s: Scratch; ws: string } {
  const s = makeScratch(label, opts);
  const ws = join(s.root, 'ws');
  mkdirSync(join(ws, 'src'), { recursive: true });
  for (const name of ['sdk-a', 'sdk-b']) {
    mkdirSync(join(s.home, name));
    writeFileSync(join(s.home, name, 'config.txt'), `${name}\n`);
  }
  writeFileSync(join(ws, 'Cargo.toml'), '[package]\nname = "home-reader"\nversion = "0.1.0"\nedition = "2021"\nbuild = "build.rs"\n');
  writeFileSync(join(ws, 'src/lib.rs'), '');
  const paths = ['sdk-a', 'sdk-b'].map((n) => JSON.stringify(join(s.home, n, 'config.txt')));
  writeFileSync(join(ws, 'build.rs'), `fn main() {\n    for path in [${paths.join(', ')}] {\n        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));\n    }\n}\n`);
  return { s, ws };
}

const allowLine = (stderr: string) => /^help: to allow this: (cargo sandbox allow .*)$/m.exec(stderr)?.[1];

describe('cargo sandbox allow', () => {
  test('the printed command, run as printed, twice for one package: each build gets further, and cargo still reads the config', async () => {
    const { s, ws } = reader('allow-twice');
    const first = await runCli(['build'], { cwd: ws, env: s.env });
    assert.equal(first.status, 101);
    const one = allowLine(first.stderr);
    assert.equal(one, 'cargo sandbox allow home-reader --read ~/sdk-a/config.txt', first.stderr);
    assert.equal((await runPrinted(one, { cwd: ws, env: s.env })).status, 0);
    const second = await runCli(['build'], { cwd: ws, env: s.env });
    assert.equal(second.status, 101);
    const two = allowLine(second.stderr);
    assert.equal(two, 'cargo sandbox allow home-reader --read ~/sdk-b/config.txt', second.stderr);
    const allowed = await runPrinted(two, { cwd: ws, env: s.env });
    assert.equal(allowed.status, 0, allowed.stderr);
    const config = readFileSync(join(s.cargoHome, 'config.toml'), 'utf8');
    assert.equal(config, '[sandbox.package.home-reader]\nallow-read = ["~/sdk-a/config.txt", "~/sdk-b/config.txt"]\n');
    // The same grant again: said, nothing written.
    const again = await runPrinted(two, { cwd: ws, env: s.env });
    assert.match(again.stderr, /already has read ~\/sdk-b\/config\.txt.*nothing was written/);
    assert.equal(readFileSync(join(s.cargoHome, 'config.toml'), 'utf8'), config);
    // Plain cargo reads the same file: no `duplicate key`.
    const metadata = await runPlainCargo(['metadata', '--format-version', '1', '--no-deps'], { cwd: ws, env: s.env });
    assert.equal(metadata.status, 0, metadata.stderr);
    assert.doesNotMatch(metadata.stderr, /duplicate/);
    const built = await runCli(['build'], { cwd: ws, env: s.env });
    assert.equal(built.status, 0, built.stderr);
  });

  test('--workspace: a trusted workspace stays trusted (the grant applies); an untrusted one stays untrusted', async () => {
    for (const trusted of [true, false]) {
      const { s, ws } = reader(`allow-ws-${trusted}`, { untrusted: true });
      mkdirSync(join(ws, '.cargo'));
      writeFileSync(join(ws, '.cargo/config.toml'), '# the repository\'s own\n[build]\njobs = 1\n');
      if (trusted) assert.equal((await runCli(['trust'], { cwd: ws, env: s.env })).status, 0);
      const r = await runCli(['allow', 'home-reader', '--read', join(s.home, 'sdk-a'), '--read', join(s.home, 'sdk-b'), '--workspace'], { cwd: ws, env: s.env });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /^ {5}Allowed home-reader: read ~\/sdk-a, ~\/sdk-b \(in .*\/ws\/\.cargo\/config\.toml\)$/m);
      assert.equal(readFileSync(join(ws, '.cargo/config.toml'), 'utf8'), '# the repository\'s own\n[build]\njobs = 1\n\n[sandbox.package.home-reader]\nallow-read = ["~/sdk-a", "~/sdk-b"]\n');
      assert.ok(!existsSync(join(s.cargoHome, 'config.toml')), 'the user config is not touched');
      const show = await runCli(['trust', '--show'], { cwd: ws, env: s.env });
      const built = await runCli(['build'], { cwd: ws, env: s.env });
      if (trusted) {
        assert.match(r.stderr, /^note: the workspace's configuration stays trusted/m);
        assert.match(show.stdout, /\(cargo config; trusted\)/);
        assert.equal(built.status, 0, built.stderr);
      } else {
        assert.match(r.stderr, /^warning: .* is not trusted: its grants apply only after you review and trust it$/m);
        assert.match(r.stderr, /^help: run `cargo sandbox trust` in the workspace$/m);
        assert.match(show.stdout, /\(cargo config; not trusted\)/);
        assert.equal(built.status, 101, 'an untrusted workspace\'s grant does not apply');
      }
    }
  });
});

/** Runs the CLI under a pseudo-terminal (`script`), typing `input`; the pty merges its output. */
function underTerminal(args: readonly string[], opts: { cwd: string; env: NodeJS.ProcessEnv; input: string; timeoutMs: number; typeAhead?: boolean }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const command = [CLI, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let answered = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      // Answered once the question is on the screen (what is typed before it is discarded).
      if (!opts.typeAhead && !answered && /\[y\/N\] $/.test(stdout)) {
        answered = true;
        child.stdin.write(opts.input);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    // Typed ahead: the terminal keeps it until the question reads it. The pipe stays open (an end
    // of input would answer no): the child's exit ends it.
    if (opts.typeAhead) child.stdin.write(opts.input);
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

describe('the prompt after a failed build', () => {
  test('at a terminal: asks once for the package, and `y` writes the grant to the user config', async () => {
    const { s, ws } = reader('allow-prompt');
    const r = await underTerminal(['build'], { cwd: ws, env: s.env, input: 'y\n', timeoutMs: 300_000 });
    assert.notEqual(r.signal, 'SIGKILL', `hung:\n${r.stdout}`);
    assert.equal((r.stdout.match(/\[y\/N\]/g) ?? []).length, 1, r.stdout);
    assert.match(r.stdout, /Allow home-reader's build script to read ~\/sdk-a\/config\.txt\? \[y\/N\]/);
    assert.match(r.stdout, /Allowed home-reader: read ~\/sdk-a\/config\.txt \(in ~\/\.cargo\/config\.toml\)/);
    assert.match(r.stdout, /run the build again/);
    assert.equal(readFileSync(join(s.cargoHome, 'config.toml'), 'utf8'), '[sandbox.package.home-reader]\nallow-read = ["~/sdk-a/config.txt"]\n');
  });

  test('never in CI, with CARGO_SANDBOX_PROMPT=never, or without a terminal: the build ends, nothing is written', async () => {
    const { s, ws } = reader('allow-noprompt');
    for (const env of [{ ...s.env, CI: '1' }, { ...s.env, CARGO_SANDBOX_PROMPT: 'never' }]) {
      const r = await underTerminal(['build'], { cwd: ws, env, input: 'y\n', timeoutMs: 300_000 });
      assert.notEqual(r.signal, 'SIGKILL', `hung:\n${r.stdout}`);
      assert.doesNotMatch(r.stdout, /\[y\/N\]/);
      assert.match(r.stdout, /to allow this: cargo sandbox allow home-reader/);
    }
    const piped = await runCli(['build'], { cwd: ws, env: s.env, timeoutMs: 300_000 });
    assert.equal(piped.status, 101);
    assert.doesNotMatch(piped.stderr, /\[y\/N\]/);
    assert.ok(!existsSync(join(s.cargoHome, 'config.toml')));
  });
});
