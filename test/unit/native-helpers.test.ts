// The compiled helpers: the entry point cargo starts must load no library (cargo puts build
// scripts' directories on its LD_LIBRARY_PATH), so a rustc that cannot link it statically is an
// error, never a silent dynamic fallback.

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { compiledHelper, isStaticElf } from '../../src/backends/native-helpers.js';
import { UserError } from '../../src/diagnostics/style.js';

const entry = { name: 'entry', compileEnv: { CARGO_SANDBOX_ENTRY_MODE: 'rustc-wrapper' }, mustBeStatic: true };

test('the entry point is linked statically: no ELF interpreter', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cs-helpers-'));
  const built = compiledHelper({ ...entry, dirs: [dir], prebuilt: false }, process.env);
  assert.equal(isStaticElf(built), true);
  assert.equal(isStaticElf('/bin/ls'), false);
});

test('a rustc that cannot link statically (no libc.a): a clear error, and nothing left in the cache', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cs-helpers-'));
  const rustc = join(dir, 'rustc-nostatic');
  writeFileSync(rustc, '#!/bin/sh\ncase "$*" in *crt-static*) echo "error: cannot find -lc" >&2; exit 1 ;; esac\nexec rustc "$@"\n', { mode: 0o755 });
  assert.throws(
    // Not the package's prebuilt copy (after `npm pack`, a clone has them): compiled here.
    () => compiledHelper({ ...entry, dirs: [dir], prebuilt: false }, { ...process.env, RUSTC: rustc }),
    (e: unknown) => e instanceof UserError && /could not link cargo-sandbox's entry statically/.test(e.message) && e.help.some((h) => /libc6-dev/.test(h)),
  );
  assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('entry')), []);
});
