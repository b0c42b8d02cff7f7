// The per-stage profile (`CARGO_SANDBOX_PROFILE=1 cargo sandbox build`): each sandboxed process
// leaves runs/RUN/profile-PID (libexec/shared/profile.rs; its lines in libexec/schema/records.json,
// `lists`), which this sums up per kind of process, for the note after the build and for
// `npm run bench`.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { safeReaddir } from './session.js';

/** The user's switch (read by Node only; session.data's `profile` carries it to the entry points). */
export const PROFILE_VARIABLE = 'CARGO_SANDBOX_PROFILE';

export function profileRequested(env: NodeJS.ProcessEnv): boolean {
  const v = env[PROFILE_VARIABLE];
  return v !== undefined && v !== '' && v !== '0';
}

export const KINDS = ['compilation', 'build script', 'rustdoc'] as const;
export type ProcessKind = (typeof KINDS)[number];

/** One process's stages, in milliseconds (CPU times too). */
export interface ProcessProfile {
  kind: ProcessKind;
  /** From the entry point's start until bubblewrap is started. */
  entry: number;
  /** bubblewrap: namespaces and mounts, until the supervisor's first instruction. */
  namespaces: number;
  /** The supervisor's setup (Landlock, seccomp, ...) until the program is started. */
  supervisor: number;
  program: number;
  /** After the program: the supervisor's sweep, bubblewrap's exit and the entry point's last steps. */
  teardown: number;
  total: number;
  /** CPU time of the program (rustc, the build script). */
  programCpu: number;
  /** CPU time of ours around it: the entry point, the supervisor, and bubblewrap where it was waited for (not for build scripts). */
  sandboxCpu: number;
}

export const STAGES = ['entry', 'namespaces', 'supervisor', 'program', 'teardown', 'total'] as const;
export const STAGE_NAMES: Record<(typeof STAGES)[number], string> = {
  entry: 'entry',
  namespaces: 'namespaces+mounts',
  supervisor: 'supervisor setup',
  program: 'program',
  teardown: 'teardown',
  total: 'total',
};

const MS = 1e6;

/** One profile file's text as a process's stages; undefined for one cut short (a refused script). */
export function parseProfile(text: string): ProcessProfile | undefined {
  const v = new Map<string, string>();
  for (const line of text.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab > 0) v.set(line.slice(0, tab), line.slice(tab + 1));
  }
  const kind = v.get('kind') as ProcessKind | undefined;
  if (!kind || !KINDS.includes(kind)) return undefined;
  const n = (k: string): number | undefined => (v.has(k) && /^\d+$/.test(v.get(k)!) ? Number(BigInt(v.get(k)!)) : undefined);
  const [start, exec, supStart, progExec, progExit, supExit] = ['entry-start', 'bwrap-exec', 'supervisor-start', 'program-exec', 'program-exit', 'supervisor-exit'].map(n);
  const end = n('entry-end') ?? supExit;
  if ([start, exec, supStart, progExec, progExit, end].some((t) => t === undefined || t === 0)) return undefined;
  const ms = (a: number, b: number) => (b - a) / MS;
  const programCpu = n('program-cpu') ?? 0;
  const supervisorCpu = n('supervisor-cpu') ?? 0;
  const own = n('entry-end-cpu') ?? n('entry-cpu') ?? 0;
  // A compilation waited for bubblewrap: its children's CPU holds bubblewrap's (the supervisor's and
  // the program's only where bubblewrap's init reaped them into it: then taken out). A build
  // script's launcher became bubblewrap: bubblewrap's own CPU is not known.
  const children = n('children-cpu');
  const around = children === undefined ? supervisorCpu : children >= programCpu + supervisorCpu ? children - programCpu : children + supervisorCpu;
  const sandboxCpu = own + around;
  return {
    kind,
    entry: ms(start!, exec!),
    namespaces: ms(exec!, supStart!),
    supervisor: ms(supStart!, progExec!),
    program: ms(progExec!, progExit!),
    teardown: ms(progExit!, end!),
    total: ms(start!, end!),
    programCpu: programCpu / MS,
    sandboxCpu: Math.max(0, sandboxCpu) / MS,
  };
}

/** Every complete profile of a runs directory. */
export function readProfiles(runsDir: string): ProcessProfile[] {
  return safeReaddir(runsDir)
    .filter((n) => /^profile-\d+$/.test(n))
    .flatMap((n) => {
      try {
        return [parseProfile(readFileSync(join(runsDir, n), 'utf8'))].filter((p): p is ProcessProfile => p !== undefined);
      } catch {
        return [];
      }
    });
}

/** The value below which `q` of the sorted values lie (nearest rank); NaN for none. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** The median: of an even count, the mean of the middle two. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export type Field = (typeof STAGES)[number] | 'programCpu' | 'sandboxCpu';
export const FIELDS: readonly Field[] = [...STAGES, 'programCpu', 'sandboxCpu'];

export interface KindSummary {
  kind: ProcessKind;
  count: number;
  median: Record<Field, number>;
  p90: Record<Field, number>;
}

/** Per kind (in KINDS' order, kinds with no process left out): count, median and p90 of each stage. */
export function summarize(profiles: readonly ProcessProfile[]): KindSummary[] {
  return KINDS.flatMap((kind) => {
    const of = profiles.filter((p) => p.kind === kind);
    if (of.length === 0) return [];
    const stat = (f: (v: number[]) => number) => Object.fromEntries(FIELDS.map((k) => [k, f(of.map((p) => p[k]))])) as Record<Field, number>;
    return [{ kind, count: of.length, median: stat(median), p90: stat((v) => quantile(v, 0.9)) }];
  });
}

function ms(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

/** The table: one row per kind, `median/p90` milliseconds per stage. */
export function formatSummary(summary: readonly KindSummary[]): string {
  const head = ['', 'count', ...STAGES.map((s) => STAGE_NAMES[s]), 'program cpu', 'sandbox cpu'];
  const rows = summary.map((s) => [s.kind, String(s.count), ...FIELDS.map((f) => `${ms(s.median[f])}/${ms(s.p90[f])}`)]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd()).join('\n');
}

/** The note after a profiled build. */
export function profileNote(profiles: readonly ProcessProfile[]): string {
  if (profiles.length === 0) return `${PROFILE_VARIABLE}: no process ran in the sandbox (nothing was compiled, or everything was fresh)`;
  return `sandbox profile (${PROFILE_VARIABLE}), milliseconds, median/p90 per process:\n${formatSummary(summarize(profiles))}`;
}
