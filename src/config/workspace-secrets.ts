// Finds the workspace's own secrets on disk (see src/policy/workspace-secrets.ts for what is done
// with them): `.env` files in the workspace root and its member directories, and the config files
// of the git repository that holds the workspace.

import { lstatSync, readdirSync, readFileSync, type Dirent } from 'node:fs';
import { dirname, join, relative, resolve, isAbsolute } from 'node:path';
import { SYSTEM_TREES } from '../policy/default-policy.js';
import { isEnvFileName, sanitizeGitConfig } from '../policy/workspace-secrets.js';

export interface WorkspaceSecrets {
  /** `.env` files (any type) to hide. */
  envFiles: string[];
  /** git config files holding credentials, with the copy served in their place. */
  gitConfigs: { path: string; content: string }[];
  /** Paths whose type decides the result (where `.git` was looked for): checked by the front end. */
  looked: string[];
  /** Directories and files whose identity decides the result: any change makes a cached session stale. */
  watched: string[];
}

/**
 * How deep below the workspace root `.env` files are looked for: the root and member crates
 * (`crates/foo/.env`). Source, test and build directories are skipped: they hold no `.env`, and an
 * editor's swap files there would make every cached session stale.
 */
const ENV_SCAN_DEPTH = 2;
const MAX_SCANNED_DIRS = 256;
const SKIPPED_DIRS = new Set(['target', 'node_modules', 'src', 'tests', 'benches', 'examples']);

export function findWorkspaceSecrets(workspaceRoot: string, targetDir: string): WorkspaceSecrets {
  const found: WorkspaceSecrets = { envFiles: [], gitConfigs: [], looked: [], watched: [] };
  const queue: { dir: string; depth: number }[] = [{ dir: workspaceRoot, depth: 0 }];
  while (queue.length && found.watched.length < MAX_SCANNED_DIRS) {
    const { dir, depth } = queue.shift()!;
    const entries = safeReaddir(dir);
    if (!entries) continue;
    found.watched.push(dir);
    for (const e of entries) {
      const path = join(dir, e.name);
      if (isEnvFileName(e.name)) found.envFiles.push(path);
      else if (e.isDirectory() && depth < ENV_SCAN_DEPTH && !e.name.startsWith('.') && !SKIPPED_DIRS.has(e.name) && path !== targetDir) {
        queue.push({ dir: path, depth: depth + 1 });
      }
    }
  }
  for (const path of gitConfigFiles(workspaceRoot, found.looked)) {
    if (!visibleInSandbox(path, workspaceRoot)) continue;
    found.watched.push(path);
    const content = sanitizeGitConfig(safeRead(path));
    if (content !== undefined) found.gitConfigs.push({ path, content });
  }
  return found;
}

/**
 * The repository's config files as git finds them from the workspace: the first `.git` up from
 * it (a directory, or a `gitdir:` file for worktrees and submodules), its common directory, and
 * its submodules' configs.
 */
function gitConfigFiles(workspaceRoot: string, looked: string[]): string[] {
  let gitDir: string | undefined;
  for (let dir = workspaceRoot; ; dir = dirname(dir)) {
    const dotGit = join(dir, '.git');
    looked.push(dotGit);
    const st = safeLstat(dotGit);
    if (st?.isDirectory()) gitDir = dotGit;
    else if (st?.isFile()) {
      const pointer = /^gitdir:\s*(.+?)\s*$/m.exec(safeRead(dotGit))?.[1];
      if (pointer) gitDir = resolve(dir, pointer);
    }
    if (st || dirname(dir) === dir) break;
  }
  if (!gitDir) return [];
  const dirs = [gitDir];
  const common = safeRead(join(gitDir, 'commondir')).trim();
  if (common) dirs.push(resolve(gitDir, common));
  for (const d of [...dirs]) {
    for (const m of safeReaddir(join(d, 'modules')) ?? []) if (m.isDirectory()) dirs.push(join(d, 'modules', m.name));
  }
  return dirs.map((d) => join(d, 'config')).filter((p) => safeLstat(p)?.isFile());
}

/** Only paths the sandbox shows get a copy (a bind elsewhere would create a mount point). */
function visibleInSandbox(path: string, workspaceRoot: string): boolean {
  return [workspaceRoot, ...SYSTEM_TREES].some((tree) => {
    const rel = relative(tree, path);
    return !rel.startsWith('..') && !isAbsolute(rel);
  });
}

function safeReaddir(dir: string): Dirent[] | undefined {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch {
    return undefined;
  }
}

function safeLstat(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
