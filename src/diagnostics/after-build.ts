// After cargo: what the build scripts' supervisors found (links and modes they removed), pinned
// approvals that did not apply, and, when cargo failed, why each failed build script failed.

import { existsSync } from 'node:fs';
import { describeSource } from '../config/types.js';
import { readLockfile } from '../config/lockfile.js';
import { verifiedLockfile } from '../config/source-replacement.js';
import { crossTarget } from '../backends/package-policy.js';
import { sanitizeOutDir } from '../intercept/sanitize-outputs.js';
import type { BuildScriptRun, Session } from '../intercept/session.js';
import { effectiveGrants, type EffectiveGrants } from '../policy/effective.js';
import { staleApprovals } from '../policy/package-policies.js';
import type { SandboxContext } from '../cli/context.js';
import type { CargoExit } from '../cli/run-cargo.js';
import type { Reporter } from './style.js';
import { spawnsProcesses } from '../policy/wasm-spawners.js';

/** `prompt`: whether the user may be asked to allow what was denied (allow-prompt.ts decides). */
export async function explainBuild(ctx: SandboxContext, session: Session, runs: BuildScriptRun[], result: CargoExit, reporter: Reporter, prompt = true): Promise<void> {
  await warnStaleApprovals(ctx, runs, reporter);
  for (const run of runs) {
    const who = `the build script of \`${run.packageName} v${run.packageVersion}\``;
    const swept = run.supervised ? undefined : sanitizeOutDir(run.outDir);
    const modes = [...run.findings.filter((f) => f.kind === 'mode').map((f) => ({ path: f.subject, mode: parseInt(f.detail, 8) })), ...(swept?.fixed ?? [])];
    for (const u of swept?.unchecked ?? []) {
      reporter.message('warning', `${who} left \`${u.path}\`, which could not be checked for setuid, setgid or world-writable bits (${u.error}); do not run anything from its OUT_DIR before checking it`);
    }
    for (const f of modes) {
      reporter.message('warning', `${who} left \`${f.path}\` with mode ${f.mode.toString(8)}; its setuid, setgid and world-writable bits were removed`);
    }
    for (const f of run.findings.filter((f) => f.kind === 'symlink')) {
      reporter.message('warning', `${who} left a symlink \`${f.subject}\` -> \`${f.detail}\` leading out of its OUT_DIR; it was removed (rustc, which reads OUT_DIR in a sandbox of its own, would have followed it)`);
    }
    for (const f of run.findings.filter((f) => f.kind === 'special')) {
      reporter.message('warning', `${who} left a ${f.detail} \`${f.subject}\` in its OUT_DIR; it was removed (rustc would block on it or read a device)`);
    }
  }
  if (result.code === 0 && runs.length) await noteHiddenInputs(ctx, runs, reporter);
  if (result.code === 0 || result.signal) return;
  // A WebAssembly build script that probes rustc does not fail when it cannot: it quietly does
  // less (proc-macro2 turns features off), and a later crate fails with an unrelated error.
  const failedPaths = new Set((await import('./failure-notes.js')).failedRuns(runs).map((r) => r.outDir));
  for (const run of runs) {
    const grants = effectiveGrants(ctx.config, { name: run.packageName, version: run.packageVersion }, ctx.vars);
    if (failedPaths.has(run.outDir) || !crossTarget(grants) || grants.runner || !spawnsProcesses({ name: run.packageName })) continue;
    reporter.message('note', `the build script of \`${run.packageName} v${run.packageVersion}\` ran as WebAssembly and probes rustc, which WASI cannot start: it may have quietly turned features off, and an error above may come from that`);
    reporter.message('help', `to run it natively under bubblewrap: cargo sandbox allow ${run.packageName} --target native`);
    if (reporter.verbose) reporter.message('help', `or add to a cargo config file:\n    [sandbox.package.${run.packageName}]\n    target = "native"`);
  }
  // Loaded only after a failure: successful builds do not pay for the diagnostics.
  const { failedRuns, failureNotes, hintContext } = await import('./failure-notes.js');
  const { blockedHints, formatSize, proxyFindings } = await import('./blocked-hints.js');
  const { rerunForStderr } = await import('./rerun.js');
  // A script the audit stopped for flooding its trace is not rerun: it would flood again,
  // untraced (the audit says what happened: src/cli/audit.ts).
  const capped = (run: BuildScriptRun) => existsSync(run.envFile.replace(/\.env$/, '.trace-capped'));
  const failed = failedRuns(runs).filter((run) => !capped(run)).map((run) => {
    const grants = effectiveGrants(ctx.config, { name: run.packageName, version: run.packageVersion }, ctx.vars);
    const network = grants.network.value;
    const stopped = stoppedBySupervisor(run, grants, formatSize);
    if (stopped) return { run, network, blocked: [stopped] };
    const timeout = grants.timeoutSecs;
    // Killed by SIGXFSZ (128 + 25): it wrote past max-file-size. Not rerun: it would write it all again.
    if (run.exitCode === 128 + 25) {
      const { value, source } = grants.maxFileSize;
      const message = `it was stopped writing a file larger than its limit of ${formatSize(value)} (max-file-size, ${describeSource(source)})`;
      return { run, network, blocked: [{ kind: 'limit' as const, key: 'max-file-size' as const, suggest: formatSize(value * 4), message }] };
    }
    // A script stopped by its timeout is not rerun: it would only hang again.
    if (timeout && Date.now() - run.startedAtMs >= timeout.value * 1000) {
      const message = `it was stopped after its timeout of ${timeout.value}s (${describeSource(timeout.source)})`;
      return { run, network, blocked: [{ kind: 'timeout' as const, seconds: timeout.value, message }] };
    }
    const wasm = crossTarget(grants) !== undefined && !grants.runner;
    const hints = { ...hintContext(ctx.policy, run, ctx.home, ctx.env, wasm), maxMemory: { bytes: grants.maxMemory.value, where: describeSource(grants.maxMemory.source) } };
    const fromStderr = blockedHints(rerunForStderr(run, session.env, session.entry), hints);
    // What its proxy refused is known exactly: it replaces the guess from the error output.
    const refused = proxyFindings(run.network ?? []);
    // With the whole network, a network error is not the sandbox's doing.
    const blocked = refused.length || network === true ? [...refused, ...fromStderr.filter((f) => f.kind !== 'network')] : fromStderr;
    return { run, wasm, network, blocked };
  });
  // A package whose approvals are pinned gets a pinned table: an unpinned one would outlive upgrades.
  const pinned = (name: string) => ctx.config.packages.some((p) => p.spec.name === name && (p.spec.versionReq || p.spec.checksum));
  const view = await offerView(ctx);
  const { notes, help, offers } = failureNotes(failed, ctx.home, (run) => (pinned(run.packageName) && run.packageVersion ? `"${run.packageName}@=${run.packageVersion}"` : run.packageName), { verbose: reporter.verbose, view });
  for (const n of notes) reporter.message('note', n);
  for (const h of help) reporter.message('help', h);
  const { explainCompileNetwork } = await import('./compile-network.js');
  const more = explainCompileNetwork(ctx, session.runsDir, reporter, (name, version) => (pinned(name) && version ? `"${name}@=${version}"` : name));
  if (!prompt) return;
  const { maybePrompt } = await import('./allow-prompt.js');
  await maybePrompt([...offers, ...more], ctx.env, ctx.home, ctx.cwd, reporter);
}

