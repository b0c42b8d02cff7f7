// Real crates from Debian's registry build under the default policy, and their build scripts
// really ran in the sandbox (each one cargo ran is our launcher).

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildScriptEntries, copyFixture, isLauncher, makeScratch, run, runCli } from '../helpers/sandbox-env.js';

test('openssl-sys, libsqlite3-sys, libz-sys, zstd-sys, ring, bzip2-sys, curl-sys, libgit2-sys, serde_derive, tokio', async () => {
  const s = makeScratch('real');
  const ws = copyFixture(s, 'real-crates', { debianRegistry: true });
  const r = await runCli(['build'], { cwd: ws, env: s.env });
  assert.equal(r.status, 0, r.stderr);
  for (const name of ['openssl-sys', 'libsqlite3-sys', 'libz-sys', 'zstd-sys', 'ring', 'bzip2-sys', 'curl-sys', 'libgit2-sys', 'serde_derive', 'tokio']) {
    assert.match(r.stderr, new RegExp(`Compiling ${name} v`), `${name} was not built`);
  }
  const scripts = buildScriptEntries(join(ws, 'target'));
  assert.ok(scripts.length >= 15, `only ${scripts.length} build scripts`);
  for (const f of scripts) assert.ok(isLauncher(f), `${f} ran unsandboxed`);

  const out = await run(join(ws, 'target/debug/real-crates'), [], { cwd: ws, env: s.env });
  assert.equal(out.status, 0, out.stderr);
  for (const line of [/^openssl=\d+$/m, /^sqlite=3\d+$/m, /^zlib="1\./m, /^zstd=\d+$/m, /^bzip2-init=0$/m, /^curl="libcurl/m, /^libgit2=1$/m, /^ring-sha256-len=32$/m, /^tokio=7$/m]) {
    assert.match(out.stdout, line);
  }
});
