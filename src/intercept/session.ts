// A sandbox session: the policy files one `cargo sandbox` run writes for its launchers, and the
// environment that points cargo (and through it every launcher) at them. The entry points read
// only two variables, and only from cargo's own start-up environment (libexec/entry/session.rs);
// everything else they need is in `session.data`.

import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, isAbsolute, join } from 'node:path';
import { bwrapArgs, encodeArgs, finishArgs, renderEnvData, shownMasks, type HostView } from '../backends/bwrap.js';
import { isPassed } from '../policy/environment.js';
import { parseRecord, RecordError, renderRecord } from '../backends/records.js';
import { UserError, type Reporter } from '../diagnostics/style.js';
import { crossTarget, grantedPaths, masksAfterGrants, renderPackageData } from '../backends/package-policy.js';
import type { SandboxPolicy } from '../policy/default-policy.js';
import type { PackagePolicyFile, PolicyFingerprints } from '../policy/package-policies.js';
import { cacheDirs, entryBinary } from '../backends/native-helpers.js';
import { DIST_SRC, isInside, PACKAGE_ROOT, safeRealpath } from '../paths.js';
import { createPidsCgroups, PIDS_FIX, pidsRefusals, type PidsStatus } from '../backends/cgroups.js';
import { describeSource, type Source } from '../config/types.js';
import { readNetworkFile, type NetworkRecord } from './network-records.js';
import { workspaceWrapperLink } from './workspace-wrapper.js';

export interface Session {
  dir: string;
  /** Where this run's build scripts record themselves (one directory per cargo-sandbox run). */
  runsDir: string;
  /** Variables to add to cargo's environment. */
  env: Record<string, string>;
  /** Our static entry point, which also starts cargo so that cargo dies with us (lifetime.rs). */
  entry: string;
  /** Build scripts that were started, as the launcher recorded them. */
  runs(): BuildScriptRun[];
  /** Whether max-processes is enforced (the host has a usable pids cgroup controller). */
  pidsLimited: boolean;
  /** Why it is not, where the host offered a pids cgroup but setting it up failed (said always). */
  pidsProblem?: string;
  dispose(): void;
}

export interface BuildScriptRun {
  /** The launcher cargo ran (`.../build-script-build`). */
  launcherPath: string;
  /** The (already filtered) environment the script ran with: NAME=VALUE entries, each ending in NUL. */
  envFile: string;
  startedAtMs: number;
  /** How the sandboxed script ended, when bwrap reported it (128 + signal for a signal). */
  exitCode?: number;
  /** What the supervisor (libexec/confine) found and did, one finding per line. */
  findings: ConfineFinding[];
  /** Whether the supervisor ran (and swept OUT_DIR); not under a custom runner. */
  supervised: boolean;
  /** Forks refused by its package's max-processes limit. */
  processRefusals: number;
  /**
   * What its network proxy let through and refused (`PID.network`, network-records.ts); undefined
   * when no proxy ran for it (the whole network, or none without an audit).
   */
  network?: NetworkRecord[];
  packageName: string;
  packageVersion: string;
  outDir: string;
  manifestDir: string;
}

export interface ConfineFinding {
  kind: 'symlink' | 'special' | 'mode' | 'directive' | 'output' | 'exec-missing' | 'unremovable' | string;
  subject: string;
  detail: string;
}

export function fingerprintVariable(packageName?: string): string {
  return packageName === undefined ? '__CARGO_SANDBOX_POLICY' : `__CARGO_SANDBOX_POLICY_${packageName.replace(/[^A-Za-z0-9]/g, '_')}`;
}

