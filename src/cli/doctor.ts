// `cargo sandbox doctor`: one screen saying what works and what to fix.

import { spawnSync } from 'node:child_process';
import { describePidsStatus, PIDS_FIX, pidsStatus } from '../backends/cgroups.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDirs, confineBinary, usableDir } from '../backends/native-helpers.js';
import { prebuiltSummary } from '../backends/prebuilt-helpers.js';
import { ensureProcMacroLauncher } from '../intercept/session-cache.js';
import { MIN_CARGO, parseCargoVersion, supportedCargo } from './cargo-version.js';
import { BACKEND_VARIABLE, directBuilder, explainProbeFailure, findExecutable, INSTALL_HELP, probeSandbox, requestedBackend } from '../backends/preflight.js';
import { plural, UserError } from '../diagnostics/style.js';
import type { Reporter } from '../diagnostics/style.js';
import { trustFindings } from '../config/workspace-trust.js';
import { contextTrustMode } from '../diagnostics/trust.js';
import { peekCargoOptions } from './args.js';
import { loadContext } from './context.js';

interface Check {
  name: string;
  ok: boolean;
  /** Works, but less than it could (shown as `warn`). */
  warn?: boolean;
  detail: string;
  fix?: string[];
}

function firstLine(cmd: string, args: string[], env: NodeJS.ProcessEnv): string | undefined {
  // From `/`: rustup would follow a toolchain file in the current directory to a program of its choosing.
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, timeout: 20_000, cwd: '/' });
  if (r.error || r.status !== 0) return undefined;
  return (r.stdout || r.stderr).split('\n')[0]?.trim();
}

/** The Landlock ABI version the kernel offers, asked of the supervisor (0: none). */
function landlockStatus(confine: string | undefined): { ok: boolean; detail: string } {
  if (!confine) return { ok: false, detail: 'unknown (no supervisor)' };
  const abi = Number(spawnSync(confine, ['--landlock-abi'], { encoding: 'utf8' }).stdout.trim() || 0);
  return abi > 0 ? { ok: true, detail: `ABI ${abi}` } : { ok: false, detail: 'not offered by this kernel' };
}

/** Whether the workspace here has config or a toolchain file of its own, and whether it is trusted. */
async function workspaceTrust(env: NodeJS.ProcessEnv): Promise<Check> {
  const ctx = await loadContext(peekCargoOptions([]), [], env);
  const findings = ctx.workspaceFiles.flatMap((f) => trustFindings(f, contextTrustMode(ctx)));
  const untrusted = ctx.workspaceFiles.filter((f) => f.trust !== 'trusted');
  const detail = ctx.workspaceFiles.length === 0
    ? `${ctx.workspaceRoot}: no config or toolchain file of its own`
    : untrusted.length === 0
      ? `${ctx.workspaceRoot}: trusted`
      : `${ctx.workspaceRoot}: not trusted (${findings.filter((f) => f.effect === 'refused').length} key(s) refused, ${findings.filter((f) => f.effect === 'ignored').length} sandbox setting(s) ignored)`;
  return { name: 'workspace', ok: true, detail, fix: untrusted.length && findings.length ? ['`cargo sandbox trust --show` lists them; `cargo sandbox trust` trusts them'] : undefined };
}

const APPARMOR_USERNS = 'kernel.apparmor_restrict_unprivileged_userns';

