// THREAT-MODEL case 118: a checksum pin binds an approval to the sources cargo verified. A cloned
// repository replaces crates-io with its own vendor directory (an allowed key), whose `vict 1.0.0`
// declares the checksum the user approved in `.cargo-checksum.json`: cargo never checks that claim
// and writes it into Cargo.lock. Plain cargo runs the impostor's build script, which reads the
// user's secret; sandboxed, the approval is stale (default policy, a warning naming the
// replacement). The user's own replacement, with a directory outside the workspace, keeps the pin.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { makeScratch, runCli, runPlainCargo, type Scratch } from '../helpers/sandbox-env.js';

/** The checksum the user approved (of the genuine `vict 1.0.0`, say). */
const APPROVED = '24da5222a4a8a293b6e3998109a5792d3f60724ff3f713014791fdcc575ee26e';
const SECRET = 'HOME-SECRET-FOR-APPROVED-VICT';

interface Setup {
  s: Scratch;
  ws: string;
}

/**
 * A workspace depending on `vict = "1.0.0"`, a vendor directory holding a `vict 1.0.0` that claims
 * the approved checksum and whose build script reads the secret, and the user's pinned approval.
 * `by`: who replaces crates-io with the vendor directory (the repository's config, or the user's).
 */
function setup(label: string, by: 'repository' | 'user'): Setup {
  const s = makeScratch(label, { untrusted: true });
  const ws = join(s.root, 'ws');
  mkdirSync(join(ws, 'src'), { recursive: true });
  writeFileSync(join(ws, 'Cargo.toml'), '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n[dependencies]\nvict = "1.0.0"\n');
  writeFileSync(join(ws, 'src/lib.rs'), 'pub use vict::*;\n');
  const vendor = by === 'repository' ? join(ws, 'vendor') : join(s.home, 'vendor');
  const vict = join(vendor, 'vict');
  mkdirSync(join(vict, 'src'), { recursive: true });
  writeFileSync(join(vict, 'Cargo.toml'), '[package]\nname = "vict"\nversion = "1.0.0"\nedition = "2021"\nbuild = "build.rs"\n');
  writeFileSync(join(vict, 'src/lib.rs'), 'pub fn f() {}\n');
  const secret = join(s.home, 'secretdir', 'secret.txt');
  writeFileSync(
    join(vict, 'build.rs'),
    `fn main() {\n    match std::fs::read_to_string("${secret}") {\n        Ok(s) => println!("cargo:warning=VICT-READ: {}", s.trim()),\n        Err(e) => println!("cargo:warning=VICT-REFUSED: {e}"),\n    }\n}\n`,
  );
  // Cargo checks the files listed (none here), never the package checksum it declares.
  writeFileSync(join(vict, '.cargo-checksum.json'), `{"files":{},"package":"${APPROVED}"}`);
  mkdirSync(join(s.home, 'secretdir'));
  writeFileSync(secret, `${SECRET}\n`);
  const replacement = `[source.crates-io]\nreplace-with = "vend"\n[source.vend]\ndirectory = "${by === 'repository' ? 'vendor' : vendor}"\n[net]\noffline = true\n`;
  if (by === 'repository') {
    mkdirSync(join(ws, '.cargo'));
    writeFileSync(join(ws, '.cargo/config.toml'), replacement);
  }
  const approval = `[sandbox.package."vict@=1.0.0"]\nchecksum = "${APPROVED}"\nallow-read = ["${join(s.home, 'secretdir')}"]\n`;
  writeFileSync(join(s.cargoHome, 'config.toml'), by === 'user' ? `${replacement}${approval}` : approval);
  // As committed in the repository: the build matches pins against the Cargo.lock it starts with.
  const lock = spawnSync('cargo', ['generate-lockfile'], { cwd: ws, env: s.env, encoding: 'utf8' });
  assert.equal(lock.status, 0, lock.stderr);
  assert.match(readFileSync(join(ws, 'Cargo.lock'), 'utf8'), new RegExp(`checksum = "${APPROVED}"`), 'cargo writes the claim into Cargo.lock');
  return { s, ws };
}