export function createSession(opts: {
  policy: SandboxPolicy;
  host: HostView;
  /** The program that builds each sandbox: ours, or bwrap (backends/preflight.ts). */
  builderPath: string;
  /** It is cargo-sandbox's own (libexec/direct-sandbox.rs): entry points run its code in-process. */
  builderDirect?: boolean;
  innerWrapper: string | undefined;
  packages: readonly PackagePolicyFile[];
  fingerprints: PolicyFingerprints;
  /** Whether compilations that load proc macros run in the sandbox (sandbox.proc-macros). */
  procMacros: boolean;
  /** The environment cargo will run with: what of it the sandboxed rustc must not see. */
  env: NodeJS.ProcessEnv;
  /** The user's own rustdoc (RUSTDOC, build.rustdoc), which ours runs; default `rustdoc`. */
  rustdoc?: string;
  /** The compiled supervisor (libexec/confine.rs). */
  confine: string;
  /** Package directories outside it get their secrets hidden by the sandbox itself (package_secrets.rs). */
  workspaceRoot: string;
  /**
   * An empty directory that outlives this run (a cached session, see session-cache.ts); by default
   * a temporary one, removed at the end.
   */
  dir?: string;
  /** The workspace's Cargo.lock, when network grants or an audit need its graph (macro_set.rs). */
  lockfile?: string;
  /** The user's identity file (identity.ts). */
  identityFile: string;
  /** Cargo's target dir: the identity in `rustc -vV` is derived for it (identity.rs). */
  targetDir: string;
  /** Cargo's build directory, when apart from the target dir: compilations read artifacts there too. */
  buildDir?: string;
  /** CARGO_SANDBOX_PROFILE: each sandboxed process records its stages (profile.ts). */
  profile?: boolean;
  /** Writable for test binaries run through --sandbox-run (`<target>/tmp`). */
  targetTmpdir?: string;
  /** Whether and how max-processes can be enforced (backends/cgroups.ts); found out when not given. */
  pids?: PidsStatus;
  /** `cargo sandbox audit`: the strace that observes each sandbox, and the cap of each trace in bytes (trace_cap.rs). */
  audit?: string;
  auditTraceLimit?: number;
  /** The workspace wrapper that runs inside ours (the user's, or clippy-driver for `clippy --fix`). */
  workspaceWrapper?: string;
}): Session {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'cargo-sandbox-'));
  const { cgroups: pids, problem: pidsProblem } = createPidsCgroups(`cargo-sandbox-${basename(dir).replace(/^cargo-sandbox-/, '').slice(0, 16)}-${process.pid}`, opts.pids);
  if (pids) writeFileSync(join(dir, 'cgroup'), pids.base);
  // Replayed only while its cgroups exist: a delegated cgroup goes with its scope (the front end
  // replays only in the same cgroups it was written in: libexec/front-end.rs).
  if (pids) opts.host.entry(pids.base);
  const write = (name: string, data: string) => writeFileSync(join(dir, name), data, { mode: 0o600 });
  // Copies shown in place of workspace files that hold credentials (git config).
  const served = opts.policy.served.map((file, i) => {
    write(`served-${i}`, file.content);
    return { path: file.path, from: join(dir, `served-${i}`) };
  });
  // Nothing inside learns the user's secret (it exists by now: identity.ts made it).
  const policy = { ...opts.policy, masked: [...opts.policy.masked, opts.identityFile] };
  const args = bwrapArgs(policy, opts.host, served);
  write('setup.args', encodeArgs(args.setup));
  write('finish.args', encodeArgs(args.finish));
  write('env.data', renderEnvData(opts.policy.env));
  // Shown in place of the git config of a package directory outside the workspace.
  write('empty', '');
  if (opts.lockfile) write('lockfile.path', opts.lockfile);
  const hidden = Object.keys(opts.env).filter((name) => !isPassed(opts.policy.env, name));
  // For the static wrappers: any name, not only those sh could unset.
  write('unset-user-env.list', encodeArgs(hidden));
  const runsDir = join(dir, 'runs', String(process.pid));
  mkdirSync(runsDir, { recursive: true });
  mkdirSync(join(dir, 'packages'));
  // This session, every cache of ours (a cached session lives in one) and cargo-sandbox itself (its
  // JavaScript, helpers' sources and prebuilt helpers, which the next run trusts): never writable
  // inside, whatever a write grant covers (`allow-write = ["~/.local"]` over a `--prefix` install).
  // And every directory on PATH that holds our command (a `--prefix` install's PREFIX/bin,
  // a link in ~/.cargo/bin): replacing that link runs the replacement on the host next time.
  const ownTrees = [dir, PACKAGE_ROOT, ...cacheDirs(opts.env).filter((c) => existsSync(c)), ...commandDirs(opts.env)];
  const defaultMasks = shownMasks(policy.masked, policy.etc);
  for (const pkg of opts.packages) {
    // A grant can show a part of /etc the default view does not, with secrets to mask in it.
    const masks = shownMasks(masksAfterGrants(policy.masked, pkg.grants), policy.etc, grantedPaths(pkg.grants));
    const servedCopies = masksAfterGrants(served, pkg.grants);
    let finishFile: string | undefined;
    if (masks.join('\0') !== defaultMasks.join('\0') || servedCopies.length !== served.length) {
      finishFile = join(dir, 'packages', `${pkg.file}.finish.args`);
      writeFileSync(finishFile, encodeArgs(finishArgs(masks, opts.host, servedCopies)), { mode: 0o600 });
    }
    const target = crossTarget(pkg.grants);
    let targetFile: string | undefined;
    if (target) {
      targetFile = join(dir, 'packages', `${pkg.file}.target.json`);
      const spec = { target, rustc: pkg.grants.targetRustc?.value, rustflags: pkg.grants.targetRustflags };
      writeFileSync(targetFile, JSON.stringify(spec), { mode: 0o600 });
    }
    // No limit, no cgroup: joining one costs a kernel RCU grace period per process (~10 ms here).
    const cgroup = pkg.grants.maxProcesses.value > 0 ? pids?.create(pkg.file, pkg.grants.maxProcesses.value) : undefined;
    write(join('packages', `${pkg.file}.data`), renderPackageData(pkg.grants, { finishFile, targetFile, cgroup }));
  }
  const rustcWrapper = entryBinary(opts.packages.some((p) => crossTarget(p.grants)) ? 'rustc-wrapper-keep-args' : 'rustc-wrapper', opts.env);
  opts.host.entry(rustcWrapper);
  const rustdocWrapper = entryBinary('rustdoc-wrapper', opts.env);
  opts.host.entry(rustdocWrapper);
  write('session.data', renderSessionData({
    'sandbox-builder': opts.builderPath,
    'builder-in-process': opts.builderDirect ? '1' : undefined,
    confine: opts.confine,
    // For build scripts compiled for a wasm target: compiled and run by Node.
    node: process.execPath,
    js: DIST_SRC,
    'proc-macros': opts.procMacros ? '1' : '0',
    workspace: opts.workspaceRoot,
    'inner-wrapper': opts.innerWrapper,
    'workspace-wrapper': opts.workspaceWrapper,
    rustdoc: opts.rustdoc,
    audit: opts.audit,
    'audit-trace-limit': opts.auditTraceLimit?.toString(),
    'target-tmpdir': opts.targetTmpdir,
    'identity-file': opts.identityFile,
    'target-dir': opts.targetDir,
    'build-dir': opts.buildDir,
    profile: opts.profile ? '1' : undefined,
  }, [...new Set(ownTrees.map(safeRealpath))].map((t) => ['own-tree', t] as const)));
  const env: Record<string, string> = {
    // Libraries' arguments are kept only where some build script is compiled for another target.
    // A static entry point, never the shell script itself: see libexec/entry.rs.
    RUSTC_WRAPPER: rustcWrapper,
    // rustdoc expands proc macros and runs doctests: through our wrapper too (libexec/entry/rustdoc.rs).
    RUSTDOC: rustdocWrapper,
    // Cargo's fix mode reaches the compiler only through this one (workspace-wrapper.ts).
    RUSTC_WORKSPACE_WRAPPER: workspaceWrapperLink(rustcWrapper, opts.env),
    [SESSION_VARIABLE]: dir,
    [RUNS_VARIABLE]: runsDir,
  };
  env[fingerprintVariable()] = opts.fingerprints.global;
  for (const [name, fp] of Object.entries(opts.fingerprints.packages)) env[fingerprintVariable(name)] = fp;
  return {
    dir,
    runsDir,
    env,
    entry: rustcWrapper,
    runs: () => readRuns(runsDir),
    pidsLimited: pids !== undefined,
    ...(pidsProblem ? { pidsProblem } : {}),
    dispose: () => {
      if (opts.dir) return void rmSync(runsDir, { recursive: true, force: true });
      pids?.dispose();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * max-processes not enforced: said when a pids cgroup failed to be set up, and when it was set
 * (`explicit`, where) on a host that offers none, with how to get it.
 */
export function warnUnenforcedPids(session: Session, status: PidsStatus, explicit: Source | undefined, reporter: Reporter): void {
  if (session.pidsProblem) {
    reporter.message('warning', `max-processes is not enforced in this build: ${session.pidsProblem}`);
    reporter.message('help', '`cargo sandbox doctor` says whether it can be');
  } else if (!session.pidsLimited && explicit && !status.enforced) {
    reporter.message('warning', `max-processes (${describeSource(explicit)}) is not enforced here: ${status.why}`);
    for (const fix of PIDS_FIX) reporter.message('help', fix);
  }
}

export function readRuns(runsDir: string): BuildScriptRun[] {
  const runs: BuildScriptRun[] = [];
  // One record per launch, named by the launcher's PID; `PID.stderr` holds its captured stderr.
  for (const name of safeReaddir(runsDir).filter((n) => /^\d+$/.test(n))) {
    const path = join(runsDir, name);
    // The `run` format of libexec/schema/records.json, as the launcher (libexec/entry/launch.rs) writes it.
    const record = runRecord(path);
    const field = (key: string) => record.get(key)?.[0] ?? '';
    const [packageName, packageVersion, outDir, manifestDir, launcherPath, cgroup, refusedBefore] = ['package', 'package-version', 'out-dir', 'manifest-dir', 'launcher', 'cgroup', 'refused-before'].map(field) as [string, string, string, string, string, string, string];
    runs.push({
      packageName,
      packageVersion,
      outDir,
      manifestDir,
      launcherPath,
      envFile: `${path}.env`,
      startedAtMs: statSync(path).mtimeMs,
      exitCode: exitCodeIn(`${path}.status`),
      findings: findingsIn(`${path}.report`),
      supervised: existsSync(`${path}.report`),
      processRefusals: cgroup ? Math.max(0, pidsRefusals(cgroup) - Number(refusedBefore || 0)) : 0,
      ...networkOf(`${path}.network`),
    });
  }
  return runs;
}

/** A run's record; one that does not fit its format stops the report (it is ours: the helpers disagree). */
function runRecord(path: string): Map<string, string[]> {
  try {
    return parseRecord('run', readFileSync(path, 'utf8'));
  } catch (e) {
    if (!(e instanceof RecordError)) throw e;
    throw new UserError(`the record of a build-script run, ${path}: ${e.message}`, ['cargo-sandbox and its compiled helpers disagree: run the build again']);
  }
}

function networkOf(file: string): { network?: NetworkRecord[] } {
  const network = readNetworkFile(file);
  return network ? { network } : {};
}

/** bwrap's --json-status-fd output: JSON documents, the last with `"exit-code": N` (128+signal). */
function exitCodeIn(statusFile: string): number | undefined {
  try {
    const m = /"exit-code"\s*:\s*(\d+)/.exec(readFileSync(statusFile, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function findingsIn(reportFile: string): ConfineFinding[] {
  try {
    return readFileSync(reportFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [kind = '', subject = '', detail = ''] = line.split('\t');
        return { kind, subject, detail };
      });
  } catch {
    return [];
  }
}

export function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Read by the entry points from cargo's start-up environment only (libexec/entry/session.rs). */
export const SESSION_VARIABLE = '__CARGO_SANDBOX_SESSION';
export const RUNS_VARIABLE = '__CARGO_SANDBOX_RUNS';
/** session.data, in its format of libexec/schema/records.json (libexec/entry/session.rs reads it). */
export function renderSessionData(values: Record<string, string | undefined>, repeated: readonly (readonly [string, string])[] = []): string {
  return renderRecord('session', [...Object.entries(values), ...repeated]);
}

/** The directories on PATH whose `cargo-sandbox` leads into this package. */
function commandDirs(env: NodeJS.ProcessEnv): string[] {
  const root = safeRealpath(PACKAGE_ROOT);
  return [...new Set((env.PATH ?? '').split(':').filter((d) => isAbsolute(d) && existsSync(join(d, 'cargo-sandbox')) && isInside(safeRealpath(join(d, 'cargo-sandbox')), root)))];
}
