// libexec/confine.rs, the supervisor that runs inside bubblewrap around each build script
// (Landlock, directive and output checks, OUT_DIR sweep). Compiled on first use with the rustc that
// cargo would use (it is std-only Rust, so any rustc since 1.59 builds it) and cached by content.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../diagnostics/style.js';
import { LIBEXEC, PACKAGE_ROOT } from '../paths.js';

const SOURCE = join(LIBEXEC, 'confine.rs');

function cacheDirs(env: NodeJS.ProcessEnv): string[] {
  const home = env.XDG_CACHE_HOME || (env.HOME ? join(env.HOME, '.cache') : undefined);
  return [
    ...(env.CARGO_SANDBOX_CACHE_DIR ? [env.CARGO_SANDBOX_CACHE_DIR] : []),
    // Beside the package when it is writable: shared by every user of this installation.
    join(PACKAGE_ROOT, '.cache'),
    ...(home ? [join(home, 'cargo-sandbox')] : []),
  ];
}

function usable(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** The path of the compiled supervisor, compiling it if no cache has it. Fails closed. */
export function confineBinary(env: NodeJS.ProcessEnv): string {
  const source = readFileSync(SOURCE);
  const key = createHash('sha256').update(source).update(process.arch).digest('hex').slice(0, 16);
  const name = `confine-${key}`;
  const dirs = cacheDirs(env);
  for (const dir of dirs) {
    if (existsSync(join(dir, name))) return join(dir, name);
  }
  const dir = dirs.find(usable);
  if (!dir) throw new UserError(`no writable cache directory for cargo-sandbox's supervisor (tried ${dirs.join(', ')}); nothing was built`, ['set CARGO_SANDBOX_CACHE_DIR to a writable directory']);
  const tmp = join(dir, `${name}.${process.pid}.tmp`);
  const rustc = env.RUSTC || 'rustc';
  const r = spawnSync(rustc, ['--edition', '2021', '-O', '-C', 'panic=abort', '-C', 'strip=symbols', '-o', tmp, SOURCE], {
    env,
    encoding: 'utf8',
  });
  if (r.status !== 0) {
    throw new UserError(`could not compile cargo-sandbox's supervisor (${SOURCE}) with \`${rustc}\`; nothing was built`, [
      (r.stderr || r.error?.message || '').trim().split('\n').slice(0, 12).join('\n'),
    ]);
  }
  renameSync(tmp, join(dir, name));
  return join(dir, name);
}
