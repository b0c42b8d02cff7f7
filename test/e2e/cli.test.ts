// The command line as users meet it: pass-through of arguments, output and exit codes; help and
// version; use as a cargo subcommand; chained wrappers; failing closed; notes after a failure.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  buildScriptEntries,
  CLI,
  copyFixture,
  isLauncher,
  makeScratch,
  REPO_ROOT,
  run,
  runCli,
  runPlainCargo,
} from '../helpers/sandbox-env.js';

function allLaunchers(ws: string): boolean {
  const scripts = buildScriptEntries(join(ws, 'target'));
  return scripts.length > 0 && scripts.every(isLauncher);
}

describe('pass-through', () => {
  test('--message-format=json: stdout stays valid JSON lines, exit 0', async () => {
    const s = makeScratch('json');
    const ws = copyFixture(s, 'tiny');
    const r = await runCli(['build', '--message-format=json'], { cwd: ws, env: s.env });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.ok(lines.length >= 3);
    const messages = lines.map((l) => JSON.parse(l) as { reason: string });
    assert.ok(messages.some((m) => m.reason === 'build-script-executed'));
    assert.equal(messages.at(-1)?.reason, 'build-finished');
  });

  test('cargo\'s exit codes are returned unchanged', async () => {
    const s = makeScratch('exit');
    const ws = copyFixture(s, 'tiny');
    for (const args of [['no-such-command'], ['build', '--no-such-flag'], ['build', '--release']]) {
      const ours = await runCli(args, { cwd: ws, env: s.env });
      const plain = await runPlainCargo(args, { cwd: ws, env: s.env });
      assert.equal(ours.status, plain.status, `${args.join(' ')}: ${ours.stderr}`);
    }
    writeFileSync(join(ws, 'src/main.rs'), 'fn main() { let x: u32 = "no"; }\n');
    const broken = await runCli(['build'], { cwd: ws, env: s.env });
    assert.equal(broken.status, 101);
    assert.match(broken.stderr, /error\[E0308\]/);
  });

  test('arguments after the command reach cargo and the program unchanged (cargo run -- args)', async () => {
    const s = makeScratch('run');
    const ws = copyFixture(s, 'tiny');
    const r = await runCli(['run', '-q', '--', '--some-arg'], { cwd: ws, env: s.env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'hello from a sandboxed build script\n');
    const t = await runCli(['test', '-q'], { cwd: ws, env: s.env });
    assert.equal(t.status, 0, t.stderr);
    assert.match(t.stdout, /1 passed/);
  });

  test('--help and --version', async () => {
    const s = makeScratch('help');
    for (const args of [['--help'], ['sandbox', '--help'], ['-h']]) {
      const r = await run(CLI, args, { cwd: s.root, env: s.env });
      assert.equal(r.status, 0);
      assert.match(r.stdout, /^cargo-sandbox \d+\.\d+\.\d+\n/);
      assert.match(r.stdout, /Usage:/);
    }
    const v = await run(CLI, ['--version'], { cwd: s.root, env: s.env });
    assert.equal(v.status, 0);
    assert.match(v.stdout, /^cargo-sandbox \d+\.\d+\.\d+\n$/);
  });

  test('our commands\' help needs no project and runs nothing; cargo\'s commands keep cargo\'s help; unknown options are errors', async () => {
    const s = makeScratch('own-help');
    const outside = join(s.root, 'not-a-project');
    mkdirSync(outside);
    for (const [args, first] of [
      [['audit', '--help'], /^Build with every build script traced/],
      [['policy', '--help'], /^The effective policy of build scripts/],
      [['doctor', '--help'], /^Check that the sandbox works/],
      [['trust', '-h'], /^What this workspace's own config/],
      [['help', 'policy'], /^The effective policy/],
      [['help', 'config'], /^Configuration: \[sandbox\] tables/],
    ] as const) {
      const r = await run(CLI, args, { cwd: outside, env: s.env });
      assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, first, args.join(' '));
    }
    // The documentation named in help exists where the package is.
    const config = await run(CLI, ['help', 'config'], { cwd: outside, env: s.env });
    const doc = /Every key, with defaults and examples: (\S+)/.exec(config.stdout)?.[1];
    assert.ok(doc && existsSync(doc), `help names ${doc}`);
    const cargoHelp = await run(CLI, ['help', 'build'], { cwd: outside, env: s.env });
    assert.match(cargoHelp.stdout, /cargo-build|Compile a local package/i);
    for (const [args, message] of [
      [['policy', '--frobnicate'], /^error: unexpected argument '--frobnicate' for `cargo sandbox policy`$/m],
      [['policy', '--format', 'xml'], /^error: invalid value 'xml' for '--format <FORMAT>'$/m],
      [['doctor', 'extra'], /^error: unexpected argument 'extra' for `cargo sandbox doctor`$/m],
      // A misspelt flag of ours stops before cargo (which would suggest `--all`).
      [['build', '--allow-netwrk'], /^error: unknown flag `--allow-netwrk`: it is neither cargo-sandbox's nor cargo's; nothing was built\nhelp: did you mean `--allow-network`\?$/m],
    ] as const) {
      const r = await run(CLI, args, { cwd: outside, env: s.env });
      assert.equal(r.status, 101, args.join(' '));
      assert.match(r.stderr, message);
    }
  });

  test('policy --format json, and a grant flag for a package not in the graph is said', async () => {
    const s = makeScratch('policy-json');
    const ws = copyFixture(s, 'tiny');
    assert.equal((await runCli(['build'], { cwd: ws, env: s.env })).status, 0);
    const r = await runCli(['policy', '--format', 'json'], { cwd: ws, env: s.env });
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { schema: string; maxProcesses: { enforced: boolean; how?: string }; packages: { name: string; network: { value: boolean; from: string } }[] };
    assert.equal(report.schema, 'cargo-sandbox-policy/1');
    // Whether max-processes holds here, as `policy` and `doctor` say it (not-delegated: limits-delegated.test.ts).
    if (process.getuid?.() === 0) assert.deepEqual([report.maxProcesses.enforced, report.maxProcesses.how], [true, 'root']);
    assert.ok(report.packages.length > 0);
    assert.deepEqual(report.packages[0]!.network, { value: false, from: 'default' });
    const typo = await runCli(['build', `--allow-network=${report.packages[0]!.name}x`], { cwd: ws, env: s.env });
    assert.match(typo.stderr, new RegExp(`^warning: package \`${report.packages[0]!.name}x\` is not in the dependency graph\n.*\nhelp: did you mean \`${report.packages[0]!.name}\`\?`, 'm'));
  });
});

describe('how it is invoked', () => {
  test('as a cargo subcommand: `cargo sandbox build`', async () => {
    const s = makeScratch('subcommand');
    const ws = copyFixture(s, 'tiny');
    const binDir = join(s.root, 'bin');
    mkdirSync(binDir);
    symlinkSync(CLI, join(binDir, 'cargo-sandbox'));
    const env = { ...s.env, PATH: `${binDir}:${s.env.PATH}` };
    const r = await run('cargo', ['sandbox', 'build'], { cwd: ws, env });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(allLaunchers(ws));
  });

  test('a +toolchain first argument', async () => {
    const s = makeScratch('toolchain');
    const ws = copyFixture(s, 'tiny');
    const r = await runCli(['+stable', 'build'], { cwd: ws, env: s.env });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(allLaunchers(ws));
  });

  test('a RUSTC outside the toolchain (a script of the user\'s) compiles in the sandbox', async () => {
    const s = makeScratch('own-rustc');
    const ws = copyFixture(s, 'tiny');
    const rustc = join(s.root, 'my-rustc');
    // It runs the toolchain's rustc by its full path (the toolchain is in the sandbox's view).
    const sysroot = execFileSync('rustc', ['--print', 'sysroot'], { encoding: 'utf8' }).trim();
    writeFileSync(rustc, `#!/bin/sh\nexec '${sysroot}/bin/rustc' "$@"\n`, { mode: 0o755 });
    const r = await runCli(['build'], { cwd: ws, env: { ...s.env, RUSTC: rustc } });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(allLaunchers(ws));
  });

  test('the rustc wrapper the user already has (RUSTC_WRAPPER, build.rustc-wrapper): not used while compilations are sandboxed, with a note; chained with proc-macros = false', async () => {
    const s = makeScratch('chain');
    const ws = copyFixture(s, 'tiny');
    const log = join(s.root, 'wrapper.log');
    const wrapper = join(s.root, 'my-wrapper');
    writeFileSync(wrapper, `#!/bin/sh\necho "$*" >> '${log}'\nexec "$@"\n`);
    chmodSync(wrapper, 0o755);
    const r = await runCli(['build'], { cwd: ws, env: { ...s.env, RUSTC_WRAPPER: wrapper } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^note: your rustc wrapper `\S+my-wrapper` is not used: every compilation runs in the sandbox/m);
    assert.match(r.stderr, /^help: `sandbox.proc-macros = false` compiles on the host through it/m);
    // Only cargo's version probe reaches it (on the host; it compiles nothing).
    assert.doesNotMatch(existsSync(log) ? readFileSync(log, 'utf8') : '', /--crate-name/);
    assert.ok(allLaunchers(ws));

    const ws2 = copyFixture(s, 'stale');
    mkdirSync(join(ws2, '.cargo'));
    writeFileSync(join(ws2, '.cargo/config.toml'), `[build]\nrustc-wrapper = "${wrapper}"\n\n[sandbox]\nproc-macros = false\n`);
    const r2 = await runCli(['build'], { cwd: ws2, env: s.env });
    assert.equal(r2.status, 0, r2.stderr);
    assert.doesNotMatch(r2.stderr, /is not used/);
    assert.match(readFileSync(log, 'utf8'), /--crate-name stale/);
    assert.match(readFileSync(log, 'utf8'), /--crate-name build_script_build/);
    assert.ok(allLaunchers(ws2));
  });
});

describe('failing closed', () => {
  test('bwrap missing: a clear error, nothing built or run', async () => {
    const s = makeScratch('nobwrap');
    const ws = copyFixture(s, 'stale');
    const r = await runCli(['build'], { cwd: ws, env: { ...s.env, CARGO_SANDBOX_BWRAP: '/nonexistent/bwrap' } });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /^error: bubblewrap \(`bwrap`\) was not found at `\/nonexistent\/bwrap` \(sandbox\.bwrap, environment variable CARGO_SANDBOX_BWRAP\)/m);
    assert.match(r.stderr, /^help: fix or remove sandbox\.bwrap, environment variable CARGO_SANDBOX_BWRAP/m);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(existsSync(join(ws, 'target')), false);
    assert.equal(existsSync(join(s.home, 'stale-marker')), false);
  });

  test('user namespaces refused (as under Ubuntu\'s AppArmor): a clear error with the fix', async () => {
    const s = makeScratch('nouserns');
    const ws = copyFixture(s, 'stale');
    const fake = join(s.root, 'bwrap');
    writeFileSync(fake, '#!/bin/sh\necho "bwrap: setting up uid map: Permission denied" >&2\nexit 1\n');
    chmodSync(fake, 0o755);
    const r = await runCli(['build'], { cwd: ws, env: { ...s.env, CARGO_SANDBOX_BWRAP: fake } });
    assert.equal(r.status, 101);
    assert.match(r.stderr, /^error: bubblewrap cannot create user namespaces/m);
    assert.match(r.stderr, /AppArmor/);
    assert.equal(existsSync(join(ws, 'target')), false);
    assert.equal(existsSync(join(s.home, 'stale-marker')), false);
  });

  test('a clone that was not built, or no Node: a clear error, not a stack trace', async () => {
    const s = makeScratch('unbuilt');
    const copy = join(s.root, 'unbuilt');
    cpSync(join(REPO_ROOT, 'bin'), join(copy, 'bin'), { recursive: true });
    const r = await run(join(copy, 'bin', 'cargo-sandbox'), ['build'], { cwd: s.root, env: s.env });
    assert.equal(r.status, 101);
    assert.equal(r.stderr, `error: cargo-sandbox is not built in ${copy} (no dist/): run \`npm ci && npm run build\` there\n`);
    // Built (a stand-in), no front end of its own yet, and no `node` on PATH.
    mkdirSync(join(copy, 'dist/src/cli'), { recursive: true });
    writeFileSync(join(copy, 'dist/src/cli/main.js'), '');
    const noNode = await run(join(copy, 'bin', 'cargo-sandbox'), ['--version'], { cwd: s.root, env: { ...s.env, PATH: '/nonexistent' } });
    assert.equal(noNode.status, 101);
    assert.match(noNode.stderr, /^error: cargo-sandbox needs Node\.js 20 or later on PATH/m);
  });

  test('a clone after `npm ci` (its TypeScript compiler there, no dist/ yet): the first run compiles it and says so, the next does not', async () => {
    const s = makeScratch('npm-ci-only');
    const copy = join(s.root, 'clone');
    for (const f of ['bin', 'src', 'libexec', 'tsconfig.json', 'package.json']) cpSync(join(REPO_ROOT, f), join(copy, f), { recursive: true });
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(copy, 'node_modules'));
    const first = await run(join(copy, 'bin', 'cargo-sandbox'), ['--version'], { cwd: s.root, env: s.env });
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stderr, /^ {3}Compiling cargo-sandbox's TypeScript \(first use of this clone; cached afterwards\)$/m);
    assert.match(first.stdout, /^cargo-sandbox \d+\.\d+\.\d+/);
    assert.ok(existsSync(join(copy, 'dist/src/cli/main.js')));
    const again = await run(join(copy, 'bin', 'cargo-sandbox'), ['--version'], { cwd: s.root, env: s.env });
    assert.equal(again.status, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /Compiling/);
  });

  test('doctor reports what works', async () => {
    const s = makeScratch('doctor');
    const ok = await runCli(['doctor'], { cwd: s.root, env: s.env });
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    const expected = process.env.CARGO_SANDBOX_BACKEND === 'bubblewrap' ? /^ok\s+sandbox builder\s+bubblewrap: / : /^ok\s+sandbox builder\s+direct: cargo-sandbox builds each sandbox itself/;
    assert.match(ok.stdout, new RegExp(expected.source, 'm'));
    const fallback = await runCli(['doctor'], { cwd: s.root, env: { ...s.env, CARGO_SANDBOX_BACKEND: 'bubblewrap' } });
    assert.equal(fallback.status, 0, fallback.stdout + fallback.stderr);
    assert.match(fallback.stdout, /^ok\s+sandbox builder\s+bubblewrap: \S+bwrap \(bubblewrap \d[^)]*; user, pid, net, ipc namespaces work\)$/m);
    const unknown = await runCli(['doctor'], { cwd: s.root, env: { ...s.env, CARGO_SANDBOX_BACKEND: 'firejail' } });
    assert.equal(unknown.status, 1);
    assert.match(unknown.stdout, /^FAIL sandbox builder +CARGO_SANDBOX_BACKEND=firejail names no sandbox backend/m);
    const bad = await runCli(['doctor'], { cwd: s.root, env: { ...s.env, CARGO_SANDBOX_BWRAP: '/nonexistent/bwrap' } });
    assert.equal(bad.status, 1);
    assert.match(bad.stdout, /FAIL bubblewrap +not found at `\/nonexistent\/bwrap` \(CARGO_SANDBOX_BWRAP\)/);
    assert.match(bad.stderr, /help: fix or unset CARGO_SANDBOX_BWRAP/);
    for (const name of ['cache', 'fast path', 'strace', 'cargo']) assert.match(ok.stdout, new RegExp(`^(ok|warn) +${name} `, 'm'), name);
  });
});

