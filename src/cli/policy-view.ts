// What `cargo sandbox policy PKG` prints: every key that applies to one package's build script and
// compilations, each with where it came from, and what the default policy shows and hides.

import { describeSource, type NetworkAccess, type SandboxConfig, type Source, type Sourced } from '../config/types.js';
import { formatDestination } from '../config/network-destinations.js';
import { crossTarget } from '../backends/package-policy.js';
import { formatSize } from '../diagnostics/blocked-hints.js';
import { PIDS_FIX, type PidsStatus } from '../backends/cgroups.js';
import { HOME_SECRETS, SYSTEM_SECRETS } from '../policy/default-policy.js';
import { effectiveGrants, type EffectiveGrants } from '../policy/effective.js';
import { BUILD_CONFIG_PATTERNS, globMatch, isPassed } from '../policy/environment.js';
import { displayPath } from '../paths.js';
import type { SandboxContext } from './context.js';
import type { WorkspaceFile } from '../config/workspace-trust.js';
import { spawnsProcesses } from '../policy/wasm-spawners.js';
export { spawnsProcesses };

export interface PolicyPackage {
  name: string;
  version: string;
  /** From Cargo.lock, as the build matches `checksum` tables: only one cargo verified. */
  checksum?: string;
  /** A checksum Cargo.lock claims that cargo did not verify (source-replacement.ts): no pin matches it. */
  claimedChecksum?: string;
  unverified?: string;
  /** Its build script's dependencies (cargo metadata), to tell which start processes. */
  buildDependencies?: string[];
  /** A proc-macro crate: its network grant also applies to the compilations that load its macros. */
  procMacro?: boolean;
  /** Whether it has a build script (a proc-macro crate may not). */
  buildScript?: boolean;
}


function from(source: Source): string {
  return source.kind === 'default' ? '(default)' : `(${describeSource(source)})`;
}

function limit(s: Sourced<number>, format: (n: number) => string): string {
  return `${s.value === 0 ? 'unlimited' : format(s.value)} ${from(s.source)}`;
}

/** The workspace's own config and toolchain files: trusted, or which are not. */
export function trustLine(files: readonly WorkspaceFile[]): string {
  if (files.length === 0) return 'workspace configuration: none of its own (only yours applies)\n\n';
  const untrusted = files.filter((f) => f.trust !== 'trusted');
  if (untrusted.length === 0) return `workspace configuration: trusted (${files.map((f) => f.path).join(', ')})\n\n`;
  return `workspace configuration: NOT trusted, its sandbox settings are ignored (${untrusted.map((f) => `${f.path}${f.trust === 'changed' ? ': changed since trusted' : ''}`).join(', ')}); \`cargo sandbox trust\` reviews them\n\n`;
}

function sourced<T>(s: Sourced<T>): { value: T; from: string } {
  return { value: s.value, from: s.source.kind === 'default' ? 'default' : describeSource(s.source) };
}

/** JSON: `value` true, false, or the destinations as written; a list also gives each one's source. */
function networkJson(n: Sourced<NetworkAccess>): { value: boolean | string[]; from: string; destinations?: { value: string; from: string }[] } {
  const { from } = sourced(n);
  if (typeof n.value === 'boolean') return { value: n.value, from };
  return { value: n.value.map((d) => formatDestination(d.value)), from, destinations: n.value.map((d) => ({ value: formatDestination(d.value), from: sourced(d).from })) };
}

/** Table cell: yes, no, or the destinations. */
export function networkSummary(n: NetworkAccess): string {
  if (typeof n === 'boolean') return n ? 'yes' : 'no';
  return n.map((d) => formatDestination(d.value)).join(' ') || 'no';
}

/** `allowed`, `none`, or the destinations, grouped by where they were written. */
function networkLines(n: Sourced<NetworkAccess>, procMacro: boolean): [string, string[]] {
  const macros = procMacro ? ['also for the compilations that load its proc macros'] : [];
  if (typeof n.value === 'boolean') return [`${n.value ? 'allowed' : 'none'} ${from(n.source)}`, n.value ? macros : []];
  if (n.value.length === 0) return [`none (an empty list) ${from(n.source)}`, []];
  const groups: { items: string[]; source: Source }[] = [];
  for (const d of n.value) {
    const last = groups.at(-1);
    if (last && describeSource(last.source) === describeSource(d.source)) last.items.push(formatDestination(d.value));
    else groups.push({ items: [formatDestination(d.value)], source: d.source });
  }
  const lines = groups.map((g) => `${g.items.join(', ')} ${from(g.source)}`);
  return [lines[0]!, [...lines.slice(1), 'only these: HTTP(S) through a filtering proxy, plain TCP to HOST:PORT entries through forwarders', ...macros]];
}

