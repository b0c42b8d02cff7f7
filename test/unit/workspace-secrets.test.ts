import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { bwrapArgs, type HostEntry } from '../../src/backends/bwrap.js';
import { masksAfterGrants } from '../../src/backends/package-policy.js';
import { findWorkspaceSecrets } from '../../src/config/workspace-secrets.js';
import { defaultPolicy } from '../../src/policy/default-policy.js';
import { effectiveGrants } from '../../src/policy/effective.js';
import { isEnvFileName, sanitizeGitConfig } from '../../src/policy/workspace-secrets.js';
import type { SandboxConfig } from '../../src/config/types.js';
import { suggestGrants } from '../../src/audit/suggest.js';
import type { ScriptAudit } from '../../src/audit/report.js';

const CI_CONFIG = `[core]
\trepositoryformatversion = 0
[remote "origin"]
\turl = https://x-access-token:ghs_TOKEN1@forge.test/o/r.git
\tfetch = +refs/heads/*:refs/remotes/origin/*
[http "https://forge.test/"]
\textraheader = AUTHORIZATION: basic VE9LRU4y
[credential "https://example.com"]
\thelper = store
\tusername = someone
[url "https://user:TOKEN3@example.com/"]
\tinsteadOf = https://example.com/
[branch "main"]
\tremote = origin
`;

