import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'smol-toml';
import { trustFindings, type WorkspaceFile } from '../../src/config/workspace-trust.js';
import { cargoSubcommand, trustMode } from '../../src/diagnostics/trust.js';

function file(text: string, trust: WorkspaceFile['trust'] = 'new', kind: WorkspaceFile['kind'] = 'cargo-config'): WorkspaceFile {
  return { path: '/w/.cargo/config.toml', kind, text, table: parse(text) as Record<string, unknown>, baseDir: '/w', trust, exists: true };
}

const CONFIG = `[build]
rustc-wrapper = "tools/w"
rustflags = ["-C", "linker=clang", "-C", "link-arg=-fuse-ld=mold"]
[target.x86_64-unknown-linux-gnu]
linker = "clang"
runner = "tools/run"
[target.'cfg(unix)']
runner = ["qemu", "-L"]
[registries.corp]
credential-provider = "tools/cred"
[env]
LD_PRELOAD = { value = "tools/evil.so", relative = true }
OPENSSL_DIR = "/opt/ssl"
[sandbox.package.foo]
allow-network = true
`;

test('untrusted config: host programs and all of [env] refused (with line), grants ignored, linkers confined', () => {
  const f = trustFindings(file(CONFIG), { hostCompiles: false, runsBinaries: false });
  const by = (effect: string) => f.filter((x) => x.effect === effect).map((x) => `${x.line}:${x.key}`);
  // [env] is an allow-list of none: OPENSSL_DIR reaches rustc's version probe and our entry point on the host too.
  assert.deepEqual(by('refused'), ['2:build.rustc-wrapper', '10:registries.corp.credential-provider', '12:env.LD_PRELOAD', '13:env.OPENSSL_DIR']);
  assert.deepEqual(by('ignored'), ['15:sandbox.package.foo.allow-network']);
  assert.deepEqual(by('confined'), ['3:build.rustflags', '5:target.x86_64-unknown-linux-gnu.linker', '6:target.x86_64-unknown-linux-gnu.runner', '8:target.cfg(unix).runner']);
  assert.match(f[0]!.what, /runs `\/w\/tools\/w` on the host as the rustc wrapper/);
});

test('runners are refused for run/test/bench; with compilations on the host, linkers, flags and all [env] too; trusted files: nothing', () => {
  const run = trustFindings(file(CONFIG), { hostCompiles: false, runsBinaries: true }).filter((x) => x.effect === 'refused').map((x) => x.key);
  assert.ok(run.includes('target.cfg(unix).runner') && run.includes('target.x86_64-unknown-linux-gnu.runner'));
  const host = trustFindings(file(CONFIG), { hostCompiles: true, runsBinaries: false }).filter((x) => x.effect === 'refused').map((x) => x.key);
  for (const k of ['build.rustflags', 'target.x86_64-unknown-linux-gnu.linker', 'env.OPENSSL_DIR']) assert.ok(host.includes(k), k);
  assert.deepEqual(trustFindings(file(CONFIG, 'trusted'), { hostCompiles: true, runsBinaries: true }), []);
});

test('toolchain file: a path is refused unless the user chose the toolchain; a channel is fine; an unreadable config is refused whole', () => {
  const tc = (text: string) => ({ ...file(text, 'new', 'toolchain'), path: '/w/rust-toolchain.toml' });
  assert.equal(trustFindings(tc('[toolchain]\npath = "/w/tc"\n'), { hostCompiles: false, runsBinaries: false })[0]?.key, 'toolchain.path');
  assert.deepEqual(trustFindings(tc('[toolchain]\npath = "/w/tc"\n'), { hostCompiles: false, runsBinaries: false, toolchainChosen: true }), []);
  assert.deepEqual(trustFindings(tc('[toolchain]\nchannel = "1.80"\n'), { hostCompiles: false, runsBinaries: false }), []);
  const broken: WorkspaceFile = { ...file(''), text: '[build\nrustc-wrapper = "x"', table: undefined };
  assert.equal(trustFindings(broken, { hostCompiles: false, runsBinaries: false })[0]?.effect, 'refused');
});

test('the command and the toolchain choice', () => {
  assert.equal(cargoSubcommand(['-v', '--config', 'x=1', 'test', '--release']), 'test');
  assert.equal(trustMode(['run'], true, {}).runsBinaries, true);
  assert.equal(trustMode(['build'], true, { RUSTUP_TOOLCHAIN: '/w/tc', RUSTUP_TOOLCHAIN_SOURCE: 'toolchain-file' }).toolchainChosen, false);
  assert.equal(trustMode(['build'], true, { RUSTUP_TOOLCHAIN: 'stable', RUSTUP_TOOLCHAIN_SOURCE: 'cli' }).toolchainChosen, true);
  assert.equal(trustMode(['build'], true, {}, '+stable').toolchainChosen, true);
});

