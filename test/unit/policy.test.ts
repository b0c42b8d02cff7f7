import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bwrapArgs, encodeArgs, renderEnvData, shownMasks, type HostEntry, type HostView } from '../../src/backends/bwrap.js';
import { defaultPolicy } from '../../src/policy/default-policy.js';
import { DEFAULT_ENV_RULES, isPassed } from '../../src/policy/environment.js';

const inputs = { home: '/home/u', cargoHome: '/home/u/.cargo', rustupHome: '/home/u/.rustup', workspaceRoot: '/tmp/ws' };

function fakeHost(entries: Record<string, HostEntry>): HostView {
  return { entry: (p) => entries[p] ?? { type: 'missing' } };
}

const host = fakeHost({
  '/usr': { type: 'dir' },
  '/etc': { type: 'dir' },
  '/bin': { type: 'symlink', target: 'usr/bin' },
  '/lib': { type: 'symlink', target: 'usr/lib' },
  '/home/u/.rustup': { type: 'dir' },
  '/home/u/.cargo/bin': { type: 'dir' },
  '/home/u/.cargo/registry': { type: 'dir' },
  '/tmp/ws': { type: 'dir' },
  '/home/u/.ssh': { type: 'dir' },
  '/home/u/.cargo/credentials.toml': { type: 'file' },
  '/etc/shadow': { type: 'file' },
  '/etc/passwd': { type: 'file' },
  '/etc/ld.so.conf.d': { type: 'dir' },
  '/etc/os-release': { type: 'symlink', target: '../usr/lib/os-release' },
  '/etc/ssl': { type: 'dir' },
  '/etc/ssl/certs': { type: 'dir' },
  '/etc/ssl/private': { type: 'dir' },
  '/etc/kubernetes/admin.conf': { type: 'file' },
});

function pairs(args: string[], flag: string): string[][] {
  const out: string[][] = [];
  args.forEach((a, i) => {
    if (a === flag) out.push(args.slice(i + 1, i + 3));
  });
  return out;
}

test('default policy: namespaces, no privileges, new session (the network is per package)', () => {
  const { setup } = bwrapArgs(defaultPolicy(inputs), host);
  for (const flag of ['--unshare-user', '--unshare-pid', '--unshare-ipc', '--disable-userns', '--die-with-parent', '--new-session']) {
    assert.ok(setup.includes(flag), flag);
  }
  assert.deepEqual(setup.slice(setup.indexOf('--cap-drop'), setup.indexOf('--cap-drop') + 2), ['--cap-drop', 'ALL']);
});

test('system trees read-only, merged-/usr symlinks recreated, missing ones skipped', () => {
  const { setup } = bwrapArgs(defaultPolicy(inputs), host);
  assert.deepEqual(pairs(setup, '--symlink').slice(0, 2), [['usr/bin', '/bin'], ['usr/lib', '/lib']]);
  const ro = pairs(setup, '--ro-bind');
  assert.deepEqual(ro[0], ['/usr', '/usr']);
  assert.ok(!ro.some(([p]) => p === '/opt'));
});

test('/etc by allow-list: an empty directory of the root, the allowed entries that exist bound in (links recreated), nothing else', () => {
  const { setup, finish } = bwrapArgs(defaultPolicy(inputs), host);
  const args = [...setup, ...finish];
  assert.ok(!pairs(args, '--ro-bind').some(([p]) => p === '/etc'), 'the whole /etc is bound');
  assert.ok(!args.some((a, i) => a === '--tmpfs' && args[i + 1] === '/etc'), '/etc costs no mount of its own');
  const dir = setup.findIndex((a, i) => a === '--dir' && setup[i + 1] === '/etc');
  assert.ok(dir >= 0);
  const etc = setup.slice(dir + 2).flatMap((a, i, all) => (['--ro-bind', '--symlink', '--bind', '--ro-bind-try'].includes(a) && all[i + 2]?.startsWith('/etc') ? [[a, all[i + 1], all[i + 2]]] : []));
  assert.deepEqual(etc, [
    ['--ro-bind', '/etc/ld.so.conf.d', '/etc/ld.so.conf.d'],
    ['--ro-bind', '/etc/passwd', '/etc/passwd'],
    ['--symlink', '../usr/lib/os-release', '/etc/os-release'],
    ['--ro-bind', '/etc/ssl/certs', '/etc/ssl/certs'],
  ]);
  assert.ok(!args.some((a) => ['/etc/shadow', '/etc/ssl/private', '/etc/kubernetes/admin.conf', '/etc/ssl'].includes(a)), args.join(' '));
});

