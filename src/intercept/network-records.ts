// What the launcher's filtering proxy and forwarders recorded (libexec), in the session's runs
// directory: `PID.network` beside a build script's record, `compile-PID.network` for a compilation
// that loaded proc macros with an allow-network list. UTF-8 lines, tab-separated:
//   allowed<TAB>HOST:PORT
//   refused<TAB>HOST:PORT<TAB>REASON       (REASON: `not in allow-network`, ...)
// and, first in a compilation's record, `compiling<TAB>PKG<TAB>VERSION`, then one
// `macros<TAB>PKG<TAB>VERSION` per proc-macro package whose list applied. The proxy writes each
// line once and at most 1000 of them, then `truncated<TAB>1000` (ignored here: the notes already
// treat more than a few refused destinations as a scan).

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface NetworkRecord {
  /** `HOST:PORT` as the proxy saw it (a name, an IPv4 literal, or an IPv6 literal in brackets). */
  destination: string;
  allowed: boolean;
  /** Why it was refused, a short English phrase. */
  reason?: string;
}

/** The reason the proxy gives for a destination that is not in the list (the only one a grant fixes). */
export const NOT_IN_LIST = 'not in allow-network';

export interface CompileNetworkRecord {
  /** The crate being compiled. */
  crate: { name: string; version: string };
  /** The proc-macro packages whose allow-network list applied to it (under audit: every one it loaded). */
  macros: { name: string; version: string }[];
  network: NetworkRecord[];
  /** Where it was read (`runs/compile-PID.network`; under audit a `.trace` lies beside it). */
  path?: string;
}

/** The allowed/refused lines of a record, each destination (and outcome) once; other lines ignored. */
export function parseNetworkLines(text: string): NetworkRecord[] {
  const out = new Map<string, NetworkRecord>();
  for (const line of text.split('\n')) {
    const [verdict, destination, reason] = line.replace(/\r$/, '').split('\t');
    if (!destination || (verdict !== 'allowed' && verdict !== 'refused')) continue;
    const record: NetworkRecord = verdict === 'allowed' ? { destination, allowed: true } : { destination, allowed: false, ...(reason ? { reason } : {}) };
    out.set(`${verdict}\t${destination}\t${reason ?? ''}`, record);
  }
  return [...out.values()];
}

/** A build script's `PID.network`: undefined when there is none (no proxy ran for it). */
export function readNetworkFile(path: string): NetworkRecord[] | undefined {
  try {
    return parseNetworkLines(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

export function parseCompileRecord(text: string): CompileNetworkRecord | undefined {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, '').split('\t'));
  const head = lines[0];
  if (head?.[0] !== 'compiling' || !head[1]) return undefined;
  const macros = lines.filter((l) => l[0] === 'macros' && l[1]).map((l) => ({ name: l[1]!, version: l[2] ?? '' }));
  return { crate: { name: head[1], version: head[2] ?? '' }, macros, network: parseNetworkLines(text) };
}

/** Every `compile-PID.network` of a runs directory. */
export function readCompileRecords(runsDir: string): CompileNetworkRecord[] {
  let names: string[];
  try {
    names = readdirSync(runsDir);
  } catch {
    return [];
  }
  return names
    .filter((n) => /^compile-\d+\.network$/.test(n))
    .sort()
    .flatMap((n) => {
      try {
        const record = parseCompileRecord(readFileSync(join(runsDir, n), 'utf8'));
        return record ? [{ ...record, path: join(runsDir, n) }] : [];
      } catch {
        return [];
      }
    });
}
