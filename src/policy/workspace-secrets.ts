// Secrets a repository keeps in its own tree: `.env` files, and the credentials a CI checkout or a
// user leaves in git's config (`http.extraheader`, `[credential]`, `https://user:token@host` URLs).
// The sandbox shows the workspace read-only; these parts of it are hidden (`.env`) or served as a
// copy without the credentials (git config), so that `git rev-parse` and friends still work.
// Pure: the files come in as text, discovered by src/config/workspace-secrets.ts.

/** `.env`, `.env.local`, `.env.production`... (dotenv's names; not `.envrc`, direnv's script). */
export function isEnvFileName(name: string): boolean {
  return name === '.env' || name.startsWith('.env.');
}

/** `scheme://userinfo@` -> `scheme://`: a URL's user name and password (or token). */
const URL_USERINFO = /\b([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^\s/@"']*@/g;

/**
 * git's config without credentials: `extraheader` entries (a CI token as an Authorization
 * header), every entry of `[credential]` sections, and the userinfo of every URL (including
 * `[url "https://x:TOKEN@host/"]` headers). Undefined when there is nothing to remove.
 */
export function sanitizeGitConfig(text: string): string | undefined {
  const lines = text.split('\n');
  const kept: string[] = [];
  let inCredentialSection = false;
  let dropContinuation = false;
  for (const line of lines) {
    if (dropContinuation) {
      dropContinuation = line.trimEnd().endsWith('\\');
      continue;
    }
    const section = /^\s*\[\s*([A-Za-z0-9.-]+)/.exec(line);
    if (section) inCredentialSection = section[1]!.toLowerCase() === 'credential';
    const key = /^\s*([A-Za-z][A-Za-z0-9-]*)\s*(=|$)/.exec(line)?.[1]?.toLowerCase();
    const secretEntry = !section && key !== undefined && (inCredentialSection || key === 'extraheader');
    if (secretEntry) {
      dropContinuation = line.trimEnd().endsWith('\\');
      continue;
    }
    kept.push(line.replace(URL_USERINFO, '$1'));
  }
  const out = kept.join('\n');
  return out === text ? undefined : out;
}
