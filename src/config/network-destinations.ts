// `allow-network` destinations: HOST or HOST:PORT, as written in a list and in
// `--allow-network=PKG:DEST`. HOST is a DNS name, `*.` and a name (any name strictly below it), an
// IPv4 literal, or an IPv6 literal in brackets; no port means any port (as Deno's --allow-net).
// Pure: parsing with a reason and a suggestion, the launcher's form (connect=HOST:PORT), matching,
// and the merge rule of the key across layers.

import { isIPv6 } from 'node:net';
import type { NetworkAccess, Sourced } from './types.js';

export interface Destination {
  /** Lowercase, without a trailing dot; `*.example.com` for a wildcard; IPv6 in brackets, as written. */
  host: string;
  kind: 'name' | 'wildcard' | 'ipv4' | 'ipv6';
  /** Undefined: any port. */
  port?: number;
}

export type ParsedDestination = { ok: true; destination: Destination } | { ok: false; problem: string; suggestion?: string };

/** For error messages: the forms a destination takes. */
export const DESTINATION_FORMS = '"github.com:443", "*.example.com:443", "127.0.0.1:5432", "[::1]:5432", or a host alone for any port';

// The proxy's grammar (libexec/entry/proxy.rs `Host::parse`): letters, digits, `-` and `_` (DNS
// names with `_` exist, and curl and the resolver take them). One grammar on both sides, so every
// destination the proxy records can be proposed back as a list entry.
const LABEL = /^[a-z0-9_-]{1,63}$/;
const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);
const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443, 'ws:': 80, 'wss:': 443, 'ftp:': 21, 'ssh:': 22, 'git:': 9418 };

/** `dl.example.com:443`, `*.example.com`, `[::1]:5432`: as written in a list. */
export function formatDestination(d: Destination): string {
  return d.port === undefined ? d.host : `${d.host}:${d.port}`;
}

/** The launcher's form (`connect=` entries): always a port, `*` for any. */
export function connectEntry(d: Destination): string {
  return `${d.host}:${d.port ?? '*'}`;
}

function fail(problem: string, suggestion?: Destination): ParsedDestination {
  return suggestion ? { ok: false, problem, suggestion: formatDestination(suggestion) } : { ok: false, problem };
}

function valid(raw: string): Destination | undefined {
  const p = parseDestination(raw);
  return p.ok ? p.destination : undefined;
}

/** Why `name` (lowercase, trailing dot removed) is not a DNS name, if it is not. */
function nameProblem(name: string): string | undefined {
  if (name.length > 253) return 'its name is longer than 253 characters';
  const labels = name.split('.');
  if (labels.some((l) => l === '')) return 'its name has an empty label (`..`, or a dot at the start)';
  const bad = /[^a-z0-9._-]/.exec(name);
  if (bad) return `it contains \`${bad[0]}\`: host names are letters, digits, \`-\`, \`_\` and \`.\``;
  if (labels.some((l) => !LABEL.test(l))) return 'a label of its name is longer than 63 characters';
  // Resolvers read a name ending in a number as an IPv4 address (`1.2.3`, `0x7f.1`).
  // As the proxy's rule: a last label of digits only, or starting with `0x`.
  if (/^(?:\d+|0x.*)$/.test(labels.at(-1)!)) return 'it is neither a name (its last label is a number) nor an IPv4 address (four numbers from 0 to 255)';
  return undefined;
}

function parseHost(raw: string): { host: Destination } | { problem: string } {
  if (raw === '') return { problem: 'it has no host' };
  if (raw.startsWith('[')) {
    const inside = raw.slice(1, -1);
    if (!raw.endsWith(']') || inside.includes('%') || !isIPv6(inside)) return { problem: `\`${raw}\` is not an IPv6 address in brackets` };
    return { host: { host: `[${inside.toLowerCase()}]`, kind: 'ipv6' } };
  }
  let name = raw.toLowerCase();
  if (name.endsWith('.') && name !== '.') name = name.slice(0, -1);
  if (name === '*') return { problem: '`*` alone would be every host: write `allow-network = true` for the whole network' };
  if (name.startsWith('*.')) {
    const below = name.slice(2);
    if (below.includes('*')) return { problem: 'a `*` may only start the name, as in `*.example.com`' };
    if (IPV4.test(below)) return { problem: 'a wildcard names a domain, not an IP address' };
    const problem = nameProblem(below);
    if (problem) return { problem };
    if (!below.includes('.')) return { problem: `\`*.${below}\` would allow a whole top-level domain: name the domain, as in \`*.example.${below}\`` };
    return { host: { host: name, kind: 'wildcard' } };
  }
  if (name.includes('*')) return { problem: 'a `*` may only start the name, as in `*.example.com`' };
  if (IPV4.test(name)) return { host: { host: name, kind: 'ipv4' } };
  const problem = nameProblem(name);
  return problem ? { problem } : { host: { host: name, kind: 'name' } };
}

