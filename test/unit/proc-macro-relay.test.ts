// The relay's check of a library a proc-macro request names (src/cli/proc-macro-relay.ts).

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkLibrary, errorResponse } from '../../src/cli/proc-macro-relay.js';

function targetDir(): { target: string; lib: string } {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'relay-unit-')));
  const target = join(root, 'target');
  mkdirSync(join(target, 'debug', 'deps'), { recursive: true });
  writeFileSync(join(target, 'CACHEDIR.TAG'), 'Signature: 8a477f597d28d172789f06886806bc55\n');
  const lib = join(target, 'debug', 'deps', 'libmac-0123abcd.so');
  writeFileSync(lib, '');
  return { target, lib };
}

test('a library cargo built in a target dir is served from that target dir', () => {
  const { target, lib } = targetDir();
  assert.deepEqual(checkLibrary(lib), { targetDir: target });
});

test('anything else is refused, with the reason', () => {
  const { target, lib } = targetDir();
  assert.match(checkLibrary(42) as string, /not an absolute, normalized path/);
  assert.match(checkLibrary('target/debug/deps/libmac.so') as string, /not an absolute, normalized path/);
  assert.match(checkLibrary(`${target}/debug/../debug/deps/libmac-0123abcd.so`) as string, /not an absolute, normalized path/);
  assert.match(checkLibrary(join(target, 'debug', 'deps', 'libnone.so')) as string, /cannot read/);
  // A link to the library, and a directory link on the way.
  symlinkSync(lib, join(target, 'debug', 'deps', 'liblink-1.so'));
  assert.match(checkLibrary(join(target, 'debug', 'deps', 'liblink-1.so')) as string, /passes through a link/);
  symlinkSync(join(target, 'debug'), join(target, 'linked'));
  assert.match(checkLibrary(join(target, 'linked', 'deps', 'libmac-0123abcd.so')) as string, /passes through a link/);
  // Not in deps/, not named lib*.so, a directory.
  writeFileSync(join(target, 'debug', 'libmac.so'), '');
  assert.match(checkLibrary(join(target, 'debug', 'libmac.so')) as string, /not a proc-macro library/);
  writeFileSync(join(target, 'debug', 'deps', 'mac.so'), '');
  assert.match(checkLibrary(join(target, 'debug', 'deps', 'mac.so')) as string, /not a proc-macro library/);
  mkdirSync(join(target, 'debug', 'deps', 'libdir.so'));
  assert.match(checkLibrary(join(target, 'debug', 'deps', 'libdir.so')) as string, /not a regular file/);
});

test('a library outside a cargo target dir (no CACHEDIR.TAG) is refused', () => {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'relay-unit-')));
  mkdirSync(join(root, 'x', 'debug', 'deps'), { recursive: true });
  writeFileSync(join(root, 'x', 'debug', 'deps', 'libmac-1.so'), '');
  assert.match(checkLibrary(join(root, 'x', 'debug', 'deps', 'libmac-1.so')) as string, /not a cargo target dir/);
});

test('error answers in the protocol: ListMacros and ExpandMacro carry the message', () => {
  assert.equal(errorResponse('ListMacros', 'no'), '{"ListMacros":{"Err":"no"}}');
  assert.equal(errorResponse('ExpandMacro', 'no'), '{"ExpandMacro":{"Err":"no"}}');
  assert.throws(() => errorResponse('ApiVersionCheck', 'no'));
});
