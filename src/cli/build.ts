// `cargo sandbox <cmd> ...`: cargo with every build script sandboxed, then notes on failures.

import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { realHost } from '../backends/host.js';
import { crossTarget } from '../backends/package-policy.js';
import { findExecutable, preflight } from '../backends/preflight.js';
import { userRustcWrapper } from '../config/cargo-config.js';
import { describeSource } from '../config/types.js';
import { reportIssues } from '../diagnostics/config-issues.js';
import { UserError, type Reporter } from '../diagnostics/style.js';
import { sanitizeOutDir } from '../intercept/sanitize-outputs.js';
import { createSession, type BuildScriptRun, type Session } from '../intercept/session.js';
import { confineBinary } from '../backends/confine.js';
import type { EffectiveGrants } from '../policy/effective.js';
import { LIBEXEC } from '../paths.js';
import { effectiveGrants } from '../policy/effective.js';
import { packagePolicies, staleApprovals } from '../policy/package-policies.js';
import { readLockfile } from '../config/lockfile.js';
import type { CargoOptions } from './args.js';
import { loadContext, type SandboxContext } from './context.js';
import type { GrantFlag } from './grant-flags.js';
import { cargoCommand, runCargo, type CargoExit } from './run-cargo.js';

/**
 * Cargo's target runner for test, bench, example and `cargo run` binaries: set per target triple
 * (the host's, and every --target), which outranks a runner in config files.
 */
function binaryRunnerEnv(targets: readonly string[], toolchain: string | undefined, env: NodeJS.ProcessEnv): Record<string, string> {
  const vv = spawnSync(env.RUSTC || 'rustc', [...(toolchain ? [toolchain] : []), '-vV'], { env, encoding: 'utf8' });
  const host = /^host: (\S+)$/m.exec(vv.stdout ?? '')?.[1];
  if (!host) throw new UserError('could not tell the host target from `rustc -vV`, needed for --sandbox-run');
  const runner = join(LIBEXEC, 'run-binary');
  return Object.fromEntries([host, ...targets].map((t) => [`CARGO_TARGET_${t.toUpperCase().replace(/[-.]/g, '_')}_RUNNER`, runner]));
}

/** What `cargo sandbox audit` adds to a sandboxed build. */
export interface BuildHooks {
  /** Variables for cargo and the launchers, over the session's own. */
  extraEnv?: Record<string, string>;
  onSession?(session: Session): void;
  /** Every run record, before the session (and its traces) is removed. */
  collect?(runs: BuildScriptRun[], ctx: SandboxContext): void;
}