/** What vict's build script printed (cargo keeps it in target/, and shows a dependency's warnings only with -vv). */
function scriptOutput(ws: string): string {
  const build = join(ws, 'target/debug/build');
  const dir = readdirSync(build).find((d) => d.startsWith('vict-') && readdirSync(join(build, d)).includes('output'));
  assert.ok(dir, 'vict\'s build script did not run');
  return readFileSync(join(build, dir, 'output'), 'utf8');
}

describe('checksum pins bind approvals only to sources cargo verified', { concurrency: false }, () => {
  test("an impostor from the repository's vendor directory, claiming the approved checksum, runs with the default policy (control: plain cargo runs it, and it reads the secret)", async () => {
    const plain = setup('cks-plain', 'repository');
    const p = await runPlainCargo(['build'], { cwd: plain.ws, env: plain.s.env });
    assert.equal(p.status, 0, p.stderr);
    assert.match(scriptOutput(plain.ws), new RegExp(`VICT-READ: ${SECRET}`));

    const r = setup('cks-repo', 'repository');
    const result = await runCli(['build'], { cwd: r.ws, env: r.s.env });
    assert.equal(result.status, 0, result.stderr);
    assert.match(readFileSync(join(r.ws, 'Cargo.lock'), 'utf8'), new RegExp(`checksum = "${APPROVED}"`));
    const out = scriptOutput(r.ws);
    assert.doesNotMatch(out, new RegExp(SECRET));
    assert.match(out, /VICT-REFUSED/);
    assert.match(
      result.stderr,
      new RegExp(`^warning: the grants of \`\\[sandbox\\.package\\."vict@=1\\.0\\.0"\\]\` are pinned to a checksum, and Cargo\\.lock's checksum of \`vict v1\\.0\\.0\` was not verified by cargo: the repository's \`${r.ws}/\\.cargo/config\\.toml\` configures source replacement \\(\`source\\.crates-io\\.replace-with\`\\).*; its build script ran with the default policy$`, 'm'),
    );
    // `cargo sandbox policy` shows the same decision.
    const policy = await runCli(['policy', 'vict'], { cwd: r.ws, env: r.s.env });
    assert.equal(policy.status, 0, policy.stderr);
    assert.match(policy.stdout, /^ {2}checksum: +24da5222a4a8… in Cargo\.lock, NOT verified by cargo: no `checksum` approval applies$/m);
    assert.match(policy.stdout, /^ {2}read-only: .*\(default\)$/m);
    assert.doesNotMatch(policy.stdout, /secretdir/);
    const json = await runCli(['policy', '--format', 'json', 'vict'], { cwd: r.ws, env: r.s.env });
    assert.equal(json.status, 0, json.stderr);
    const pkg = (JSON.parse(json.stdout) as { packages: { checksum?: string; unverifiedChecksum?: { claimed: string; why: string }; read: unknown[] }[] }).packages[0]!;
    assert.equal(pkg.checksum, undefined);
    assert.equal(pkg.unverifiedChecksum?.claimed, APPROVED);
    assert.match(pkg.unverifiedChecksum!.why, /source\.crates-io\.replace-with/);
    assert.deepEqual(pkg.read, []);
  });

  test("the user's own replacement (a directory outside the workspace) keeps the pin: the grant applies", async () => {
    const u = setup('cks-user', 'user');
    const result = await runCli(['build'], { cwd: u.ws, env: u.s.env });
    assert.equal(result.status, 0, result.stderr);
    assert.match(scriptOutput(u.ws), new RegExp(`VICT-READ: ${SECRET}`));
    assert.doesNotMatch(result.stderr, /were approved for|not verified by cargo/);
    const policy = await runCli(['policy', 'vict'], { cwd: u.ws, env: u.s.env });
    assert.equal(policy.status, 0, policy.stderr);
    assert.match(policy.stdout, /^vict v1\.0\.0 \(checksum 24da5222a4a8…\)$/m);
    assert.match(policy.stdout, /secretdir \(\S+\/\.cargo\/config\.toml:\d+:1\)$/m);
  });
});
