// `cargo sandbox audit [--suggest [--write]] [--format table|json] [--html FILE] [cargo build args]`:
// builds with every build script traced (strace, around its sandbox), then reports what each did,
// riskiest first; suggests the least grants that make the build pass, pinned to the exact version
// and checksum; records what was approved in cargo-sandbox.lock and shows what changed since.

import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { findExecutable } from '../backends/preflight.js';
import { approvalsFor, APPROVALS_FILE, changesSince, readApprovals, writeApprovals } from '../audit/approvals.js';
import { renderHtml } from '../audit/html.js';
import { connections, observe, riskScore, withProxyRecords, type NetworkAttempt } from '../audit/observe.js';
import { AUDIT_SCHEMA, formatBytes, renderDetails, renderTable, type AuditReport, type ScriptAudit } from '../audit/report.js';
import { parseSize } from '../config/grant-values.js';
import { parseStrace } from '../audit/strace.js';
import { codeTreesOf, grantArgs, mergeIntoConfig, mergeSuggestedNetwork, renderSuggestion, suggestGrants, type SecretView, type SuggestedGrants, type WithheldGrant } from '../audit/suggest.js';
import { createReporter, plural, UserError, type Reporter } from '../diagnostics/style.js';
import { fingerprintVariable, type BuildScriptRun } from '../intercept/session.js';
import { packageVersion, safeRealpath } from '../paths.js';
import type { CargoOptions } from './args.js';
import { sandboxedCargo } from './build.js';
import { loadContext, type SandboxContext } from './context.js';
import { contextTrustMode, enforceWorkspaceTrust, refuseDirectoryOption } from '../diagnostics/trust.js';
import { trustFindings } from '../config/workspace-trust.js';
import { staleApprovals } from '../policy/package-policies.js';
import { cargoHome } from '../config/cargo-config.js';
import { SYSTEM_TREES } from '../policy/default-policy.js';
import { TRUST_VARIABLE } from '../config/trust-store.js';
import { extractGrantFlags, type GrantFlag } from './grant-flags.js';
import { cargoMetadata, clearBuildDirs, type Metadata } from './audit-workspace.js';
import { macroAudits, suggestMacroGrants, type MacroAudit } from '../audit/macros.js';
import { readCompileRecords } from '../intercept/network-records.js';

/** strace output per sandboxed process, by default: a loop of system calls wrote 433 MiB in 30 s. */
export const DEFAULT_TRACE_LIMIT = 64 * 1024 * 1024;

export interface AuditInvocation {
  toolchain: string | undefined;
  /** Arguments for `cargo build` (ours removed). */
  cargoArgs: string[];
  options: CargoOptions;
  grantFlags: GrantFlag[];
}

interface AuditFlags {
  suggest: boolean;
  write: boolean;
  /** Also suggest grants to secrets, the home directory and the network (never by default). */
  risky: boolean;
  /** Bytes of strace output per sandboxed process before it is stopped (trace_cap.rs). */
  traceLimit: number;
  format: 'table' | 'json';
  html?: string;
}

/** Takes our flags out of the audit's arguments. */
export function parseAuditFlags(args: readonly string[]): { flags: AuditFlags; rest: string[] } {
  const flags: AuditFlags = { suggest: false, write: false, risky: false, format: 'table', traceLimit: DEFAULT_TRACE_LIMIT };
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = (name: string) => {
      if (a.startsWith(`${name}=`)) return a.slice(name.length + 1);
      const v = args[++i];
      if (v === undefined) throw new UserError(`\`${name}\` needs a value`);
      return v;
    };
    if (a === '--suggest') flags.suggest = true;
    else if (a === '--write') flags.write = flags.suggest = true;
    else if (a === '--suggest-risky') flags.risky = flags.suggest = true;
    else if (a === '--format' || a.startsWith('--format=')) {
      const f = value('--format');
      if (f !== 'table' && f !== 'json') throw new UserError(`unknown audit format \`${f}\``, ['use `--format table` or `--format json`']);
      flags.format = f;
    } else if (a === '--html' || a.startsWith('--html=')) flags.html = value('--html');
    else if (a === '--trace-limit' || a.startsWith('--trace-limit=')) {
      const v = value('--trace-limit');
      const n = parseSize(v);
      if (!n) throw new UserError(`invalid trace limit \`${v}\``, ['give a size: `--trace-limit 256MiB`']);
      flags.traceLimit = n;
    }
    else rest.push(a);
  }
  return { flags, rest };
}