export async function sandboxedCargo(
  inv: { toolchain: string | undefined; cargoArgs: string[]; options: CargoOptions; grantFlags: GrantFlag[]; sandboxRun: boolean },
  env: NodeJS.ProcessEnv,
  reporter: Reporter,
  hooks: BuildHooks = {},
): Promise<CargoExit> {
  const ctx = await loadContext(inv.options, inv.grantFlags, env);
  reportIssues(reporter, ctx.issues);
  const errors = ctx.issues.filter((i) => i.level === 'error').length;
  if (errors) throw new UserError(`could not load the sandbox configuration: ${errors} error(s) above; nothing was built`);
  for (const p of ctx.config.packages) {
    if (p.grants.sandbox?.value === false) {
      reporter.message('warning', `the build script of \`${p.key}\` runs UNSANDBOXED (sandbox = false, ${describeSource(p.grants.sandbox.source)})`);
    }
  }
  const bwrapPath = preflight(env, process.platform, ctx.config.bwrap?.value);
  const policies = packagePolicies(ctx.config, ctx.locked, ctx.vars);
  for (const { grants } of policies.files) {
    const runner = grants.runner;
    if (runner && !findExecutable(runner.value[0]!, env)) {
      throw new UserError(
        `the runner \`${runner.value[0]}\` (sandbox.runner, ${describeSource(runner.source)}) was not found or is not executable; nothing was built`,
        ['install it, or fix the path in `runner`; a bare name is looked up in PATH'],
      );
    }
  }
  const inner = userRustcWrapper(env, ctx.layers, ctx.cwd);
  const session = createSession({
    policy: ctx.policy,
    host: realHost,
    bwrapPath,
    innerWrapper: inner && resolve(ctx.cwd, inner) !== resolve(LIBEXEC, 'rustc-wrapper') ? inner : undefined,
    packages: policies.files,
    fingerprints: policies.fingerprints,
    procMacros: ctx.config.procMacros?.value ?? true,
    env,
    confine: confineBinary(env),
  });
  if (!session.pidsLimited) {
    const explicit = [ctx.config.global, ...ctx.config.packages.map((p) => p.grants)].find((g) => g.maxProcesses)?.maxProcesses;
    if (explicit) reporter.message('warning', `max-processes (${describeSource(explicit.source)}) is not enforced here: this host offers no writable pids cgroup (run as root, or with a delegated cgroup)`);
  }
  try {
    const { program, prefix } = cargoCommand(inv.toolchain, env);
    const runEnv = inv.sandboxRun || ctx.config.run?.value
      ? { ...binaryRunnerEnv(inv.options.targets, inv.toolchain, env), __CARGO_SANDBOX_TARGET_TMPDIR: join(ctx.vars.TARGET_DIR, 'tmp') }
      : {};
    hooks.onSession?.(session);
    const result = await runCargo(program, [...prefix, ...inv.cargoArgs], { ...env, ...session.env, ...runEnv, ...hooks.extraEnv });
    const runs = session.runs();
    hooks.collect?.(runs, ctx);
    await warnStaleApprovals(ctx, runs, reporter);
    for (const run of runs) {
      const who = `the build script of \`${run.packageName} v${run.packageVersion}\``;
      const modes = [...run.findings.filter((f) => f.kind === 'mode').map((f) => ({ path: f.subject, mode: parseInt(f.detail, 8) })), ...(run.supervised ? [] : sanitizeOutDir(run.outDir))];
      for (const f of modes) {
        reporter.message('warning', `${who} left \`${f.path}\` with mode ${f.mode.toString(8)}; its setuid, setgid and world-writable bits were removed`);
      }
      for (const f of run.findings.filter((f) => f.kind === 'symlink')) {
        reporter.message('warning', `${who} left a symlink \`${f.subject}\` -> \`${f.detail}\` leading out of its OUT_DIR; it was removed (rustc, which runs outside the sandbox, would have followed it)`);
      }
    }
    if (result.code !== 0 && !result.signal) {
      // Loaded only after a failure: successful builds do not pay for the diagnostics.
      const { failedRuns, failureNotes, hintContext } = await import('../diagnostics/failure-notes.js');
      const { blockedHints, formatSize } = await import('../diagnostics/blocked-hints.js');
      const { rerunForStderr } = await import('../diagnostics/rerun.js');
      const failed = failedRuns(runs).map((run) => {
        const grants = effectiveGrants(ctx.config, { name: run.packageName, version: run.packageVersion }, ctx.vars);
        const stopped = stoppedBySupervisor(run, grants, formatSize);
        if (stopped) return { run, blocked: [stopped] };
        const timeout = grants.timeoutSecs;
        // Killed by SIGXFSZ (128 + 25): it wrote past max-file-size. Not rerun: it would write it all again.
        if (run.exitCode === 128 + 25) {
          const { value, source } = grants.maxFileSize;
          const message = `it was stopped writing a file larger than its limit of ${formatSize(value)} (max-file-size, ${describeSource(source)})`;
          return { run, blocked: [{ kind: 'limit' as const, key: 'max-file-size' as const, suggest: formatSize(value * 4), message }] };
        }
        // A script stopped by its timeout is not rerun: it would only hang again.
        if (timeout && Date.now() - run.startedAtMs >= timeout.value * 1000) {
          const message = `it was stopped after its timeout of ${timeout.value}s (${describeSource(timeout.source)})`;
          return { run, blocked: [{ kind: 'timeout' as const, seconds: timeout.value, message }] };
        }
        const wasm = crossTarget(grants) !== undefined && !grants.runner;
        const hints = { ...hintContext(ctx.policy, run, ctx.home, env, wasm), maxMemory: { bytes: grants.maxMemory.value, where: describeSource(grants.maxMemory.source) } };
        return { run, blocked: blockedHints(rerunForStderr(run, session.env), hints) };
      });
      const { notes, help } = failureNotes(failed, ctx.home);
      for (const n of notes) reporter.message('note', n);
      for (const h of help) reporter.message('help', h);
    }
    return result;
  } finally {
    session.dispose();
  }
}

