// After a failed build: compilations whose proc macros' network proxy refused a destination
// (`compile-PID.network`). A proc-macro package's allow-network list applies to every compilation
// that loads its macros, so the grant goes to the macro package, not to the crate being compiled.

import type { SandboxContext } from '../cli/context.js';
import type { NetworkAccess } from '../config/types.js';
import { NOT_IN_LIST, readCompileRecords, type CompileNetworkRecord } from '../intercept/network-records.js';
import { effectiveGrants } from '../policy/effective.js';
import { destinationCheck, grantSnippet, MAX_PROPOSED, networkProposal, proxyFindings, tooManyDestinations } from './blocked-hints.js';
import { grantFlags, type AllowOffer } from './failure-notes.js';
import { isEmptyRequest } from '../config/allow-grants.js';
import { allowCommandLine, offerFor, printable } from './allow-offers.js';
import type { Reporter } from './style.js';

const label = (p: { name: string; version: string }) => `\`${p.name}${p.version ? ` v${p.version}` : ''}\``;

export interface CompileNetworkReport {
  notes: string[];
  help: string[];
  offers: AllowOffer[];
}

/**
 * The notes and help for compile records with refusals. `networkOf` gives a macro package's
 * allow-network now (a proposed list extends it); `tableKey` the table its grant goes in.
 */
export function compileNetworkNotes(
  records: readonly CompileNetworkRecord[],
  networkOf: (pkg: { name: string; version: string }) => NetworkAccess,
  tableKey: (name: string, version: string) => string,
  home: string,
  verbose = false,
): CompileNetworkReport {
  const notes: string[] = [];
  const help: string[] = [];
  const offers: AllowOffer[] = [];
  const said = new Set<string>();
  for (const record of records) {
    const refused = record.network.filter((r) => !r.allowed);
    if (refused.length === 0) continue;
    const unlisted = refused.filter((r) => !r.reason || r.reason === NOT_IN_LIST);
    const one = record.macros.length === 1 ? record.macros[0] : undefined;
    const whose = one ? `the proc macros of ${label(one)}` : record.macros.length ? `the proc macros of ${record.macros.map(label).join(' and ')}` : 'its proc macros';
    const lists = one ? `the allow-network list of \`${one.name}\` does` : 'their allow-network lists do';
    const scan = unlisted.length > MAX_PROPOSED;
    const named = scan ? tooManyDestinations(unlisted) : unlisted.map((r) => `\`${r.destination}\``).join(', ');
    const parts = [
      ...(unlisted.length ? [`tried to reach ${named} through the proxy, which ${lists} not include${scan ? ': too many to propose as a list' : ''}`] : []),
      ...refused
        .filter((r) => !unlisted.includes(r))
        .slice(0, MAX_PROPOSED)
        .map((r) => `tried to reach \`${r.destination}\` through the proxy, which refused it: ${r.reason}`),
    ];
    // The destinations are what the macro tried: never printed raw.
    const note = printable(`compiling ${label(record.crate)}, ${whose} ${parts.join('; ')}`);
    if (said.has(note)) continue;
    said.add(note);
    notes.push(note);
    if (unlisted.length === 0 || scan) continue;
    const findings = proxyFindings(unlisted);
    if (one) {
      const network = networkOf(one);
      const key = tableKey(one.name, one.version);
      const { request } = offerFor(key.replace(/^"(.*)"$/, '$1'), findings, { home, masked: [], codeTrees: [] }, network);
      if (!isEmptyRequest(request)) {
        help.push(`a proc-macro package's allow-network also applies to the compilations that load its macros; to allow this: ${allowCommandLine(request)}`);
        offers.push({ packageName: one.name, request, who: 'proc macros' });
      }
      const snippet = grantSnippet(key, findings, home, network);
      if (verbose && snippet.length) help.push(`or add to a cargo config file:\n${snippet.map((l) => `    ${l}`).join('\n')}`);
      const flags = grantFlags(one.name, findings, home, network);
      if (flags.length) help.push(`or, for one build only, add to the command: \`${flags.join(' ')}\``);
      const proposal = networkProposal(findings, network);
      const check = destinationCheck(proposal && 'added' in proposal ? proposal.added : []);
      if (check) help.push(check);
    } else if (record.macros.length) {
      notes.push(`the destination belongs in the allow-network list of the proc-macro package that needs it, one of: ${record.macros.map((m) => `\`${m.name}\``).join(', ')} (\`cargo sandbox policy ${record.macros.map((m) => m.name).join(' ')}\` shows their lists)`);
    }
  }
  return { notes, help, offers };
}

/** Says what the proc macros were refused; returns the offers (for the prompt). */
export function explainCompileNetwork(ctx: SandboxContext, runsDir: string, reporter: Reporter, tableKey: (name: string, version: string) => string): AllowOffer[] {
  const records = readCompileRecords(runsDir);
  if (records.length === 0) return [];
  const { notes, help, offers } = compileNetworkNotes(records, (pkg) => effectiveGrants(ctx.config, pkg, ctx.vars).network.value, tableKey, ctx.home, reporter.verbose);
  for (const n of notes) reporter.message('note', n);
  for (const h of help) reporter.message('help', h);
  return offers;
}
