import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseInvocation, peekCargoOptions, resolveColor } from '../../src/cli/args.js';
import { cargoCommand } from '../../src/cli/run-cargo.js';

test('the `sandbox` argument cargo passes to external subcommands is dropped', () => {
  assert.deepEqual(parseInvocation(['sandbox', 'build', '--release']), {
    kind: 'cargo',
    toolchain: undefined,
    cargoArgs: ['build', '--release'],
    options: peekCargoOptions(['build', '--release']),
    grantFlags: [],
    sandboxRun: false,
  });
  const direct = parseInvocation(['build', '--release']);
  assert.equal(direct.kind, 'cargo');
});

test('help, version and doctor', () => {
  for (const argv of [[], ['sandbox'], ['--help'], ['-h'], ['help'], ['sandbox', '--help']]) {
    assert.equal(parseInvocation(argv).kind, 'help', argv.join(' '));
  }
  assert.equal(parseInvocation(['--version']).kind, 'version');
  assert.equal(parseInvocation(['sandbox', '-V']).kind, 'version');
  assert.equal(parseInvocation(['doctor']).kind, 'doctor');
  // `cargo sandbox build --help` is cargo's help for build, not ours.
  assert.equal(parseInvocation(['build', '--help']).kind, 'cargo');
});

test('+toolchain is taken off and given to the rustup proxy', () => {
  const inv = parseInvocation(['sandbox', '+nightly', 'check', '-q']);
  assert.equal(inv.kind, 'cargo');
  if (inv.kind !== 'cargo') return;
  assert.equal(inv.toolchain, '+nightly');
  assert.deepEqual(inv.cargoArgs, ['check', '-q']);
  assert.deepEqual(cargoCommand('+nightly', { CARGO: '/x/cargo' }), { program: 'cargo', prefix: ['+nightly'] });
  assert.deepEqual(cargoCommand(undefined, { CARGO: '/x/cargo' }), { program: '/x/cargo', prefix: [] });
  assert.deepEqual(cargoCommand(undefined, {}), { program: 'cargo', prefix: [] });
});

test('cargo arguments are peeked at, never changed', () => {
  const args = ['build', '-q', '--color=always', '--config', 'build.jobs=2', '--config=a.toml', '-vv', '--manifest-path', 'x/Cargo.toml'];
  const copy = args.slice();
  const o = peekCargoOptions(args);
  assert.deepEqual(args, copy);
  assert.equal(o.quiet, true);
  assert.equal(o.color, 'always');
  assert.deepEqual(o.configArgs, ['build.jobs=2', 'a.toml']);
  assert.equal(o.verbose, 2);
  assert.equal(o.manifestPath, 'x/Cargo.toml');
});

test('arguments after `--` belong to the program, not to cargo', () => {
  const o = peekCargoOptions(['run', '--', '--color', 'never', '-q', '--config', 'x']);
  assert.equal(o.color, undefined);
  assert.equal(o.quiet, false);
  assert.deepEqual(o.configArgs, []);
});

test('colour: --color beats CARGO_TERM_COLOR beats auto', () => {
  assert.equal(resolveColor('never', { CARGO_TERM_COLOR: 'always' }), 'never');
  assert.equal(resolveColor(undefined, { CARGO_TERM_COLOR: 'always' }), 'always');
  assert.equal(resolveColor(undefined, { CARGO_TERM_COLOR: 'bogus' }), 'auto');
  assert.equal(resolveColor(undefined, {}), 'auto');
});
