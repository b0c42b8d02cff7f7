import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyGrantFlags, extractGrantFlags } from '../../src/cli/grant-flags.js';
import { emptyGrants, type SandboxConfig } from '../../src/config/types.js';
import { UserError } from '../../src/diagnostics/style.js';

test('grant flags are taken out of cargo\'s arguments, nothing after `--`', () => {
  const { cargoArgs, flags } = extractGrantFlags(['build', '--allow-network=foo', '-q', '--allow-env=foo:OPENSSL_DIR', '--', '--allow-network']);
  assert.deepEqual(cargoArgs, ['build', '-q', '--', '--allow-network']);
  assert.deepEqual(flags.map((f) => f.arg), ['--allow-network=foo', '--allow-env=foo:OPENSSL_DIR']);
});

test('flags become grants, per package or for everyone', () => {
  const config: SandboxConfig = { global: emptyGrants(), packages: [] };
  const { flags } = extractGrantFlags(['--allow-network=foo,bar', '--allow-env=foo:OPENSSL_DIR,OPENSSL_STATIC', '--allow-read=/opt/sdk', '--allow-write=foo:~/out', '--allow-network']);
  applyGrantFlags(config, flags, '/cwd');
  const foo = config.packages.find((p) => p.key === 'foo')!.grants;
  assert.equal(foo.allowNetwork?.value, true);
  assert.deepEqual(foo.allowEnv.map((e) => e.value), ['OPENSSL_DIR', 'OPENSSL_STATIC']);
  assert.deepEqual(foo.allowWrite.map((p) => p.value.raw), ['~/out']);
  assert.equal(config.packages.find((p) => p.key === 'bar')!.grants.allowNetwork?.value, true);
  assert.deepEqual(config.global.allowRead.map((p) => p.value.raw), ['/opt/sdk']);
  assert.equal(config.global.allowNetwork?.value, true);
  assert.deepEqual(foo.allowNetwork?.source, { kind: 'flag', flag: '--allow-network=foo,bar' });
});

test('bad flag values are clear errors', () => {
  const config: SandboxConfig = { global: emptyGrants(), packages: [] };
  for (const args of [['--allow-env'], ['--allow-env=foo:MY-VAR'], ['--allow-read=foo:/opt/*'], ['--allow-network=foo bar']]) {
    assert.throws(() => applyGrantFlags(config, extractGrantFlags(args).flags, '/cwd'), (e: unknown) => e instanceof UserError && e.message.startsWith('invalid `'), args.join(' '));
  }
});
