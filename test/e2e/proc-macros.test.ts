// A malicious proc macro runs inside rustc at expansion; under cargo-sandbox that rustc runs in
// the sandbox. Judged by host effects, with plain cargo as the control.
// THREAT-MODEL.md: the sandboxed rustc "cannot touch other crates' artifacts" -- the macro tries
// (the `victim` crate's sources, its files in target/debug/deps and target/debug/build).

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startListeners } from '../helpers/listeners.js';
import {
  BASHRC,
  copyFixture,
  filesContaining,
  makeScratch,
  runCli,
  runPlainCargo,
  SECRETS,
  sleep,
  snapshot,
  snapshotDiff,
  type RunResult,
  type Scratch,
} from '../helpers/sandbox-env.js';

interface Outcome {
  s: Scratch;
  ws: string;
  r: RunResult;
  received: number;
  /** The listener's port, which the macro phones home to. */
  port: number;
  tmpMarker: string;
  /** The workspace's sources and the victim's artifacts, before and after the expansion. */
  before: Map<string, string>;
  after: Map<string, string>;
}

/** Relative to target/debug: the victim's artifacts, and the files the macro plants. */
const VICTIM_ARTIFACT = /^(deps\/libvictim-|build\/victim-|libvictim\.|(deps|build)\/PWNED-by-macro$)/;

function protectedFiles(ws: string): Map<string, string> {
  const profile = join(ws, 'target/debug');
  const sources = snapshot(ws, (p) => p === join(ws, 'target'));
  const victim = [...snapshot(profile)].filter(([p]) => VICTIM_ARTIFACT.test(relative(profile, p)));
  return new Map([...sources, ...victim]);
}

async function expand(mode: 'sandbox' | 'plain', command: 'build' | 'check' | 'doc'): Promise<Outcome> {
  const s = makeScratch(`macro-${mode}`);
  const ws = copyFixture(s, 'evil-macro');
  const cargo = (args: string[]) => (mode === 'sandbox' ? runCli(args, { cwd: ws, env: s.env }) : runPlainCargo(args, { cwd: ws, env: s.env }));
  // The victim first (with its build script), the same way: its artifacts exist when the macro expands.
  const victim = await cargo([command, '-p', 'victim']);
  assert.equal(victim.status, 0, victim.stderr);
  const listeners = await startListeners(s.root);
  const tmpMarker = `cs-macro-${mode}-${command}-${process.pid}-${Date.now()}`;
  writeFileSync(join(ws, 'macro-params.txt'), `port=${listeners.tcpPort}\nmarker=${tmpMarker}\nhome=${s.home}\n`);
  const before = protectedFiles(ws);
  const r = await cargo([command]);
  await sleep(200);
  const received = listeners.received.tcp;
  await listeners.close();
  return { s, ws, r, received, port: listeners.tcpPort, tmpMarker: join('/tmp', tmpMarker), before, after: protectedFiles(ws) };
}

/**
 * The macro's own report of its attempts and how each ended (`ok` or `error: ...`), which it
 * prints on rustc's stderr: proof that it ran, and aimed at this run's home, marker and port.
 */
function attempts(o: Outcome): Map<string, string> {
  const line = /^evil-macro attempts: (.*)$/m.exec(o.r.stderr)?.[1];
  assert.ok(line, `the macro did not report its attempts: it did not run\n${o.r.stderr}`);
  return new Map(line.split('; ').map((a) => /^(.*?): (ok|error: .*)$/.exec(a)!.slice(1, 3) as [string, string]));
}

/** Each attempt is there, aimed where this run said; `ended` judges how it ended. */
function assertAttempts(o: Outcome, ended: (attempt: string, how: string) => void): void {
  const got = attempts(o);
  const aimed = [`append ${o.s.home}/.bashrc`, `write ${o.tmpMarker}`, 'append victim/src/lib.rs', `connect 127.0.0.1:${o.port}`];
  const read = [...got.keys()].find((k) => k.startsWith('read ') && k.endsWith('/.ssh/id_ed25519'));
  assert.ok(read, [...got.keys()].join(', '));
  for (const attempt of [read, ...aimed]) {
    assert.ok(got.has(attempt), `no attempt ${attempt}: ${[...got.keys()].join(', ')}`);
    ended(attempt, got.get(attempt)!);
  }
}

function secretsIn(dir: string): string[] {
  return Object.values(SECRETS).filter((secret) => filesContaining(dir, secret).length > 0);
}

