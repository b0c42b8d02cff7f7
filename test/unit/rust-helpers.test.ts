// The Rust helpers are code like any other (libexec/ is a Cargo package for this): their own unit
// tests (SHA-256 and HMAC vectors, the JSON reader, the fix filter, ...), clippy with warnings as
// errors, and rustfmt, run with the toolchain that builds them. Offline: the helpers use std only.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { LIBEXEC } from '../../src/paths.js';

function cargo(args: string[]) {
  const r = spawnSync('cargo', ['--offline', ...args], { cwd: LIBEXEC, encoding: 'utf8', env: { ...process.env, CARGO_TERM_COLOR: 'never' } });
  return { ...r, output: `${r.stdout}${r.stderr}` };
}

test('libexec: cargo test', () => {
  const r = cargo(['test', '--quiet']);
  assert.equal(r.status, 0, r.output);
  const passed = [...r.output.matchAll(/test result: ok\. (\d+) passed/g)].reduce((n, m) => n + Number(m[1]), 0);
  assert.ok(passed >= 7, r.output);
});

test('libexec: cargo clippy --all-targets -- -D warnings', () => {
  const r = cargo(['clippy', '--quiet', '--all-targets', '--', '-D', 'warnings']);
  assert.equal(r.status, 0, r.output);
});

test('libexec: cargo fmt --check', () => {
  const r = cargo(['fmt', '--check']);
  assert.equal(r.status, 0, r.output);
});