test('/etc secrets are masked again where a grant shows the tree that holds them, not where nothing shows them', () => {
  const masked = ['/etc/shadow', '/etc/ssl/private', '/home/u/.ssh', '/etc/ld.so.conf.d/secret'];
  const etc = ['/etc/passwd', '/etc/ld.so.conf.d'];
  assert.deepEqual(shownMasks(masked, etc), ['/home/u/.ssh', '/etc/ld.so.conf.d/secret']);
  assert.deepEqual(shownMasks(masked, etc, ['/etc']), masked);
  assert.deepEqual(shownMasks(masked, etc, ['/etc/ssl']), ['/etc/ssl/private', '/home/u/.ssh', '/etc/ld.so.conf.d/secret']);
  assert.deepEqual(shownMasks(masked, etc, ['/srv/data']), ['/home/u/.ssh', '/etc/ld.so.conf.d/secret']);
  // A grant with a runtime part could lead anywhere: every mask stays.
  assert.deepEqual(shownMasks(masked, etc, [undefined]), masked);
});

test('toolchain and workspace read-only; home itself never bound; nothing writable by default', () => {
  const { setup } = bwrapArgs(defaultPolicy(inputs), host);
  const ro = pairs(setup, '--ro-bind').map(([p]) => p);
  for (const p of ['/home/u/.rustup', '/home/u/.cargo/bin', '/home/u/.cargo/registry', '/tmp/ws']) assert.ok(ro.includes(p), p);
  assert.ok(!ro.includes('/home/u') && !ro.includes('/home/u/.cargo'));
  assert.deepEqual(pairs(setup, '--bind'), []);
});

test('a host laid out as a real one (/home, /run, /var, /root, the workspace inside home): only the toolchain and the workspace are shown', () => {
  const real = { ...inputs, workspaceRoot: '/home/u/src/ws' };
  const dirs = ['/usr', '/etc', '/home', '/home/u', '/home/u/src/ws', '/home/u/Documents', '/home/u/.rustup', '/home/u/.cargo', '/home/u/.cargo/bin', '/home/u/.cargo/registry', '/run', '/run/user/1000', '/var', '/var/lib', '/root', '/srv', '/mnt', '/media'];
  const realHost = fakeHost({ ...Object.fromEntries(dirs.map((d) => [d, { type: 'dir' } as HostEntry])), '/bin': { type: 'symlink', target: 'usr/bin' } });
  const { setup, finish } = bwrapArgs(defaultPolicy(real), realHost);
  const shown = [...setup, ...finish].flatMap((a, i, all) => (['--bind', '--ro-bind', '--dev-bind', '--bind-try', '--ro-bind-try'].includes(a) ? [all[i + 1]!] : []));
  const allowed = ['/usr', '/home/u/.rustup', '/home/u/.cargo/bin', '/home/u/.cargo/registry', '/home/u/src/ws', '/dev/null'];
  assert.deepEqual(shown.filter((p) => !allowed.includes(p)), []);
  for (const p of ['/home/u/.rustup', '/home/u/.cargo/bin', '/home/u/.cargo/registry', '/home/u/src/ws']) assert.ok(shown.includes(p), p);
});

test('the private /tmp comes before the binds, so a workspace under /tmp stays visible', () => {
  const { setup } = bwrapArgs(defaultPolicy(inputs), host);
  const tmpfs = setup.findIndex((a, i) => a === '--tmpfs' && setup[i + 1] === '/tmp');
  const ws = setup.findIndex((a, i) => a === '--ro-bind' && setup[i + 1] === '/tmp/ws');
  assert.ok(tmpfs >= 0 && ws > tmpfs);
});

