// Finds the workspace's own secrets on disk (see src/policy/workspace-secrets.ts for what is done
// with them): `.env` files in the workspace root and its member directories, and the config files
// of the git repository that holds the workspace.

import { lstatSync, readdirSync, statSync, type Dirent } from 'node:fs';
import { dirname, join, relative, resolve, isAbsolute } from 'node:path';
import { SYSTEM_TREES } from '../policy/default-policy.js';
import { isEnvFileName, sanitizeGitConfig, SECRET_FILES } from '../policy/workspace-secrets.js';
import { safeRead } from './workspace.js';
import { safeRealpath } from '../paths.js';

export interface WorkspaceSecrets {
  /** `.env` files (any type) to hide. */
  envFiles: string[];
  /** git config files holding credentials, with the copy served in their place. */
  gitConfigs: { path: string; content: string }[];
  /** Paths whose type decides the result (where `.git` was looked for): checked by the front end. */
  looked: string[];
  /** Directories and files whose identity decides the result: any change makes a cached session stale. */
  watched: string[];
  /** The scan stopped at MAX_SCANNED_DIRS directories: `.env` files further down were not looked for. */
  truncated: boolean;
}

/** How deep below the workspace root `.env` files are looked for, and which directories are skipped (secrets.json says why). */
const ENV_SCAN_DEPTH = SECRET_FILES.scan.depth;
const MAX_SCANNED_DIRS = SECRET_FILES.scan['max-dirs'];
const SKIPPED_DIRS = new Set(SECRET_FILES.scan['skipped-dirs']);

export function findWorkspaceSecrets(workspaceRoot: string, targetDir: string): WorkspaceSecrets {
  const found: WorkspaceSecrets = { envFiles: [], gitConfigs: [], looked: [], watched: [], truncated: false };
  const queue: { dir: string; depth: number }[] = [{ dir: workspaceRoot, depth: 0 }];
  while (queue.length) {
    if (found.watched.length >= MAX_SCANNED_DIRS) {
      found.truncated = true;
      break;
    }
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
  for (const real of gitConfigFiles(workspaceRoot, found.looked)) {
    const path = whereTheSandboxShows(real, workspaceRoot);
    if (!path) continue;
    found.watched.push(path);
    const content = sanitizeGitConfig(safeRead(path));
    if (content !== undefined) found.gitConfigs.push({ path, content });
  }
  return found;
}

/** Git directories looked into for config files (submodules, worktrees), at most. */
const MAX_GIT_DIRS = 512;

/**
 * The repository's config files as git finds them from the workspace: the first `.git` up from
 * it (a directory, a link to one, or a `gitdir:` file for worktrees and submodules), its common
 * directory, and every submodule's and worktree's git directory below them (nested too): each
 * one's `config` and `config.worktree`.
 */
function gitConfigFiles(workspaceRoot: string, looked: string[]): string[] {
  let gitDir: string | undefined;
  for (let dir = workspaceRoot; ; dir = dirname(dir)) {
    const dotGit = join(dir, '.git');
    looked.push(dotGit);
    const st = safeStat(dotGit);
    if (st?.isDirectory()) gitDir = dotGit;
    else if (st?.isFile()) {
      const pointer = /^gitdir:\s*(.+?)\s*$/m.exec(safeRead(dotGit))?.[1];
      if (pointer) gitDir = resolve(dir, pointer);
    }
    if (safeLstat(dotGit) || dirname(dir) === dir) break;
  }
  if (!gitDir) return [];
  // Served over its real path: bwrap follows a link at the destination.
  gitDir = safeRealpath(gitDir);
  const dirs = [gitDir];
  const common = safeRead(join(gitDir, 'commondir')).trim();
  if (common) dirs.push(resolve(gitDir, common));
  for (let i = 0; i < dirs.length && dirs.length < MAX_GIT_DIRS; i++) {
    for (const sub of ['modules', 'worktrees']) {
      for (const m of safeReaddir(join(dirs[i]!, sub)) ?? []) {
        const path = join(dirs[i]!, sub, m.name);
        if (!m.isDirectory()) continue;
        // A submodule named `vendor/lib` lives in modules/vendor/lib: look deeper until a git dir.
        if (safeStat(join(path, 'HEAD'))) dirs.push(path);
        else if (sub === 'modules') for (const n of safeReaddir(path) ?? []) if (n.isDirectory()) dirs.push(join(path, n.name));
      }
    }
  }
  return [...new Set(dirs)].flatMap((d) => SECRET_FILES['git-configs'].names.map((n) => join(d, n))).filter((p) => safeStat(p)?.isFile()).map(safeRealpath);
}

/**
 * Where the sandbox shows a host file (given by its real path): under the workspace as the
 * sandbox binds it (which may be a path through a symlink), or in a system tree; undefined if it
 * is not shown (a bind there would only create a mount point).
 */
function whereTheSandboxShows(real: string, workspaceRoot: string): string | undefined {
  const under = (path: string, tree: string) => {
    const rel = relative(tree, path);
    return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel)) ? rel : undefined;
  };
  const inWorkspace = under(real, safeRealpath(workspaceRoot));
  if (inWorkspace !== undefined) return join(workspaceRoot, inWorkspace);
  return SYSTEM_TREES.some((tree) => under(real, tree) !== undefined) ? real : undefined;
}

function safeReaddir(dir: string): Dirent[] | undefined {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch {
    return undefined;
  }
}

function safeStat(path: string) {
  try {
    return statSync(path);
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
