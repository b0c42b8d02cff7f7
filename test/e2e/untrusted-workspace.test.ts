// The workspace as attacker: a cloned repository's own cargo config and toolchain file name
// programs (linker, rustc wrapper, an LD_PRELOAD library, a whole toolchain) and grant themselves
// a way out of the sandbox. Each with a plain-cargo control where the program runs on the host;
// sandboxed, it runs confined or nothing starts, until `cargo sandbox trust`.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { makeScratch, REPO_ROOT, runCli, runPlainCargo, type Scratch } from '../helpers/sandbox-env.js';

const HOST = /^host: (\S+)$/m.exec(spawnSync('rustc', ['-vV'], { encoding: 'utf8' }).stdout)?.[1] ?? 'x86_64-unknown-linux-gnu';

interface Repo {
  s: Scratch;
  ws: string;
  markers: string;
}

/** A cloned repository: a crate with a build script, and tools/ holding its programs. */
function clonedRepo(label: string, config: (ws: string, markers: string) => string): Repo {
  const s = makeScratch(label, { untrusted: true });
  const ws = join(s.root, 'ws');
  const markers = join(s.root, 'markers');
  mkdirSync(markers);
  mkdirSync(join(ws, 'src'), { recursive: true });
  mkdirSync(join(ws, 'tools'));
  mkdirSync(join(ws, '.cargo'));
  writeFileSync(join(ws, 'Cargo.toml'), '[package]\nname = "cloned"\nversion = "0.1.0"\nedition = "2021"\nbuild = "build.rs"\n');
  writeFileSync(join(ws, 'src/lib.rs'), 'pub fn f() -> u32 { 1 }\n');
  // Writes to the host when unconfined; in the sandbox the markers directory is not there.
  writeFileSync(join(ws, 'build.rs'), `fn main() { let _ = std::fs::write("${markers}/build-script", "ran"); }\n`);
  const tool = (name: string, then: string) => {
    writeFileSync(join(ws, 'tools', name), `#!/bin/sh\necho ran >> "${markers}/${name}" 2>/dev/null\n${then}\n`);
    chmodSync(join(ws, 'tools', name), 0o755);
  };
  tool('evil-linker', 'exec cc "$@"');
  tool('evil-wrapper', 'exec "$@"');
  writeFileSync(join(ws, '.cargo/config.toml'), config(ws, markers));
  return { s, ws, markers };
}

const ran = (r: Repo, name: string) => existsSync(join(r.markers, name));

