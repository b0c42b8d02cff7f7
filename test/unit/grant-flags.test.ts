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

test('a misspelt flag of ours stops with a suggestion; cargo\'s own --allow-* pass through', () => {
  for (const [arg, suggestion] of [['--allow-netwrk', '--allow-network'], ['--allow-network-x=foo', '--allow-network'], ['--sandbox-rnu', '--sandbox-run'], ['--allow-dirt', '--allow-dirty']] as const) {
    assert.throws(() => extractGrantFlags(['build', arg]), (e: unknown) => e instanceof UserError && e.message.startsWith(`unknown flag \`${arg.split('=')[0]}\``) && e.help.join() === `did you mean \`${suggestion}\`?`, arg);
  }
  assert.throws(() => extractGrantFlags(['build', '--allow-everything']), (e: unknown) => e instanceof UserError && /cargo-sandbox's flags: --allow-network/.test(e.help.join()));
  const { cargoArgs } = extractGrantFlags(['fix', '--allow-dirty', '--allow-staged', '--allow-no-vcs', '--', '--allow-whatever']);
  assert.deepEqual(cargoArgs, ['fix', '--allow-dirty', '--allow-staged', '--allow-no-vcs', '--', '--allow-whatever']);
});
