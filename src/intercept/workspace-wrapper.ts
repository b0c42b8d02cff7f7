// Cargo's fix mode compiles the workspace's crates through cargo itself (a "fix proxy"), which
// starts the compiler through RUSTC_WORKSPACE_WRAPPER and never through RUSTC_WRAPPER: our rustc
// wrapper is set as both, and the workspace wrapper the user configured (or clippy-driver) runs
// inside it, in the sandbox (libexec/entry/rustc.rs). The name of the link cargo starts tells the
// entry point it runs as the workspace wrapper. Cargo hashes the workspace wrapper's path into
// every workspace crate's artifact names: the link lives beside the compiled entry point, at a
// path that changes only with it (in a session, it rebuilt the workspace each time).

import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { UserError } from '../diagnostics/style.js';
import { hasFix, type GatedCommand } from '../cli/command-gate.js';
import { cacheDirs, pointLinkAt } from '../backends/native-helpers.js';

/** The link's name: libexec/entry.rs knows it too. */
export const WORKSPACE_WRAPPER_NAME = 'cargo-sandbox-workspace-wrapper';

/**
 * Our rustc wrapper under the workspace wrapper's name: `<cache>/<entry>.workspace/<name>`, in the
 * entry point's cache directory, else in the first of ours we can write. Only a directory that
 * nobody else can change holds it.
 */
export function workspaceWrapperLink(rustcWrapper: string, env: NodeJS.ProcessEnv): string {
  const uid = process.getuid?.() ?? 0;
  const dirs = [dirname(rustcWrapper), ...cacheDirs(env)];
  for (const dir of dirs) {
    const linkDir = join(dir, `${basename(rustcWrapper)}.workspace`);
    const link = join(linkDir, WORKSPACE_WRAPPER_NAME);
    try {
      mkdirSync(linkDir, { recursive: true, mode: 0o755 });
      const d = lstatSync(linkDir);
      if (!d.isDirectory() || (d.uid !== uid && d.uid !== 0) || (d.mode & 0o022) !== 0) continue;
      pointLinkAt(link, rustcWrapper);
      return link;
    } catch {
      /* not ours to write: the next cache directory */
    }
  }
  throw new UserError(`no writable cache directory for cargo-sandbox's workspace wrapper (tried ${dirs.join(', ')}); nothing was built`, ['set CARGO_SANDBOX_CACHE_DIR to a writable directory']);
}

export interface ClippyFix {
  cargoArgs: string[];
  env: Record<string, string>;
  /** clippy-driver, run inside our wrapper. */
  driver: string;
}

/**
 * `clippy --fix ARGS [-- LINTS]`, run as cargo-clippy runs it: `cargo fix ARGS` with clippy-driver
 * as the workspace wrapper and the lints in CLIPPY_ARGS (`--no-deps` added, as cargo-clippy adds
 * it for --fix). cargo-clippy itself would set clippy-driver as the workspace wrapper in our place,
 * and cargo's fix proxy would run it (and the workspace's proc macros) on the host.
 */
export function clippyFixAsFix(gated: GatedCommand, toolchain: string | undefined, env: NodeJS.ProcessEnv): ClippyFix | undefined {
  const at = gated.command === 'clippy' ? gated.args.indexOf('clippy') : -1;
  const rest = gated.args.slice(at + 1);
  if (at < 0 || !hasFix(rest)) return undefined;
  const end = rest.includes('--') ? rest.indexOf('--') : rest.length;
  const cargoSide = rest.slice(0, end).filter((a) => a !== '--fix' && a !== '--no-deps');
  const lints = [...rest.slice(0, end).filter((a) => a === '--no-deps'), ...rest.slice(end + 1)];
  if (!lints.includes('--no-deps')) lints.push('--no-deps');
  const sysroot = spawnSync(env.RUSTC || 'rustc', [...(toolchain ? [toolchain] : []), '--print', 'sysroot'], { env, encoding: 'utf8' }).stdout?.trim();
  const driver = sysroot ? join(sysroot, 'bin', 'clippy-driver') : '';
  if (!driver || !existsSync(driver)) {
    throw new UserError(`\`clippy --fix\` needs clippy-driver, which this toolchain does not have${sysroot ? ` (looked in ${join(sysroot, 'bin')})` : ''}; nothing was run`, ['rustup component add clippy']);
  }
  return {
    cargoArgs: [...gated.args.slice(0, at), 'fix', ...cargoSide],
    env: { CLIPPY_ARGS: lints.map((a) => `${a}__CLIPPY_HACKERY__`).join(''), CLIPPY_TERMINAL_WIDTH: '0' },
    driver,
  };
}
