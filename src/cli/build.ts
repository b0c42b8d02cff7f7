// `cargo sandbox <cmd> ...`: cargo with every build script sandboxed, then notes on failures.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { realHost } from '../backends/host.js';
import { findExecutable, preflight } from '../backends/preflight.js';
import { lookup, userTool } from '../config/cargo-config.js';
import { describeSource } from '../config/types.js';
import { pidsStatus } from '../backends/cgroups.js';
import { reportIssues } from '../diagnostics/config-issues.js';
import { createReporter, plural, UserError, type Reporter } from '../diagnostics/style.js';
import { explainBuild } from '../diagnostics/after-build.js';
import { contextTrustMode, enforceWorkspaceTrust, refuseDirectoryOption } from '../diagnostics/trust.js';
import { claimEntryDir, ensureFrontEnd, recordingHost, replayedFiles, resumeFrontEndRun, writeEntry } from '../intercept/session-cache.js';
import { createSession, RUNS_VARIABLE, warnUnenforcedPids, type BuildScriptRun, type Session } from '../intercept/session.js';
import { confineBinary, entryBinary } from '../backends/native-helpers.js';
import { packagePolicies } from '../policy/package-policies.js';
import type { CargoOptions } from './args.js';
import { loadContext, type SandboxContext } from './context.js';
import type { GrantFlag } from './grant-flags.js';
import { requireSupportedCargo } from './cargo-version.js';
import { cargoCommand, runCargo, type CargoExit } from './run-cargo.js';
import { userIdentityFile } from '../intercept/identity.js';
import { profileNote, profileRequested, readProfiles } from '../intercept/profile.js';
import { gateCommand } from './command-gate.js';
import { clippyFixAsFix, WORKSPACE_WRAPPER_NAME } from '../intercept/workspace-wrapper.js';
import { distrustForeignRustcInfo, recordRustcInfo, rustcInfoOf } from '../intercept/rustc-info.js';

/**
 * Cargo's target runner for test, bench, example and `cargo run` binaries: set per target triple
 * (the host's, and every --target), which outranks a runner in config files.
 */
function binaryRunnerEnv(targets: readonly string[], toolchain: string | undefined, env: NodeJS.ProcessEnv): Record<string, string> {
  const vv = spawnSync(env.RUSTC || 'rustc', [...(toolchain ? [toolchain] : []), '-vV'], { env, encoding: 'utf8' });
  const host = /^host: (\S+)$/m.exec(vv.stdout ?? '')?.[1];
  if (!host) throw new UserError('could not tell the host target from `rustc -vV`, needed for --sandbox-run');
  const runner = entryBinary('run-binary', env);
  return Object.fromEntries([host, ...targets].map((t) => [`CARGO_TARGET_${t.toUpperCase().replace(/[-.]/g, '_')}_RUNNER`, runner]));
}

/** Whether a configured tool is our own static entry point (a nested `cargo sandbox`): not chained. */
function ourEntry(path: string): boolean {
  return /\/entry-[0-9a-f]{16}$/.test(path) || path.endsWith(`/${WORKSPACE_WRAPPER_NAME}`);
}

/** What `cargo sandbox audit` adds to a sandboxed build. */
export interface BuildHooks {
  /** Variables for cargo, over the session's own. */
  extraEnv?: Record<string, string>;
  /** `cargo sandbox audit`: the strace that observes every sandbox from outside, and its trace's cap in bytes. */
  audit?: { strace: string; traceLimit: number };
  onSession?(session: Session): void;
  /** Where cargo's stderr goes instead of the terminal. */
  cargoStderr?: (chunk: string) => void;
  /** Every run record, before the session (and its traces) is removed. */
  collect?(runs: BuildScriptRun[], ctx: SandboxContext): void;
}

