import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gateCommand } from '../../src/cli/command-gate.js';
import type { ConfigLayer } from '../../src/config/cargo-config.js';

const layer = (table: Record<string, unknown>): ConfigLayer => ({ source: { kind: 'file', path: '/home/u/.cargo/config.toml' }, rank: 'file', baseDir: '/home/u', text: '', table });
const refused = (args: string[], layers: ConfigLayer[] = []) => assert.throws(() => gateCommand(args, layers), /cargo-sandbox does not run/);
const allowed = (args: string[], layers: ConfigLayer[] = []) => assert.doesNotThrow(() => gateCommand(args, layers));

test('cargo commands that confine every compilation pass, with global options before them', () => {
  for (const args of [['build'], ['-q', 'check', '--all-targets'], ['--config', 'build.jobs=1', 'test'], ['b'], ['t', '--', '--nocapture'], ['clippy', '--', '-D', 'warnings'], ['doc'], ['metadata'], ['fmt'], ['--version'], []]) allowed(args);
});

test('miri, nextest and unknown subcommands are refused; fix and clippy --fix pass (confined through the workspace wrapper)', () => {
  for (const args of [['miri', 'test'], ['nextest', 'run'], ['expand'], ['frobnicate']]) refused(args);
  for (const args of [['fix'], ['-v', 'fix', '--allow-dirty'], ['clippy', '--fix'], ['clippy', '--', '--fix']]) allowed(args);
  assert.deepEqual(gateCommand(['-v', 'b', '--release'], []), { command: 'build', args: ['-v', 'build', '--release'] });
});

test('aliases are followed: to a refused command, through chains, never forever', () => {
  const aliases = layer({ alias: { tidy: 'miri test', neat: ['tidy'], fine: 'b --release', loop1: 'loop2', loop2: 'loop1' } });
  refused(['tidy'], [aliases]);
  refused(['neat'], [aliases]);
  allowed(['fine'], [aliases]);
  assert.throws(() => gateCommand(['loop1'], [aliases]), /could not expand the aliases/);
  // The first layer that defines an alias wins (cargo's precedence: --config, then files nearest first).
  refused(['x'], [layer({ alias: { x: 'miri' } }), layer({ alias: { x: 'build' } })]);
});

test('review: short clusters take their value as clap does (`-vC DIR fix` is `fix` in DIR: -C refused)', async () => {
  const { cargoSubcommand, refuseDirectoryOption } = await import('../../src/diagnostics/trust.js');
  assert.equal(cargoSubcommand(['-vC', 'build', 'fix']), 'fix');
  assert.equal(cargoSubcommand(['-qZunstable-options', 'fix']), 'fix');
  assert.equal(cargoSubcommand(['-Zunstable-Coptions', 'build']), 'build');
  assert.equal(cargoSubcommand(['--', 'fix']), 'fix');
  for (const args of [['-vC', 'build', 'fix'], ['-vCbuild', 'fix'], ['-qvC', 'x', 'build']]) assert.throws(() => refuseDirectoryOption(args), /does not follow `-C DIR`/);
  assert.doesNotThrow(() => refuseDirectoryOption(['-Zunstable-Coptions', 'build']));
  refused(['-Zunstable-options', 'miri']);
});