/** What denial offers are judged against: the masks, the home, the workspace (allow-offers.ts). */
async function offerView(ctx: SandboxContext): Promise<import('./allow-offers.js').OfferView> {
  const { codeTreesOf } = await import('../audit/suggest.js');
  const { safeRealpath } = await import('../paths.js');
  return { home: ctx.home, masked: ctx.policy.masked, codeTrees: codeTreesOf(ctx), realpath: safeRealpath, workspaceRoot: ctx.workspaceRoot, envDeny: ctx.policy.env.deny };
}

/** A failure the supervisor or a process limit explains by itself (no rerun needed). */
function stoppedBySupervisor(run: BuildScriptRun, grants: EffectiveGrants, formatSize: (n: number) => string) {
  const directive = run.findings.find((f) => f.kind === 'directive');
  if (directive) {
    const message = `it asked cargo to set \`${directive.subject}\` for rustc (\`${directive.detail}\`); rustc and the linker run outside the build script's sandbox, and this variable would make them load or run a program of the script's choosing, write where the script says, or change what cargo-sandbox shows them, so the build script was failed (no grant allows this)`;
    return { kind: 'refused' as const, message };
  }
  const argFile = run.findings.find((f) => f.kind === 'argfile');
  if (argFile) {
    const message = `it gave cargo \`cargo:${argFile.subject}\` with a value starting with \`@\` (\`${argFile.detail}\`), which rustc reads as a file of more arguments: they would reach rustc and the linker, outside the build script's sandbox, unchecked, so the build script was failed (no grant allows this)`;
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
  const locked = verifiedLockfile(await readLockfile(ctx.workspaceRoot), ctx.sourceFacts) ?? [];
  const ran = runs.map((r) => locked.find((p) => p.name === r.packageName && p.version === r.packageVersion) ?? { name: r.packageName, version: r.packageVersion });
  const seen = new Set<string>();
  for (const { key, locked: pkg } of staleApprovals(ctx.config, ran)) {
    if (seen.has(`${pkg.name}@${pkg.version}`)) continue;
    seen.add(`${pkg.name}@${pkg.version}`);
    const pinnedVersion = /@=(.+)$/.exec(key)?.[1];
    const pinned = ctx.config.packages.find((p) => p.key === key)?.spec.checksum;
    if (pkg.unverified && (!pinnedVersion || pinnedVersion === pkg.version) && (!pinned || pinned === pkg.claimedChecksum)) {
      // The claim matches the approval, but cargo did not check it: the sources may be anything.
      reporter.message('warning', `the grants of \`[sandbox.package."${key}"]\` are pinned to a checksum, and Cargo.lock's checksum of \`${pkg.name} v${pkg.version}\` was not verified by cargo: ${pkg.unverified}; its build script ran with the default policy`);
      reporter.message('help', `a checksum pin binds an approval only to sources cargo hashed itself (a registry download); review \`${pkg.name}\` with \`cargo sandbox audit -p ${pkg.name}\`, and approve it without \`checksum\` in your own config if you accept whatever the replacement holds`);
      continue;
    }
    const approvedFor = pinnedVersion && pinnedVersion !== pkg.version ? `version ${pinnedVersion}, not \`${pkg.name} v${pkg.version}\`` : `other sources than \`${pkg.name} v${pkg.version}\` (its checksum changed)`;
    reporter.message('warning', `the grants of \`[sandbox.package."${key}"]\` were approved for ${approvedFor} in Cargo.lock; its build script ran with the default policy`);
    reporter.message('help', `review what the new version does with \`cargo sandbox audit -p ${pkg.name}\`, then approve it with \`cargo sandbox audit --suggest --write\``);
  }
}

/** After a successful build: what the sandbox hid that its scripts may have wanted, said once. */
async function noteHiddenInputs(ctx: SandboxContext, runs: readonly BuildScriptRun[], reporter: Reporter): Promise<void> {
  const { findHiddenInputs, hiddenInputsMessages, alreadySaid } = await import('./hidden-inputs.js');
  const { cacheDirs, usableDir } = await import('../backends/native-helpers.js');
  const found = findHiddenInputs(runs, ctx.env, ctx.home, ctx.policy, (run) => effectiveGrants(ctx.config, { name: run.packageName, version: run.packageVersion }, ctx.vars));
  const { notes, help } = hiddenInputsMessages(found, ctx.home, ctx.policy.masked, reporter.verbose);
  if (alreadySaid([...notes, ...help], ctx.workspaceRoot, cacheDirs(ctx.env).find(usableDir))) return;
  for (const n of notes) reporter.message('note', n);
  for (const h of help) reporter.message('help', h);
}
