// The Rust helpers' own unit tests (`#[cfg(test)]` in libexec/entry/*.rs: SHA-256 and HMAC
// vectors, the JSON reader, the fix filter), compiled with the rustc that builds the helpers.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LIBEXEC } from '../../src/paths.js';

test('libexec/entry.rs: cargo test of its modules', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cs-rust-unit-'));
  try {
    const bin = join(dir, 'entry-tests');
    const env = { ...process.env, CARGO_SANDBOX_ENTRY_MODE: 'rustc-wrapper' };
    const built = spawnSync(process.env.RUSTC || 'rustc', ['--edition', '2021', '--test', '-o', bin, join(LIBEXEC, 'entry.rs')], { env, encoding: 'utf8', cwd: dir });
    assert.equal(built.status, 0, built.stderr);
    assert.doesNotMatch(built.stderr, /^warning/m, built.stderr);
    const ran = spawnSync(bin, [], { encoding: 'utf8', cwd: dir });
    assert.equal(ran.status, 0, ran.stdout + ran.stderr);
    const passed = Number(/test result: ok\. (\d+) passed/.exec(ran.stdout)?.[1] ?? 0);
    assert.ok(passed >= 7, ran.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
