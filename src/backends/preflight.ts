// Can the sandbox be set up on this machine? Checked before cargo starts: failing closed means
// nothing runs when the answer is no.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';
import { UserError } from '../diagnostics/style.js';
import { directSandboxBinary } from './native-helpers.js';

export function findExecutable(name: string, env: NodeJS.ProcessEnv): string | undefined {
  if (name.includes('/')) return isExecutable(name) ? name : undefined;
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir || !isAbsolute(dir)) continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The flags the real sandbox relies on, on the smallest command: proves namespaces work. */
export const PROBE_ARGS = [
  '--unshare-user',
  '--unshare-pid',
  '--unshare-net',
  '--unshare-ipc',
  '--disable-userns',
  '--die-with-parent',
  '--new-session',
  '--cap-drop',
  'ALL',
  '--ro-bind',
  '/',
  '/',
  '--proc',
  '/proc',
  '--dev',
  '/dev',
  '--',
  'true',
];

export interface ProbeResult {
  ok: boolean;
  stderr: string;
}

/** Runs the smallest sandbox with `builder` (bwrap, or our direct builder: same options). */
export function probeSandbox(builder: string): ProbeResult {
  const r = spawnSync(builder, PROBE_ARGS, { encoding: 'utf8', timeout: 20_000 });
  if (r.error) return { ok: false, stderr: r.error.message };
  return { ok: r.status === 0, stderr: (r.stderr ?? '').trim() || `exit status ${r.status ?? r.signal}` };
}

export const INSTALL_HELP = 'install bubblewrap: `sudo apt-get install bubblewrap` (Debian/Ubuntu), `sudo dnf install bubblewrap` (Fedora)';

/** Explains a failed probe: what is wrong and how to fix it. */
export function explainProbeFailure(stderr: string): UserError {
  if (/unrecognized option|Unknown option/i.test(stderr)) {
    return new UserError(`bubblewrap is too old for cargo-sandbox (needs 0.8 or newer): ${stderr}`, [
      INSTALL_HELP,
    ]);
  }
  if (/namespace|uid map|Operation not permitted|Permission denied/i.test(stderr)) {
    return new UserError(`bubblewrap cannot create user namespaces on this machine: ${stderr}`, [
      'on Ubuntu 23.10 and later, AppArmor restricts unprivileged user namespaces; allow bwrap with an AppArmor profile (see README, "Troubleshooting"), or `sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0`',
      'elsewhere check `sysctl kernel.unprivileged_userns_clone` (must be 1) and `user.max_user_namespaces` (must be > 0)',
    ]);
  }
  return new UserError(`bubblewrap failed to start a sandbox: ${stderr || 'unknown error'}`, [
    'run `cargo sandbox doctor` for details',
  ]);
}

export const BACKEND_VARIABLE = 'CARGO_SANDBOX_BACKEND';

/** The user's choice of builder: from the user's own environment only (no config a workspace can ship). */
export function requestedBackend(env: NodeJS.ProcessEnv, configuredBwrap?: string): 'direct' | 'bubblewrap' | 'auto' {
  const value = env[BACKEND_VARIABLE];
  if (value === undefined || value === '') return configuredBwrap || env.CARGO_SANDBOX_BWRAP ? 'bubblewrap' : 'auto';
  if (value === 'direct' || value === 'bubblewrap') return value;
  throw new UserError(`${BACKEND_VARIABLE}=${value} names no sandbox backend; nothing was built`, [
    `use \`direct\` (cargo-sandbox builds each sandbox itself), \`bubblewrap\`, or unset it: direct where this machine allows it, else bubblewrap`,
  ]);
}

/** The direct builder where its probe passes, else why it cannot run here. */
export function directBuilder(env: NodeJS.ProcessEnv): { path: string } | { failure: string } {
  let path: string;
  try {
    path = directSandboxBinary(env);
  } catch (e) {
    if (e instanceof UserError) return { failure: e.message };
    throw e;
  }
  const failure = probed(path, 'direct-works', env);
  return failure === undefined ? { path } : { failure };
}