/**
 * Where a write grant would let a build script change what runs later on the host: the workspace
 * (sources, `.git/hooks`, `.cargo/config.toml`), cargo's and rustup's homes, every PATH directory,
 * and the system trees.
 */
const codeTrees = codeTreesOf;

/**
 * Where a read may be proposed plainly (suggest.ts): the workspace, the toolchain, cargo's
 * registry and git checkouts, and the system's public trees (not /etc, not the home).
 */
function publicTrees(ctx: SandboxContext): string[] {
  const cargo = cargoHome(ctx.env, ctx.home);
  return [ctx.workspaceRoot, join(cargo, 'registry'), join(cargo, 'git'), ctx.env.RUSTUP_HOME || join(ctx.home, '.rustup'), ...SYSTEM_TREES, '/nix/store'];
}

/** The connections in a compilation's trace (connect, sendto and sendmsg only: strace -e). */
function tracedConnections(path: string | undefined): NetworkAttempt[] {
  if (!path || !existsSync(path)) return [];
  return connections(parseStrace(readFileSync(path, 'utf8')));
}

/** The real build-script binary beside the launcher cargo ran (the rustc wrapper, libexec/entry/build_script.rs, keeps it as NAME.real or NAME.wasm). */
function realBinary(run: BuildScriptRun): string | undefined {
  try {
    const dir = dirname(run.launcherPath);
    const real = readdirSync(dir).find((n) => /^build_script_[^.]*\.(?:real|wasm)$/.test(n));
    return real ? join(dir, real) : undefined;
  } catch {
    return undefined;
  }
}

function declaredEnv(outDir: string): string[] {
  try {
    const text = readFileSync(join(dirname(outDir), 'output'), 'utf8');
    return [...new Set([...text.matchAll(/^cargo::?rerun-if-env-changed=(.+)$/gm)].map((m) => m[1]!.trim()))].sort();
  } catch {
    return [];
  }
}

function auditRun(run: BuildScriptRun, ctx: SandboxContext, meta: Metadata): ScriptAudit | undefined {
  const record = run.envFile.replace(/\.env$/, '');
  const binary = realBinary(run);
  if (!binary || !existsSync(`${record}.trace`)) return undefined;
  const buildRoot = dirname(dirname(run.outDir));
  const capped = traceCap(`${record}.trace-capped`);
  let text = readFileSync(`${record}.trace`, 'utf8');
  // Cut at the limit: its last line may be a part of one.
  if (capped) text = text.slice(0, text.lastIndexOf('\n') + 1);
  const traced = observe(parseStrace(text), {
    scriptBinary: binary,
    readable: [...ctx.policy.system, ...ctx.policy.etc, ...ctx.policy.readOnly, run.manifestDir, buildRoot, run.outDir, '/proc', '/dev'],
    private: ['/tmp'],
    masked: ctx.policy.masked,
    writable: [run.outDir, '/tmp', '/dev'],
    cwd: run.manifestDir,
    exists: existsSync,
  });
  // In an audit every sandboxed script without the whole network runs behind the proxy: it names
  // what the script tried to reach, which the trace sees only as connects to the proxy.
  const observation = withProxyRecords(traced, run.network);
  let ended = run.startedAtMs;
  try {
    ended = statSync(`${record}.status`).mtimeMs;
  } catch {
    /* no status: it did not finish */
  }
  const locked = ctx.locked?.find((p) => p.name === run.packageName && p.version === run.packageVersion);
  return {
    package: run.packageName,
    version: run.packageVersion,
    ...(locked?.checksum ? { checksum: locked.checksum } : {}),
    dependencyPath: meta.scripts.get(`${run.packageName} ${run.packageVersion}`) ?? [`${run.packageName} ${run.packageVersion}`],
    durationMs: Math.max(0, Math.round(ended - run.startedAtMs)),
    ...(run.exitCode !== undefined ? { exitCode: run.exitCode } : {}),
    risk: riskScore(observation, run.exitCode),
    ...observation,
    envDeclared: declaredEnv(run.outDir),
    ...(capped ? { traceCapped: capped } : {}),
  };
}

