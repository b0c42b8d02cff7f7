// `cargo sandbox proc-macro-server` (also installed as `cargo-sandbox-proc-macro-srv`, for
// rust-analyzer's `procMacro.server` setting): rust-analyzer's proc-macro server, every macro it
// expands under the same two layers as a build's compilations. The IDE expands macros on every
// keystroke; here each workspace's macros run in a server of their own (the entry point's
// `proc-macro-server` mode, libexec/entry/macro_server.rs: bubblewrap with the workspace's session,
// then the supervisor), which sees the system, the toolchain, the workspace and its target dir
// read-only; no network, no home, no secrets, the workspace's memory and process limits. The
// relay in front of them (proc-macro-relay.ts) checks each library a request names.

import { userIdentityFile } from '../intercept/identity.js';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { realHost } from '../backends/host.js';
import { preflight } from '../backends/preflight.js';
import { confineBinary, entryBinary } from '../backends/native-helpers.js';
import { createReporter, UserError, type Reporter } from '../diagnostics/style.js';
import { describeSource } from '../config/types.js';
import { cargoHome } from '../config/cargo-config.js';
import { findWorkspaceRoot } from '../config/workspace.js';
import { contextTrustMode, enforceWorkspaceTrust } from '../diagnostics/trust.js';
import { createSession, warnUnenforcedPids, type Session } from '../intercept/session.js';
import { pidsStatus } from '../backends/cgroups.js';
import { ensureProcMacroLauncher } from '../intercept/session-cache.js';
import { packagePolicies } from '../policy/package-policies.js';
import type { CargoOptions } from './args.js';
import { loadContext, type SandboxContext } from './context.js';
import { Relay, serverProcess, type LibraryHome, type ServerProcess } from './proc-macro-relay.js';

/**
 * The toolchain's server. An editor started from a desktop often lacks ~/.cargo/bin on its PATH:
 * rustup's rustc is looked for there too, as rust-analyzer itself looks for its tools.
 */
function realServer(env: NodeJS.ProcessEnv, cargoHomeDir: string): string {
  for (const rustc of [env.RUSTC || 'rustc', join(cargoHomeDir, 'bin', 'rustc')]) {
    const r = spawnSync(rustc, ['--print', 'sysroot'], { env, encoding: 'utf8' });
    const sysroot = r.status === 0 ? r.stdout.trim() : undefined;
    if (sysroot) return join(sysroot, 'libexec', 'rust-analyzer-proc-macro-srv');
  }
  throw new UserError('could not find the Rust sysroot (`rustc --print sysroot` failed)', ['put rustc on the PATH rust-analyzer runs with, or set RUSTC in `rust-analyzer.server.extraEnv`']);
}

/** One workspace's sandboxed server, and the session (policy files, pids cgroup) it runs with. */
interface Workspace {
  ctx: SandboxContext;
  session: Session;
  server?: ServerProcess;
}