/** `policy --format json`: every key of each package, with where it came from (schema cargo-sandbox-policy/1). */
export function policyJson(ctx: SandboxContext, pkgs: readonly PolicyPackage[], pids: PidsStatus): string {
  const packages = pkgs.map((pkg) => {
    const g = grantsOf(ctx, pkg);
    const target = crossTarget(g);
    return {
      name: pkg.name,
      version: pkg.version,
      ...(pkg.checksum ? { checksum: pkg.checksum } : {}),
      ...(pkg.unverified ? { unverifiedChecksum: { claimed: pkg.claimedChecksum, why: pkg.unverified } } : {}),
      sandboxed: sourced(g.sandboxed),
      runsAs: g.runner ? { runner: sourced(g.runner) } : target ? { wasm: target } : 'native',
      network: networkJson(g.network),
      ...(pkg.procMacro ? { procMacro: true } : {}),
      read: g.read.map((p) => ({ value: p.value.display, from: sourced(p).from })),
      write: g.write.map((p) => ({ value: p.value.display, from: sourced(p).from })),
      env: g.env.map(sourced),
      exec: g.exec.map(sourced),
      limits: { timeoutSecs: sourced(g.timeoutSecs), maxMemory: sourced(g.maxMemory), maxFileSize: sourced(g.maxFileSize), maxDisk: sourced(g.maxDisk), maxOutput: sourced(g.maxOutput), maxProcesses: sourced(g.maxProcesses) },
    };
  });
  const trusted = ctx.workspaceFiles.every((f) => f.trust === 'trusted');
  // Whether the packages' max-processes holds here (root, or a cgroup delegated to the user), and if not, why and the fix.
  const maxProcesses = pids.enforced ? { enforced: true, how: pids.how, cgroup: pids.parent } : { enforced: false, why: pids.why, fix: PIDS_FIX };
  return `${JSON.stringify({ schema: 'cargo-sandbox-policy/1', workspace: ctx.workspaceRoot, workspaceConfigTrusted: trusted, maxProcesses, hidden: { system: SYSTEM_SECRETS, home: HOME_SECRETS.map((h) => `~/${h}`), workspace: [...ctx.workspaceSecrets.envFiles, ...ctx.workspaceSecrets.gitConfigs.map((c) => c.path)] }, packages }, null, 2)}\n`;
}

export function grantsOf(ctx: SandboxContext, pkg: PolicyPackage): EffectiveGrants {
  return effectiveGrants(ctx.config, pkg, ctx.vars);
}

/** One line per fact; continuation lines are indented under their key. */
export function describePackagePolicy(ctx: SandboxContext, pkg: PolicyPackage, pids?: PidsStatus): string {
  const g = grantsOf(ctx, pkg);
  const kind = pkg.buildScript === false ? ' (proc-macro crate without a build script: its network grant applies to the compilations that load it)' : '';
  const out: string[] = [`${pkg.name} v${pkg.version}${pkg.checksum ? ` (checksum ${pkg.checksum.slice(0, 12)}…)` : ''}${kind}`];
  const key = (name: string, first: string, more: string[] = []) => {
    out.push(`  ${`${name}:`.padEnd(16)}${first}`);
    for (const m of more) out.push(`${' '.repeat(18)}${m}`);
  };
  const wasm = crossTarget(g) !== undefined && !g.runner;
  if (pkg.unverified) key('checksum', `${pkg.claimedChecksum?.slice(0, 12)}… in Cargo.lock, NOT verified by cargo: no \`checksum\` approval applies`, [pkg.unverified]);
  key('sandboxed', g.sandboxed.value ? `yes ${from(g.sandboxed.source)}` : `NO: the build script runs with your full rights ${from(g.sandboxed.source)}`);
  key('runs as', runsAs(g, wasm));
  key('network', ...networkLines(g.network, pkg.procMacro ?? false));
  if (wasm) {
    const spawns = spawnsProcesses(pkg);
    if (spawns) key('warning', `${spawns}: WASI cannot, so it fails or quietly does less`, [`to run it natively under bubblewrap: \`cargo sandbox allow ${pkg.name} --target native\``]);
    key('read-only', `its package directory, through WASI (default)`, g.read.map((p) => `${p.value.display} ${from(p.source)}`));
    key('writable', 'its OUT_DIR and a private /tmp, through WASI (default)', g.write.map((p) => `${p.value.display} ${from(p.source)}`));
    key('programs', 'none: WASI cannot start processes (`target = "native"` runs it under bubblewrap)');
  } else {
    key('read-only', `system (/usr /lib* /bin /opt; of /etc only what builds need, docs/policy.md), toolchain, workspace ${ctx.workspaceRoot}, its package sources (default)`, g.read.map((p) => `${p.value.display} ${from(p.source)}`));
    key('writable', 'its OUT_DIR, a private /tmp (default)', g.write.map((p) => `${p.value.display} ${from(p.source)}`));
    key('programs', g.exec.length ? g.exec.map((e) => `${e.value} ${from(e.source)}`)[0]! : 'any visible in the sandbox (default)', g.exec.slice(1).map((e) => `${e.value} ${from(e.source)}`));
  }
  key('hidden', ...hiddenLines(ctx));
  key('environment', "cargo's build-script variables and the documented allowlist; secret-looking names removed (default)", g.env.map((e) => `${e.value} ${from(e.source)}`));
  key('build config', ...buildConfigLines(ctx));
  key('timeout', limit(g.timeoutSecs, (n) => `${n}s`));
  key('max-memory', limit(g.maxMemory, formatSize));
  key('max-file-size', limit(g.maxFileSize, formatSize));
  key('max-disk', `${limit(g.maxDisk, formatSize)}, OUT_DIR and /tmp together`);
  key('max-output', limit(g.maxOutput, formatSize));
  // Whether this host enforces it (backends/cgroups.ts), and how to get it where it does not.
  const unenforced = pids && !pids.enforced && g.maxProcesses.value > 0;
  key('max-processes', limit(g.maxProcesses, String), unenforced ? [`NOT enforced here: ${pids.why}`, ...PIDS_FIX] : []);
  key('compilations', ...compilationLines(ctx.config));
  return out.join('\n') + '\n';
}

