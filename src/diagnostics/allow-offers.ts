// What a denial note offers to grant: the `cargo sandbox allow` command for one package, built from
// findings that come from a build script's own error output, that is from code that may be
// malicious. A script only has to fail naming a secret to be offered it, and the prompt
// (allow-prompt.ts) turns an offer into a grant with one key: so a secret the sandbox hides, the
// home itself, a hidden file of the home, a write outside the script's own workspace package, and
// anything holding control characters are never offered (they are listed as withheld, with why).

import { statSync } from 'node:fs';
import { isAbsolute, relative, sep } from 'node:path';
import { emptyRequest, allowWords, type AllowRequest } from '../config/allow-grants.js';
import type { NetworkAccess } from '../config/types.js';
import { riskyRead, type SecretView } from '../audit/suggest.js';
import { displayPath, isInside } from '../paths.js';
import { globMatch, SECRET_VARS } from '../policy/environment.js';
import { networkProposal, type Finding } from './blocked-hints.js';

/** Characters a terminal acts on (escape sequences, bidirectional overrides): never printed raw. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** `s` with every control character shown as an escape (`\u{1b}`), so that it cannot act. */
export function printable(s: string): string {
  return s.replace(CONTROL, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}

export function hasControl(s: string): boolean {
  return new RegExp(CONTROL.source).test(s);
}

/** A shell word: quoted when it holds anything a shell would split or expand. */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./~-]+$/.test(s) && !/^~[^/]/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** `cargo sandbox allow PKG --read PATH ...`, ready to paste. */
export function allowCommandLine(r: AllowRequest): string {
  return `cargo sandbox allow ${allowWords(r).map(shellWord).join(' ')}`;
}

/** What grants are judged against: the masks and the home, where the path really leads too. */
export interface GrantView {
  home: string;
  masked: readonly string[];
  realpath?: (path: string) => string;
}

/** Why granting `path` would be grave (a secret the sandbox hides, the whole home), if it would. */
export function grantConcern(path: string, view: GrantView): string | undefined {
  for (const p of [path, view.realpath?.(path) ?? path]) {
    if (view.masked.some((m) => isInside(p, m))) return 'a secret the sandbox hides';
    if (isInside(view.home, p)) return 'your whole home directory';
  }
  return undefined;
}

/** The offer's view: the grant view, and what `riskyRead` needs (audit/suggest.ts). */
export interface OfferView extends SecretView {
  /** The workspace: a write is offered only inside a member's own package directory. */
  workspaceRoot?: string;
  /** The variables the sandbox removes as secrets (the session's deny rules): never offered. */
  envDeny?: readonly string[];
}

/** Where the host keeps its services' sockets (and other users' files): a read grant there reaches them. */
const SOCKET_TREES = ['/run', '/var/run', '/tmp', '/var/tmp', '/dev'];

/** A socket, FIFO or device where the path leads: a "read" grant of one reaches the service behind it. */
function special(path: string, home: string): string | undefined {
  if (SOCKET_TREES.some((t) => isInside(path, t)) && !isInside(path, home)) return "where the host's services keep their sockets (a D-Bus bus, docker.sock, X11: commands on the host)";
  try {
    const st = statSync(path);
    if (st.isSocket()) return 'a socket: a read grant lets the script talk to the service behind it (a D-Bus bus, docker.sock: commands on the host)';
    if (st.isFIFO() || st.isCharacterDevice() || st.isBlockDevice()) return 'a device or FIFO';
  } catch {
    /* judged by name */
  }
  return undefined;
}

export interface WithheldOffer {
  what: string;
  why: string;
}

