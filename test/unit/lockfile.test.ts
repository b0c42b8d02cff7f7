// The Cargo.lock reader against the shared vectors (test/vectors/lockfiles, passed by the Rust
// reader in libexec/entry/macro_set.rs too), and the per-version policies it leads to.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadToml, parseConfigText, type ConfigLayer } from '../../src/config/cargo-config.js';
import { parseLockfile } from '../../src/config/lockfile.js';
import { loadSandboxConfig } from '../../src/config/sandbox-config.js';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { packagePolicies } from '../../src/policy/package-policies.js';

const toml = await loadToml();
const DIR = join(PACKAGE_ROOT, 'test/vectors/lockfiles');

interface Expected {
  readable: boolean;
  packages?: { name: string; version: string; source: string; checksum?: string }[];
}

test('lock files of every format read as the shared vectors say (v1 with [root] and [metadata] checksums, v2, v3, v4, unreadable)', () => {
  const { files } = JSON.parse(readFileSync(join(DIR, 'expectations.json'), 'utf8')) as { files: Record<string, Expected> };
  assert.ok(Object.keys(files).length >= 7);
  for (const [file, expected] of Object.entries(files)) {
    const got = parseLockfile(readFileSync(join(DIR, file), 'utf8'), toml.parse);
    if (!expected.readable) {
      assert.equal(got, undefined, file);
      continue;
    }
    const want = expected.packages!.map((p) => ({ name: p.name, version: p.version, ...(p.source ? { source: p.source } : {}), ...(p.checksum ? { checksum: p.checksum } : {}) }));
    assert.deepEqual(got, want, file);
  }
});

test('a v1 lock file gives its [metadata] checksums to their packages, `<none>` to none', () => {
  const got = parseLockfile(readFileSync(join(DIR, 'v1-git.lock'), 'utf8'), toml.parse)!;
  assert.equal(got.find((p) => p.name === 'quote')!.checksum, 'bbe448f377a7d6961e30f5955f9b8d106c3f5e449d493ee1b125c1d43c2b5179');
  assert.equal(got.find((p) => p.name === 'bar')!.checksum, undefined);
});

test('packages of one version from different sources share no approval pinned to a checksum', () => {
  const registry = 'd0f4ba41d8a2f9b2d1c4e3a1f5b6c7d8e9f0a1b2c3d4e5f60718293a4b5c6d7e';
  const text = `[sandbox.package.foo]\nchecksum = "${registry}"\nallow-network = true\n`;
  const layer: ConfigLayer = { source: { kind: 'file', path: '/ws/.cargo/config.toml' }, rank: 'file', baseDir: '/ws', text, table: parseConfigText(text, '/ws/.cargo/config.toml', toml) };
  const { config } = loadSandboxConfig([layer], {}, '/cwd', undefined);
  const vars = { HOME: '/home/u', WORKSPACE_ROOT: '/ws', TARGET_DIR: '/ws/target' };
  const locked = parseLockfile(readFileSync(join(DIR, 'v3-same-name-version.lock'), 'utf8'), toml.parse)!;
  const registryOnly = locked.filter((p) => p.checksum === registry);
  // The registry's foo alone: its approval applies.
  assert.equal(packagePolicies(config, registryOnly, vars).files.find((f) => f.file === 'foo@0.1.0')!.grants.network.value, true);
  // Beside a path and a git foo 0.1.0, whichever runs gets no approval pinned to the registry's sources.
  const files = packagePolicies(config, locked, vars).files.filter((f) => f.file === 'foo@0.1.0');
  assert.equal(files.length, 1);
  assert.equal(files[0]!.grants.network.value, false);
});
