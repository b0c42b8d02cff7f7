// What a failed build script tried that the sandbox blocked, told from its stderr: paths that are
// hidden or read-only in the sandbox, network attempts, removed variables, programs it could not
// find because their directory is hidden. Heuristic by nature; it only names things that are both
// mentioned in the error and really blocked by the policy, each with the grant that allows it.

import { existsSync, readFileSync } from 'node:fs';
import { isExecutable } from '../backends/preflight.js';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { isPassed, type EnvRules } from '../policy/environment.js';
import { displayPath, isInside as inside } from '../paths.js';
import { destinationsOf, formatDestination, parseDestination } from '../config/network-destinations.js';
import { isIPv4, isIPv6 } from 'node:net';
import { hostname as osHostname } from 'node:os';
import type { NetworkAccess } from '../config/types.js';
import { NOT_IN_LIST, type NetworkRecord } from '../intercept/network-records.js';

export interface HintContext {
  home: string;
  /** Trees visible inside the sandbox (system, toolchain, workspace, the script's own dirs). */
  visible: readonly string[];
  /** Writable trees inside the sandbox (besides the private /tmp). */
  writable: readonly string[];
  env: Record<string, string | undefined>;
  envRules: EnvRules;
  /** Whether an executable exists on the host (injected for tests). */
  isExecutable?: (path: string) => boolean;
  /** Whether a path exists on the host (injected for tests). */
  exists?: (path: string) => boolean;
  /** The script is WebAssembly: it sees only its preopened directories (`visible`). */
  wasm?: boolean;
  /** Its memory limit and where it was set, to name it when an allocation failed. */
  maxMemory?: { bytes: number; where: string };
}