test('secrets are masked last, then the root is remounted read-only', () => {
  const { finish } = bwrapArgs(defaultPolicy(inputs), host);
  assert.deepEqual(finish, [
    '--tmpfs', '/home/u/.ssh', '--remount-ro', '/home/u/.ssh',
    '--ro-bind', '/dev/null', '/home/u/.cargo/credentials.toml',
    '--remount-ro', '/',
  ]);
});

test('argument encoding for bwrap --args: NUL-terminated, NUL inside refused', () => {
  assert.equal(encodeArgs(['--bind', 'a b', "it's\n"]), "--bind\0a b\0it's\n\0");
  assert.throws(() => encodeArgs(['a\0b']));
});

test('environment: cargo and build-tool variables pass, secrets never do', () => {
  const passed = ['PATH', 'OUT_DIR', 'CARGO_PKG_NAME', 'CARGO_CFG_TARGET_OS', 'DEP_OPENSSL_INCLUDE', 'CC', 'CFLAGS_x86_64_unknown_linux_gnu', 'PKG_CONFIG_PATH', 'OPENSSL_DIR', 'LIBSQLITE3_SYS_USE_PKG_CONFIG', 'ZSTD_SYS_USE_PKG_CONFIG', 'LANG', 'LC_ALL', 'CARGO_PKG_AUTHORS', 'NUM_JOBS', 'RUSTC'];
  const removed = ['GITHUB_TOKEN', 'AWS_SECRET_ACCESS_KEY', 'AWS_ACCESS_KEY_ID', 'SSH_AUTH_SOCK', 'CARGO_REGISTRY_TOKEN', 'CARGO_REGISTRIES_MY_TOKEN', 'NPM_TOKEN', 'MY_API_KEY', 'DATABASE_PASSWORD', 'OPENAI_API_KEY', 'RUSTC_WRAPPER', '__CARGO_SANDBOX_SESSION', 'DBUS_SESSION_BUS_ADDRESS', 'DISPLAY', 'XDG_RUNTIME_DIR', 'HTTPS_PROXY', 'USER', 'EDITOR', 'GPG_AGENT_INFO'];
  for (const n of passed) assert.ok(isPassed(DEFAULT_ENV_RULES, n), `${n} should pass`);
  for (const n of removed) assert.ok(!isPassed(DEFAULT_ENV_RULES, n), `${n} should be removed`);
});

test('the environment filter as data: keep and deny patterns; patterns that are not plain globs are refused', () => {
  const data = renderEnvData({ keep: ['PATH', 'CARGO_*'], deny: ['*TOKEN*'] });
  assert.equal(data, 'version=1\0keep=PATH\0keep=CARGO_*\0deny=*TOKEN*\0');
  assert.throws(() => renderEnvData({ keep: ['A) rm -rf / ;; *'], deny: [] }));
  assert.throws(() => renderEnvData({ keep: [], deny: ['$(id)'] }));
  assert.throws(() => renderEnvData({ keep: ['A=B'], deny: [] }));
});

test('docs/policy.md lists every environment pattern, so the documentation stays true', async () => {
  const { readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { REPO_ROOT } = await import('../helpers/sandbox-env.js');
  const doc = readFileSync(join(REPO_ROOT, 'docs/policy.md'), 'utf8');
  for (const p of [...DEFAULT_ENV_RULES.keep, ...DEFAULT_ENV_RULES.deny]) assert.ok(doc.includes(`\`${p}\``), p);
  // And what a build script's `cargo:rustc-env` may not set (libexec/schema/variables.json).
  const { variablePatterns } = await import('../../src/policy/variables.js');
  for (const p of variablePatterns('refused-in-rustc-env')) assert.ok(doc.includes(`\`${p}\``), `rustc-env: ${p}`);
});

test('globMatch passes the vectors the Rust entry point passes too (test/vectors/glob.json; a newline in a name included)', async () => {
  const { readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { PACKAGE_ROOT } = await import('../../src/paths.js');
  const { globMatch } = await import('../../src/policy/environment.js');
  const { cases } = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'test/vectors/glob.json'), 'utf8')) as { cases: [string, string, boolean][] };
  assert.ok(cases.length >= 20);
  for (const [pattern, name, expected] of cases) assert.equal(globMatch(pattern, name), expected, `${JSON.stringify(pattern)} ~ ${JSON.stringify(name)}`);
});