/** The limit a trace reached (libexec/entry/trace_cap.rs writes it beside the trace), or undefined. */
function traceCap(marker: string): number | undefined {
  try {
    const n = Number(readFileSync(marker, 'utf8').trim());
    return n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

function writeAtomically(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

export async function runAudit(inv: AuditInvocation, env: NodeJS.ProcessEnv, reporter: Reporter): Promise<number> {
  const strace = findExecutable(env.CARGO_SANDBOX_STRACE || 'strace', env);
  if (!strace) throw new UserError('`cargo sandbox audit` observes build scripts with strace, which was not found in PATH', ['install it: `sudo apt-get install strace` (Debian/Ubuntu), `sudo dnf install strace` (Fedora)']);
  const { flags, rest } = parseAuditFlags(inv.cargoArgs);
  // `cargo metadata` runs the workspace's rustc wrapper and toolchain: not before they are trusted.
  refuseDirectoryOption(rest);
  const first = await loadContext(inv.options, inv.grantFlags, env);
  const silent = createReporter({ color: false, write: () => {} }); // the build below says the rest
  enforceWorkspaceTrust(first.workspaceFiles, contextTrustMode(first, ['build'], env, inv.toolchain), silent, env);
  const meta = cargoMetadata(inv, env);
  const auditTarget = join(meta.targetDir, 'cargo-sandbox-audit');
  const tty = Boolean(process.stderr.isTTY) && !inv.options.quiet;
  let grantFlags = inv.grantFlags;
  const suggestions = new Map<string, SuggestedGrants>();
  const withheld = new Map<string, WithheldGrant>();
  let interrupted = false;
  let scripts: ScriptAudit[] = [];
  let macros: MacroAudit[] = [];
  let status = 0;
  let view: SecretView = { home: env.HOME ?? '', masked: [], codeTrees: [] };
  let locked: SandboxContext['locked'];
  // Each round's output is held back: only the last round's is shown, after the report (cargo's
  // errors only if it still failed; compiler warnings say nothing about build scripts).
  let ours = '';
  let cargoErr = '';
  for (let round = 1; ; round++) {
    scripts = [];
    macros = [];
    let runsDir = '';
    ours = '';
    cargoErr = '';
    const roundReporter = createReporter({ color: reporter.color, quiet: reporter.quiet, verbose: reporter.verbose, write: (s) => (ours += s) });
    clearBuildDirs(auditTarget, meta.procMacros);
    let progress: NodeJS.Timeout | undefined;
    const flushOnError = (err: unknown) => {
      // What was said before cargo could start (configuration errors) belongs with the error.
      process.stderr.write(`${cargoErr}${ours}`);
      throw err;
    };
    const result = await sandboxedCargo(
      {
        toolchain: inv.toolchain,
        // The audit's own target dir: its scripts always rerun (the nonce below), the user's stay fresh.
        // --keep-going: one failing script must not keep the others from being observed.
        cargoArgs: ['build', '--target-dir', auditTarget, '--keep-going', ...(inv.options.verbose ? [] : ['--quiet']), ...rest.filter((x) => x !== '--keep-going')],
        options: { ...inv.options, targetDir: auditTarget },
        grantFlags,
        sandboxRun: false,
      },
      env,
      roundReporter,
      {
        audit: { strace, traceLimit: flags.traceLimit },
        extraEnv: { [fingerprintVariable()]: `audit-${Date.now()}-${round}` },
        cargoStderr: (chunk) => (cargoErr += chunk),
        onSession: (session) => {
          runsDir = session.runsDir;
          if (!tty) return;
          progress = setInterval(() => {
            const done = readdirSync(session.runsDir).filter((n) => n.endsWith('.status')).length;
            process.stderr.write(`\r\x1b[2K    Auditing ${done}/${meta.scripts.size} build scripts`);
          }, 200);
        },
        collect: (runs, ctx) => {
          view = { home: ctx.home, masked: ctx.policy.masked, codeTrees: codeTrees(ctx), publicTrees: publicTrees(ctx), realpath: safeRealpath };
          locked = ctx.locked;
          scripts = runs.map((r) => auditRun(r, ctx, meta)).filter((s): s is ScriptAudit => s !== undefined);
          macros = macroAudits(readCompileRecords(runsDir), (record) => tracedConnections(record.path?.replace(/\.network$/, '.trace')));
        },
      },
    ).catch(flushOnError);
    if (progress) {
      clearInterval(progress);
      process.stderr.write('\r\x1b[2K');
    }
    status = result.code ?? 101;
    // Ctrl-C: what was observed so far is reported, marked as such; nothing is suggested or written.
    if (result.signal === 'SIGINT' || result.signal === 'SIGTERM' || status === 130) {
      interrupted = true;
      status = 130;
      break;
    }
    if (!flags.suggest || status === 0 || round >= 5) break;
    // Grant what the failed scripts were blocked from, and build again: the least that passes.
    const failed = scripts.filter((s) => s.exitCode !== 0);
    const found = [...failed.map((s) => suggestGrants(s, view, flags.risky)), ...macros.map((m) => suggestMacroGrants(m, flags.risky))];
    for (const w of found.flatMap((f) => f.withheld)) withheld.set(`${w.package} ${w.grant}`, w);
    const fresh = found.map((f) => f.grants).filter((g): g is SuggestedGrants => g !== undefined);
    const before = JSON.stringify([...suggestions.values()]);
    for (const g of fresh) {
      const prev = suggestions.get(g.package);
      suggestions.set(g.package, prev ? { ...prev, read: [...new Set([...prev.read, ...g.read])], write: [...new Set([...prev.write, ...g.write])], network: mergeSuggestedNetwork(prev.network, g.network), exec: [...new Set([...prev.exec, ...g.exec])] } : g);
    }
    if (JSON.stringify([...suggestions.values()]) === before) break; // nothing new to grant
    grantFlags = [...inv.grantFlags, ...extractGrantFlags([...suggestions.values()].flatMap(grantArgs)).flags];
    reporter.message('note', `round ${round}: ${plural(fresh.length, 'package was', 'packages were')} blocked; building again with the grants they need`);
  }
  scripts.sort((a, b) => b.risk - a.risk || a.package.localeCompare(b.package));
  const approvalsPath = join(meta.workspaceRoot, APPROVALS_FILE);
  const report: AuditReport = {
    schema: AUDIT_SCHEMA,
    tool: { name: 'cargo-sandbox', version: packageVersion() },
    workspace: meta.workspaceRoot,
    buildStatus: status,
    scripts,
    ...(macros.length ? { macros } : {}),
    changes: changesSince(readApprovals(approvalsPath), scripts, view.home),
    ...(flags.suggest ? { withheld: [...withheld.values()] } : {}),
    ...(interrupted ? { interrupted: true } : {}),
  };
  if (flags.format === 'json') process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else if (!inv.options.quiet) {
    process.stdout.write(renderTable(report, Boolean(process.stdout.isTTY) && inv.options.color !== 'never'));
    process.stdout.write(renderDetails(report));
  }
  process.stderr.write(`${status !== 0 ? cargoErr : ''}${ours}`);
  for (const s of scripts.filter((x) => x.traceCapped)) {
    reporter.message('warning', `the build script of \`${s.package} v${s.version}\` was stopped: its trace reached the audit's limit of ${formatBytes(s.traceCapped!)} (a script looping on system calls would otherwise fill the disk); the report shows what it did up to there`);
    reporter.message('help', `if it legitimately makes that many calls (a large C build), raise the limit: \`cargo sandbox audit --trace-limit ${formatBytes(s.traceCapped! * 4).replace(' ', '')}\``);
  }
  if (interrupted) reporter.message('warning', 'the audit was interrupted: the report covers only the build scripts that ran before it stopped');
  else if (status !== 0 && !flags.suggest) {
    reporter.message('note', 'a build script that fails is observed only up to what the sandbox refused first: `cargo sandbox audit --suggest` grants that and builds again, until it passes');
  }
  if (flags.html) {
    writeAtomically(flags.html, renderHtml(report));
    reporter.message('note', `wrote ${flags.html}`);
  }
  if (interrupted) return status;
  if (flags.suggest) {
    const list = [...suggestions.values()].map((g) => ({ ...g, checksum: locked?.find((p) => p.name === g.package && p.version === g.version)?.checksum ?? g.checksum }));
    // A checksum cargo did not verify binds nothing (source-replacement.ts): the pin is the version's only.
    for (const g of list) {
      const claim = locked?.find((p) => p.name === g.package && p.version === g.version && p.unverified !== undefined);
      if (claim && !g.checksum) reporter.message('note', `the suggestion for \`${g.package} v${g.version}\` is pinned to its version only, not to its sources (no \`checksum\`): ${claim.unverified}`);
    }
    for (const w of withheld.values()) {
      reporter.message('warning', `not suggested: \`${w.grant}\` for \`${w.package} v${w.version}\`, which failed without it: ${w.why}`);
    }
    if (withheld.size) {
      reporter.message('note', 'a malicious build script only has to fail without a secret to have it approved: such grants are never suggested or written unless you ask');
      reporter.message('help', 'if you trust these packages, add the lines by hand, or run `cargo sandbox audit --suggest-risky` (with --write to write them)');
    }
    if (status !== 0) {
      reporter.message('error', `the build still fails with every grant the trace suggests${withheld.size ? ' (withheld ones excepted)' : ''}; nothing was written`);
      return status;
    }
    if (list.length === 0) reporter.message('note', 'every build script passes with the default policy: no grants needed');
    else if (!flags.write) process.stdout.write(`\n# add to .cargo/config.toml:\n${list.map((g) => renderSuggestion(g).join('\n')).join('\n\n')}\n`);
    if (flags.write) {
      const configPath = join(meta.workspaceRoot, '.cargo', 'config.toml');
      const text = existsSync(configPath) ? readFileSync(configPath, 'utf8') : '';
      if (list.length) {
        // Pinned tables of versions no longer locked are replaced by the new ones.
        const stale = staleApprovals(first.config, locked).filter((x) => /@=/.test(x.key) && list.some((g) => g.package === x.locked.name)).map((x) => x.key);
        const merged = mergeIntoConfig(text, list, stale);
        writeAtomically(configPath, merged);
        // The grants are the user's own act: they stay trusted, unless the file held untrusted
        // keys before (trusting the whole file would trust those too).
        const old = first.workspaceFiles.find((f) => f.path === configPath);
        const harmless = !old || old.trust === 'trusted' || trustFindings(old, contextTrustMode(first)).every((f) => f.effect === 'confined');
        if (harmless && !env[TRUST_VARIABLE]) first.trustStore.record(meta.workspaceRoot, [{ path: configPath, text: merged }]);
        else if (!harmless) reporter.message('warning', `\`${configPath}\` is not trusted, so the grants written to it apply only after \`cargo sandbox trust\``);
      }
      writeApprovals(approvalsPath, approvalsFor(scripts, view.home));
      reporter.message('note', `${list.length ? `wrote the grants of ${plural(list.length, 'package')} to ${configPath}; ` : ''}recorded what ${plural(scripts.length, 'build script')} ${scripts.length === 1 ? 'does' : 'do'} in ${approvalsPath}`);
    }
  }
  return status;
}
