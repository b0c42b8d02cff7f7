// Routes around the masks and the disk limit found in review of issue 29's per-process savings
// (cases 120, 121): a destination bubblewrap resolves elsewhere than it reads showed the home with
// its masks left out; a script that made the disk walk slow wrote far past max-disk. Each with a
// plain-cargo control.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BUILDER, makeScratch, runCli, runPlainCargo, SECRETS, walkFiles } from '../helpers/sandbox-env.js';

const HOME_SECRETS = [SECRETS.sshKey, SECRETS.cargoToken, SECRETS.awsKey];

function crate(ws: string, name: string, build?: string, lib = 'pub fn f() {}\n') {
  mkdirSync(join(ws, 'src'), { recursive: true });
  mkdirSync(join(ws, '.cargo'), { recursive: true });
  writeFileSync(join(ws, 'Cargo.toml'), `[package]\nname = "${name}"\nversion = "0.1.0"\nedition = "2021"\n${build ? 'build = "build.rs"\n' : ''}`);
  writeFileSync(join(ws, 'src/lib.rs'), lib);
  if (build) writeFileSync(join(ws, 'build.rs'), build);
}

/** Every artifact's bytes under `dir` (rlib, rmeta). */
function artifacts(dir: string): string {
  return walkFiles(dir).filter((f) => /\.(rlib|rmeta)$/.test(f)).map((f) => readFileSync(f, 'latin1')).join('');
}