describe('an untrusted workspace runs nothing of its own outside the sandbox', { concurrency: false }, () => {
  test('a linker and `-C linker=` from the workspace run confined: the build works, the program never touches the host (control: it does)', async () => {
    const config = (ws: string) => `[target.${HOST}]\nlinker = "tools/evil-linker"\n[build]\nrustflags = ["-C", "link-arg=-Wl,--as-needed", "-C", "linker=${ws}/tools/evil-linker"]\n`;
    const plain = clonedRepo('untrusted-linker-plain', config);
    assert.equal((await runPlainCargo(['build'], { cwd: plain.ws, env: plain.s.env })).status, 0);
    assert.ok(ran(plain, 'evil-linker'), 'plain: the linker did not run');
    const r = clonedRepo('untrusted-linker', config);
    const result = await runCli(['build'], { cwd: r.ws, env: r.s.env });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(ran(r, 'evil-linker'), false);
    assert.equal(ran(r, 'build-script'), false);
  });

  test('a rustc wrapper from the workspace (or a config in a parent directory) stops the build before cargo starts, naming file:line (control: it runs)', async () => {
    const config = () => '[build]\nrustc-wrapper = "tools/evil-wrapper"\n';
    const plain = clonedRepo('untrusted-wrapper-plain', config);
    assert.equal((await runPlainCargo(['build'], { cwd: plain.ws, env: plain.s.env })).status, 0);
    assert.ok(ran(plain, 'evil-wrapper'), 'plain: the wrapper did not run');
    const r = clonedRepo('untrusted-wrapper', config);
    const result = await runCli(['check'], { cwd: r.ws, env: r.s.env });
    assert.equal(result.status, 101);
    assert.match(result.stderr, /^error: this workspace's configuration would run programs outside the sandbox, and it is not trusted; nothing was built$/m);
    assert.match(result.stderr, new RegExp(`^ {4}${r.ws}/\\.cargo/config\\.toml:2: \`build\\.rustc-wrapper\` runs \`${r.ws}/tools/evil-wrapper\` on the host as the rustc wrapper$`, 'm'));
    assert.match(result.stderr, /^help: .*`cargo sandbox trust`/m);
    assert.equal(ran(r, 'evil-wrapper'), false);
    // The same file one directory up (someone else's /tmp/.cargo): still the workspace's.
    rmSync(join(r.ws, '.cargo'), { recursive: true });
    mkdirSync(join(r.s.root, '.cargo'));
    writeFileSync(join(r.s.root, '.cargo/config.toml'), `[build]\nrustc-wrapper = "${r.ws}/tools/evil-wrapper"\n`);
    const parent = await runCli(['check'], { cwd: r.ws, env: r.s.env });
    assert.equal(parent.status, 101);
    assert.match(parent.stderr, new RegExp(`^ {4}${r.s.root}/\\.cargo/config\\.toml:2: \`build\\.rustc-wrapper\``, 'm'));
    assert.equal(ran(r, 'evil-wrapper'), false);
  });

  test('[env] LD_PRELOAD from the workspace is refused (control: plain cargo loads it into rustc)', async () => {
    const config = (ws: string, markers: string) => {
      const c = join(ws, 'tools/evil.c');
      writeFileSync(c, `#include <stdio.h>\n__attribute__((constructor)) static void pwn(void) { FILE *f = fopen("${markers}/preload", "a"); if (f) { fputs("ran\\n", f); fclose(f); } }\n`);
      assert.equal(spawnSync('cc', ['-shared', '-fPIC', '-o', join(ws, 'tools/evil.so'), c]).status, 0);
      return '[env]\nLD_PRELOAD = { value = "tools/evil.so", relative = true }\n';
    };
    const plain = clonedRepo('untrusted-preload-plain', config);
    assert.equal((await runPlainCargo(['build'], { cwd: plain.ws, env: plain.s.env })).status, 0);
    assert.ok(ran(plain, 'preload'), 'plain: the library was not loaded');
    const r = clonedRepo('untrusted-preload', config);
    const result = await runCli(['build'], { cwd: r.ws, env: r.s.env });
    assert.equal(result.status, 101);
    assert.match(result.stderr, /config\.toml:2: `env\.LD_PRELOAD` sets `LD_PRELOAD=tools\/evil\.so` for the programs cargo starts$/m);
    assert.equal(ran(r, 'preload'), false);
  });

  test('a toolchain file naming a path: cargo-sandbox refuses before running any cargo; started through it, it says so loudly (control: rustup runs it)', async () => {
    const config = () => '';
    const evilToolchain = (r: Repo) => {
      const tc = join(r.ws, 'evil-tc');
      mkdirSync(join(tc, 'bin'), { recursive: true });
      const real = (tool: string) => spawnSync('rustup', ['which', tool], { encoding: 'utf8', cwd: '/' }).stdout.trim();
      for (const tool of ['cargo', 'rustc']) {
        writeFileSync(join(tc, 'bin', tool), `#!/bin/sh\necho ran >> "${r.markers}/toolchain-${tool}"\nexec "${real(tool)}" "$@"\n`);
        chmodSync(join(tc, 'bin', tool), 0o755);
      }
      writeFileSync(join(r.ws, 'rust-toolchain.toml'), `[toolchain]\npath = "${tc}"\n`);
    };
    const plain = clonedRepo('untrusted-toolchain-plain', config);
    evilToolchain(plain);
    assert.equal((await runPlainCargo(['build'], { cwd: plain.ws, env: plain.s.env })).status, 0);
    assert.ok(ran(plain, 'toolchain-cargo'), 'plain: rustup did not run the toolchain');
    const r = clonedRepo('untrusted-toolchain', config);
    evilToolchain(r);
    const direct = await runCli(['build'], { cwd: r.ws, env: r.s.env });
    assert.equal(direct.status, 101);
    assert.match(direct.stderr, /rust-toolchain\.toml:2: `toolchain\.path` rustup runs cargo and rustc from `\S+\/evil-tc`, on the host$/m);
    assert.equal(ran(r, 'toolchain-cargo') || ran(r, 'toolchain-rustc'), false);
    // `cargo sandbox build`: rustup's proxy runs the workspace's cargo first, which starts us.
    const env = { ...r.s.env, PATH: `${join(REPO_ROOT, 'bin')}:${r.s.env.PATH}` };
    const proxied = await runPlainCargo(['sandbox', 'build'], { cwd: r.ws, env });
    assert.equal(proxied.status, 101);
    assert.match(proxied.stderr, /^error: cargo-sandbox was started by `\S+\/evil-tc`, a toolchain from this untrusted workspace \(its toolchain file\): it already ran with your full rights/m);
    // Choosing the toolchain makes the file inert: `cargo-sandbox +stable` and `cargo +stable sandbox`.
    rmSync(r.markers, { recursive: true });
    mkdirSync(r.markers);
    const chosen = await runCli(['+stable', 'build'], { cwd: r.ws, env: r.s.env });
    assert.equal(chosen.status, 0, chosen.stderr);
    const viaProxy = await runPlainCargo(['+stable', 'sandbox', 'build'], { cwd: r.ws, env });
    assert.equal(viaProxy.status, 0, viaProxy.stderr);
    assert.equal(ran(r, 'toolchain-cargo') || ran(r, 'toolchain-rustc'), false, 'the workspace toolchain ran');
  });

  test('review: a config `include`d by the workspace\'s, a key spelled with TOML escapes, an alias that turns `b` into `run`: each refused (control: each runs its program)', async () => {
    const cases: [string, (ws: string) => string, string[], RegExp][] = [
      ['include', (ws) => {
        writeFileSync(join(ws, '.cargo/extra.toml'), '[build]\nrustc-workspace-wrapper = "tools/evil-wrapper"\n');
        return 'include = ["extra.toml"]\n';
      }, ['check'], /extra\.toml:2: `build\.rustc-workspace-wrapper` runs `\S+\/tools\/evil-wrapper` on the host/],
      ['include-target', (ws) => {
        // A build script can write its target dir: an optional include there could appear between two builds.
        mkdirSync(join(ws, 'target'), { recursive: true });
        writeFileSync(join(ws, 'target/x.toml'), '[build]\nrustc-workspace-wrapper = "tools/evil-wrapper"\n');
        return 'include = [{ path = "../target/x.toml", optional = true }]\n';
      }, ['check'], /config\.toml:1: `include` reads configuration from `\S+\/target\/x\.toml`, where build scripts or others can write it/],
      ['escape', () => '[build]\n"rust\\u0063-workspace-wrapper" = "tools/evil-wrapper"\n', ['check'], /config\.toml:\d: `build\.rustc-workspace-wrapper` runs/],
      ['alias', () => `[alias]\nb = ["run", "--quiet"]\n[target.${HOST}]\nrunner = "tools/evil-wrapper"\n`, ['b'], /config\.toml:2: `alias\.b` makes `cargo b` run `cargo \["run","--quiet"\]`/],
    ];
    for (const [label, config, command, refusal] of cases) {
      const plain = clonedRepo(`review-${label}-plain`, config);
      if (label === 'alias') writeFileSync(join(plain.ws, 'src/main.rs'), 'fn main() {}\n');
      await runPlainCargo(command, { cwd: plain.ws, env: plain.s.env });
      assert.ok(ran(plain, 'evil-wrapper'), `plain ${label}: the program did not run`);
      const r = clonedRepo(`review-${label}`, config);
      if (label === 'alias') writeFileSync(join(r.ws, 'src/main.rs'), 'fn main() {}\n');
      const result = await runCli(command, { cwd: r.ws, env: r.s.env });
      assert.equal(result.status, 101, `${label}: ${result.stderr}`);
      assert.match(result.stderr, refusal, label);
      assert.equal(ran(r, 'evil-wrapper'), false, `${label}: the program ran`);
    }
  });

  test('review: a legacy rust-toolchain file naming a path is refused (control: rustup runs that cargo)', async () => {
    const make = (label: string) => {
      const r = clonedRepo(label, () => '');
      mkdirSync(join(r.ws, 'tc/bin'), { recursive: true });
      writeFileSync(join(r.ws, 'tc/bin/cargo'), `#!/bin/sh\necho ran >> "${r.markers}/legacy-cargo"\nexit 1\n`);
      chmodSync(join(r.ws, 'tc/bin/cargo'), 0o755);
      writeFileSync(join(r.ws, 'rust-toolchain'), `${join(r.ws, 'tc')}\n`);
      return r;
    };
    const plain = make('legacy-tc-plain');
    await runPlainCargo(['-V'], { cwd: plain.ws, env: plain.s.env });
    assert.ok(ran(plain, 'legacy-cargo'), 'plain: rustup did not run the legacy toolchain');
    const r = make('legacy-tc');
    const result = await runCli(['build'], { cwd: r.ws, env: r.s.env });
    assert.equal(result.status, 101);
    assert.match(result.stderr, /rust-toolchain:1: `toolchain` names `\S+\/tc`, not a toolchain name/);
    assert.equal(ran(r, 'legacy-cargo'), false);
  });

  test('review: a `[target.<host>.<links>]` table (a build script\'s output, from config) is refused before cargo starts (control: cargo applies its rustc-env instead of running the script)', async () => {
    // Cargo hands the table's `rustc-env` to the package's rustc as if its build script had printed
    // it, past the supervisor's directive check: LD_PRELOAD reaches rustc under plain cargo, and our
    // own variables reach the entry point on the host (a `bwrap` of the workspace's choosing).
    const config = (ws: string, markers: string) => {
      writeFileSync(join(ws, 'Cargo.toml'), '[package]\nname = "cloned"\nversion = "0.1.0"\nedition = "2021"\nbuild = "build.rs"\nlinks = "foo"\n');
      writeFileSync(join(ws, 'src/lib.rs'), 'pub const FROM: &str = env!("OVERRIDE_MARK");\n');
      const c = join(ws, 'tools/evil.c');
      writeFileSync(c, `#include <stdio.h>\n__attribute__((constructor)) static void pwn(void) { FILE *f = fopen("${markers}/preload", "a"); if (f) { fputs("ran\\n", f); fclose(f); } }\n`);
      assert.equal(spawnSync('cc', ['-shared', '-fPIC', '-o', join(ws, 'tools/evil.so'), c]).status, 0);
      writeFileSync(join(ws, 'tools/bw'), `#!/bin/sh\necho ran >> "${markers}/bw"\nexec bwrap "$@"\n`);
      chmodSync(join(ws, 'tools/bw'), 0o755);
      return `# links overrides\n[target.${HOST}.foo]\nrustc-env = { OVERRIDE_MARK = "x", LD_PRELOAD = "${ws}/tools/evil.so", __CARGO_SANDBOX_BWRAP = "${ws}/tools/bw" }\n`;
    };
    const plain = clonedRepo('untrusted-override-plain', config);
    const control = await runPlainCargo(['build'], { cwd: plain.ws, env: plain.s.env });
    assert.equal(control.status, 0, control.stderr);
    assert.ok(ran(plain, 'preload'), 'plain: the override\'s LD_PRELOAD did not reach rustc');
    assert.equal(ran(plain, 'build-script'), false, 'plain: the build script ran, so the override did not apply');
    const r = clonedRepo('untrusted-override', config);
    const result = await runCli(['build'], { cwd: r.ws, env: r.s.env });
    assert.equal(result.status, 101, result.stderr);
    assert.match(result.stderr, new RegExp(`^ {4}${r.ws}/\\.cargo/config\\.toml:2: \`target\\.${HOST}\\.foo\` overrides the build script of packages with \`links = "foo"\``, 'm'));
    assert.match(result.stderr, /^help: .*`cargo sandbox trust`/m);
    assert.equal(ran(r, 'preload') || ran(r, 'bw') || ran(r, 'build-script'), false, 'something ran');
    assert.equal(existsSync(join(r.ws, 'target')), false, 'cargo started');
  });

  test('a trusted override table that names our variables (another session, another bwrap) is not believed by the entry point (control: the variables reach the compilation)', async () => {
    // Trusted, the table applies: cargo hands its rustc-env to the package's rustc, through our
    // wrapper on the host. The wrapper reads its session only from cargo's start-up environment.
    const config = (ws: string, markers: string) => {
      writeFileSync(join(ws, 'Cargo.toml'), '[package]\nname = "cloned"\nversion = "0.1.0"\nedition = "2021"\nbuild = "build.rs"\nlinks = "foo"\n');
      writeFileSync(join(ws, 'src/lib.rs'), 'pub const SEEN: &str = env!("OVERRIDE_MARK");\n');
      writeFileSync(join(ws, 'tools/bw'), `#!/bin/sh\necho ran >> "${markers}/bw"\nexec bwrap "$@"\n`);
      chmodSync(join(ws, 'tools/bw'), 0o755);
      // A whole session of the workspace's making, naming its own bubblewrap.
      const forged = join(ws, 'tools/session');
      mkdirSync(join(forged, 'runs/1'), { recursive: true, mode: 0o700 });
      writeFileSync(join(forged, 'session.data'), `version=1\0bwrap=${ws}/tools/bw\0confine=${ws}/tools/bw\0node=/bin/true\0identity-file=${ws}/tools/bw\0target-dir=${ws}/target\0`, { mode: 0o600 });
      const vars = `__CARGO_SANDBOX_BWRAP = "${ws}/tools/bw", __CARGO_SANDBOX_SESSION = "${forged}", __CARGO_SANDBOX_RUNS = "${forged}/runs/1", __CARGO_SANDBOX_CONFINE = "${ws}/tools/bw"`;
      return `[target.${HOST}.foo]\nrustc-env = { OVERRIDE_MARK = "x", ${vars} }\n`;
    };
    const plain = clonedRepo('trusted-override-plain', config);
    const control = await runPlainCargo(['build'], { cwd: plain.ws, env: plain.s.env });
    assert.equal(control.status, 0, control.stderr);
    assert.equal(ran(plain, 'build-script'), false, 'plain: the build script ran, so the override did not apply');
    const r = clonedRepo('trusted-override', config);
    const trusted = await runCli(['trust'], { cwd: r.ws, env: r.s.env });
    assert.equal(trusted.status, 0, trusted.stderr);
    const result = await runCli(['build'], { cwd: r.ws, env: r.s.env });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(ran(r, 'bw'), false, 'the entry point ran the workspace\'s bwrap');
  });

  test('sandbox grants from the workspace are ignored with a note; `trust` applies them; a change makes it untrusted again; --revoke, --list', async () => {
    const r = clonedRepo('untrusted-grants', () => '[sandbox.package.cloned]\nsandbox = false\n');
    const first = await runCli(['build'], { cwd: r.ws, env: r.s.env });
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stderr, /^note: this workspace's configuration is not trusted: its sandbox settings are ignored\n {4}\S+config\.toml:2: `sandbox\.package\.cloned\.sandbox` would set/m);
    assert.equal(ran(r, 'build-script'), false, 'sandbox = false applied untrusted');
    const policy = await runCli(['policy', 'cloned'], { cwd: r.ws, env: r.s.env });
    assert.match(policy.stdout, /^workspace configuration: NOT trusted/m);
    assert.match(policy.stdout, /^ {2}sandboxed: +yes \(default\)$/m);
    const doctor = await runCli(['doctor'], { cwd: r.ws, env: r.s.env });
    assert.match(doctor.stdout, /^ok +workspace +\S+\/ws: not trusted \(0 key\(s\) refused, 1 sandbox setting\(s\) ignored\)$/m);

    const show = await runCli(['trust', '--show'], { cwd: r.ws, env: r.s.env });
    assert.match(show.stdout, /config\.toml \(cargo config; not trusted\)\n {6}line 2: `sandbox\.package\.cloned\.sandbox` would set .*\[changes the sandbox\]/);
    const trust = await runCli(['trust'], { cwd: r.ws, env: r.s.env });
    assert.equal(trust.status, 0, trust.stderr);
    assert.match(trust.stderr, /^note: trusted 1 file of `\S+\/ws`/m);
    writeFileSync(join(r.ws, 'build.rs'), `${readFileSync(join(r.ws, 'build.rs'), 'utf8')}// again\n`);
    const trusted = await runCli(['build'], { cwd: r.ws, env: r.s.env });
    assert.equal(trusted.status, 0, trusted.stderr);
    assert.match(trusted.stderr, /^warning: the build script of `cloned` runs UNSANDBOXED/m);
    assert.ok(ran(r, 'build-script'), 'the trusted grant did not apply');

    rmSync(join(r.markers, 'build-script'));
    writeFileSync(join(r.ws, '.cargo/config.toml'), '# changed\n[sandbox.package.cloned]\nsandbox = false\n');
    writeFileSync(join(r.ws, 'build.rs'), `${readFileSync(join(r.ws, 'build.rs'), 'utf8')}// and again\n`);
    const changed = await runCli(['build'], { cwd: r.ws, env: r.s.env });
    assert.equal(changed.status, 0, changed.stderr);
    assert.match(changed.stderr, /^note: `\S+config\.toml` changed since you trusted it: it is untrusted again$/m);
    assert.equal(ran(r, 'build-script'), false);

    const list = await runCli(['trust', '--list'], { cwd: r.ws, env: r.s.env });
    assert.match(list.stdout, new RegExp(`^${r.ws} \\(trusted `, 'm'));
    const revoke = await runCli(['trust', '--revoke'], { cwd: r.ws, env: r.s.env });
    assert.match(revoke.stderr, /is no longer trusted/);
    assert.match((await runCli(['trust', '--list'], { cwd: r.ws, env: r.s.env })).stdout, /^no trusted workspaces/);
    assert.match((await runCli(['trust', '--frobnicate'], { cwd: r.ws, env: r.s.env })).stderr, /^error: unexpected argument '--frobnicate' for `cargo sandbox trust`/m);

    // A mistyped key is said when trusting, with where it is, and nothing is recorded (issue 30).
    writeFileSync(join(r.ws, '.cargo/config.toml'), '[sandbox.package.cloned]\nallow-netwrk = true\n');
    const typo = await runCli(['trust'], { cwd: r.ws, env: r.s.env });
    assert.equal(typo.status, 101, typo.stderr);
    assert.match(typo.stderr, /^error: unknown key `allow-netwrk` in `\[sandbox\.package\.cloned\]`\n {2}--> \S+config\.toml:2:1\nhelp: did you mean `allow-network`\?$/m);
    assert.match(typo.stderr, /^error: the workspace's configuration has 1 error \(above\); nothing was recorded$/m);
    assert.match((await runCli(['trust', '--list'], { cwd: r.ws, env: r.s.env })).stdout, /^no trusted workspaces/);
  });
});