/** "8GiB", "512MiB", as the config keys take them. */
export function formatSize(bytes: number): string {
  for (const [unit, size] of [['TiB', 1024 ** 4], ['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return bytes >= 1024 ** 2 ? `${Math.ceil(bytes / 1024 ** 2)}MiB` : `${bytes}B`;
}

export type Finding =
  | { kind: 'read'; path: string; message: string }
  /** `grant`: the path itself, or its nearest existing parent when it is a file still to be made. */
  | { kind: 'write'; path: string; grant: string; message: string }
  /**
   * `destination`: HOST:PORT, or a host alone when only that is known. `guessed`: read from its
   * error output, not recorded by the proxy. `grantable: false`: the proxy refused it for another
   * reason than the list (no grant fixes that).
   */
  | { kind: 'network'; destination?: string; message: string; guessed?: true; grantable?: false }
  | { kind: 'env'; name: string; message: string }
  | { kind: 'exec'; program: string; dir: string; message: string }
  | { kind: 'timeout'; seconds: number; message: string }
  /** A resource limit stopped it: the key that raises it and a value to suggest. */
  | { kind: 'limit'; key: 'max-file-size' | 'max-memory' | 'max-output' | 'max-disk' | 'max-processes'; suggest: string | number; message: string }
  /** Something no grant allows (e.g. a directive that would run code outside the sandbox). */
  | { kind: 'refused'; message: string }
  /** A WebAssembly build script hit WASI's walls: no processes, no files beyond its preopens. */
  | { kind: 'wasi'; message: string };

const PATH_RE = /(?:^|[\s"'`(=:])((?:~|\/)[^\s"'`():,;]*)/g;
const NOT_FOUND = /No such file or directory|os error 2\b|NotFound|ENOENT/;
const READ_ONLY = /Read-only file system|os error 30\b|EROFS/;
const DENIED = /Permission denied|os error 13\b|EACCES/;
const NETWORK = /\bconnect\w*\b[^\n]*(?:Permission denied|os error 13)|Network is unreachable|os error 101\b|Connection refused|os error 111\b|failed to lookup address|Temporary failure in name resolution|Could not resolve host|Name or service not known|dns error/i;
const HOST_PORT = /\b((?:[a-z0-9-]+\.)+[a-z]{2,}|\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})\b/i;
// Only a plain name or IPv4 address: the text is the script's, and a `*` it printed must not
// become a wildcard the help proposes.
const URL_HOST = /\b(https?):\/\/([a-z0-9._-]+)(?::(\d+))?(?![a-z0-9._*-])/i;
const WASI_SPAWN = /operation not supported on this platform|os error 58\b|ENOTSUP/;
const WASI_PREOPEN = /failed to find a pre-opened file descriptor through which \\?"([^"\\]*)\\?" could be opened|Capabilities insufficient|os error 76\b/;
const OUT_OF_MEMORY = /memory allocation of \d+ bytes failed|Cannot allocate memory|os error 12\b|out of memory/i;
const PROGRAM_MISSING = /not found|No such file or directory|os error 2\b|NotFound|not installed|failed to (?:find tool|execute)/i;

/**
 * A path that goes on past a space (`/home/u/my sdk/foo.h`): the longest run of space-separated
 * words from `start`, up to a quote or separator, that exists on the host; else the first word.
 */
function withSpaces(line: string, start: number, firstWord: string, exists: (p: string) => boolean): string {
  const rest = /^[^"'`():,;\n]*/.exec(line.slice(start))![0];
  const words = rest.split(' ');
  for (let n = words.length; n > 1; n--) {
    const candidate = words.slice(0, n).join(' ').replace(/[.\s]+$/, '');
    if (candidate.length > firstWord.length && exists(candidate)) return candidate;
  }
  return firstWord;
}

export { inside };

export { displayPath };

export function blockedHints(stderr: string, ctx: HintContext): Finding[] {
  const findings = new Map<string, Finding>();
  const add = (key: string, f: Finding) => findings.has(key) || findings.set(key, f);
  const visible = (p: string) => ctx.visible.some((t) => inside(p, t));
  // The private /tmp is writable, but not the read-only trees bound under it (a workspace in /tmp).
  const writable = (p: string) => ctx.writable.some((t) => inside(p, t)) || (inside(p, '/tmp') && !visible(p));
  for (const line of stderr.split('\n')) {
    const fsError = NOT_FOUND.test(line) ? 'read' : READ_ONLY.test(line) || DENIED.test(line) ? 'write' : undefined;
    if (fsError) {
      for (const m of line.matchAll(PATH_RE)) {
        const raw = withSpaces(line, m.index! + m[0].length - m[1]!.length, m[1]!, (p) => (ctx.exists ?? existsSync)(p.startsWith('~') ? ctx.home + p.slice(1) : p)).replace(/[.]+$/, '');
        const path = raw.startsWith('~') ? ctx.home + raw.slice(1) : raw;
        if (path.length < 2) continue;
        const shown = displayPath(path, ctx.home);
        const exists = ctx.exists ?? existsSync;
        // A path missing on the host too is not the sandbox's doing.
        if (fsError === 'read' && ctx.wasm && !visible(path) && exists(path)) {
          add(`wasi-open:${path}`, { kind: 'wasi', message: `it tried to open \`${shown}\`, outside what a WebAssembly build script can see (its package, OUT_DIR, /tmp)` });
        } else if (fsError === 'read' && !visible(path) && exists(path)) {
          const where = inside(path, ctx.home) ? 'your home directory is hidden' : 'it is outside the sandbox\'s view';
          add(`read:${path}`, { kind: 'read', path, message: `it tried to access \`${shown}\`, which the sandbox hides (${where})` });
        } else if (fsError === 'write' && !writable(path)) {
          let grant = path;
          while (!exists(grant) && dirname(grant) !== grant) grant = dirname(grant);
          add(`write:${path}`, { kind: 'write', path, grant, message: `it tried to write \`${shown}\`, which is read-only in the sandbox (only OUT_DIR and /tmp are writable)` });
        }
      }
    }
    if (WASI_SPAWN.test(line)) {
      add('wasi-spawn', { kind: 'wasi', message: 'it tried to start a process, which a WebAssembly (WASI) build script cannot do' });
    }
    const preopen = WASI_PREOPEN.exec(line);
    if (preopen) {
      const what = preopen[1] ? `\`${preopen[1]}\`` : 'a file';
      add(`wasi-open:${preopen[1] ?? ''}`, { kind: 'wasi', message: `it tried to open ${what}, outside what a WebAssembly build script can see (its package, OUT_DIR, /tmp)` });
    }
    if (OUT_OF_MEMORY.test(line) && ctx.maxMemory) {
      add('limit-memory', { kind: 'limit', key: 'max-memory', suggest: formatSize(ctx.maxMemory.bytes * 4), message: `it ran out of memory under its limit of ${formatSize(ctx.maxMemory.bytes)} (max-memory, ${ctx.maxMemory.where})` });
    }
    if (NETWORK.test(line)) {
      const hostPort = HOST_PORT.exec(line);
      const url = hostPort ? undefined : URL_HOST.exec(line);
      // A URL's port is its scheme's unless it names one.
      const destination = hostPort ? `${hostPort[1]}:${hostPort[2]}` : url ? `${url[2]}:${url[3] ?? (url[1]!.toLowerCase() === 'https' ? 443 : 80)}` : undefined;
      add('network', { kind: 'network', destination, guessed: true, message: `it tried to use the network${destination ? ` (${destination})` : ''}, which the sandbox blocks` });
    }
  }
  for (const [name, value] of Object.entries(ctx.env)) {
    if (value === undefined || isPassed(ctx.envRules, name) || name.length < 3) continue;
    if (new RegExp(`\\b${name}\\b`).test(stderr)) {
      add(`env:${name}`, { kind: 'env', name, message: `it looked for the environment variable \`${name}\`, which is set but removed in the sandbox` });
    }
  }
  if (PROGRAM_MISSING.test(stderr)) {
    const isExec = ctx.isExecutable ?? isExecutable;
    for (const dir of (ctx.env.PATH ?? '').split(delimiter)) {
      if (!dir || !isAbsolute(dir) || visible(dir)) continue;
      for (const m of stderr.matchAll(/[`"']([A-Za-z0-9_.+-]+)[`"']/g)) {
        const program = m[1]!;
        if (isExec(join(dir, program))) {
          add(`exec:${program}`, { kind: 'exec', program, dir, message: `it tried to run \`${program}\`, which is on your PATH in \`${displayPath(dir, ctx.home)}\`, a directory the sandbox hides` });
        }
      }
    }
  }
  return [...findings.values()];
}

/** Destinations its proxy refused (`PID.network`), each a finding that names it and why. */
export function proxyFindings(records: readonly NetworkRecord[]): Finding[] {
  const refused = records.filter((r) => !r.allowed);
  const unlisted = refused.filter((r) => !r.reason || r.reason === NOT_IN_LIST);
  const others = refused
    .filter((r) => !unlisted.includes(r))
    .slice(0, MAX_PROPOSED)
    .map((r): Finding => ({ kind: 'network', destination: r.destination, grantable: false, message: `it tried to reach \`${r.destination}\` through the proxy, which refused it: ${r.reason}` }));
  if (unlisted.length > MAX_PROPOSED) return [{ kind: 'network', grantable: false, message: `it tried to reach ${tooManyDestinations(unlisted)} through the proxy, which its allow-network list does not include: too many to propose as a list` }, ...others];
  return [...unlisted.map((r): Finding => ({ kind: 'network', destination: r.destination, message: `it tried to reach \`${r.destination}\` through the proxy, which its allow-network list does not include` })), ...others];
}

/** More refused destinations than this is a scan, not a list to propose (nor to print whole). */
export const MAX_PROPOSED = 20;

/** `at least 1000 destinations (the first: `a:1`, `b:1`, `c:1`)`. */
export function tooManyDestinations(records: readonly NetworkRecord[]): string {
  return `at least ${records.length} destinations (the first: ${records.slice(0, 3).map((r) => `\`${r.destination}\``).join(', ')})`;
}

/**
 * What `allow-network` would let through what was found: the narrowest list (the package's
 * current list and the new destinations, so that it replaces the key as it is), or `true` when a
 * package without a list needs the network and a destination is unknown or in a form no list can
 * hold. A list is never widened to `true` (the destination came from the sandboxed process): such
 * a destination is not granted, and its note still names it. Undefined: nothing to grant.
 */
export function networkProposal(findings: readonly Finding[], current?: NetworkAccess): { whole: true } | { list: string[]; added: string[] } | undefined {
  const wanted = findings.filter((f): f is Extract<Finding, { kind: 'network' }> => f.kind === 'network' && f.grantable !== false);
  // With the whole network already, the sandbox blocked nothing there.
  if (wanted.length === 0 || current === true) return undefined;
  const hasList = Array.isArray(current) && current.length > 0;
  const added: string[] = [];
  for (const f of wanted) {
    // Behind the proxy, what the process really tried is recorded: a destination read from its
    // error output is only what it chose to print.
    if (hasList && f.guessed) continue;
    const parsed = f.destination === undefined ? undefined : parseDestination(f.destination);
    // A wildcard is never what a process tried: whoever wrote one chose it.
    if (parsed?.ok && parsed.destination.port !== undefined && parsed.destination.kind !== 'wildcard') added.push(formatDestination(parsed.destination));
    else if (!hasList) return { whole: true };
  }
  const have = destinationsOf(current).map(formatDestination);
  const fresh = [...new Set(added)].filter((d) => !have.includes(d));
  return fresh.length ? { list: [...have, ...fresh], added: fresh } : undefined;
}

/** An IPv4 address's dotted form from an IPv4-mapped IPv6 one (`::ffff:7f00:1`), if it is one. */
function mappedIPv4(v6: string): string | undefined {
  const m = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(v6);
  if (!m) return /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(v6)?.[1];
  const [hi, lo] = [parseInt(m[1]!, 16), parseInt(m[2]!, 16)];
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** What an address or name is, when it is on this machine or its networks. */
export function addressKind(rawHost: string, hosts: ReadonlyMap<string, string>, hostname: string): string | undefined {
  let host = rawHost.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '');
  if (isIPv6(host)) {
    host = new URL(`http://[${host}]/`).hostname.slice(1, -1);
    const v4 = mappedIPv4(host);
    if (v4) host = v4;
    else if (host === '::' || host === '::1') return 'a service on this machine';
    else if (/^fe[89ab]/.test(host)) return 'link-local: a cloud metadata service answers at 169.254.169.254';
    else if (/^f[cd]/.test(host)) return 'your private network';
    else return undefined;
  }
  if (!isIPv4(host)) {
    if (host === 'localhost' || host.endsWith('.localhost') || host === hostname.toLowerCase()) return 'a service on this machine';
    const address = hosts.get(host);
    return address === undefined ? undefined : addressKind(address, new Map(), hostname);
  }
  if (/^(?:127|0)\./.test(host)) return 'a service on this machine';
  if (/^169\.254\./.test(host)) return 'link-local: a cloud metadata service answers at 169.254.169.254';
  if (/^(?:10\.|192\.168\.|172\.(?:1[6-9]|2\d|3[01])\.|100\.(?:6[4-9]|[7-9]\d|1[01]\d|12[0-7])\.)/.test(host)) return 'your private network';
  return undefined;
}

/** /etc/hosts as name → its first address (names a proposal could hide a local address behind). */
function readHosts(): Map<string, string> {
  const hosts = new Map<string, string>();
  let text = '';
  try {
    text = readFileSync('/etc/hosts', 'utf8').slice(0, 1 << 20);
  } catch {
    return hosts;
  }
  for (const line of text.split('\n')) {
    const [address, ...names] = line.replace(/#.*/, '').trim().split(/\s+/);
    for (const name of address ? names : []) if (!hosts.has(name.toLowerCase())) hosts.set(name.toLowerCase(), address!);
  }
  return hosts;
}

/** The help that asks for a look at proposed destinations on this machine or its networks. */
export function destinationCheck(added: readonly string[], hosts: ReadonlyMap<string, string> = readHosts(), hostname = osHostname()): string | undefined {
  const marked = [...new Set(added)].flatMap((d) => {
    const kind = addressKind(d.slice(0, d.lastIndexOf(':')), hosts, hostname);
    return kind ? [`\`${d}\` (${kind})`] : [];
  });
  return marked.length ? `the process chose these destinations: check them before adding them: ${marked.join(', ')}` : undefined;
}

/** The `[sandbox.package.NAME]` lines that would grant what was found, ready to paste. */
export function grantSnippet(packageName: string, findings: readonly Finding[], home: string, network?: NetworkAccess): string[] {
  const read = new Set<string>();
  const write = new Set<string>();
  const env = new Set<string>();
  let timeout: number | undefined;
  let native = false;
  const limits = new Map<string, string>();
  for (const f of findings) {
    if (f.kind === 'read') read.add(displayPath(f.path, home));
    else if (f.kind === 'exec') read.add(displayPath(f.dir, home));
    else if (f.kind === 'write') write.add(displayPath(f.grant, home));
    else if (f.kind === 'env') env.add(f.name);
    else if (f.kind === 'timeout') timeout = Math.max(timeout ?? 0, f.seconds * 4);
    else if (f.kind === 'wasi') native = true;
    else if (f.kind === 'limit') limits.set(f.key, `${f.key} = ${JSON.stringify(f.suggest)}`);
  }
  const net = networkProposal(findings, network);
  const list = (xs: Set<string>) => `[${[...xs].map((x) => JSON.stringify(x)).join(', ')}]`;
  const lines = [`[sandbox.package.${packageName}]`];
  if (read.size) lines.push(`allow-read = ${list(read)}`);
  if (write.size) lines.push(`allow-write = ${list(write)}`);
  if (env.size) lines.push(`allow-env = ${list(env)}`);
  if (net) lines.push(`allow-network = ${'whole' in net ? 'true' : list(new Set(net.list))}`);
  if (timeout) lines.push(`timeout = "${timeout}s"`);
  lines.push(...limits.values());
  // Mixed mode: this package's build script runs natively under bubblewrap, the others as wasm.
  if (native) lines.push('target = "native"');
  return lines.length > 1 ? lines : [];
}