describe('masks and limits a view\'s shape cannot get around', () => {
  test('a granted directory the repository made a link to the home (`assets -> ..`) shows no masked secret (control: plain cargo reads them)', async () => {
    const reads = `fn main() { let m = std::env::var("CARGO_MANIFEST_DIR").unwrap(); let mut l = String::new();
for f in [".ssh/id_ed25519", ".cargo/credentials.toml", ".aws/credentials"] { l += &format!("{f}: {:?}\\n", std::fs::read_to_string(format!("{m}/assets/{f}"))); }
panic!("LOOT {l}"); }\n`;
    const run = async (mode: 'plain' | 'sandbox') => {
      const s = makeScratch(`mask-link-${mode}`, { layout: 'host' });
      const ws = join(s.home, 'ws');
      crate(ws, 'cloned', reads);
      symlinkSync('..', join(ws, 'assets'));
      writeFileSync(join(ws, '.cargo/config.toml'), '[sandbox.package.cloned]\nallow-read = ["${CARGO_MANIFEST_DIR}/assets"]\n');
      return mode === 'plain' ? runPlainCargo(['build'], { cwd: ws, env: s.env }) : runCli(['build'], { cwd: ws, env: s.env });
    };
    const plain = await run('plain');
    for (const secret of HOME_SECRETS) assert.ok(plain.stderr.includes(secret), `plain: ${secret} was not read\n${plain.stderr}`);
    const r = await run('sandbox');
    for (const secret of HOME_SECRETS) assert.ok(!r.stderr.includes(secret), `${secret} was read through the link`);
    if (BUILDER === 'direct') {
      // The direct builder shows nothing reached through a link: the grant stops the build, saying why.
      assert.equal(r.status, 101, r.stderr);
      assert.match(r.stderr, /^error: cargo-sandbox: cannot build the sandbox: \S+\/ws\/assets: \S+\/ws\/assets is a symbolic link, and the sandbox shows nothing through one/m);
      assert.doesNotMatch(r.stderr, /LOOT/);
    } else {
      // bubblewrap follows it; the masks still cover the home's secrets where it leads.
      assert.match(r.stderr, /LOOT/, 'the build script did not run');
    }
  });

  test('a repository\'s `-L dependency=/usr/../home` compiles no masked secret in (control: plain cargo does)', async () => {
    const lib = ['.ssh/id_ed25519', '.cargo/credentials.toml'].map((f, i) => `pub static K${i}: &str = include_str!(concat!(env!("HOME"), "/${f}"));\n`).join('');
    const run = async (mode: 'plain' | 'sandbox') => {
      const s = makeScratch(`mask-dotdot-${mode}`, { layout: 'host', untrusted: true });
      const ws = join(s.root, 'ws');
      crate(ws, 'cloned', undefined, lib);
      writeFileSync(join(ws, '.cargo/config.toml'), '[build]\nrustflags = ["-L", "dependency=/usr/../home"]\n');
      const result = mode === 'plain' ? await runPlainCargo(['build'], { cwd: ws, env: s.env }) : await runCli(['build'], { cwd: ws, env: s.env });
      return { result, built: artifacts(join(ws, 'target')) };
    };
    const plain = await run('plain');
    assert.equal(plain.result.status, 0, plain.result.stderr);
    for (const secret of [SECRETS.sshKey, SECRETS.cargoToken]) assert.ok(plain.built.includes(secret), 'plain: the key was not compiled in');
    const r = await run('sandbox');
    assert.notEqual(r.result.status, 0, 'the crate compiled: include_str! found the masked files');
    // The directory is not shown at all (it is no build output: case 124), so rustc could not read them.
    assert.match(r.result.stderr, /^warning: cargo-sandbox: `\/usr\/\.\.\/home` lies outside cargo's target and build dirs: the compiler is not shown it/m, r.result.stderr);
    assert.match(r.result.stderr, /couldn't read `[^`]*(\.ssh\/id_ed25519|credentials\.toml)`/, r.result.stderr);
    for (const secret of [SECRETS.sshKey, SECRETS.cargoToken]) assert.ok(!r.built.includes(secret), `${secret} was compiled in`);
  });

  test('a repository\'s `-L dependency=/home` or `--extern` into the home compiles none of its files in (control: plain cargo does)', async () => {
    // Not a secret the masks cover: any file of the home (a document), and the home's own crates.
    const lib = `pub static NOTE: &str = include_str!(concat!(env!("HOME"), "/Documents/notes.txt"));\n`;
    const run = async (mode: 'plain' | 'direct' | 'bubblewrap', flags: (home: string, ws: string) => string[]) => {
      const s = makeScratch(`rustflags-home-${mode}`, { layout: 'host', untrusted: true });
      if (mode !== 'plain') s.env.CARGO_SANDBOX_BACKEND = mode;
      const ws = join(s.root, 'ws');
      crate(ws, 'cloned', undefined, lib);
      writeFileSync(join(ws, '.cargo/config.toml'), `[build]\nrustflags = ${JSON.stringify(flags(s.home, ws))}\n`);
      const result = mode === 'plain' ? await runPlainCargo(['build'], { cwd: ws, env: s.env }) : await runCli(['build'], { cwd: ws, env: s.env });
      return { result, built: artifacts(join(ws, 'target')) };
    };
    const routes = [
      (home: string) => ['-L', `dependency=${join(home, '..')}`],
      (home: string) => ['--extern', `notes=${join(home, 'Documents/libnotes.rlib')}`],
      // Written as a path below the package's own directory (which is shown), leading out of it.
      (home: string, ws: string) => ['-L', `dependency=${ws}/${ws.split('/').filter(Boolean).map(() => '..').join('/')}${home}`],
    ];
    for (const flags of routes) {
      const plain = await run('plain', flags);
      assert.equal(plain.result.status, 0, plain.result.stderr);
      assert.ok(plain.built.includes(SECRETS.homeDocument), 'plain: the document was not compiled in');
      // Both builders: the direct one also refuses a `..` in what it shows, bubblewrap resolves it.
      for (const builder of ['direct', 'bubblewrap'] as const) {
        const r = await run(builder, flags);
        assert.match(r.result.stderr, /^warning: cargo-sandbox: `[^`]+` lies outside cargo's target and build dirs: the compiler is not shown it/m, `${builder}: ${r.result.stderr}`);
        assert.ok(!r.built.includes(SECRETS.homeDocument), `${builder}: the home's document was compiled in`);
        assert.match(r.result.stderr, /couldn't read `[^`]*notes\.txt`/, `${builder}: ${r.result.stderr}`);
      }
    }
  });

  test('the same through rustdocflags (`cargo doc`, doctests), a shipped `target -> ~`, or an `--out-dir` from rustflags (control: plain cargo reads the document every way)', async () => {
    const outside = `${SECRETS.homeDocument}`;
    // The documentation includes the document; the doctest reads it when it runs (the library itself reads nothing).
    const docLibs = {
      doc: '#![doc = include_str!(concat!(env!("HOME"), "/Documents/notes.txt"))]\npub fn f() {}\n',
      test: '/// ```\n/// panic!("LOOT {:?}", std::fs::read_to_string(concat!(env!("HOME"), "/Documents/notes.txt")));\n/// ```\npub fn f() {}\n',
    };
    const setup = (mode: string, label: string, config: (home: string) => string, lib: string, wsUnderHome = false) => {
      const s = makeScratch(`rustdocflags-${label}-${mode}`, { layout: 'host', untrusted: true });
      const ws = wsUnderHome ? join(s.home, 'src', 'ws') : join(s.root, 'ws');
      crate(ws, 'cloned', undefined, lib);
      writeFileSync(join(ws, '.cargo/config.toml'), config(s.home));
      return { s, ws };
    };
    const cargo = (mode: 'plain' | 'sandbox', args: string[], ws: string, env: NodeJS.ProcessEnv) => (mode === 'plain' ? runPlainCargo(args, { cwd: ws, env }) : runCli(args, { cwd: ws, env }));
    const everything = (dir: string) => walkFiles(dir).map((f) => readFileSync(f, 'latin1')).join('');

    // rustdocflags: the documentation, and a doctest's output.
    const docFlags = (home: string) => `[build]\nrustdocflags = ["-L", "dependency=${join(home, 'Documents/x')}"]\n`;
    for (const [args, seen] of [[['doc'], (r: { stdout: string; stderr: string }, ws: string) => everything(join(ws, 'target/doc'))], [['test', '--doc'], (r: { stdout: string; stderr: string }) => r.stdout + r.stderr]] as const) {
      const docLib = docLibs[args[0] as 'doc' | 'test'];
      const plain = setup('plain', args[0]!, docFlags, docLib);
      const p = await cargo('plain', [...args], plain.ws, plain.s.env);
      assert.ok(seen(p, plain.ws).includes(outside), `plain ${args.join(' ')}: the document was not read\n${p.stderr}`);
      const sandboxed = setup('sandbox', args[0]!, docFlags, docLib);
      const r = await cargo('sandbox', [...args], sandboxed.ws, sandboxed.s.env);
      assert.match(r.stderr, /lies outside cargo's target and build dirs/, r.stderr);
      assert.ok(!seen(r, sandboxed.ws).includes(outside), `${args.join(' ')}: the home's document was read`);
    }

    // A `target` the repository ships as a link to the home (on bubblewrap, which follows it to the sources).
    const lib = `pub static NOTE: &str = include_str!(concat!(env!("HOME"), "/Documents/notes.txt"));\n`;
    const linked = (home: string) => `[build]\nincremental = false\nrustflags = ["-L", "dependency=${join(home, 'Documents')}"]\n`;
    for (const mode of ['plain', 'sandbox'] as const) {
      const { s, ws } = setup(mode, 'target-link', linked, lib, true);
      symlinkSync('../..', join(ws, 'target'));
      const r = await cargo(mode, ['build'], ws, { ...s.env, CARGO_SANDBOX_BACKEND: 'bubblewrap' });
      const built = artifacts(join(s.home, 'debug'));
      if (mode === 'plain') assert.ok(built.includes(outside), `plain: the document was not compiled in\n${r.stderr}`);
      else assert.ok(!built.includes(outside) && r.status !== 0, `the document was compiled in through the shipped link\n${r.stderr}`);
    }

    // An `--out-dir` of rustflags' (a second one, or the only one in cargo's probe): refused before anything is made there.
    const { s, ws } = setup('sandbox', 'out-dir', (home) => `[build]\nrustflags = ["--out-dir", "${join(home, 'Documents/deps')}"]\n`, lib);
    const r = await cargo('sandbox', ['build'], ws, s.env);
    assert.match(r.stderr, /rustc was given `--out-dir [^`]+`, outside cargo's target and build dirs/, r.stderr);
    assert.equal(existsSync(join(s.home, 'Documents/deps')), false, 'a directory was made in the home');
  });

  test('a build script that makes the disk walk slow is still stopped near max-disk (control: plain cargo writes it all)', async () => {
    const build = `use std::io::Write;
fn main() {
  let out = std::env::var("OUT_DIR").unwrap();
  for d in 0..40 { let dir = format!("{out}/d{d}"); std::fs::create_dir(&dir).unwrap(); for f in 0..1000 { std::fs::File::create(format!("{dir}/{f}")).unwrap(); } }
  std::thread::sleep(std::time::Duration::from_millis(1500));
  let chunk = vec![7u8; 32 << 20];
  for i in 0..12 { std::fs::File::create(format!("{out}/big{i}")).unwrap().write_all(&chunk).unwrap(); }
  for i in 0..12 { std::fs::remove_file(format!("{out}/big{i}")).unwrap(); }
  std::fs::write(format!("{out}/result"), "wrote 384 MiB").unwrap();
}
`;
    const run = async (mode: 'plain' | 'sandbox') => {
      const s = makeScratch(`disk-pace-${mode}`);
      const ws = join(s.root, 'ws');
      crate(ws, 'filler', build);
      writeFileSync(join(ws, '.cargo/config.toml'), '[sandbox.package.filler]\nmax-disk = "64MiB"\n');
      const result = mode === 'plain' ? await runPlainCargo(['build'], { cwd: ws, env: s.env }) : await runCli(['build'], { cwd: ws, env: s.env });
      const wrote = walkFiles(join(ws, 'target')).some((f) => f.endsWith('/out/result'));
      return { result, wrote };
    };
    const plain = await run('plain');
    assert.equal(plain.result.status, 0, plain.result.stderr);
    assert.ok(plain.wrote, 'plain: the script did not finish');
    const r = await run('sandbox');
    assert.equal(r.result.status, 101, r.result.stderr);
    assert.equal(r.wrote, false, 'the script wrote 384 MiB under a 64 MiB max-disk and finished');
    assert.match(r.result.stderr, /max-disk/);
  });
});
