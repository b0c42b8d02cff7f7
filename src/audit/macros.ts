// Proc macros in an audit. A compilation that loads macros we compiled runs behind the network
// proxy there (libexec/entry/network.rs), which records, by name, what it tried
// (`compile-PID.network`). Per macro package: the crates whose compilation loaded it and tried the
// network, and the destinations. A compilation that loaded several macro packages cannot tell whose
// a destination is: each names the others, and no grant is suggested for it.

import type { CompileNetworkRecord } from '../intercept/network-records.js';
import { withProxyRecords, type NetworkAttempt } from './observe.js';
import { networkLine, networkWanted, unlistableWhy, type SuggestedGrants, type WithheldGrant } from './suggest.js';

export interface MacroAudit {
  package: string;
  version: string;
  /** The crates (`name version`) whose compilation loaded its macros and tried the network. */
  compiling: string[];
  network: NetworkAttempt[];
  /** Other macro packages loaded in those compilations: a destination may be theirs. */
  loadedWith: string[];
}

/**
 * `direct`: the connections the trace saw (strace around the compilation's sandbox), which include
 * those that bypass the proxy; what the proxy recorded, by name, stands for the connects to it.
 */
export function macroAudits(records: readonly CompileNetworkRecord[], direct: (record: CompileNetworkRecord) => NetworkAttempt[] = () => []): MacroAudit[] {
  const found = new Map<string, { audit: MacroAudit; seen: Map<string, NetworkAttempt> }>();
  const label = (p: { name: string; version: string }) => `${p.name} ${p.version}`;
  for (const record of records) {
    const network = withProxyRecords({ executed: [], readOutside: [], writtenOutside: [], network: direct(record), filesRead: 0 }, record.network).network;
    if (network.length === 0) continue;
    for (const m of record.macros) {
      const key = label(m);
      const entry = found.get(key) ?? { audit: { package: m.name, version: m.version, compiling: [], network: [], loadedWith: [] }, seen: new Map() };
      found.set(key, entry);
      const add = (list: string[], x: string) => list.includes(x) || list.push(x);
      add(entry.audit.compiling, label(record.crate));
      for (const other of record.macros) if (label(other) !== key) add(entry.audit.loadedWith, label(other));
      for (const n of network) {
        const prev = entry.seen.get(n.destination);
        entry.seen.set(n.destination, prev && !prev.blocked ? prev : n);
      }
      entry.audit.network = [...entry.seen.values()];
    }
  }
  return [...found.values()].map((e) => e.audit).sort((a, b) => a.package.localeCompare(b.package));
}

/**
 * The list that lets a macro package's compilations through (as for a build script, withheld
 * unless `risky`: the macro chose the destinations), never when another macro loaded with it
 * could be the one that asked.
 */
export function suggestMacroGrants(m: MacroAudit, risky: boolean): { grants?: SuggestedGrants; withheld: WithheldGrant[] } {
  const { wanted, unlistable } = networkWanted(m.network);
  const withheld: WithheldGrant[] = unlistable.length ? [{ package: m.package, version: m.version, grant: networkLine(true), why: unlistableWhy(unlistable, 'proc macro') }] : [];
  if (wanted === undefined) return { withheld };
  const withhold = (why: string) => ({ withheld: [...withheld, { package: m.package, version: m.version, grant: networkLine(wanted), why }] });
  if (m.loadedWith.length) return withhold(`the network: its compilations also loaded the macros of ${m.loadedWith.map((p) => `\`${p}\``).join(', ')}, which may be the ones that asked`);
  if (!risky) return withhold('the network (destinations the proc macro chose): it could send them anything its compilation can read');
  return { grants: { package: m.package, version: m.version, read: [], write: [], network: wanted, exec: [] }, withheld };
}

/** The details lines: each macro package's destinations, with the compilations that tried them. */
export function renderMacroDetails(macros: readonly MacroAudit[]): string[] {
  const lines: string[] = [];
  for (const m of macros) {
    const also = m.loadedWith.length ? `; loaded with ${m.loadedWith.join(', ')}` : '';
    lines.push(`proc macros of ${m.package} v${m.version} (compiling ${m.compiling.join(', ')}${also}):`);
    for (const n of m.network.slice(0, 20)) lines.push(`    network ${n.destination}${n.blocked ? ` (blocked${n.reason ? `: ${n.reason}` : ''})` : ''}`);
    if (m.network.length > 20) lines.push(`    ... and ${m.network.length - 20} more (see --format json)`);
  }
  return lines;
}