describe('when a build script fails in the sandbox', () => {
  test('cargo\'s error stays, followed by a note naming the package', async () => {
    const s = makeScratch('failing');
    const ws = copyFixture(s, 'failing');
    writeFileSync(join(s.home, '.ssh/config'), 'Host *\n');
    const r = await runCli(['build'], { cwd: ws, env: s.env });
    assert.equal(r.status, 101);
    const cargoError = r.stderr.indexOf('failed to run custom build command for `failing v0.1.0');
    const note = r.stderr.indexOf('note: the build script of `failing v0.1.0` ran inside the cargo-sandbox sandbox');
    assert.ok(cargoError >= 0, r.stderr);
    assert.ok(note > cargoError, r.stderr);
    assert.equal(r.stderr.split('\nnote: the build script of').length, 2, 'exactly one note');
    assert.doesNotMatch(r.stderr, /build script of `okdep/);
    assert.match(r.stderr, /^note: it tried to access `~\/\.ssh\/config`, which the sandbox hides/m);
    // A secret the script's error names is never offered (a command, a flag, or with -v a table): said, with why.
    assert.match(r.stderr, /^help: not offered for the build script of `failing`: read `~\/\.ssh\/config` \(a secret the sandbox hides\)/m);
    const verbose = await runCli(['build', '-v'], { cwd: ws, env: s.env });
    for (const out of [r.stderr, verbose.stderr]) assert.doesNotMatch(out, /cargo sandbox allow failing.*\.ssh|--allow-read=failing:[^ `]*\.ssh|allow-read = \[.*\.ssh/);
  });
});