export async function sandboxedCargo(
  inv: { toolchain: string | undefined; cargoArgs: string[]; options: CargoOptions; grantFlags: GrantFlag[]; sandboxRun: boolean },
  env: NodeJS.ProcessEnv,
  userReporter: Reporter,
  hooks: BuildHooks = {},
  /** The front end's directory for this run's session (a miss in its cache). */
  cacheEntry?: string,
): Promise<CargoExit> {
  // What is printed before cargo starts is kept: the front end replays it with a cached session.
  let preamble = '';
  const reporter = createReporter({
    color: userReporter.color,
    quiet: userReporter.quiet,
    verbose: userReporter.verbose,
    write: (s) => {
      preamble += s;
      userReporter.raw(s);
    },
  });
  refuseDirectoryOption(inv.cargoArgs);
  const ctx = await loadContext(inv.options, inv.grantFlags, env);
  // Before anything runs cargo or rustc: the workspace's toolchain file and config are untrusted.
  enforceWorkspaceTrust(ctx.workspaceFiles, contextTrustMode(ctx, inv.cargoArgs, env, inv.toolchain), reporter, env);
  // Only commands whose every compilation goes through our wrapper.
  const gated = gateCommand(inv.cargoArgs, ctx.layers);
  const clippyFix = clippyFixAsFix(gated, inv.toolchain, env);
  // The user's own tools, which ours chain to (never ours again: a nested `cargo sandbox`).
  const usersTool = (tool: Parameters<typeof userTool>[0]) => {
    const found = userTool(tool, env, ctx.layers, ctx.cwd);
    return found && !ourEntry(resolve(ctx.cwd, found)) ? found : undefined;
  };
  const workspaceWrapper = clippyFix?.driver ?? usersTool('rustc-workspace-wrapper');
  const cargo = cargoCommand(inv.toolchain, env);
  requireSupportedCargo(cargo.program, cargo.prefix, env);
  reportIssues(reporter, ctx.issues);
  const errors = ctx.issues.filter((i) => i.level === 'error').length;
  if (errors) throw new UserError(`could not load the sandbox configuration: ${plural(errors, 'error')} above; nothing was built`);
  for (const p of ctx.config.packages) {
    if (p.grants.sandbox?.value === false) {
      reporter.message('warning', `the build script of \`${p.key}\` runs UNSANDBOXED (sandbox = false, ${describeSource(p.grants.sandbox.source)})`);
    }
  }
  const procMacros = ctx.config.procMacros?.value ?? true;
  const innerWrapper = usersTool('rustc-wrapper');
  if (innerWrapper && procMacros) {
    reporter.message('note', `your rustc wrapper \`${innerWrapper}\` is not used: every compilation runs in the sandbox, where a compiler cache (sccache, ...) cannot reach its server or cache directory`);
    reporter.message('help', '`sandbox.proc-macros = false` compiles on the host through it, as plain cargo does (proc macros then run unconfined)');
  }
  if (ctx.workspaceSecrets.truncated) {
    reporter.message('warning', `the workspace has more than 4096 directories within two levels of its root: \`.env\` files beyond them are not hidden from build scripts`);
  }
  const builder = preflight(env, process.platform, ctx.config.bwrap?.value, ctx.config.bwrap ? `sandbox.bwrap, ${describeSource(ctx.config.bwrap.source)}` : undefined);
  // Every host path this session depends on, as the front end will check it before replaying it.
  const checks = new Map<string, string>();
  const host = recordingHost(realHost, checks);
  host.entry(builder.path);
  // Where `.git` was looked for, and every workspace config file (an included one may not exist yet).
  for (const path of [...ctx.workspaceSecrets.looked, ...ctx.workspaceFiles.map((f) => f.path)]) host.entry(path);
  const policies = packagePolicies(ctx.config, ctx.locked, ctx.vars);
  for (const { grants } of policies.files) {
    const runner = grants.runner;
    // A list is enforced in bubblewrap's network namespace, which a custom runner replaces.
    const listed = typeof grants.network.value === 'object' ? grants.network.value[0] : undefined;
    if (runner && listed) {
      throw new UserError(
        `an \`allow-network\` list (${describeSource(listed.source)}) needs bubblewrap's network namespace, but the runner \`${runner.value[0]}\` (sandbox.runner, ${describeSource(runner.source)}) replaces bubblewrap; nothing was built`,
        ['the runner decides the network: use `allow-network = true` or `false` for this package'],
      );
    }
    const found = runner && findExecutable(runner.value[0]!, env);
    if (runner && !found) {
      throw new UserError(
        `the runner \`${runner.value[0]}\` (sandbox.runner, ${describeSource(runner.source)}) was not found or is not executable; nothing was built`,
        ['install it, or fix the path in `runner`; a bare name is looked up in PATH'],
      );
    }
    if (found) host.entry(found);
  }
  // Plain builds through the front end get a session it can replay next time (not audits, nor
  // profiled builds: the front end would not come back to Node for the profile's note).
  const profile = profileRequested(env);
  // `cargo install` builds in a temporary directory of its own, or in `--path`'s workspace: where,
  // nothing tells us, and compilations are shown artifacts only in the target dir they know
  // (libexec/entry/jail.rs). Unless the user named one, it builds in one of ours, as temporary.
  const installDir = gated.command === 'install' && !ctx.targetDirChosen ? mkdtempSync(join(tmpdir(), 'cargo-sandbox-install-')) : undefined;
  const targetDir = installDir ?? ctx.vars.TARGET_DIR;
  // Not for an install into a directory of this run's (removed at its end).
  const entryDir = cacheEntry && !hooks.collect && !profile && !installDir ? claimEntryDir(cacheEntry) : undefined;
  const pids = pidsStatus();
  if (!hooks.collect) ensureFrontEnd(env);
  const confine = confineBinary(env);
  host.entry(confine);
  const rustdoc = usersTool('rustdoc');
  // A network grant reaches a proc macro that a library re-exports (sqlx's `query!` comes from
  // sqlx-macros) only through the dependency graph; an audit records every macro's network.
  // (The launcher reads Cargo.lock then: cargo has written it by the time anything compiles.)
  const everyGrants = [ctx.config.global, ...ctx.config.packages.map((p) => p.grants)];
  const networkGranted = everyGrants.some((g) => g.allowNetwork !== undefined && g.allowNetwork.value !== false);
  const runsBinaries = inv.sandboxRun || ctx.config.run?.value;
  const identityFile = userIdentityFile(env);
  const rustcInfo = rustcInfoOf(targetDir, identityFile);
  const session = createSession({
    policy: ctx.policy,
    host,
    builderPath: builder.path,
    builderDirect: builder.direct,
    innerWrapper,
    packages: policies.files,
    fingerprints: policies.fingerprints,
    procMacros,
    env,
    confine,
    workspaceRoot: ctx.workspaceRoot,
    rustdoc,
    dir: entryDir,
    pids,
    ...(networkGranted || hooks.audit ? { lockfile: join(ctx.workspaceRoot, 'Cargo.lock') } : {}),
    identityFile,
    targetDir,
    buildDir: ctx.buildDir,
    profile,
    ...(runsBinaries ? { targetTmpdir: join(targetDir, 'tmp') } : {}),
    ...(hooks.audit ? { audit: hooks.audit.strace, auditTraceLimit: hooks.audit.traceLimit } : {}),
    ...(workspaceWrapper ? { workspaceWrapper } : {}),
  });
  warnUnenforcedPids(session, pids, everyGrants.find((g) => g.maxProcesses)?.maxProcesses?.source, reporter);
  try {
    const { program, prefix } = cargo;
    const runEnv: Record<string, string> = runsBinaries ? binaryRunnerEnv(inv.options.targets, inv.toolchain, env) : {};
    // With a build dir (`build.build-dir`), cargo keeps its copy of the compiler's version text
    // there, where rustc-info.ts does not look: it is not kept at all (one `rustc -vV` per run).
    if (env.CARGO_BUILD_BUILD_DIR !== undefined || ctx.layers.some((l) => lookup(l.table, ['build', 'build-dir']) !== undefined)) runEnv.CARGO_CACHE_RUSTC_INFO = '0';
    Object.assign(runEnv, clippyFix?.env);
    if (installDir) runEnv.CARGO_TARGET_DIR = installDir;
    const argv = [program, ...prefix, ...(clippyFix?.cargoArgs ?? inv.cargoArgs)];
    if (entryDir) {
      const { [RUNS_VARIABLE]: _perRun, ...sessionEnv } = session.env;
      const entryEnv = { ...sessionEnv, ...runEnv };
      // A new `.env`, a changed git config or workspace config file (included ones too: the front
      // end hashes only the files cargo finds by name) makes the session stale.
      const same = replayedFiles(entryDir, entryEnv, env, [...ctx.workspaceSecrets.watched, ...ctx.workspaceFiles.map((f) => f.path)]);
      writeEntry(entryDir, { env: entryEnv, argv, checks, same, preamble, rustcInfo });
    }
    hooks.onSession?.(session);
    distrustForeignRustcInfo(rustcInfo);
    const result = await runCargo(argv[0]!, argv.slice(1), { ...env, ...session.env, ...runEnv, ...hooks.extraEnv }, session.entry, hooks.cargoStderr);
    recordRustcInfo(rustcInfo);
    if (profile) reporter.message('note', profileNote(readProfiles(session.runsDir)));
    const runs = session.runs();
    hooks.collect?.(runs, ctx);
    // An audit reports what it found itself: no question in the middle of its rounds.
    await explainBuild(ctx, session, runs, result, reporter, !hooks.audit);
    return result;
  } finally {
    session.dispose();
    if (installDir) rmSync(installDir, { recursive: true, force: true });
  }
}

/** After the front end ran cargo with a cached session: explain what the build scripts did. */
export async function explainFrontEndRun(inv: { options: CargoOptions; grantFlags: GrantFlag[] }, after: string, env: NodeJS.ProcessEnv, reporter: Reporter): Promise<CargoExit> {
  const { session, exit } = resumeFrontEndRun(after);
  try {
    const ctx = await loadContext(inv.options, inv.grantFlags, env);
    await explainBuild(ctx, session, session.runs(), exit, reporter);
    return exit;
  } finally {
    session.dispose();
  }
}