/** Why a write of `dir` by the script of the package at `manifestDir` is not offered, if it is not. */
function writeWithheld(dir: string, manifestDir: string | undefined, view: OfferView): string | undefined {
  const concern = grantConcern(dir, view);
  if (concern) return concern;
  // Only its own package, in the workspace: elsewhere a write changes code or configuration
  // that runs later (another crate, the workspace's .cargo/config.toml, a dotfile).
  const own = manifestDir && view.workspaceRoot && isInside(manifestDir, view.workspaceRoot) && isInside(dir, manifestDir);
  if (!own) return "outside the build script's own package in this workspace";
  const rel = relative(manifestDir, view.realpath?.(dir) ?? dir);
  if (rel.startsWith('..') || isAbsolute(rel)) return "it leads outside the build script's own package";
  // The package's whole directory (a single-package workspace's root: .git/hooks, .cargo, target/,
  // .envrc) is code that runs later on the host: only a directory below it is offered.
  if (rel === '' || (view.workspaceRoot && isInside(view.workspaceRoot, dir))) return "the build script's whole package directory (with a single-package workspace, also .git, .cargo and target/)";
  if (rel.split(sep).some((part) => part === '.git' || part === '.cargo')) return 'git or cargo configuration: code that runs later on the host';
  return undefined;
}

/**
 * The allow request that grants what `findings` need (those offered), the findings it covers (for
 * the TOML snippet and one-off flags), and what is withheld. `network`: the package's allow-network
 * now (a proposed list adds to it). `manifestDir`: the package's directory (writes).
 */
export function offerFor(key: string, findings: readonly Finding[], view: OfferView, network?: NetworkAccess, manifestDir?: string): { request: AllowRequest; kept: Finding[]; withheld: WithheldOffer[] } {
  const request = emptyRequest(key);
  const kept: Finding[] = [];
  const withheld: WithheldOffer[] = [];
  const shown = (p: string) => printable(displayPath(p, view.home));
  const add = (list: string[], v: string) => list.includes(v) || list.push(v);
  for (const f of findings) {
    if (f.kind === 'read' || f.kind === 'exec' || f.kind === 'write') {
      const path = f.kind === 'read' ? f.path : f.kind === 'exec' ? f.dir : f.grant;
      const verb = f.kind === 'write' ? 'write' : 'read';
      // A PATH directory is the user's own (the script only named a program in it): judged as a
      // grant, not as a path the script chose.
      const why = hasControl(path) ? 'it holds control characters' : f.kind === 'write' ? writeWithheld(path, manifestDir, view) : f.kind === 'exec' ? grantConcern(path, view) : (grantConcern(path, view) ?? special(view.realpath?.(path) ?? path, view.home) ?? riskyRead(path, view));
      if (why) {
        withheld.push({ what: `${verb} \`${shown(path)}\``, why });
        continue;
      }
      add(verb === 'write' ? request.write : request.read, displayPath(path, view.home));
      kept.push(f);
    } else if (f.kind === 'env') {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(f.name)) continue;
      if ((view.envDeny ?? SECRET_VARS).some((p) => globMatch(p, f.name))) {
        withheld.push({ what: `see \`${f.name}\``, why: 'a variable the sandbox removes as a secret' });
        continue;
      }
      add(request.env, f.name);
      kept.push(f);
    } else if (f.kind === 'timeout') {
      request.scalars = [...request.scalars.filter((s) => s.key !== 'timeout'), { key: 'timeout', value: `${f.seconds * 4}s` }];
      kept.push(f);
    } else if (f.kind === 'limit') {
      request.scalars = [...request.scalars.filter((s) => s.key !== f.key), { key: f.key, value: f.suggest }];
      kept.push(f);
    } else if (f.kind === 'wasi') {
      if (!request.scalars.some((s) => s.key === 'target')) request.scalars.push({ key: 'target', value: 'native' });
      kept.push(f);
    } else if (f.kind === 'network') kept.push(f);
  }
  // Only the new destinations: the allow command adds them to the package's list.
  const net = networkProposal(kept, network);
  if (net) request.network = 'whole' in net ? true : net.added;
  return { request, kept, withheld };
}

/** The help for what was withheld: each path and why, and that typing the grant is the user's call. */
export function withheldHelp(pkg: string, withheld: readonly WithheldOffer[]): string[] {
  if (withheld.length === 0) return [];
  const items = withheld.map((w) => `${w.what} (${w.why})`).join('; ');
  return [`not offered for the build script of \`${printable(pkg)}\`: ${items}; a script that fails for want of these may be after them`];
}
