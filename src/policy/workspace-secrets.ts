// Secrets a repository keeps in its own tree: `.env` files, and the credentials a CI checkout or a
// user leaves in git's config (`http.extraheader`, `[credential]`, `https://user:token@host` URLs).
// The sandbox shows the workspace read-only; these parts of it are hidden (`.env`) or served as a
// copy without the credentials (git config), so that `git rev-parse` and friends still work.
// Pure: the files come in as text, discovered by src/config/workspace-secrets.ts.

import { libexecSchema } from '../paths.js';

/** Which files are secrets and where they are looked for: one rule for both sides (libexec/schema/secrets.json). */
export const SECRET_FILES = libexecSchema<{
  'env-files': { names: string[]; prefixes: string[] };
  scan: { depth: number; 'max-dirs': number; 'skipped-dirs': string[] };
  'git-configs': { names: string[] };
}>('secrets.json');

/** `.env`, `.env.local`, `.env.production`... (dotenv's names; not `.envrc`, direnv's script). */
export function isEnvFileName(name: string): boolean {
  const rule = SECRET_FILES['env-files'];
  return rule.names.includes(name) || rule.prefixes.some((p) => name.startsWith(p));
}

/** `scheme://userinfo@` -> `scheme://`: a URL's user name and password (up to its last `@`). */
const URL_USERINFO = /\b([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^\s/"']*@/g;

/** Sections whose every entry is dropped: credential helpers, and includes of other files. */
const SECRET_SECTIONS = new Set(['credential', 'include', 'includeif']);
/** Keys dropped in any section: an Authorization header (CI checkouts), mail passwords. */
const SECRET_KEYS = new Set(['extraheader', 'smtppass', 'pass', 'password']);

/**
 * git's config without credentials: `extraheader` entries (a CI token as an Authorization
 * header), password keys, every entry of `[credential]` sections, `[include]`/`[includeIf]`
 * entries (the included file may hold them), and the userinfo of every URL (including
 * `[url "https://x:TOKEN@host/"]` headers). Undefined when there is nothing to remove.
 */
export function sanitizeGitConfig(text: string): string | undefined {
  const kept: string[] = [];
  let section = '';
  let dropContinuation = false;
  for (const line of text.split('\n')) {
    if (dropContinuation) {
      dropContinuation = line.trimEnd().endsWith('\\');
      continue;
    }
    // `[section "sub"] key = value` is valid git config: the entry after a header counts too.
    const header = /^(\s*\[[^\]]*\])(.*)$/.exec(line);
    if (header) section = /^\s*\[\s*([A-Za-z0-9-]+)/.exec(header[1]!)?.[1]?.toLowerCase() ?? '';
    const entry = header ? header[2]! : line;
    const key = /^\s*([A-Za-z][A-Za-z0-9-]*)\s*(=|$)/.exec(entry)?.[1]?.toLowerCase();
    const secret = key !== undefined && (SECRET_SECTIONS.has(section) || SECRET_KEYS.has(key));
    if (secret) dropContinuation = entry.trimEnd().endsWith('\\');
    const out = header ? (secret ? header[1]! : line) : secret ? undefined : line;
    if (out !== undefined) kept.push(out.replace(URL_USERINFO, '$1'));
  }
  const out = kept.join('\n');
  return out === text ? undefined : out;
}
