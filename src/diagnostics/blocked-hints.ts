// What a failed build script tried that the sandbox blocked, told cheaply from its stderr: paths
// that are hidden or read-only in the sandbox, network attempts, variables that were removed.
// Heuristic by nature (the authoritative trace is a rerun under observation); it only names
// things that are both mentioned in the error and really blocked by the policy.

import { isAbsolute, relative } from 'node:path';
import { isPassed, type EnvRules } from '../policy/environment.js';

export interface HintContext {
  home: string;
  /** Trees visible inside the sandbox (system, toolchain, workspace, the script's own dirs). */
  visible: readonly string[];
  /** Writable trees inside the sandbox. */
  writable: readonly string[];
  env: Record<string, string | undefined>;
  envRules: EnvRules;
}

const PATH_RE = /(?:^|[\s"'`(=:])((?:~|\/)[^\s"'`():,;]*)/g;
const NOT_FOUND = /No such file or directory|os error 2\b|NotFound|ENOENT/;
const READ_ONLY = /Read-only file system|os error 30\b|EROFS/;
const DENIED = /Permission denied|os error 13\b|EACCES/;
const NETWORK = /Network is unreachable|os error 101\b|Connection refused|os error 111\b|failed to lookup address|Temporary failure in name resolution|Could not resolve host|Name or service not known|dns error/i;
const HOST_PORT = /\b((?:[a-z0-9-]+\.)+[a-z]{2,}|\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})\b/i;
const URL_HOST = /\bhttps?:\/\/([^/\s"'`:]+)(?::(\d+))?/i;

function inside(path: string, tree: string): boolean {
  const rel = relative(tree, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

function display(path: string, home: string): string {
  return inside(path, home) ? `~/${relative(home, path)}`.replace(/\/$/, '') : path;
}

export function blockedHints(stderr: string, ctx: HintContext): string[] {
  const hints = new Set<string>();
  for (const line of stderr.split('\n')) {
    const fsError = NOT_FOUND.test(line) ? 'read' : READ_ONLY.test(line) || DENIED.test(line) ? 'write' : undefined;
    if (fsError) {
      for (const m of line.matchAll(PATH_RE)) {
        const raw = m[1]!.replace(/[.]+$/, '');
        const path = raw.startsWith('~') ? ctx.home + raw.slice(1) : raw;
        if (path.length < 2) continue;
        const shown = display(path, ctx.home);
        if (fsError === 'read' && !ctx.visible.some((t) => inside(path, t))) {
          const where = inside(path, ctx.home) ? 'your home directory is hidden' : 'it is outside the sandbox\'s view';
          hints.add(`it tried to access \`${shown}\`, which the sandbox hides (${where})`);
        } else if (fsError === 'write' && !ctx.writable.some((t) => inside(path, t))) {
          hints.add(`it tried to write \`${shown}\`, which is read-only in the sandbox (only OUT_DIR and /tmp are writable)`);
        }
      }
    }
    if (NETWORK.test(line)) {
      const m = HOST_PORT.exec(line) ?? URL_HOST.exec(line);
      const dest = m ? (m[2] ? `${m[1]}:${m[2]}` : m[1]) : undefined;
      hints.add(`it tried to use the network${dest ? ` (${dest})` : ''}, which the sandbox blocks`);
    }
  }
  for (const [name, value] of Object.entries(ctx.env)) {
    if (value === undefined || isPassed(ctx.envRules, name) || name.length < 3) continue;
    if (new RegExp(`\\b${name}\\b`).test(stderr)) {
      hints.add(`it looked for the environment variable \`${name}\`, which is set but removed in the sandbox`);
    }
  }
  return [...hints];
}
