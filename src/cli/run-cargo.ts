// Runs cargo with the user's arguments untouched and our environment added; returns how it ended.
// stdio is inherited, so cargo's stdout (e.g. --message-format=json) and its terminal handling stay
// exactly as without us.

import { spawn } from 'node:child_process';

export interface CargoExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/** The cargo to run: the rustup proxy for `+toolchain`, else the cargo that invoked us, else PATH's. */
export function cargoCommand(toolchain: string | undefined, env: NodeJS.ProcessEnv): { program: string; prefix: string[] } {
  if (toolchain) return { program: 'cargo', prefix: [toolchain] };
  return { program: env.CARGO || 'cargo', prefix: [] };
}

/**
 * `entry`: our static entry point, which execs cargo under the name `cargo-sandbox-cargo` with a
 * parent-death signal (Node cannot set one): killed with us, even by SIGKILL, cargo takes every
 * sandboxed process with it. `stderr`: cargo's stderr goes there instead of the terminal (an
 * audit shows only its last round's).
 */
export function runCargo(program: string, args: readonly string[], env: NodeJS.ProcessEnv, entry: string, stderr?: (chunk: string) => void): Promise<CargoExit> {
  return new Promise((resolve, reject) => {
    const child = spawn(entry, [program, ...args], { argv0: 'cargo-sandbox-cargo', stdio: ['inherit', 'inherit', stderr ? 'pipe' : 'inherit'], env });
    if (stderr) child.stderr!.setEncoding('utf8').on('data', stderr);
    // Ctrl-C reaches cargo through the terminal's process group; a signal sent to us alone is passed
    // on. Either way we stay alive until cargo has finished, so nothing is left orphaned.
    const forward = (sig: NodeJS.Signals) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    };
    for (const sig of FORWARDED) process.on(sig, forward);
    const cleanup = () => {
      for (const sig of FORWARDED) process.off(sig, forward);
    };
    child.on('error', (err) => {
      cleanup();
      reject(err);
    });
    child.on('exit', (code, signal) => {
      cleanup();
      resolve({ code, signal });
    });
  });
}

/** Ends this process the way cargo ended: same exit code, or death by the same signal. */
export function exitLikeCargo(result: CargoExit): never {
  if (result.signal) {
    process.kill(process.pid, result.signal);
  }
  process.exit(result.code ?? 101);
}
