// A granted proc macro's library swapped while the compilation that loads it runs: after our
// wrapper checked its bytes, before rustc loads it (THREAT-MODEL layer 5: rustc loads the checked
// copy, reached through a directory bound in the sandbox's own root, so a swap of the original
// after the check changes nothing; case 111). The test is the attacker: it swaps the file on the
// host the moment rustc for `sealed-user` starts, in place (the same inode) and by renaming a new
// file over it (which detaches any mount on the replaced entry); `slow-mac`, expanded first, holds
// rustc for 4 s before `sealed_mac::which!` makes it load the library. Plain cargo is the
// control: there the swap lands (the crate says SWAPPED), which shows the window is real.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { CLI, copyFixture, filesContaining, makeScratch, runCli, runPlainCargo, sleep, walkFiles } from '../helpers/sandbox-env.js';

/** The pid of a rustc (the compiler itself, not a wrapper) compiling `crate`, once one runs. */
async function rustcFor(crate: string, timeoutMs = 120_000): Promise<number> {
  for (const start = Date.now(); Date.now() - start < timeoutMs; await sleep(20)) {
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        if (!readlinkSync(`/proc/${name}/exe`).endsWith('/rustc')) continue;
        if (readFileSync(`/proc/${name}/cmdline`, 'latin1').split('\0').includes(crate)) return Number(name);
      } catch {
        /* gone */
      }
    }
  }
  throw new Error(`no rustc for ${crate} within ${timeoutMs} ms`);
}

type Swap = 'rename' | 'in-place';
/** How the user reaches the macro: `--extern` (sealed-user), or a library's re-export, which rustc looks up by name and crate hash in `-L dependency=` (sealed-reexport-user). */
type Route = 'extern' | 're-export';

/** The library with CHECKED patched to SWAPPED (same length): the crate hash in its metadata is unchanged, as an attacker would forge it. */
function patched(bytes: Buffer): Buffer {
  const out = Buffer.from(bytes);
  const [from, to] = [Buffer.from('CHECKED-LIBRARY-BYTES'), Buffer.from('SWAPPED-LIBRARY-BYTES')];
  for (let i = out.indexOf(from); i >= 0; i = out.indexOf(from, i + 1)) to.copy(out, i);
  return out;
}

/**
 * Builds `sealed-user` (plain or sandboxed) and, as its rustc starts, swaps sealed-mac's libraries in
 * target/debug/deps for the build made with CS_SWAPPED: by renaming a new file over it, or by
 * rewriting the same inode. Through a re-export, the new file is the library patched (a build
 * with CS_SWAPPED has another crate hash, which rustc's lookup would refuse). Returns which build
 * the crate was expanded by.
 */