test('git config: extraheader, credential sections and URL userinfo go; everything else stays', () => {
  const out = sanitizeGitConfig(CI_CONFIG)!;
  for (const secret of ['ghs_TOKEN1', 'VE9LRU4y', 'helper = store', 'someone', 'TOKEN3']) assert.ok(!out.includes(secret), secret);
  assert.match(out, /url = https:\/\/forge\.test\/o\/r\.git/);
  assert.match(out, /\[url "https:\/\/example\.com\/"\]/);
  assert.match(out, /\[branch "main"\]\n\tremote = origin/);
  assert.match(out, /\[http "https:\/\/forge\.test\/"\]\n\[credential "https:\/\/example\.com"\]\n\[url/);
});

test('git config: an extraheader continued over lines is dropped whole; a clean config needs no copy', () => {
  const out = sanitizeGitConfig('[http]\n\textraHeader = AUTHORIZATION: \\\n  basic SECRET\n[core]\n\tbare = false\n')!;
  assert.equal(out, '[http]\n[core]\n\tbare = false\n');
  assert.equal(sanitizeGitConfig('[core]\n\tbare = false\n[remote "o"]\n\turl = git@forge.test:o/r.git\n'), undefined);
});

test('.env names: dotenv\'s, not direnv\'s script or look-alikes', () => {
  assert.deepEqual(['.env', '.env.local', '.env.production', '.envrc', 'env', '.environment'].filter(isEnvFileName), ['.env', '.env.local', '.env.production']);
});

test('discovery: .env files in the root and members (not in sources or target), the repository\'s config, worktrees through gitdir', () => {
  const root = mkdtempSync(join(tmpdir(), 'cs-unit-ws-'));
  try {
    const ws = join(root, 'ws');
    for (const d of ['crates/a/src', 'target', 'src', '.git', 'other/.git']) mkdirSync(join(ws, d), { recursive: true });
    for (const f of ['.env', 'crates/a/.env.local', 'crates/a/src/.env', 'target/.env', 'src/.env', '.envrc']) writeFileSync(join(ws, f), 'X=1\n');
    writeFileSync(join(ws, '.git/config'), CI_CONFIG);
    const found = findWorkspaceSecrets(ws, join(ws, 'target'));
    assert.deepEqual(found.envFiles.sort(), [join(ws, '.env'), join(ws, 'crates/a/.env.local')]);
    assert.deepEqual(found.gitConfigs.map((c) => c.path), [join(ws, '.git/config')]);
    assert.ok(found.watched.includes(ws) && found.watched.includes(join(ws, 'crates/a')) && found.watched.includes(join(ws, '.git/config')));
    // A worktree: `.git` is a file naming the git directory.
    const wt = join(root, 'wt');
    mkdirSync(join(ws, '.git/worktrees/wt'), { recursive: true });
    writeFileSync(join(ws, '.git/worktrees/wt/commondir'), '../..\n');
    writeFileSync(join(ws, '.git/worktrees/wt/config'), '[http]\n\textraheader = X: Y\n');
    mkdirSync(wt);
    writeFileSync(join(wt, '.git'), `gitdir: ${join(ws, '.git/worktrees/wt')}\n`);
    // Served only where the sandbox shows it: the worktree's git directory is in another tree.
    assert.deepEqual(findWorkspaceSecrets(wt, join(wt, 'target')).gitConfigs, []);
    // A workspace inside a repository: git's search goes up to the first `.git` and stops there.
    const member = findWorkspaceSecrets(join(ws, 'crates/a'), join(ws, 'target'));
    assert.deepEqual(member.looked, [join(ws, 'crates/a/.git'), join(ws, 'crates/.git'), join(ws, '.git')]);
    assert.deepEqual(member.gitConfigs, [], 'outside the workspace (not shown) no copy is needed');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('policy: .env masked, git config served by a bind after the workspace; a grant naming it reopens it, one of the workspace does not', () => {
  const inputs = { home: '/home/u', cargoHome: '/home/u/.cargo', rustupHome: undefined, workspaceRoot: '/w' };
  const policy = defaultPolicy({ ...inputs, workspaceSecrets: { envFiles: ['/w/.env'], gitConfigs: [{ path: '/w/.git/config', content: '[core]\n' }] } });
  const entries: Record<string, HostEntry> = { '/w': { type: 'dir' }, '/w/.env': { type: 'file' }, '/w/.git/config': { type: 'file' } };
  const args = bwrapArgs(policy, { entry: (p) => entries[p] ?? { type: 'missing' } }, [{ path: '/w/.git/config', from: '/s/served-0' }]);
  assert.ok(args.setup.join(' ').includes('--ro-bind /w /w'));
  assert.ok(args.finish.join(' ').includes('--ro-bind /s/served-0 /w/.git/config'));
  assert.ok(args.finish.join(' ').includes('--ro-bind /dev/null /w/.env'));
  const config = (allowRead: string[]): SandboxConfig => ({
    global: { allowRead: allowRead.map((raw) => ({ value: { raw, baseDir: '/w' }, source: { kind: 'default' } })), allowWrite: [], allowEnv: [], allowExec: [], targetRustflags: [] },
    packages: [],
  }) as unknown as SandboxConfig;
  const vars = { HOME: '/home/u', WORKSPACE_ROOT: '/w', TARGET_DIR: '/w/target' };
  const served = [{ path: '/w/.git/config', from: '/s/served-0' }];
  const named = effectiveGrants(config(['.env', '.git/config']), { name: 'x' }, vars);
  assert.deepEqual(masksAfterGrants(policy.masked, named).filter((m) => m.startsWith('/w')), []);
  assert.deepEqual(masksAfterGrants(served, named), []);
  const tree = effectiveGrants(config(['/w']), { name: 'x' }, vars);
  assert.ok(masksAfterGrants(policy.masked, tree).includes('/w/.env'));
  assert.deepEqual(masksAfterGrants(served, tree), served);
});

test('review: entries on a header line, passwords with @, mail passwords and includes are dropped too', () => {
  const out = sanitizeGitConfig('[http] extraheader = AUTHORIZATION: basic SECRET1\n[credential] helper = "!f() { echo password=SECRET2; }; f"\n[remote "o"]\n\turl = https://u:SEC@RET4@host/x\n[sendemail]\n\tsmtpPass = SECRET5\n[include]\n\tpath = ci.cfg\n[includeIf "gitdir:/w/"]\n\tpath = /tmp/creds.cfg\n')!;
  for (const secret of ['SECRET1', 'SECRET2', 'SEC', 'RET4', 'SECRET5', 'ci.cfg', 'creds.cfg']) assert.ok(!out.includes(secret), secret);
  assert.match(out, /^\[http\]$/m);
  assert.match(out, /url = https:\/\/host\/x/);
});

test('review: submodules named with a slash, nested ones, worktrees\' config.worktree, a .git that is a link', () => {
  const root = mkdtempSync(join(tmpdir(), 'cs-unit-git-'));
  try {
    const ws = join(root, 'ws');
    const real = join(root, 'repo-data', 'app.git');
    for (const d of ['modules/vendor/lib/modules/deep', 'modules/top', 'worktrees/wt']) mkdirSync(join(real, d), { recursive: true });
    for (const d of ['', 'modules/vendor/lib', 'modules/vendor/lib/modules/deep', 'modules/top', 'worktrees/wt']) {
      writeFileSync(join(real, d, 'HEAD'), 'ref: refs/heads/main\n');
      writeFileSync(join(real, d, 'config'), '[http]\n\textraheader = X: Y\n');
    }
    writeFileSync(join(real, 'config.worktree'), '[http]\n\textraheader = X: Z\n');
    mkdirSync(ws);
    symlinkSync(real, join(ws, '.git'));
    const found = findWorkspaceSecrets(ws, join(ws, 'target'));
    // The data is outside the workspace (not shown): nothing served, but every file was found.
    assert.deepEqual(found.gitConfigs, []);
    const inside = join(ws, 'data', 'app.git');
    mkdirSync(join(ws, 'data'));
    cpSync(real, inside, { recursive: true });
    rmSync(join(ws, '.git'));
    symlinkSync('data/app.git', join(ws, '.git'));
    const served = findWorkspaceSecrets(ws, join(ws, 'target')).gitConfigs.map((c) => c.path.slice(inside.length + 1)).sort();
    assert.deepEqual(served, ['config', 'config.worktree', 'modules/top/config', 'modules/vendor/lib/config', 'modules/vendor/lib/modules/deep/config', 'worktrees/wt/config']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('review: a masked link is followed: its target is masked if it exists, nothing if it leads nowhere (bwrap would fail)', () => {
  const entries: Record<string, HostEntry> = {
    '/w/.env': { type: 'symlink', target: '../outside/app.env' },
    '/w/.env.local': { type: 'symlink', target: 'config/real.env' },
    '/w/config/real.env': { type: 'file' },
  };
  const policy = defaultPolicy({ home: '/h', cargoHome: '/h/.cargo', rustupHome: undefined, workspaceRoot: '/w', workspaceSecrets: { envFiles: ['/w/.env', '/w/.env.local'], gitConfigs: [] } });
  const finish = bwrapArgs(policy, { entry: (p) => entries[p] ?? { type: 'missing' } }).finish.join(' ');
  assert.ok(finish.includes('--ro-bind /dev/null /w/config/real.env'));
  assert.ok(!finish.includes('/w/.env ') && !finish.includes('outside'), finish);
});

test('review: audit never suggests hidden home files, git internals, credential-named files, or writes where code runs later', () => {
  const view = { home: '/h', masked: ['/h/.ssh'], codeTrees: ['/w', '/h/.cargo', '/usr'], publicTrees: ['/w', '/h/.cargo/registry', '/usr', '/opt', '/r'] };
  const script = (reads: string[], writes: string[]) => ({
    package: 'p', version: '1.0.0', readOutside: reads.map((path) => ({ path, blocked: true })), writtenOutside: writes.map((path) => ({ path, blocked: true })), network: [], executed: [],
  }) as unknown as ScriptAudit;
  const r = suggestGrants(script(['/h/.pgpass', '/r/.git/config', '/srv/ci/credentials.json', '/h/.ssh/id_ed25519', '/h/tool/config.txt', '/opt/sdk/lib.h'], ['/w/.git/hooks/pre-commit', '/h/.cargo/bin/cargo-evil', '/h/.bashrc', '/var/cache/tool/x']), view);
  // Since the proposals are an allow-list, a home file no rule names and a system directory are
  // withheld too (see the test below).
  assert.deepEqual(r.grants?.read.sort(), ['/opt/sdk/lib.h']);
  assert.deepEqual(r.grants?.write, []);
  assert.equal(r.withheld.length, 9);
  const risky = suggestGrants(script(['/h/.pgpass'], ['/w/.git/hooks/x']), view, true);
  assert.deepEqual([risky.grants?.read, risky.grants?.write, risky.withheld], [['~/.pgpass'], ['/w/.git/hooks'], []]);
});

test('issue 27: audit proposes reads by allow-list: the workspace, the toolchain, the registry and public system trees plainly; any other home file, hidden /etc and the rest of the system withheld as high risk; no write outside OUT_DIR and /tmp', () => {
  const view = {
    home: '/home/u',
    masked: ['/home/u/.ssh', '/etc/shadow'],
    codeTrees: ['/home/u/src/ws', '/home/u/.cargo', '/home/u/.rustup', '/usr', '/etc'],
    publicTrees: ['/home/u/src/ws', '/home/u/.cargo/registry', '/home/u/.cargo/git', '/home/u/.rustup', '/usr', '/opt', '/nix/store'],
  };
  const script = (reads: string[], writes: string[] = []) => ({
    package: 'p', version: '1.0.0', readOutside: reads.map((path) => ({ path, blocked: true })), writtenOutside: writes.map((path) => ({ path, blocked: true })), network: [], executed: [],
  }) as unknown as ScriptAudit;
  const plain = ['/home/u/src/ws/assets/logo.svg', '/home/u/.cargo/registry/src/x/lib.h', '/home/u/.rustup/toolchains/stable/lib/x', '/usr/share/x/y.h', '/opt/sdk/include/a.h', '/nix/store/abc-zlib/include/zlib.h'];
  const r = suggestGrants(script(plain), view);
  assert.deepEqual(r.grants?.read.sort(), ['/nix/store/abc-zlib/include/zlib.h', '/opt/sdk/include/a.h', '/usr/share/x/y.h', '~/.cargo/registry/src/x/lib.h', '~/.rustup/toolchains/stable/lib/x', '~/src/ws/assets/logo.svg']);
  assert.deepEqual(r.withheld, []);
  const withheld = suggestGrants(
    script(['/home/u/Documents/notes.txt', '/home/u/other-project/data.csv', '/home/u/.cargo/config.toml', '/etc/kubernetes/admin.conf', '/etc/mysql/debian.cnf', '/var/lib/postgresql/data/pg_hba.conf', '/srv/data/x', '/root/notes'], ['/var/cache/tool/x', '/srv/out/y', '/home/u/src/ws/target/x']),
    view,
  );
  assert.equal(withheld.grants, undefined);
  const why = Object.fromEntries(withheld.withheld.map((w) => [w.grant, w.why]));
  assert.match(why['allow-read = ["~/Documents/notes.txt"]']!, /your home directory.*your data/);
  assert.match(why['allow-read = ["~/other-project/data.csv"]']!, /your home directory/);
  assert.match(why['allow-read = ["~/.cargo/config.toml"]']!, /hidden file of your home/);
  assert.match(why['allow-read = ["/etc/kubernetes/admin.conf"]']!, /\/etc the sandbox does not show/);
  assert.match(why['allow-read = ["/etc/mysql/debian.cnf"]']!, /\/etc the sandbox does not show/);
  for (const p of ['/var/lib/postgresql/data/pg_hba.conf', '/srv/data/x', '/root/notes']) assert.match(why[`allow-read = ["${p}"]`]!, /outside the workspace, the toolchain/, p);
  assert.match(why['allow-write = ["/var/cache/tool"]']!, /outside the script's OUT_DIR and \/tmp/);
  assert.match(why['allow-write = ["/srv/out"]']!, /outside the script's OUT_DIR and \/tmp/);
  assert.match(why['allow-write = ["~/src/ws/target"]']!, /code or configuration that runs later/);
  assert.equal(withheld.withheld.length, 11);
  // --suggest-risky asks for them all.
  const risky = suggestGrants(script(['/home/u/Documents/notes.txt', '/etc/mysql/debian.cnf'], ['/srv/out/y']), view, true);
  assert.deepEqual([risky.grants?.read.sort(), risky.grants?.write, risky.withheld], [['/etc/mysql/debian.cnf', '~/Documents/notes.txt'], ['/srv/out'], []]);
});

test('second review: a read inside a public tree that leads (through a link) to the user\'s data is withheld', () => {
  const links: Record<string, string> = { '/home/u/src/ws/vendor/data/notes.txt': '/home/u/.ssh/notes.txt', '/home/u/.cargo/git/checkouts/x/link/a.txt': '/home/u/Documents/a.txt' };
  const view = {
    home: '/home/u',
    masked: ['/home/u/.ssh'],
    codeTrees: ['/home/u/src/ws', '/home/u/.cargo'],
    publicTrees: ['/home/u/src/ws', '/home/u/.cargo/registry', '/home/u/.cargo/git', '/usr'],
    realpath: (p: string) => links[p] ?? p,
  };
  const script = (reads: string[]) => ({ package: 'p', version: '1.0.0', readOutside: reads.map((path) => ({ path, blocked: true })), writtenOutside: [], network: [], executed: [] }) as unknown as ScriptAudit;
  const r = suggestGrants(script([...Object.keys(links), '/usr/share/x.h']), view);
  assert.deepEqual(r.grants?.read, ['/usr/share/x.h']);
  const why = Object.fromEntries(r.withheld.map((w) => [w.grant, w.why]));
  assert.match(why['allow-read = ["~/src/ws/vendor/data/notes.txt"]']!, /a secret the sandbox hides \(where ~\/src\/ws\/vendor\/data\/notes.txt leads\)/);
  assert.match(why['allow-read = ["~/.cargo/git/checkouts/x/link/a.txt"]']!, /your data \(where/);
});