/** The program that builds each sandbox, and whether it is our own (whose code the entry points carry). */
export interface SandboxBuilder {
  path: string;
  /** libexec/direct-sandbox.rs: the entry points build the sandbox in their own process with the same code. */
  direct: boolean;
}

/**
 * The program that builds each sandbox, or a UserError saying what to fix (nothing runs otherwise).
 * By default cargo-sandbox's own static program (libexec/direct-sandbox.rs), which takes
 * bubblewrap's options and makes the same view through descriptors at about half bubblewrap's cost
 * per process; bubblewrap where that is not available (a kernel before 5.12, lacking
 * mount_setattr; user namespaces allowed to bwrap alone, as by Ubuntu's AppArmor profile; a seccomp
 * policy refusing the new mount calls), or when asked for.
 */
export function preflight(env: NodeJS.ProcessEnv, platform: NodeJS.Platform, configured?: string, configuredWhere = 'sandbox.bwrap'): SandboxBuilder {
  if (platform !== 'linux') {
    throw new UserError(`cargo-sandbox has no sandbox backend for ${platform} yet; nothing was built`, [
      'build scripts would run unsandboxed; run plain `cargo` only if you trust every dependency',
    ]);
  }
  const requested = requestedBackend(env, configured);
  if (requested !== 'bubblewrap') {
    const direct = directBuilder(env);
    if ('path' in direct) return { path: direct.path, direct: true };
    if (requested === 'direct') {
      throw new UserError(`cargo-sandbox cannot build its sandbox directly on this machine (${BACKEND_VARIABLE}=direct): ${direct.failure}; nothing was built`, [
        `unset ${BACKEND_VARIABLE} to fall back to bubblewrap; \`cargo sandbox doctor\` says why`,
      ]);
    }
  }
  const wanted = configured || env.CARGO_SANDBOX_BWRAP || 'bwrap';
  const bwrap = findExecutable(wanted, env);
  if (!bwrap) {
    const setting = configured ? configuredWhere : 'the variable CARGO_SANDBOX_BWRAP';
    const where = wanted === 'bwrap' ? 'in PATH' : `at \`${wanted}\` (${setting})`;
    throw new UserError(`bubblewrap (\`bwrap\`) was not found ${where}; nothing was built`, [wanted === 'bwrap' ? INSTALL_HELP : `fix or remove ${setting}; without it, \`bwrap\` is looked up in PATH`]);
  }
  const failure = probed(bwrap, 'bwrap-works', env);
  if (failure !== undefined) throw explainProbeFailure(failure);
  return { path: bwrap, direct: false };
}

/** Runs the probe of `program` unless a success is remembered; remembers a success. */
function probed(program: string, name: string, env: NodeJS.ProcessEnv): string | undefined {
  const cached = probeCacheFile(program, name, env);
  if (cached && existsSync(cached)) return undefined;
  const probe = probeSandbox(program);
  if (!probe.ok) return probe.stderr;
  if (cached) {
    try {
      mkdirSync(join(cached, '..'), { recursive: true });
      writeFileSync(cached, 'ok\n');
    } catch {
      /* no cache then: the probe runs next time */
    }
  }
  return undefined;
}

/**
 * A successful probe is remembered until the program or the kernel changes or the machine reboots
 * (~20 ms saved per build). Failures are never cached; a later failure still stops the build
 * script, only with the builder's own message.
 */
function probeCacheFile(bwrap: string, name: string, env: NodeJS.ProcessEnv): string | undefined {
  const base = env.XDG_CACHE_HOME || (env.HOME ? join(env.HOME, '.cache') : undefined);
  if (!base) return undefined;
  try {
    const st = statSync(bwrap);
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const key = createHash('sha256').update([bwrap, st.mtimeMs, st.size, st.ino, bootId, release()].join('\0')).digest('hex');
    return join(base, 'cargo-sandbox', `${name}-${key.slice(0, 24)}`);
  } catch {
    return undefined;
  }
}
