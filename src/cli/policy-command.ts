// `cargo sandbox policy [PKG...]`: the effective policy of build scripts, with where each grant
// came from. Without PKG: a table of every package that has a build script.

import { spawnSync } from 'node:child_process';
import { readLockfile } from '../config/lockfile.js';
import { loadUserSourceConfigs, sourceFacts, verifiedLockfile } from '../config/source-replacement.js';
import { cargoHome } from '../config/cargo-config.js';
import { reportIssues } from '../diagnostics/config-issues.js';
import { UserError, type Reporter } from '../diagnostics/style.js';
import type { EffectiveGrants } from '../policy/effective.js';
import type { CargoOptions } from './args.js';
import { loadContext } from './context.js';
import type { GrantFlag } from './grant-flags.js';
import { describePackagePolicy, grantsOf, networkSummary, policyJson, trustLine, type PolicyPackage } from './policy-view.js';
import { contextTrustMode, enforceWorkspaceTrust } from '../diagnostics/trust.js';
import { PIDS_FIX, pidsStatus } from '../backends/cgroups.js';

type BuildScriptPackage = PolicyPackage;

/** Packages with a build script, and proc-macro crates (whose network grant applies to compilations). */
function packagesWithBuildScripts(options: CargoOptions, env: NodeJS.ProcessEnv, cwd: string): BuildScriptPackage[] {
  const args = ['metadata', '--format-version', '1'];
  if (options.manifestPath) args.push('--manifest-path', options.manifestPath);
  for (const c of options.configArgs) args.push('--config', c);
  const r = spawnSync(env.CARGO || 'cargo', args, { cwd, env, encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) {
    throw new UserError(`\`cargo metadata\` failed, so the packages are unknown:\n${(r.stderr ?? '').trim()}`);
  }
  const meta = JSON.parse(r.stdout) as { packages: { name: string; version: string; targets: { kind: string[] }[]; dependencies: { name: string; kind: string | null }[] }[] };
  const has = (p: (typeof meta.packages)[number], kind: string) => p.targets.some((t) => t.kind.includes(kind));
  return meta.packages
    .filter((p) => has(p, 'custom-build') || has(p, 'proc-macro'))
    .map((p) => ({ name: p.name, version: p.version, buildDependencies: p.dependencies.filter((d) => d.kind === 'build').map((d) => d.name), buildScript: has(p, 'custom-build'), ...(has(p, 'proc-macro') ? { procMacro: true } : {}) }))
    .sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
}

function summary(g: EffectiveGrants): string[] {
  return [
    g.sandboxed.value ? 'yes' : 'NO',
    networkSummary(g.network.value),
    g.read.map((p) => p.value.display).join(' ') || '-',
    g.write.map((p) => p.value.display).join(' ') || '-',
    g.env.map((e) => e.value).join(' ') || '-',
    g.timeoutSecs ? `${g.timeoutSecs.value}s` : '-',
  ];
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n';
}

export async function runPolicyCommand(
  inv: { packages: string[]; format: 'table' | 'json'; options: CargoOptions; grantFlags: GrantFlag[] },
  env: NodeJS.ProcessEnv,
  reporter: Reporter,
): Promise<number> {
  const ctx = await loadContext(inv.options, inv.grantFlags, env);
  reportIssues(reporter, ctx.issues);
  if (ctx.issues.some((i) => i.level === 'error')) return 101;
  // `cargo metadata` runs the workspace's rustc wrapper and toolchain: not before they are trusted.
  enforceWorkspaceTrust(ctx.workspaceFiles, contextTrustMode(ctx, ['build'], env), reporter, env);
  if (inv.format === 'table') process.stdout.write(trustLine(ctx.workspaceFiles));
  // Checksums come from Cargo.lock, as the build matches `checksum` tables (cargo metadata has none).
  // Only checksums cargo verified (source-replacement.ts): the build's decision, shown.
  const facts = ctx.locked ? ctx.sourceFacts : sourceFacts(ctx.workspaceRoot, await loadUserSourceConfigs({ cwd: ctx.cwd, cargoHomeDir: cargoHome(env, ctx.home), home: ctx.home, configArgs: inv.options.configArgs, workspaceRoot: ctx.workspaceRoot }), ctx.workspaceFiles);
  const locked = ctx.locked ?? verifiedLockfile(await readLockfile(ctx.workspaceRoot), facts) ?? [];
  const all = packagesWithBuildScripts(inv.options, env, ctx.cwd)
    .map((p) => {
      // Locked from several sources that differ: no checksum, as the build decides (package-policies.ts).
      const same = locked.filter((l) => l.name === p.name && l.version === p.version);
      const agree = same.every((l) => l.checksum === same[0]?.checksum);
      const checksum = agree ? same[0]?.checksum : undefined;
      const claimed = same.find((l) => l.unverified !== undefined);
      return { ...p, ...(checksum ? { checksum } : {}), ...(claimed ? { claimedChecksum: claimed.claimedChecksum, unverified: claimed.unverified } : {}) };
    })
    // A proc-macro crate without a build script matters only with a network grant (or by name).
    .filter((p) => p.buildScript || inv.packages.includes(p.name) || grantsOf(ctx, p).network.value !== false);
  const unknown = inv.packages.filter((name) => !all.some((p) => p.name === name));
  for (const name of unknown) reporter.message('error', `package \`${name}\` has no build script and is no proc-macro crate in this workspace's dependency graph`);
  const pids = pidsStatus();
  if (inv.format === 'json') {
    process.stdout.write(policyJson(ctx, inv.packages.length ? all.filter((p) => inv.packages.includes(p.name)) : all, pids));
    return unknown.length ? 101 : 0;
  }
  if (!pids.enforced) {
    reporter.message('note', `max-processes is not enforced here: ${pids.why}`);
    for (const fix of PIDS_FIX) reporter.message('help', fix);
  }
  if (inv.packages.length === 0) {
    const rows = [['PACKAGE', 'SANDBOXED', 'NETWORK', 'READ', 'WRITE', 'ENV', 'TIMEOUT']];
    for (const pkg of all) rows.push([`${pkg.name} v${pkg.version}${pkg.buildScript ? '' : ' (proc macro)'}`, ...summary(grantsOf(ctx, pkg))]);
    process.stdout.write(table(rows));
    return 0;
  }
  for (const name of inv.packages) for (const pkg of all.filter((p) => p.name === name)) process.stdout.write(describePackagePolicy(ctx, pkg, pids));
  return unknown.length ? 101 : 0;
}