/** A failure the supervisor or a process limit explains by itself (no rerun needed). */
function stoppedBySupervisor(run: BuildScriptRun, grants: EffectiveGrants, formatSize: (n: number) => string) {
  const directive = run.findings.find((f) => f.kind === 'directive');
  if (directive) {
    const message = `it asked cargo to set \`${directive.subject}\` for rustc (\`${directive.detail}\`); rustc and the linker run outside the sandbox, and this variable would make them load or run a program of the script's choosing, so the build script was failed (no grant allows this)`;
    return { kind: 'refused' as const, message };
  }
  if (run.findings.some((f) => f.kind === 'output')) {
    const { value, source } = grants.maxOutput;
    const message = `it was stopped after writing more than ${formatSize(value)} of output (max-output, ${describeSource(source)})`;
    return { kind: 'limit' as const, key: 'max-output' as const, suggest: formatSize(value * 4), message };
  }
  if (run.findings.some((f) => f.kind === 'disk')) {
    const { value, source } = grants.maxDisk;
    const message = `it was stopped when its files (OUT_DIR and /tmp) grew over its limit of ${formatSize(value)} (max-disk, ${describeSource(source)}); OUT_DIR was emptied`;
    return { kind: 'limit' as const, key: 'max-disk' as const, suggest: formatSize(value * 4), message };
  }
  if (run.processRefusals > 0) {
    const { value, source } = grants.maxProcesses;
    const message = `it was refused ${run.processRefusals} new process(es) at its limit of ${value} processes alive at once (max-processes, ${describeSource(source)})`;
    return { kind: 'limit' as const, key: 'max-processes' as const, suggest: value * 4, message };
  }
  return undefined;
}

/**
 * Pinned approvals (`name@=version`, `checksum`) that did not apply to the version that ran: it ran
 * with the default policy. Checked after cargo, which may have just updated Cargo.lock.
 */
async function warnStaleApprovals(ctx: SandboxContext, runs: readonly BuildScriptRun[], reporter: Reporter): Promise<void> {
  if (!ctx.config.packages.some((p) => p.spec.versionReq || p.spec.checksum)) return;
  const locked = (await readLockfile(ctx.workspaceRoot)) ?? [];
  const ran = runs.map((r) => locked.find((p) => p.name === r.packageName && p.version === r.packageVersion) ?? { name: r.packageName, version: r.packageVersion });
  const seen = new Set<string>();
  for (const { key, locked: pkg } of staleApprovals(ctx.config, ran)) {
    if (seen.has(`${pkg.name}@${pkg.version}`)) continue;
    seen.add(`${pkg.name}@${pkg.version}`);
    reporter.message('warning', `the grants of \`[sandbox.package."${key}"]\` were approved for other sources than \`${pkg.name} v${pkg.version}\` in Cargo.lock; its build script ran with the default policy`);
    reporter.message('help', `review what the new version does with \`cargo sandbox audit -p ${pkg.name}\`, then approve it with \`cargo sandbox audit --suggest --write\``);
  }
}
