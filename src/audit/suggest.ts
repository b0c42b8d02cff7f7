// From what the sandbox blocked to the least grants that allow it, and into .cargo/config.toml
// without disturbing what is there (comments, order, formatting): only lines are added.

import { basename, dirname, join, relative, isAbsolute } from 'node:path';
import { cargoHome } from '../config/cargo-config.js';
import { SYSTEM_TREES } from '../policy/default-policy.js';
import type { ScriptAudit } from './report.js';
import type { NetworkAttempt } from './observe.js';
import { isInside } from '../paths.js';
import { formatDestination, isLoopback, parseDestination } from '../config/network-destinations.js';
import { NOT_IN_LIST } from '../intercept/network-records.js';
import { mergeTable, removeTable, type TableEntry } from '../config/config-edit.js';

export interface SuggestedGrants {
  package: string;
  version: string;
  checksum?: string;
  read: string[];
  write: string[];
  /**
   * `true`: the whole network (a destination it tried is unknown, or one a list cannot allow);
   * a list: only these destinations (`dl.example.com:443`); `false` or empty: none.
   */
  network: boolean | string[];
  exec: string[];
}

function display(path: string, home: string): string {
  const rel = relative(home, path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? `~/${rel}` : path;
}

/** What the audit knows of the host: the secrets the default policy hides, and the home. */
export interface SecretView {
  home: string;
  /** Paths the sandbox masks (home, system and workspace secrets). */
  masked: readonly string[];
  /** Trees where a write would change code or config that runs later on the host. */
  codeTrees: readonly string[];
  /**
   * Where a read may be proposed plainly: what holds neither the user's data nor the host's
   * configuration (the workspace, the toolchain, cargo's registry and git checkouts, the system's
   * public trees). Everything else is withheld. Undefined: no allow-list (unit tests of other rules).
   */
  publicTrees?: readonly string[];
  /** Where a path really leads (links resolved): a grant is judged there too (second review). */
  realpath?: (path: string) => string;
}

/** Trees where a write would change code or config that runs later on the host (SecretView.codeTrees). */
export function codeTreesOf(ctx: { workspaceRoot: string; env: NodeJS.ProcessEnv; home: string }): string[] {
  const pathDirs = (ctx.env.PATH ?? '').split(':').filter((d) => d.startsWith('/'));
  return [ctx.workspaceRoot, cargoHome(ctx.env, ctx.home), ctx.env.RUSTUP_HOME || join(ctx.home, '.rustup'), ...pathDirs, ...SYSTEM_TREES, '/etc'];
}

/** `risky(path)`, and where the path really leads judged the same way. */
function judgedWhereItLeads(path: string, view: SecretView, risky: (p: string, v: SecretView) => string | undefined): string | undefined {
  const why = risky(path, view);
  if (why || !view.realpath) return why;
  const real = view.realpath(path);
  const there = real === path ? undefined : risky(real, view);
  return there && `${there} (where ${display(path, view.home)} leads)`;
}

/** Names that hold credentials wherever they are (a read of one is never suggested). */
const SECRET_NAME = /(^|[._-])(cred|credentials?|secrets?|tokens?|passw(or)?d|passwd|pgpass|netrc|auth|apikey|api[_-]key|private|id_(rsa|ecdsa|ed25519|dsa))([._-]|$)|^\.env(\.|$)|\.(pem|key|p12|pfx|keytab|kdbx)$/i;

/** Why reading `path` is never suggested without --suggest-risky, if it is not. */
export function riskyRead(path: string, view: SecretView): string | undefined {
  return judgedWhereItLeads(path, view, riskyReadAt);
}

function riskyReadAt(path: string, view: SecretView): string | undefined {
  if (view.masked.some((m) => isInside(path, m))) return 'a secret the sandbox hides';
  const inHome = relative(view.home, path);
  const isPublic = view.publicTrees?.some((t) => isInside(path, t)) ?? false;
  if (inHome && !inHome.startsWith('..') && !isAbsolute(inHome) && inHome.startsWith('.') && !isPublic) return 'a hidden file of your home directory (where tools keep credentials)';
  if (/(^|\/)\.git(\/|$)/.test(path)) return "a git repository's internals (its config holds the tokens CI checkouts leave)";
  if (SECRET_NAME.test(basename(path))) return 'its name says it holds a credential';
  // An allow-list: any other file of the home is the user's data (THREAT-MODEL case 1), /etc
  // beyond what the sandbox shows is the host's configuration, and the rest of the system is
  // not the build's either.
  if (!view.publicTrees || isPublic) return undefined;
  if (isInside(path, view.home)) return 'a file of your home directory outside the workspace and the toolchain: your data';
  if (isInside(path, '/etc')) return "a part of /etc the sandbox does not show: the host's configuration, where services keep their passwords";
  return "outside the workspace, the toolchain and the system's public trees: the host's or another user's data";
}

/** Why writing in `dir` is never suggested without --suggest-risky, if it is not. */
export function riskyWrite(dir: string, view: SecretView): string | undefined {
  return judgedWhereItLeads(dir, view, riskyWriteAt);
}

function riskyWriteAt(dir: string, view: SecretView): string | undefined {
  if (view.masked.some((m) => isInside(dir, m))) return 'a secret the sandbox hides';
  if (isInside(view.home, dir)) return 'your home directory: its shell startup files and dotfiles';
  const tree = view.codeTrees.find((t) => isInside(dir, t) || isInside(t, dir));
  if (tree) return `code or configuration that runs later on the host lives there (${display(tree, view.home)})`;
  // A script writes its OUT_DIR and /tmp; there is no other place to write that holds neither
  // the user's data nor the system's.
  if (view.publicTrees) return "outside the script's OUT_DIR and /tmp: the system's or your data";
  return undefined;
}

/** A grant the trace asked for that is never suggested without `--suggest-risky`. */
export interface WithheldGrant {
  package: string;
  version: string;
  /** As it would be written: `allow-read = ["~/.ssh/id_ed25519"]`. */
  grant: string;
  why: string;
}

/**
 * The grants that would have let through what this script was blocked from (undefined if none),
 * and those withheld: a malicious script only has to fail without a secret to have it approved, so
 * a secret the sandbox hides, a write to the home itself (its dotfiles) and the network are never
 * suggested unless `risky` is set. They are listed instead, with the reason.
 */
export function suggestGrants(s: ScriptAudit, view: SecretView, risky = false): { grants?: SuggestedGrants; withheld: WithheldGrant[] } {
  const uniq = (xs: string[]) => [...new Set(xs)].sort();
  const withheld: WithheldGrant[] = [];
  const keep = (key: string, path: string, why: string | undefined): boolean => {
    if (!why || risky) return true;
    withheld.push({ package: s.package, version: s.version, grant: `${key} = [${JSON.stringify(display(path, view.home))}]`, why });
    return false;
  };
  const read = uniq(s.readOutside.filter((p) => p.blocked).map((p) => p.path)).filter((p) => keep('allow-read', p, riskyRead(p, view)));
  // The directory it writes in: the file itself may not exist yet for a bind to name.
  const write = uniq(s.writtenOutside.filter((p) => p.blocked).map((p) => dirname(p.path))).filter((d) => keep('allow-write', d, riskyWrite(d, view)));
  const { wanted, unlistable } = networkWanted(s.network);
  if (unlistable.length) withheld.push({ package: s.package, version: s.version, grant: networkLine(true), why: unlistableWhy(unlistable, 'script') });
  let network: boolean | string[] = wanted ?? false;
  if (wanted && !risky) {
    withheld.push({ package: s.package, version: s.version, grant: networkLine(wanted), why: 'the network (destinations the script chose): it could send them anything it can read' });
    network = false;
  }
  const g: SuggestedGrants = {
    package: s.package,
    version: s.version,
    ...(s.checksum ? { checksum: s.checksum } : {}),
    read: read.map((p) => display(p, view.home)),
    write: write.map((p) => display(p, view.home)),
    network,
    exec: uniq(s.executed.filter((x) => x.blocked).map((x) => x.program)),
  };
  return { grants: g.read.length || g.write.length || hasNetwork(g.network) || g.exec.length ? g : undefined, withheld };
}

function hasNetwork(n: boolean | string[]): boolean {
  return n === true || (Array.isArray(n) && n.length > 0);
}

/**
 * The narrowest `allow-network` that lets through what it was refused: the destinations, as
 * written in a list (`wanted`), and those no list can allow (`unlistable`): a direct connection to
 * an address other than loopback, which only the proxy takes. Those would need the whole network,
 * which is never suggested on the strength of an address the process chose.
 */
export function networkWanted(attempts: readonly NetworkAttempt[]): { wanted?: string[]; unlistable: string[] } {
  const list = new Set<string>();
  const unlistable: string[] = [];
  for (const n of attempts.filter((x) => x.blocked)) {
    // Refused for another reason than the list (a Host header naming another host): no grant fixes
    // that; nor does the network fix a Unix socket (a path: allow-read/allow-write).
    if ((n.reason && n.reason !== NOT_IN_LIST) || n.destination.startsWith('unix:')) continue;
    const parsed = parseDestination(n.destination);
    if (!parsed.ok || parsed.destination.port === undefined) continue;
    if (!n.proxy && !isLoopback(parsed.destination.host)) unlistable.push(n.destination);
    else list.add(formatDestination(parsed.destination));
  }
  return { ...(list.size ? { wanted: [...list].sort() } : {}), unlistable };
}

/** What is said of destinations that only the whole network would let through. */
export function unlistableWhy(destinations: readonly string[], who: string): string {
  return `it connects directly (not through the proxy) to ${destinations.map((d) => `\`${d}\``).join(', ')}, which no list allows; the whole network is never suggested for an address the ${who} chose`;
}

/** Two rounds' suggestions together: the whole network wins, lists are joined. */
export function mergeSuggestedNetwork(a: boolean | string[], b: boolean | string[]): boolean | string[] {
  if (a === true || b === true) return true;
  const both = [...(Array.isArray(a) ? a : []), ...(Array.isArray(b) ? b : [])];
  return both.length ? [...new Set(both)].sort() : false;
}

/** `allow-network = true` or `allow-network = ["dl.example.com:443"]`. */
export function networkLine(n: true | string[]): string {
  return `allow-network = ${n === true ? 'true' : list(n)}`;
}

/** Grant flags for a next, observed round (`--allow-read=PKG:PATH`, ...). */
export function grantArgs(g: SuggestedGrants): string[] {
  return [
    ...g.read.map((p) => `--allow-read=${g.package}:${p}`),
    ...g.write.map((p) => `--allow-write=${g.package}:${p}`),
    ...(g.network === true ? [`--allow-network=${g.package}`] : Array.isArray(g.network) ? g.network.map((d) => `--allow-network=${g.package}:${d}`) : []),
    ...(g.exec.length ? [`--allow-exec=${g.package}:${g.exec.join(',')}`] : []),
  ];
}

/** The table key an approval is pinned to: this exact version (and, in the table, its checksum). */
export function pinnedKey(g: { package: string; version: string }): string {
  return `"${g.package}@=${g.version}"`;
}

function list(xs: readonly string[]): string {
  return `[${xs.map((x) => JSON.stringify(x)).join(', ')}]`;
}

export function renderSuggestion(g: SuggestedGrants): string[] {
  const lines = [`[sandbox.package.${pinnedKey(g)}]`];
  if (g.checksum) lines.push(`checksum = "${g.checksum}"`);
  if (g.read.length) lines.push(`allow-read = ${list(g.read)}`);
  if (g.write.length) lines.push(`allow-write = ${list(g.write)}`);
  if (g.network === true || (Array.isArray(g.network) && g.network.length)) lines.push(networkLine(g.network));
  if (g.exec.length) lines.push(`allow-exec = ${list(g.exec)}`);
  return lines;
}

/** The keys of a suggestion's table, in the order a new table lists them. */
function suggestionEntries(g: SuggestedGrants): TableEntry[] {
  return [
    ...(g.checksum ? [{ key: 'checksum', value: g.checksum }] : []),
    { key: 'allow-read', value: g.read },
    { key: 'allow-write', value: g.write },
    ...(g.network === true || (Array.isArray(g.network) && g.network.length) ? [{ key: 'allow-network', value: g.network }] : []),
    { key: 'allow-exec', value: g.exec },
  ];
}

/**
 * `text` (a config.toml, possibly empty) with the suggested tables merged in (config-edit.ts: a
 * table that exists gets the missing keys and array items, new tables go at the end), and the
 * tables of approvals pinned to a version no longer locked (an upgrade) removed. Nothing else is touched.
 */
export function mergeIntoConfig(text: string, suggestions: readonly SuggestedGrants[], staleKeys: readonly string[] = []): string {
  let out = text;
  for (const key of staleKeys) out = removeTable(out, ['sandbox', 'package', key]);
  for (const g of suggestions) out = mergeTable(out, ['sandbox', 'package', `${g.package}@=${g.version}`], suggestionEntries(g)).text;
  return out.length && !out.endsWith('\n') ? `${out}\n` : out;
}