export async function runProcMacroServer(options: CargoOptions, env: NodeJS.ProcessEnv, args: readonly string[] = []): Promise<never> {
  // Messages go to stderr, which rust-analyzer shows; stdout is its protocol.
  const reporter = createReporter({ color: false, write: (s) => process.stderr.write(s) });
  // rust-analyzer asks for the postcard format only when told to (RUST_ANALYZER_USE_POSTCARD), and
  // then falls back to JSON when the server refuses: the relay reads JSON only.
  const format = args[args.indexOf('--format') + 1];
  if (args.includes('--format') && format !== 'json-legacy') {
    throw new UserError(`the proc-macro server speaks only the JSON protocol (\`--format json-legacy\`), not \`${format}\``);
  }
  const cwd = process.cwd();
  const start = await loadContext(options, [], env, cwd);
  // `rustc --print sysroot` goes through rustup, which follows the workspace's toolchain file.
  // Its macros run inside bubblewrap whatever proc-macros says: compilations are not on the host here.
  enforceWorkspaceTrust(start.workspaceFiles, { ...contextTrustMode(start, ['check'], env), hostCompiles: false }, reporter, env);
  const builder = preflight(env, process.platform, start.config.bwrap?.value, start.config.bwrap ? `sandbox.bwrap, ${describeSource(start.config.bwrap.source)}` : undefined);
  const server = realServer(env, cargoHome(env, start.home));
  const confine = confineBinary(env);
  const entry = entryBinary('proc-macro-server', env);
  // For the next start: the editor's setting can name a launcher that needs no Node on its PATH.
  ensureProcMacroLauncher(env);
  // rust-analyzer may start us in any directory (`/`, /tmp): with no Cargo.toml above it, there is no
  // workspace, and the directory is not shown (loadContext; bound read-only, `/` or /tmp would
  // cover the server's private /tmp, where it copies the libraries it loads).
  const startIsWorkspace = findWorkspaceRoot(cwd, options.manifestPath) !== undefined;
  const workspaces = new Map<string, Workspace>();
  const pids = pidsStatus();
  const open = (ctx: SandboxContext): Workspace => {
    const policies = packagePolicies(ctx.config, ctx.locked, ctx.vars);
    const session = createSession({ pids, policy: ctx.policy, host: realHost, builderPath: builder.path, builderDirect: builder.direct, innerWrapper: undefined, packages: policies.files, fingerprints: policies.fingerprints, procMacros: true, env, confine, workspaceRoot: ctx.workspaceRoot, identityFile: userIdentityFile(env), targetDir: ctx.vars.TARGET_DIR, buildDir: ctx.buildDir });
    warnUnenforcedPids(session, pids, ctx.config.global.maxProcesses?.source, reporter);
    return { ctx, session };
  };
  const first = open(start);
  workspaces.set(startIsWorkspace ? start.workspaceRoot : '', first);
  const startServer = (ws: Workspace): ServerProcess => {
    if (ws.server) return ws.server;
    const shown = ws === first && !startIsWorkspace ? [] : [ws.ctx.vars.TARGET_DIR];
    // Through our entry point as its parent (`cargo-sandbox-parent`), whose start-up environment
    // names the session: where every entry point looks for it (libexec/entry/session.rs).
    const child = spawn(entry, [entry, server, ...shown], { argv0: 'cargo-sandbox-parent', stdio: ['pipe', 'pipe', 'inherit'], env: { ...env, ...ws.session.env } });
    child.on('error', (e) => reporter.message('error', `cannot start the sandboxed proc-macro server: ${e.message}`));
    ws.server = serverProcess(child);
    return ws.server;
  };
  const contexts = new Map<string, Promise<SandboxContext | undefined>>();
  const workspaceFor = async (home: LibraryHome): Promise<Workspace | string> => {
    // The workspace whose target dir holds the library: the one above the target dir (cargo's
    // default), or the one rust-analyzer was started in (a `target-dir` elsewhere).
    for (const dir of [dirname(home.targetDir), cwd]) {
      if (!contexts.has(dir)) contexts.set(dir, findWorkspaceRoot(dir, undefined) ? loadContext({ ...options, manifestPath: undefined }, [], env, dir) : Promise.resolve(undefined));
      const ctx = await contexts.get(dir);
      if (!ctx || realpathOr(ctx.vars.TARGET_DIR) !== home.targetDir) continue;
      const known = workspaces.get(ctx.workspaceRoot);
      if (known) return known;
      try {
        enforceWorkspaceTrust(ctx.workspaceFiles, { ...contextTrustMode(ctx, ['check'], env), hostCompiles: false }, reporter, env);
      } catch (e) {
        if (e instanceof UserError) return `the workspace ${ctx.workspaceRoot}: ${e.message}`;
        throw e;
      }
      const ws = open(ctx);
      workspaces.set(ctx.workspaceRoot, ws);
      return ws;
    }
    return `${home.targetDir} is not the target dir of a workspace (the one above it, or ${cwd})`;
  };
  let disposed = false;
  const dispose = () => {
    if (disposed) return;
    disposed = true;
    for (const ws of workspaces.values()) {
      ws.server?.child.kill('SIGKILL');
      ws.session.dispose();
    }
  };
  process.on('exit', dispose);
  const relay = new Relay({
    first: () => startServer(first),
    serverFor: async (home) => {
      const ws = await workspaceFor(home);
      return typeof ws === 'string' ? ws : startServer(ws);
    },
    forget: (s) => {
      s.child.kill('SIGKILL');
      for (const ws of workspaces.values()) if (ws.server === s) ws.server = undefined;
    },
    // Per request, not per server (which lives as long as the editor): the start workspace's `timeout`.
    timeoutMs: packagePolicies(start.config, start.locked, start.vars).files[0]!.grants.timeoutSecs.value * 1000,
    write: (line) => process.stdout.write(`${line}\n`),
    warn: (m) => reporter.message('warning', m),
  });
  // Started at once: rust-analyzer's first request is the version check, which it answers.
  startServer(first);
  const input = createInterface({ input: process.stdin, crlfDelay: Infinity });
  let code = 0;
  try {
    for await (const line of input) {
      if (line.trim()) await relay.handle(line);
    }
  } catch (e) {
    reportError(reporter, e);
    code = 101;
  }
  // rust-analyzer closed our input: each server ends when its input does.
  await Promise.all(
    [...workspaces.values()].map((ws) => {
      const child = ws.server?.child;
      if (!child || child.exitCode !== null || child.signalCode !== null) return undefined;
      return new Promise<void>((r) => {
        child.on('exit', () => r());
        child.stdin?.end();
      });
    }),
  );
  // bwrap has exited; what it held in the pid namespace goes a moment later, and only an empty pids
  // cgroup can be removed (a second at most: then the kernel frees it when the last one leaves).
  for (let i = 0; i < 20 && [...workspaces.values()].some((ws) => cgroupBusy(ws.session)); i++) await new Promise((r) => setTimeout(r, 50));
  dispose();
  process.exit(code);
}

/** Whether a process is still in one of the session's pids cgroups. */
function cgroupBusy(session: Session): boolean {
  try {
    const base = readFileSync(join(session.dir, 'cgroup'), 'utf8');
    return readdirSync(base, { withFileTypes: true }).some((d) => d.isDirectory() && readFileSync(join(base, d.name, 'cgroup.procs'), 'utf8').trim() !== '');
  } catch {
    return false;
  }
}

function realpathOr(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

function reportError(reporter: Reporter, e: unknown): void {
  reporter.message('error', e instanceof Error ? e.message : String(e));
}