/** Ubuntu 23.10 and later: unprivileged user namespaces only for programs with an AppArmor profile allowing them. */
export function apparmorRestrictsUserns(file = '/proc/sys/kernel/apparmor_restrict_unprivileged_userns'): boolean {
  try {
    return readFileSync(file, 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

/**
 * Which builder makes the sandboxes (backends/preflight.ts), each probed: the direct one unless
 * bubblewrap is asked for; bubblewrap when asked for, or as the fallback where the direct one fails.
 */
function builderChecks(env: NodeJS.ProcessEnv): Check[] {
  let requested: ReturnType<typeof requestedBackend>;
  try {
    requested = requestedBackend(env);
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    return [{ name: 'sandbox builder', ok: false, detail: e.message, fix: e.help.slice() }];
  }
  const checks: Check[] = [];
  if (requested !== 'bubblewrap') {
    const direct = directBuilder(env);
    if ('path' in direct) return [{ name: 'sandbox builder', ok: true, detail: 'direct: cargo-sandbox builds each sandbox itself (user, pid, net, ipc, mount namespaces work)' }];
    // (root is not held by it: it has the capability the restriction asks for)
    const failure = direct.failure;
    const restricted = process.getuid?.() !== 0 && apparmorRestrictsUserns();
    const fix = restricted
      ? [`AppArmor restricts unprivileged user namespaces here (${APPARMOR_USERNS} = 1): bubblewrap builds the sandboxes instead, under the AppArmor profile your distribution gives it (Ubuntu: bwrap-userns-restrict)`]
      : /Permission denied|Operation not permitted|EPERM|EACCES/i.test(failure) ? explainProbeFailure(failure).help.slice(0, 1) : [];
    checks.push({ name: 'direct builder', ok: requested !== 'direct', warn: true, detail: `unavailable here: ${failure}`, fix: requested === 'direct' ? [`unset ${BACKEND_VARIABLE} to fall back to bubblewrap`, ...fix] : fix });
    if (requested === 'direct') return checks;
  }
  const bwrap = findExecutable(env.CARGO_SANDBOX_BWRAP || 'bwrap', env);
  if (!bwrap) {
    const custom = env.CARGO_SANDBOX_BWRAP;
    checks.push({ name: 'bubblewrap', ok: false, detail: custom ? `not found at \`${custom}\` (CARGO_SANDBOX_BWRAP)` : 'not found in PATH', fix: [custom ? 'fix or unset CARGO_SANDBOX_BWRAP' : INSTALL_HELP] });
    return checks;
  }
  const version = firstLine(bwrap, ['--version'], env) ?? 'unknown version';
  const probe = probeSandbox(bwrap);
  const err = probe.ok ? undefined : explainProbeFailure(probe.stderr);
  checks.push({
    name: 'sandbox builder',
    ok: probe.ok,
    detail: probe.ok ? `bubblewrap: ${bwrap} (${version}; user, pid, net, ipc namespaces work)` : err!.message,
    fix: err?.help.slice(),
  });
  return checks;
}

export async function runDoctor(env: NodeJS.ProcessEnv, reporter: Reporter): Promise<number> {
  const checks: Check[] = [];
  checks.push({
    name: 'platform',
    ok: process.platform === 'linux',
    detail: `${process.platform} ${process.arch}`,
    fix: process.platform === 'linux' ? undefined : ['only Linux is supported so far'],
  });
  checks.push(...builderChecks(env));
  let confine: string | undefined;
  try {
    confine = confineBinary(env);
    checks.push({ name: 'supervisor', ok: true, detail: confine });
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    checks.push({ name: 'supervisor', ok: false, detail: e.message, fix: e.help.slice() });
  }
  const landlock = landlockStatus(confine);
  checks.push({ name: 'landlock', ok: true, detail: `${landlock.detail} (second layer where present; \`allow-exec\` needs it)` });
  const pids = pidsStatus();
  checks.push({ name: 'max-processes', ok: true, warn: !pids.enforced, detail: describePidsStatus(pids), fix: pids.enforced ? undefined : PIDS_FIX });
  const cache = cacheDirs(env).find(usableDir);
  checks.push({ name: 'cache', ok: cache !== undefined, detail: cache ? `${cache} (compiled helpers, cached sessions)` : `no writable directory among ${cacheDirs(env).join(', ')}`, fix: cache ? undefined : ['set CARGO_SANDBOX_CACHE_DIR to a writable directory'] });
  checks.push({ name: 'prebuilt', ok: true, detail: prebuiltSummary() });
  const frontEnd = cache && existsSync(join(cache, 'front-end'));
  checks.push({ name: 'fast path', ok: true, warn: !frontEnd, detail: frontEnd ? 'repeated builds start without Node (compiled front end)' : 'not built yet: the first sandboxed build compiles it (every run starts Node until then)' });
  const launcher = ensureProcMacroLauncher(env);
  checks.push({ name: 'proc-macro server', ok: true, warn: !launcher, detail: launcher ? `${launcher} (rust-analyzer.procMacro.server: starts without Node on the editor's PATH)` : 'no static launcher could be built: name bin/cargo-sandbox-proc-macro-srv instead (needs `node` on the editor\'s PATH)' });
  const strace = findExecutable(env.CARGO_SANDBOX_STRACE || 'strace', env);
  checks.push({ name: 'strace', ok: true, warn: !strace, detail: strace ? `${strace} (for \`cargo sandbox audit\`)` : 'not found: `cargo sandbox audit` needs it (`sudo apt-get install strace`); builds do not' });
  const cargo = env.CARGO || 'cargo';
  const cargoVersion = firstLine(cargo, ['--version'], env);
  const parsed = cargoVersion ? parseCargoVersion(cargoVersion) : undefined;
  const cargoOk = parsed !== undefined && supportedCargo(parsed);
  checks.push({
    name: 'cargo',
    ok: cargoOk,
    detail: cargoVersion ? `${cargoVersion}${cargoOk ? '' : ` (older than ${MIN_CARGO.join('.')}: refused)`}` : 'not found',
    fix: cargoOk ? undefined : [cargoVersion ? `use cargo ${MIN_CARGO.join('.')} or later: \`rustup default stable\`` : 'install Rust with rustup or your distribution'],
  });
  const rustcVersion = firstLine(env.RUSTC || 'rustc', ['--version'], env);
  checks.push({
    name: 'rustc',
    ok: rustcVersion !== undefined,
    detail: rustcVersion ?? 'not found',
  });

  checks.push(await workspaceTrust(env));
  const width = Math.max(...checks.map((c) => c.name.length));
  for (const c of checks) {
    const mark = !c.ok ? (reporter.color ? '\x1b[31mFAIL\x1b[0m' : 'FAIL') : c.warn ? (reporter.color ? '\x1b[33mwarn\x1b[0m' : 'warn') : reporter.color ? '\x1b[32mok\x1b[0m  ' : 'ok  ';
    process.stdout.write(`${mark} ${c.name.padEnd(width)}  ${c.detail}\n`);
  }
  const failed = checks.filter((c) => !c.ok);
  for (const c of checks) for (const f of c.ok ? c.fix ?? [] : []) reporter.message('help', f);
  for (const c of failed) for (const f of c.fix ?? []) reporter.message('help', f);
  if (failed.length) {
    reporter.message('error', `${plural(failed.length, 'check')} failed: build scripts cannot be sandboxed here`);
    return 1;
  }
  process.stdout.write('The sandbox works on this machine.\n');
  return 0;
}