async function swapDuringBuild(mode: 'sandbox' | 'plain', swap: Swap, route: Route = 'extern'): Promise<{ which: string; stderr: string }> {
  const [user, crate] = route === 'extern' ? ['sealed-user', 'sealed_user'] : ['sealed-reexport-user', 'sealed_reexport_user'];
  const scratch = makeScratch(`swap-${mode}-${swap}-${route}`);
  const ws = copyFixture(scratch, 'layers');
  mkdirSync(join(ws, '.cargo'));
  // A list makes the macro's compilations "granted": its library is checked and sealed.
  writeFileSync(join(ws, '.cargo/config.toml'), '[sandbox.package.sealed-mac]\nallow-network = ["127.0.0.1:9"]\n');
  // The attacker's library: the same crate built with CS_SWAPPED (elsewhere, with plain cargo).
  const swapped = await runPlainCargo(['build', '-p', 'sealed-mac', '--target-dir', join(scratch.root, 'swapped-target')], { cwd: ws, env: { ...scratch.env, CS_SWAPPED: '1' } });
  assert.equal(swapped.status, 0, swapped.stderr);
  const evil = walkFiles(join(scratch.root, 'swapped-target/debug/deps')).find((f) => /libsealed_mac-[0-9a-f]+\.so$/.test(f))!;
  assert.ok(evil && readFileSync(evil).includes('SWAPPED-LIBRARY-BYTES'));
  const cargo = mode === 'sandbox' ? CLI : 'cargo';
  // The macro first (and the library that re-exports it): its library is in place (and,
  // sandboxed, recorded as ours).
  const opts = { cwd: ws, env: scratch.env };
  const before = ['build', '-p', route === 'extern' ? 'sealed-mac' : 'sealed-reexport'];
  const first = mode === 'sandbox' ? await runCli(before, opts) : await runPlainCargo(before, opts);
  assert.equal(first.status, 0, first.stderr);
  const child = spawn(cargo, ['build', '-p', user], { cwd: ws, env: scratch.env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  await rustcFor(crate);
  // Every build of the macro in deps: cargo builds it once as the package asked for and once as a
  // dependency (with the build-override profile), and either may be the one rustc loads.
  const deps = join(ws, 'target/debug/deps');
  const libraries = readdirSync(deps).filter((f) => /^libsealed_mac-[0-9a-f]+\.so$/.test(f)).map((f) => join(deps, f));
  assert.ok(libraries.length > 0, 'no library of sealed-mac in deps');
  for (const library of libraries) {
    if (swap === 'rename') {
      if (route === 'extern') copyFileSync(evil, `${library}.swap`);
      else writeFileSync(`${library}.swap`, patched(readFileSync(library)), { mode: 0o755 });
      renameSync(`${library}.swap`, library);
    } else {
      writeFileSync(library, readFileSync(evil)); // truncated and rewritten: the same inode
    }
  }
  const status = await done;
  assert.equal(status, 0, stderr);
  const out = join(ws, 'target/debug/deps');
  const said = ['CHECKED-LIBRARY-BYTES', 'SWAPPED-LIBRARY-BYTES'].filter((w) => filesContaining(out, w).some((f) => f.includes(`lib${crate}-`)));
  return { which: said.join(','), stderr };
}

describe('a granted proc macro\'s library swapped after the check, before rustc loads it', { concurrency: false }, () => {
  for (const swap of ['in-place', 'rename'] as const) {
    test(`swapped ${swap === 'rename' ? 'by renaming a new file over it' : 'in place (the same inode)'}: rustc loads the bytes that were checked (control: under plain cargo the swap is what expands)`, async () => {
      const plain = await swapDuringBuild('plain', swap);
      assert.equal(plain.which, 'SWAPPED-LIBRARY-BYTES', 'plain: the swap did not land before rustc loaded the library, so this run judges nothing');
      const s = await swapDuringBuild('sandbox', swap);
      assert.equal(s.which, 'CHECKED-LIBRARY-BYTES', `the sandboxed rustc loaded the swapped library\n${s.stderr}`);
    });
  }
  test('renamed over while a crate reaches the macro through a re-export (rustc looks it up by name and crate hash): rustc loads the bytes that were checked (control: plain cargo loads the swap)', async () => {
    const plain = await swapDuringBuild('plain', 'rename', 're-export');
    assert.equal(plain.which, 'SWAPPED-LIBRARY-BYTES', 'plain: the swap did not land before rustc loaded the library, so this run judges nothing');
    const s = await swapDuringBuild('sandbox', 'rename', 're-export');
    assert.equal(s.which, 'CHECKED-LIBRARY-BYTES', `the sandboxed rustc loaded the swapped library\n${s.stderr}`);
  });
  test('a granted compilation given grouped short options (`-OLdependency=DIR`) or an argument file (`--extern @FILE`) by the repository\'s flags is refused (control: plain cargo takes them)', async () => {
    for (const [label, flags] of [
      ['grouped', (ws: string) => [`-OLdependency=${join(ws, 'extra')}`]],
      ['argfile', (ws: string) => ['--extern', `@${join(ws, 'args.txt')}`]],
    ] as const) {
      const scratch = makeScratch(`swap-flags-${label}`);
      const ws = copyFixture(scratch, 'layers');
      mkdirSync(join(ws, 'extra'));
      writeFileSync(join(ws, 'args.txt'), 'sealed_mac\n--cfg\nargfile_seen\n');
      mkdirSync(join(ws, '.cargo'));
      const rustflags = `[build]\nrustflags = ${JSON.stringify(flags(ws))}\n`;
      writeFileSync(join(ws, '.cargo/config.toml'), `[sandbox.package.sealed-mac]\nallow-network = ["127.0.0.1:9"]\n${rustflags}`);
      const plain = await runPlainCargo(['build', '-p', 'sealed-user'], { cwd: ws, env: scratch.env });
      assert.equal(plain.status, 0, `plain (${label}): rustc did not take the flags\n${plain.stderr}`);
      const s = await runCli(['build', '-p', 'sealed-user', '--target-dir', join(scratch.root, 'sandboxed-target')], { cwd: ws, env: scratch.env });
      assert.equal(s.status, 101, s.stderr);
      assert.match(s.stderr, /a compilation that loads a proc macro with a network grant was given `(-OLdependency=|@)[^`]*` \(an argument file, or grouped short options\)/, label);
    }
  });
});
