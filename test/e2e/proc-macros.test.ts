// A malicious proc macro runs inside rustc at expansion; under cargo-sandbox that rustc runs in
// the sandbox. Judged by host effects, with plain cargo as the control.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startListeners } from '../helpers/listeners.js';
import { BASHRC, copyFixture, filesContaining, makeScratch, runCli, runPlainCargo, SECRETS, sleep, type RunResult, type Scratch } from '../helpers/sandbox-env.js';

interface Outcome {
  s: Scratch;
  ws: string;
  r: RunResult;
  received: number;
  tmpMarker: string;
}

async function expand(mode: 'sandbox' | 'plain', command: string): Promise<Outcome> {
  const s = makeScratch(`macro-${mode}`);
  const ws = copyFixture(s, 'evil-macro');
  const listeners = await startListeners(s.root);
  const tmpMarker = `cs-macro-${mode}-${process.pid}-${Date.now()}`;
  writeFileSync(join(ws, 'macro-params.txt'), `port=${listeners.tcpPort}\nmarker=${tmpMarker}\nhome=${s.home}\n`);
  const r = mode === 'sandbox' ? await runCli([command], { cwd: ws, env: s.env }) : await runPlainCargo([command], { cwd: ws, env: s.env });
  await sleep(200);
  const received = listeners.received.tcp;
  await listeners.close();
  return { s, ws, r, received, tmpMarker: join('/tmp', tmpMarker) };
}

function secretsIn(dir: string): string[] {
  return Object.values(SECRETS).filter((secret) => filesContaining(dir, secret).length > 0);
}

describe('a malicious proc macro', () => {
  let sandboxed: Outcome;
  let checked: Outcome;
  let plain: Outcome;
  before(async () => {
    sandboxed = await expand('sandbox', 'build');
    checked = await expand('sandbox', 'check');
    plain = await expand('plain', 'build');
  });
  after(() => {
    for (const o of [sandboxed, checked, plain]) if (o) rmSync(o.tmpMarker, { force: true });
  });

  test('control: under plain cargo it steals, backdoors, drops a file and phones home', () => {
    assert.equal(plain.r.status, 0, plain.r.stderr);
    assert.ok(secretsIn(join(plain.ws, 'target')).includes(SECRETS.sshKey));
    assert.notEqual(readFileSync(join(plain.s.home, '.bashrc'), 'utf8'), BASHRC);
    assert.ok(existsSync(plain.tmpMarker));
    assert.equal(plain.received, 1);
  });

  for (const [label, get] of [['cargo sandbox build', () => sandboxed], ['cargo sandbox check', () => checked]] as const) {
    test(`${label}: it still expands, and gets nothing`, () => {
      const o = get();
      assert.equal(o.r.status, 0, o.r.stderr);
      assert.deepEqual(secretsIn(join(o.ws, 'target')), []);
      assert.equal(readFileSync(join(o.s.home, '.bashrc'), 'utf8'), BASHRC);
      assert.equal(existsSync(o.tmpMarker), false);
      assert.equal(o.received, 0);
    });
  }
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
