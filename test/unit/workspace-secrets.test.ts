import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

const CI_CONFIG = `[core]
\trepositoryformatversion = 0
[remote "origin"]
\turl = https://x-access-token:ghs_TOKEN1@github.com/o/r.git
\tfetch = +refs/heads/*:refs/remotes/origin/*
[http "https://github.com/"]
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
  assert.match(out, /url = https:\/\/github\.com\/o\/r\.git/);
  assert.match(out, /\[url "https:\/\/example\.com\/"\]/);
  assert.match(out, /\[branch "main"\]\n\tremote = origin/);
  assert.match(out, /\[http "https:\/\/github\.com\/"\]\n\[credential "https:\/\/example\.com"\]\n\[url/);
});

test('git config: an extraheader continued over lines is dropped whole; a clean config needs no copy', () => {
  const out = sanitizeGitConfig('[http]\n\textraHeader = AUTHORIZATION: \\\n  basic SECRET\n[core]\n\tbare = false\n')!;
  assert.equal(out, '[http]\n[core]\n\tbare = false\n');
  assert.equal(sanitizeGitConfig('[core]\n\tbare = false\n[remote "o"]\n\turl = git@github.com:o/r.git\n'), undefined);
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
