// The audit report: one entry per build-script run, its versioned JSON form (docs/audit.md), and
// the terminal table, riskiest first.

import type { Executed, NetworkAttempt, PathAccess } from './observe.js';
import type { ApprovalChange } from './approvals.js';
import type { WithheldGrant } from './suggest.js';
import { renderMacroDetails, type MacroAudit } from './macros.js';

/** Bumped on any incompatible change of the JSON below; documented in docs/audit.md. */
export const AUDIT_SCHEMA = 'cargo-sandbox-audit/1';

export interface ScriptAudit {
  package: string;
  version: string;
  /** Cargo.lock's sha256 of the package's sources (registry packages only). */
  checksum?: string;
  /** From a workspace member to this package, each `name version`. */
  dependencyPath: string[];
  durationMs: number;
  exitCode?: number;
  risk: number;
  executed: Executed[];
  readOutside: PathAccess[];
  writtenOutside: PathAccess[];
  network: NetworkAttempt[];
  /** Variables it declared with `cargo:rerun-if-env-changed` (reads of others are not observable). */
  envDeclared: string[];
  filesRead: number;
  /**
   * Its trace reached the audit's limit (bytes): the script was stopped there, and what it did is
   * known only up to that point.
   */
  traceCapped?: number;
}

export interface AuditReport {
  schema: typeof AUDIT_SCHEMA;
  tool: { name: 'cargo-sandbox'; version: string };
  workspace: string;
  /** cargo's exit code for the observed build. */
  buildStatus: number;
  scripts: ScriptAudit[];
  /** Proc-macro packages whose compilations tried the network (recorded by the proxy). */
  macros?: MacroAudit[];
  /** Packages whose version or sources differ from what cargo-sandbox.lock approved. */
  changes: ApprovalChange[];
  /** With --suggest: grants the trace asked for that were not suggested (secrets, home, network). */
  withheld?: WithheldGrant[];
  /** Ctrl-C stopped the build: the report covers only what ran before. */
  interrupted?: true;
}

export function blockedCount(s: ScriptAudit): number {
  return [...s.executed, ...s.readOutside, ...s.writtenOutside, ...s.network].filter((x) => x.blocked).length;
}

export function programNames(s: ScriptAudit): string[] {
  return [...new Set(s.executed.map((x) => x.program.split('/').pop()!))];
}

export function formatBytes(bytes: number): string {
  return bytes % (1 << 20) === 0 ? `${bytes / (1 << 20)} MiB` : `${bytes} bytes`;
}

function fit(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}

/** One row per build script, riskiest first; red for blocked or network, yellow for writes outside. */
export function renderTable(report: AuditReport, color: boolean): string {
  const paint = (code: string, s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const header = ['PACKAGE', 'RISK', 'EXECUTED', 'READ OUT', 'WROTE OUT', 'NETWORK', 'BLOCKED', 'TIME', 'EXIT'];
  const rows = report.scripts.map((s) => {
    const blocked = blockedCount(s);
    return {
      cells: [
        `${s.package} v${s.version}`,
        String(s.risk),
        fit(programNames(s).join(', ') || '-', 40),
        String(s.readOutside.length),
        String(s.writtenOutside.length),
        s.network.length ? fit(s.network.map((n) => n.destination).join(', '), 28) : '-',
        String(blocked),
        `${(s.durationMs / 1000).toFixed(1)}s`,
        s.exitCode === undefined ? '?' : String(s.exitCode),
      ],
      tone: s.network.length || blocked ? '31' : s.writtenOutside.length ? '33' : '',
    };
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r.cells[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  const out = [paint('1', line(header))];
  for (const r of rows) out.push(r.tone ? paint(r.tone, line(r.cells)) : line(r.cells));
  return `${out.join('\n')}\n`;
}

/** Details below the table: what each risky script did, and what changed since approval. */
export function renderDetails(report: AuditReport): string {
  const lines: string[] = [];
  for (const s of report.scripts) {
    const items = [
      ...s.network.map((n) => `network ${n.destination}${n.blocked ? ` (blocked${n.reason ? `: ${n.reason}` : ''})` : ''}`),
      ...s.writtenOutside.map((p) => `wrote ${p.path}${p.blocked ? ' (blocked)' : ''}`),
      ...s.readOutside.map((p) => `read ${p.path}${p.blocked ? ' (blocked)' : ''}`),
      ...s.executed.filter((x) => x.blocked).map((x) => `ran ${x.program} (blocked)`),
    ];
    if (s.traceCapped) items.unshift(`stopped: its trace reached the audit's limit of ${formatBytes(s.traceCapped)}; what it did after that is not known`);
    if (items.length === 0) continue;
    lines.push(`${s.package} v${s.version} (${s.dependencyPath.join(' -> ')}):`);
    for (const i of items.slice(0, 20)) lines.push(`    ${i}`);
    if (items.length > 20) lines.push(`    ... and ${items.length - 20} more (see --format json)`);
  }
  lines.push(...renderMacroDetails(report.macros ?? []));
  for (const c of report.changes) {
    lines.push(`${c.package}: approved ${c.approvedVersion}, now ${c.version}${c.checksumChanged ? ' (sources changed)' : ''}:`);
    for (const [what, list] of Object.entries(c.added)) for (const x of list) lines.push(`    + ${what} ${x}`);
    for (const [what, list] of Object.entries(c.removed)) for (const x of list) lines.push(`    - ${what} ${x}`);
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}