function runsAs(g: EffectiveGrants, wasm: boolean): string {
  if (g.runner) return `\`${g.runner.value.join(' ')}\` (custom runner, no bubblewrap) ${from(g.runner.source)}`;
  const target = crossTarget(g);
  if (wasm && g.target) {
    const rustc = g.targetRustc ? `, compiled by ${g.targetRustc.value} ${from(g.targetRustc.source)}` : '';
    return `WebAssembly (${target}) under Node's WASI, inside bubblewrap ${from(g.target.source)}${rustc}`;
  }
  return 'a native process under bubblewrap, Landlock and seccomp (default)';
}

/** What stays masked even inside visible trees: home and system secrets, the workspace's own. */
function hiddenLines(ctx: SandboxContext): [string, string[]] {
  const found = ctx.workspaceSecrets;
  const lines = [
    `system secrets: ${SYSTEM_SECRETS.join(' ')}`,
    ...(found.envFiles.length ? [`workspace .env files: ${found.envFiles.join(' ')}`] : []),
    ...found.gitConfigs.map((c) => `${c.path}: shown without its credentials (extraheader, [credential], URL passwords)`),
    'reopen one with `allow-read = ["PATH"]` naming it (a grant of a tree that holds it does not)',
  ];
  return [`your home (only the workspace and toolchain show), and inside any visible tree ~/${HOME_SECRETS.join(' ~/')}`, lines];
}

/** The build-configuration variables set in your environment and the paths they show. */
function buildConfigLines(ctx: SandboxContext): [string, string[]] {
  const names = Object.keys(ctx.env).filter((n) => BUILD_CONFIG_PATTERNS.some((p) => globMatch(p, n)) && isPassed(ctx.policy.env, n)).sort();
  const shown = ctx.policy.buildConfig?.shown ?? [];
  const skipped = ctx.policy.buildConfig?.skipped ?? [];
  const lines = [
    ...shown.map((s) => `${s.variable}: ${displayPath(s.path, ctx.home)} shown read-only`),
    ...skipped.map((s) => `${s.variable}: ${displayPath(s.path, ctx.home)} not shown (${s.why})`),
  ];
  const summary = names.length ? `passed: ${names.join(' ')} (default; docs/policy.md lists the tools' variables)` : 'none set in your environment (docs/policy.md lists the tools\' variables, passed when set)';
  return [summary, lines];
}

function compilationLines(config: SandboxConfig): [string, string[]] {
  const sandboxed = config.procMacros?.value ?? true;
  const first = sandboxed
    ? `every rustc and rustdoc call sandboxed (proc macros, linkers), without network but for the allow-network grants of the proc-macro crates they load ${config.procMacros ? from(config.procMacros.source) : '(default)'}`
    : `on the host: proc macros and linkers run UNCONFINED ${from(config.procMacros!.source)}`;
  const run = config.run?.value
    ? `test, bench, example and \`cargo run\` binaries sandboxed ${from(config.run.source)}`
    : 'test and run binaries on the host (`--sandbox-run` or `run = true` confines them) (default)';
  return [first, [run]];
}
