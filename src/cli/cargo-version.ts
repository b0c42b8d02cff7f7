// The oldest cargo cargo-sandbox supports, and the check. Cargo 1.79 is the first to pass its
// `rustc -vV` query through RUSTC_WRAPPER (cargo#13659): our wrapper adds a line to that output,
// cargo hashes it into every artifact's directory name, and so sandboxed builds keep their own
// artifacts. With an older cargo, a build script compiled by a plain `cargo build` would be reused,
// and run unsandboxed, by `cargo sandbox build`: such a cargo is refused, never half supported.

import { spawnSync } from 'node:child_process';
import { UserError } from '../diagnostics/style.js';

export const MIN_CARGO: readonly [number, number] = [1, 79];

/** `[major, minor]` of `cargo -V` output (`cargo 1.65.0 (...)`), if it is one. */
export function parseCargoVersion(text: string): [number, number] | undefined {
  const m = /^cargo (\d+)\.(\d+)\.\d+/m.exec(text);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

export function supportedCargo(v: readonly [number, number]): boolean {
  return v[0] > MIN_CARGO[0] || (v[0] === MIN_CARGO[0] && v[1] >= MIN_CARGO[1]);
}

/** Fails with a clear error unless the cargo that would run is new enough. */
export function requireSupportedCargo(program: string, prefix: readonly string[], env: NodeJS.ProcessEnv): void {
  const r = spawnSync(program, [...prefix, '-V'], { env, encoding: 'utf8', timeout: 60_000 });
  const found = parseCargoVersion(r.stdout ?? '');
  if (!found) {
    throw new UserError(`could not run \`${[program, ...prefix].join(' ')} -V\` to check cargo's version; nothing was built`, [
      (r.error?.message ?? r.stderr ?? '').trim().split('\n')[0] || 'is cargo installed and in PATH?',
    ]);
  }
  if (!supportedCargo(found)) {
    const version = (r.stdout ?? '').trim().split('\n')[0];
    throw new UserError(
      `${version} is older than ${MIN_CARGO.join('.')}, the oldest cargo cargo-sandbox supports: it does not pass \`rustc -vV\` through RUSTC_WRAPPER, so sandboxed and plain builds would share build scripts (one compiled by a plain build would run unsandboxed); nothing was built`,
      [`use cargo ${MIN_CARGO.join('.')} or later: \`rustup default stable\`, or put a newer cargo first in PATH (or set CARGO)`],
    );
  }
}