/** One destination as written; on failure, why, and what was probably meant. */
export function parseDestination(raw: string): ParsedDestination {
  if (raw === '') return fail('it is empty');
  if (/\s/.test(raw)) {
    const trimmed = raw.trim();
    return fail('it contains a space', trimmed !== raw && !/\s/.test(trimmed) ? valid(trimmed) : undefined);
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) {
    let suggestion: Destination | undefined;
    try {
      const url = new URL(raw);
      const port = url.port ? Number(url.port) : DEFAULT_PORTS[url.protocol];
      suggestion = valid(port ? `${url.hostname}:${port}` : url.hostname);
    } catch {
      /* not even a URL: no suggestion */
    }
    return fail('it is a URL: give the host and port it connects to', suggestion);
  }
  if (raw.includes('/')) {
    return fail('it contains `/`: give a host (and port), not a path or URL', raw.startsWith('/') ? undefined : valid(raw.slice(0, raw.indexOf('/'))));
  }
  let hostText = raw;
  let portText: string | undefined;
  if (raw.startsWith('[')) {
    const close = raw.indexOf(']');
    if (close > 0 && raw.length > close + 1) {
      if (raw[close + 1] !== ':') return fail(`\`${raw}\` is not an IPv6 address in brackets with an optional \`:PORT\``);
      hostText = raw.slice(0, close + 1);
      portText = raw.slice(close + 2);
    }
  } else if (raw.indexOf(':') !== raw.lastIndexOf(':')) {
    // Several colons: an IPv6 address without its brackets.
    const last = raw.lastIndexOf(':');
    const guess = isIPv6(raw) ? valid(`[${raw}]`) : valid(`[${raw.slice(0, last)}]:${raw.slice(last + 1)}`);
    return fail('an IPv6 address goes in brackets, as in `[::1]:5432`', guess);
  } else if (raw.includes(':')) {
    hostText = raw.slice(0, raw.indexOf(':'));
    portText = raw.slice(raw.indexOf(':') + 1);
  }
  const host = parseHost(hostText);
  if ('problem' in host) return fail(host.problem);
  if (portText === undefined) return { ok: true, destination: host.host };
  if (portText === '*' || portText === '') return fail(portText === '*' ? 'leave the port out for any port' : 'its port is empty', host.host);
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) return fail(`its port \`${portText}\` is not a number from 1 to 65535`);
  return { ok: true, destination: { ...host.host, port } };
}

/** An IPv6 address in its canonical form (`[::1]` for `[0:0::0001]`), for comparisons. */
function canonicalIPv6(bracketed: string): string {
  try {
    return new URL(`http://${bracketed}/`).hostname;
  } catch {
    return bracketed;
  }
}

/** Whether a connection to `host` (a name, an IPv4 literal, an IPv6 literal with or without brackets) on `port` is allowed by `d`. */
export function matches(d: Destination, host: string, port: number): boolean {
  if (d.port !== undefined && d.port !== port) return false;
  let h = host.toLowerCase();
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (d.kind === 'ipv6') return isIPv6(h.replace(/^\[|\]$/g, '')) && canonicalIPv6(d.host) === canonicalIPv6(h.startsWith('[') ? h : `[${h}]`);
  if (d.kind === 'wildcard') {
    const suffix = d.host.slice(1); // `.example.com`
    return h.endsWith(suffix) && h.length > suffix.length && !IPV4.test(h);
  }
  return h === d.host;
}

/** 127.0.0.0/8, ::1 and `localhost`: the sandbox's own loopback. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || (IPV4.test(h) && h.startsWith('127.')) || (isIPv6(h) && canonicalIPv6(`[${h}]`) === '[::1]');
}

/** The destinations of a value (none for a boolean). */
export function destinationsOf(n: NetworkAccess | undefined): Destination[] {
  return Array.isArray(n) ? n.map((d) => d.value) : [];
}

/** Whether the value shares the whole host network (`true`), not a list. */
export function wholeNetwork(n: NetworkAccess | undefined): boolean {
  return n === true;
}

/**
 * `allow-network` over a lower layer: a boolean replaces what came before (`false` clears a list);
 * a list after a list is their union; a list after `true` (or `false`) replaces it. Each
 * destination keeps the source it was written in; the value's own source is the last layer's.
 */
export function mergeNetwork(prev: Sourced<NetworkAccess> | undefined, next: Sourced<NetworkAccess>): Sourced<NetworkAccess> {
  if (!prev || typeof prev.value === 'boolean' || typeof next.value === 'boolean') return next;
  const union = [...prev.value];
  const seen = new Set(union.map((d) => connectEntry(d.value)));
  for (const d of next.value) {
    if (seen.has(connectEntry(d.value))) continue;
    seen.add(connectEntry(d.value));
    union.push(d);
  }
  return { value: union, source: next.source };
}

/** As a user reads it: `true`, `false`, or `["github.com:443", "127.0.0.1:5432"]`. */
export function networkValueText(n: NetworkAccess): string {
  return typeof n === 'boolean' ? String(n) : `[${n.map((d) => JSON.stringify(formatDestination(d.value))).join(', ')}]`;
}