test('review: aliases of the typed command or of `sandbox`, [unstable], doc.browser, outputs outside the workspace', () => {
  const text = `[alias]\nb = "run"\nsandbox = "run --bin x"\nxtask = "run --package xtask --"\n[unstable]\nbuild-std = ["std"]\n[doc]\nbrowser = "tools/open"\n[build]\ntarget-dir = "/root/.cargo"\nartifact-dir = "/root/.cargo/bin"\n`;
  const f = trustFindings(file(text), { hostCompiles: false, runsBinaries: false, command: 'b', workspaceRoot: '/w' });
  const refused = f.filter((x) => x.effect === 'refused').map((x) => x.key);
  assert.deepEqual(refused, ['alias.b', 'alias.sandbox', 'unstable.build-std', 'doc.browser', 'build.target-dir', 'build.artifact-dir']);
  assert.equal(f.find((x) => x.key === 'alias.xtask')?.effect, 'confined');
  const inside = trustFindings(file('[build]\ntarget-dir = "target-x"\n'), { hostCompiles: false, runsBinaries: false, workspaceRoot: '/w' });
  assert.equal(inside[0]?.effect, 'confined');
});

test('review: a toolchain named by a path (legacy file, channel) is refused; names are not', () => {
  const tc = (text: string, table: Record<string, unknown> | undefined) => ({ path: '/w/rust-toolchain', kind: 'toolchain' as const, text, table, baseDir: '/w', trust: 'new' as const, exists: true });
  const mode = { hostCompiles: false, runsBinaries: false };
  assert.equal(trustFindings(tc('/proc/self/cwd/tc\n', undefined), mode)[0]?.key, 'toolchain');
  assert.equal(trustFindings(tc('', { toolchain: { channel: '/tmp/tc' } }), mode)[0]?.key, 'toolchain.channel');
  for (const name of ['stable', '1.80.0', 'nightly-2026-01-01', 'my-linked']) assert.deepEqual(trustFindings(tc(`${name}\n`, undefined), mode), [], name);
});

test('review: only the user\'s own config files are the user\'s, not a checkout below CARGO_HOME', async () => {
  const { isUserConfigFile } = await import('../../src/config/workspace-files.js');
  assert.equal(isUserConfigFile('/h/.cargo/config.toml', '/h/.cargo', '/h'), true);
  assert.equal(isUserConfigFile('/c/config', '/c', '/h'), true);
  assert.equal(isUserConfigFile('/h/.cargo/git/checkouts/x/abc/.cargo/config.toml', '/h/.cargo', '/h'), false);
});

test('policy flags WebAssembly build scripts that would start processes (a build-dependency like cc, or a rustc probe)', async () => {
  const { spawnsProcesses } = await import('../../src/cli/policy-view.js');
  assert.match(spawnsProcesses({ name: 'foo-sys', version: '1.0.0', buildDependencies: ['cc'] })!, /uses `cc`/);
  assert.match(spawnsProcesses({ name: 'proc-macro2', version: '1.0.0', buildDependencies: [] })!, /probes rustc/);
  assert.equal(spawnsProcesses({ name: 'gen', version: '0.1.0', buildDependencies: ['helper'] }), undefined);
});

test('review 2: includes where build scripts write or outside the workspace, any alias when the typed command is an alias, -C', async () => {
  const f = { ...file('include = ["../target/x.toml", "extra.toml"]\n'), includes: ['/w/target/x.toml', '/w/.cargo/extra.toml'] };
  assert.equal(trustFindings(f, { hostCompiles: false, runsBinaries: false, workspaceRoot: '/w', targetDir: '/w/target' })[0]?.effect, 'refused');
  const inside = { ...f, includes: ['/w/.cargo/extra.toml'] };
  assert.equal(trustFindings(inside, { hostCompiles: false, runsBinaries: false, workspaceRoot: '/w', targetDir: '/w/target' })[0]?.effect, 'confined');
  const aliases = file('[alias]\nb = "run"\nxt = "run -p xtask"\n');
  assert.deepEqual(trustFindings(aliases, { hostCompiles: false, runsBinaries: false, command: 'build' }).filter((x) => x.effect === 'refused').map((x) => x.key), ['alias.b']);
  assert.deepEqual(trustFindings(aliases, { hostCompiles: false, runsBinaries: false, command: 'br' }).filter((x) => x.effect === 'refused').map((x) => x.key), ['alias.b', 'alias.xt']);
  const { refuseDirectoryOption } = await import('../../src/diagnostics/trust.js');
  assert.throws(() => refuseDirectoryOption(['--config', 'x=1', '-C', '/w', 'build']), /does not follow `-C DIR`/);
  assert.doesNotThrow(() => refuseDirectoryOption(['rustc', '--', '-C', 'opt-level=3']));
});