describe('a malicious proc macro', () => {
  let sandboxed: Outcome;
  let checked: Outcome;
  let plain: Outcome;
  let plainChecked: Outcome;
  before(async () => {
    sandboxed = await expand('sandbox', 'build');
    checked = await expand('sandbox', 'check');
    plain = await expand('plain', 'build');
    plainChecked = await expand('plain', 'check');
  });
  after(() => {
    for (const o of [sandboxed, checked, plain, plainChecked]) if (o) rmSync(o.tmpMarker, { force: true });
  });

  // `build` leaves the victim an rlib (and rmeta), `check` only an rmeta.
  for (const [label, get, lib] of [['cargo build', () => plain, 'rlib'], ['cargo check', () => plainChecked, 'rmeta']] as const) {
    test(`control: under plain ${label} it steals, backdoors, drops a file, phones home and tampers with another crate`, () => {
      const o = get();
      assert.equal(o.r.status, 0, o.r.stderr);
      assert.ok(secretsIn(join(o.ws, 'target')).includes(SECRETS.sshKey));
      assert.notEqual(readFileSync(join(o.s.home, '.bashrc'), 'utf8'), BASHRC);
      assert.ok(existsSync(o.tmpMarker));
      assert.equal(o.received, 1);
      assertAttempts(o, (attempt, how) => assert.equal(how, 'ok', attempt));
      const diff = snapshotDiff(o.before, o.after);
      for (const landed of [
        /^changed .*\/victim\/src\/lib\.rs$/,
        new RegExp(`^changed .*/deps/libvictim-\\w+\\.${lib}$`),
        /^changed .*\/build\/victim-\w+\/output$/,
        /^added .*\/deps\/PWNED-by-macro$/,
        /^added .*\/build\/PWNED-by-macro$/,
      ]) {
        assert.ok(diff.some((d) => landed.test(d)), `${landed} not in ${diff.join(', ')}`);
      }
    });
  }

  for (const [label, get] of [['cargo sandbox build', () => sandboxed], ['cargo sandbox check', () => checked]] as const) {
    test(`${label}: it still expands, tries everything, and gets nothing`, () => {
      const o = get();
      assert.equal(o.r.status, 0, o.r.stderr);
      // Each attempt was made, aimed at this run's home, marker and port, and failed (but the
      // marker: /tmp inside is the sandbox's own, judged on the host below).
      assertAttempts(o, (attempt, how) => {
        if (!attempt.startsWith('write /tmp/')) assert.match(how, /^error: /, attempt);
      });
      assert.deepEqual(secretsIn(join(o.ws, 'target')), []);
      assert.equal(readFileSync(join(o.s.home, '.bashrc'), 'utf8'), BASHRC);
      assert.equal(existsSync(o.tmpMarker), false);
      assert.equal(o.received, 0);
    });

    test(`${label}: the workspace's sources and the victim's artifacts are byte-identical, nothing planted`, () => {
      const o = get();
      assert.equal(o.r.status, 0, o.r.stderr);
      // Not vacuous: the victim's metadata and build-script output were there to tamper with.
      const victim = [...o.before.keys()];
      assert.ok(victim.some((p) => /\/deps\/libvictim-\w+\.rmeta$/.test(p)) && victim.some((p) => /\/build\/victim-\w+\/output$/.test(p)));
      assert.deepEqual(snapshotDiff(o.before, o.after), []);
    });
  }
});

describe('a malicious proc macro under rustdoc (cargo doc expands it)', () => {
  let sandboxed: Outcome;
  let plain: Outcome;
  before(async () => {
    sandboxed = await expand('sandbox', 'doc');
    plain = await expand('plain', 'doc');
  });
  after(() => {
    for (const o of [sandboxed, plain]) if (o) rmSync(o.tmpMarker, { force: true });
  });

  test('control: under plain cargo doc it backdoors ~/.bashrc, drops a file and phones home', () => {
    assert.equal(plain.r.status, 0, plain.r.stderr);
    assert.notEqual(readFileSync(join(plain.s.home, '.bashrc'), 'utf8'), BASHRC);
    assert.ok(existsSync(plain.tmpMarker));
    assert.equal(plain.received, 1);
    assertAttempts(plain, (attempt, how) => assert.equal(how, 'ok', attempt));
    assert.ok(snapshotDiff(plain.before, plain.after).some((d) => /^changed .*\/victim\/src\/lib\.rs$/.test(d)));
  });

  test('cargo sandbox doc: the documentation is built, and the macro gets nothing', () => {
    const o = sandboxed;
    assert.equal(o.r.status, 0, o.r.stderr);
    assert.ok(existsSync(join(o.ws, 'target/doc/app/index.html')), 'no documentation');
    assertAttempts(o, (attempt, how) => {
      if (!attempt.startsWith('write /tmp/')) assert.match(how, /^error: /, attempt);
    });
    assert.deepEqual(secretsIn(join(o.ws, 'target')), []);
    assert.equal(readFileSync(join(o.s.home, '.bashrc'), 'utf8'), BASHRC);
    assert.equal(existsSync(o.tmpMarker), false);
    assert.equal(o.received, 0);
    assert.deepEqual(snapshotDiff(o.before, o.after), []);
  });
});

test('a package that holds its own target dir (one-package workspace) compiles with its proc macro sandboxed, incrementally', async () => {
  const s = makeScratch('macro-root');
  const ws = join(s.root, 'one');
  mkdirSync(join(ws, 'src'), { recursive: true });
  mkdirSync(join(ws, 'mac/src'), { recursive: true });
  writeFileSync(join(ws, 'Cargo.toml'), '[package]\nname = "one"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\nmac = { path = "mac" }\n');
  writeFileSync(join(ws, 'src/main.rs'), 'mac::answer!();\nfn main() { println!("{}", answer()); }\n');
  writeFileSync(join(ws, 'mac/Cargo.toml'), '[package]\nname = "mac"\nversion = "0.1.0"\nedition = "2021"\n\n[lib]\nproc-macro = true\n');
  writeFileSync(join(ws, 'mac/src/lib.rs'), 'use proc_macro::TokenStream;\n#[proc_macro]\npub fn answer(_: TokenStream) -> TokenStream { "fn answer() -> u32 { 42 }".parse().unwrap() }\n');
  const r = await runCli(['build'], { cwd: ws, env: s.env });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(existsSync(join(ws, 'target/debug/one')));
  writeFileSync(join(ws, 'src/main.rs'), 'mac::answer!();\nfn main() { println!("{} again", answer()); }\n');
  const again = await runCli(['build'], { cwd: ws, env: s.env });
  assert.equal(again.status, 0, again.stderr);
});
