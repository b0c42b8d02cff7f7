// `cargo sandbox proc-macro-server` (also installed as `cargo-sandbox-proc-macro-srv`, for
// rust-analyzer's `procMacro.server` setting): rust-analyzer's proc-macro server, inside
// bubblewrap. The IDE expands macros on every keystroke; here they see the system, the toolchain,
// the workspace and its target dir read-only, no network, no home, no secrets in the environment.

import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { bwrapArgs, encodeArgs } from '../backends/bwrap.js';
import { realHost } from '../backends/host.js';
import { preflight } from '../backends/preflight.js';
import { createReporter, UserError } from '../diagnostics/style.js';
import { describeSource } from '../config/types.js';
import { contextTrustMode, enforceWorkspaceTrust } from '../diagnostics/trust.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { filterEnv } from '../policy/environment.js';
import type { CargoOptions } from './args.js';
import { loadContext } from './context.js';
import { exitLikeCargo, type CargoExit } from './run-cargo.js';

/** What rust-analyzer sets to use its proc-macro server; passed through on purpose. */
const RA_VARIABLE = 'RUST_ANALYZER_INTERNALS_DO_NOT_USE';

function realServer(env: NodeJS.ProcessEnv): string {
  const r = spawnSync(env.RUSTC || 'rustc', ['--print', 'sysroot'], { env, encoding: 'utf8' });
  const sysroot = r.status === 0 ? r.stdout.trim() : undefined;
  if (!sysroot) throw new UserError('could not find the Rust sysroot (`rustc --print sysroot` failed)');
  return join(sysroot, 'libexec', 'rust-analyzer-proc-macro-srv');
}

export async function runProcMacroServer(options: CargoOptions, env: NodeJS.ProcessEnv): Promise<never> {
  const ctx = await loadContext(options, [], env);
  // Messages go to stderr, which rust-analyzer shows; stdout is its protocol.
  const reporter = createReporter({ color: false, write: (s) => process.stderr.write(s) });
  // `rustc --print sysroot` goes through rustup, which follows the workspace's toolchain file.
  // Its macros run inside bubblewrap whatever proc-macros says: compilations are not on the host here.
  enforceWorkspaceTrust(ctx.workspaceFiles, { ...contextTrustMode(ctx, ['check'], env), hostCompiles: false }, reporter, env);
  const bwrap = preflight(env, process.platform, ctx.config.bwrap?.value, ctx.config.bwrap ? `sandbox.bwrap, ${describeSource(ctx.config.bwrap.source)}` : undefined);
  const server = realServer(env);
  // The copies served in place of files with credentials (git config) live as long as the server.
  const servedDir = mkdtempSync(join(tmpdir(), 'cargo-sandbox-served-'));
  process.on('exit', () => rmSync(servedDir, { recursive: true, force: true }));
  const served = ctx.policy.served.map((file, i) => {
    const from = join(servedDir, String(i));
    writeFileSync(from, file.content, { mode: 0o600 });
    return { path: file.path, from };
  });
  const args = bwrapArgs(ctx.policy, realHost, served);
  // The policy goes to bwrap through a pipe (`--args 3`): no file to clean up.
  const policy = encodeArgs([...args.setup, '--ro-bind-try', ctx.vars.TARGET_DIR, ctx.vars.TARGET_DIR, '--unshare-net', ...args.finish]);
  const childEnv = { ...filterEnv(ctx.policy.env, env), ...(env[RA_VARIABLE] ? { [RA_VARIABLE]: env[RA_VARIABLE] } : {}) };
  const exit = await new Promise<CargoExit>((resolve, reject) => {
    const child = spawn(bwrap, ['--args', '3', '--chdir', process.cwd(), '--', server], {
      stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
      env: childEnv,
    });
    (child.stdio[3] as NodeJS.WritableStream).end(policy);
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  rmSync(servedDir, { recursive: true, force: true });
  return exitLikeCargo(exit);
}