const UNTRUSTED = { hostCompiles: false, runsBinaries: false, workspaceRoot: '/w' };
const refusedKeys = (text: string) => trustFindings(file(text), UNTRUSTED).filter((x) => x.effect === 'refused').map((x) => `${x.line}:${x.key}`);

test('allow-list: a key cargo-sandbox does not know is refused, with its line and the general reason', () => {
  const f = trustFindings(file('[build]\njobs = 4\nfrobnicate = "tools/x"\n[made-up]\nkey = 1\n'), UNTRUSTED);
  assert.deepEqual(f.map((x) => `${x.line}:${x.key}:${x.effect}`), ['3:build.frobnicate:refused', '5:made-up.key:refused']);
  assert.match(f[0]!.what, /^is not a key cargo-sandbox knows to be safe here/);
  assert.equal(f[0]!.unvetted, true);
  // Documented keys that name a program, a path, a token or a proxy: refused too, each with its reason.
  const known = trustFindings(file('[http]\nproxy = "evil:8080"\n[registries.corp]\nindex = "sparse+https://evil/"\n[install]\nroot = "/home/u/.local"\n[net]\ngit-fetch-with-cli = true\n'), UNTRUSTED);
  assert.deepEqual(known.map((x) => x.key), ['http.proxy', 'registries.corp.index', 'install.root', 'net.git-fetch-with-cli']);
  assert.match(known[1]!.what, /points a registry at `sparse\+https:\/\/evil\/`: cargo would send your token/);
});

test('allow-list: a [target.<triple>.<links>] override table is refused once, at its header; under cfg(...) (cargo ignores it) as an unknown key', () => {
  const text = '[build]\njobs = 2\n[target.x86_64-unknown-linux-gnu.foo]\nrustc-env = { __CARGO_SANDBOX_BWRAP = "./tools/bw.sh" }\nrustc-link-arg = ["-Wl,-rpath,/x"]\n[target.x86_64-unknown-linux-gnu]\nlinker = "cc"\n[target.aarch64-unknown-linux-gnu.bar]\n[target.\'cfg(unix)\'.foo]\nrustc-cfg = ["x"]\n';
  const f = trustFindings(file(text), UNTRUSTED);
  const refused = f.filter((x) => x.effect === 'refused');
  assert.deepEqual(refused.map((x) => `${x.line}:${x.key}`), ['3:target.x86_64-unknown-linux-gnu.foo', '8:target.aarch64-unknown-linux-gnu.bar', '10:target.cfg(unix).foo.rustc-cfg']);
  assert.match(refused[0]!.what, /^overrides the build script of packages with `links = "foo"`: cargo hands its `rustc-env`/);
  assert.match(refused[2]!.what, /^is not a key cargo-sandbox knows to be safe here/);
  assert.equal(f.find((x) => x.key === 'target.x86_64-unknown-linux-gnu.linker')?.effect, 'confined');
  // A dotted key spells the same table.
  assert.deepEqual(refusedKeys('[target.x86_64-unknown-linux-gnu]\nfoo.rustc-env.X = "1"\n'), ['2:target.x86_64-unknown-linux-gnu.foo']);
});

test('allow-list: every [env] entry is refused, whatever its name or form', () => {
  assert.deepEqual(refusedKeys('[env]\nOUT_DIR = { value = "/home/u", force = true }\nPWD = "/"\nMY_FLAG = "1"\n'), ['2:env.OUT_DIR', '3:env.PWD', '4:env.MY_FLAG']);
  assert.deepEqual(refusedKeys('[env]\n'), []);
});

test('allow-list: documented harmless keys pass with no finding (vendored sources, profiles, jobs, terminal, empty tables)', () => {
  const text = `[build]\njobs = 4\nincremental = false\ntarget = "x86_64-unknown-linux-gnu"\n[term]\ncolor = "always"\nprogress.when = "never"\n[net]\noffline = true\nretry = 3\n[profile.release]\nlto = "thin"\ncodegen-units = 1\n[profile.dev.package."*"]\nopt-level = 2\n[profile.dev.build-override]\nopt-level = 3\n[source.crates-io]\nreplace-with = "vendored-sources"\n[source.vendored-sources]\ndirectory = "vendor"\n[patch.crates-io]\nfoo = { path = "patched/foo" }\n[registries.crates-io]\nprotocol = "sparse"\n[future-incompat-report]\nfrequency = "never"\n[alias]\n[target.x86_64-unknown-linux-gnu]\n[sandbox]\n`;
  assert.deepEqual(trustFindings(file(text), UNTRUSTED), []);
});
