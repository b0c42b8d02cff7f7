// `cargo sandbox proc-macro-server` (also installed as `cargo-sandbox-proc-macro-srv`, for
// rust-analyzer's `procMacro.server` setting): rust-analyzer's proc-macro server, inside
// bubblewrap. The IDE expands macros on every keystroke; here they see the system, the toolchain,
// the workspace and its target dir read-only, no network, no home, no secrets in the environment.

import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { bwrapArgs, encodeArgs } from '../backends/bwrap.js';
import { realHost } from '../backends/host.js';
import { preflight } from '../backends/preflight.js';
import { UserError } from '../diagnostics/style.js';
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
  const bwrap = preflight(env, process.platform, ctx.config.bwrap?.value);
  const server = realServer(env);
  const args = bwrapArgs(ctx.policy, realHost);
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
  return exitLikeCargo(exit);
}
