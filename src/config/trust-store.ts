// Which workspace files the user has trusted: recorded outside every workspace (the user's config
// directory, which no sandbox sees), per workspace (its canonical path) and per file, by the
// SHA-256 of the exact contents that were reviewed. Any change makes a file untrusted again.

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, realpathSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { UserError } from '../diagnostics/style.js';

/** Set to a directory: every workspace inside it is trusted (CI, on one's own checkout). */
export const TRUST_VARIABLE = 'CARGO_SANDBOX_TRUST_WORKSPACE';

interface StoreData {
  version: 1;
  /** Canonical workspace root -> file path -> sha256 of the trusted contents. */
  workspaces: Record<string, { files: Record<string, string>; trustedAt: string }>;
}

export type FileTrust = 'trusted' | 'changed' | 'new';

export function trustStorePath(env: NodeJS.ProcessEnv, home: string): string {
  const configHome = env.XDG_CONFIG_HOME && isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : join(home, '.config');
  return join(configHome, 'cargo-sandbox', 'trusted.json');
}

export function contentHash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function canonicalRoot(workspaceRoot: string): string {
  try {
    return realpathSync(workspaceRoot);
  } catch {
    return resolve(workspaceRoot);
  }
}

function readStore(path: string): StoreData {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return { version: 1, workspaces: {} };
  }
  try {
    const data = JSON.parse(text) as StoreData;
    if (data.version === 1 && data.workspaces && typeof data.workspaces === 'object') return data;
  } catch {
    /* reported below */
  }
  throw new UserError(`the list of trusted workspaces \`${path}\` is not valid`, ['remove it (every workspace becomes untrusted) and trust yours again with `cargo sandbox trust`']);
}

export interface TrustStore {
  path: string;
  /** Whether the file (of this workspace) is trusted as it is now, changed since, or never trusted. */
  fileTrust(workspaceRoot: string, file: string, text: string): FileTrust;
  /** Trusts these files of the workspace as they are now (other files keep their state). */
  record(workspaceRoot: string, files: readonly { path: string; text: string }[]): void;
  /** Forgets the workspace; false if it was not trusted. */
  revoke(workspaceRoot: string): boolean;
  list(): { workspace: string; files: string[]; trustedAt: string }[];
}

export function openTrustStore(env: NodeJS.ProcessEnv, home: string): TrustStore {
  const path = trustStorePath(env, home);
  const trustedDir = env[TRUST_VARIABLE];
  const byVariable = (root: string) => {
    if (!trustedDir || !isAbsolute(trustedDir)) return false;
    const rel = relative(canonicalRoot(trustedDir), root);
    return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
  };
  let data: StoreData | undefined;
  const load = () => (data ??= readStore(path));
  const save = () => {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(load(), null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, path);
  };
  return {
    path,
    fileTrust(workspaceRoot, file, text) {
      const root = canonicalRoot(workspaceRoot);
      if (byVariable(root)) return 'trusted';
      const known = load().workspaces[root]?.files[file];
      if (known === undefined) return 'new';
      return known === contentHash(text) ? 'trusted' : 'changed';
    },
    record(workspaceRoot, files) {
      const root = canonicalRoot(workspaceRoot);
      const entry = (load().workspaces[root] ??= { files: {}, trustedAt: '' });
      for (const f of files) entry.files[f.path] = contentHash(f.text);
      entry.trustedAt = new Date().toISOString();
      save();
    },
    revoke(workspaceRoot) {
      const root = canonicalRoot(workspaceRoot);
      if (!load().workspaces[root]) return false;
      delete load().workspaces[root];
      save();
      return true;
    },
    list() {
      return Object.entries(load().workspaces).map(([workspace, e]) => ({ workspace, files: Object.keys(e.files), trustedAt: e.trustedAt }));
    },
  };
}
