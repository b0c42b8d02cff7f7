// cargo-sandbox's small Rust programs (libexec/*.rs, std only): the entry point cargo starts, the
// supervisor around each build script, the direct sandbox builder, the front end that replays
// cached sessions, the proc-macro server's launcher. Cached by content; on first use copied from
// the package's prebuilt ones when they are exactly these (prebuilt-helpers.ts), else compiled
// with the rustc that cargo would use (any rustc since 1.79, the oldest cargo-sandbox supports,
// builds them).

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, closeSync, constants, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UserError } from '../diagnostics/style.js';
import { installPrebuilt } from './prebuilt-helpers.js';
import { LIBEXEC, PACKAGE_ROOT } from '../paths.js';

/**
 * Where compiled helpers are kept, most preferred first; the user's own cache comes last.
 * bin/cargo-sandbox looks for the front end in the same order, in those it can write.
 */
export function cacheDirs(env: NodeJS.ProcessEnv): string[] {
  const home = env.XDG_CACHE_HOME || (env.HOME ? join(env.HOME, '.cache') : undefined);
  return [
    ...(env.CARGO_SANDBOX_CACHE_DIR ? [env.CARGO_SANDBOX_CACHE_DIR] : []),
    // Beside the package when it is writable: shared by every user of this installation.
    join(PACKAGE_ROOT, '.cache'),
    ...(home ? [join(home, 'cargo-sandbox')] : []),
  ];
}

export function usableDir(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * A compiled helper is found by name, then run on the host: only a regular file (not a link) that
 * only its owner can change, owned by us or by root, in a directory that is the same, is used.
 */
function trustworthy(path: string): boolean {
  const uid = process.getuid?.() ?? 0;
  const ok = (p: string, type: 'file' | 'dir') => {
    const s = lstatSync(p);
    return (type === 'file' ? s.isFile() : s.isDirectory()) && (s.uid === uid || s.uid === 0) && (s.mode & 0o022) === 0;
  };
  try {
    return ok(path, 'file') && ok(dirname(path), 'dir');
  } catch {
    return false;
  }
}

export interface HelperBuild {
  /** libexec/NAME.rs (with its modules in libexec/NAME/) */
  name: string;
  /** Variables the source reads at compile time (env!); part of the cache key. */
  compileEnv?: Record<string, string>;
  /** Where to look and build; by default every cache directory. */
  dirs?: string[];
  /** Must load no library (no ELF interpreter): it runs where LD_LIBRARY_PATH is attacker-chosen. */
  mustBeStatic?: boolean;
  /** False: compiled even when the package has it prebuilt (the tests of compiling itself). */
  prebuilt?: boolean;
}

/** Whether an ELF file has no interpreter (PT_INTERP): the loader never runs for it. */
export function isStaticElf(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const header = Buffer.alloc(64);
    readSync(fd, header, 0, 64, 0);
    if (header.readUInt32BE(0) !== 0x7f454c46 || header[4] !== 2) return false; // ELF, 64-bit
    const phoff = Number(header.readBigUInt64LE(0x20));
    const phentsize = header.readUInt16LE(0x36);
    const phnum = header.readUInt16LE(0x38);
    const table = Buffer.alloc(phentsize * phnum);
    readSync(fd, table, 0, table.length, phoff);
    for (let i = 0; i < phnum; i++) if (table.readUInt32LE(i * phentsize) === 3) return false; // PT_INTERP
    return true;
  } finally {
    closeSync(fd);
  }
}

let announce: ((helper: string) => void) | undefined;
let warn: (text: string, help?: string) => void = (text, help) => void process.stderr.write(`warning: ${text}\n${help ? `help: ${help}\n` : ''}`);

/**
 * Who hears that a helper is being compiled (the first run takes seconds: it says so), and why a
 * prebuilt one was not used (a warning: the package on disk is not what was packed).
 */
export function announceHelperCompiles(to: (helper: string) => void, warnings?: (text: string, help?: string) => void): void {
  announce = to;
  if (warnings) warn = warnings;
}

/**
 * The cache key of a helper: SHA-256 (hex) of everything it is compiled from, the architecture and
 * the variables it reads at compile time. A prebuilt helper carries the key it was built with
 * (prebuilt-helpers.ts): sources changed since it was packed make another key, never a stale use.
 */
export function helperKey(build: HelperBuild): string {
  const hash = createHash('sha256').update(readFileSync(join(LIBEXEC, `${build.name}.rs`))).update(process.arch).update('crt-static');
  // What it may compile in is part of the cache key too: its modules (libexec/NAME/), the modules
  // helpers share (libexec/shared/, libexec/entry/ for the front end's SHA-256, libexec/confine/
  // for the entry points, which carry the supervisor) and the schema files they include
  // (libexec/schema/).
  for (const dir of new Set([build.name, 'entry', 'confine', 'shared', 'schema'])) {
    const modules = join(LIBEXEC, dir);
    for (const m of existsSync(modules) ? readdirSync(modules).sort() : []) hash.update(`\0${dir}/${m}\0`).update(readFileSync(join(modules, m)));
  }
  for (const [k, v] of Object.entries(build.compileEnv ?? {})) hash.update(`\0${k}=${v}`);
  return hash.digest('hex');
}

/** The file name of a helper in a cache directory: its name and the start of its key. */
export function helperFile(build: HelperBuild, key: string): string {
  return `${build.name}-${key.slice(0, 16)}`;
}

/**
 * rustc's arguments for a helper, written to `out`: the same for the first use and for the
 * prebuilt copies made at pack time (scripts/prebuild-helpers.mjs). Statically linked where the
 * C library allows it: no dynamic loader at each start (~1.7 ms here, paid once per build script
 * by the supervisor).
 */
export function rustcArgs(build: HelperBuild, out: string, statically: boolean): string[] {
  const staticArgs = statically ? ['-C', 'target-feature=+crt-static'] : [];
  return ['--edition', '2021', '-O', '-C', 'panic=abort', '-C', 'strip=symbols', ...staticArgs, '-o', out, join(LIBEXEC, `${build.name}.rs`)];
}

/**
 * What the front end and the proc-macro server's launcher have compiled in: where this package is
 * installed, and the Node that runs it.
 */
export function installPathsEnv(): Record<string, string> {
  return { CARGO_SANDBOX_ROOT: PACKAGE_ROOT, CARGO_SANDBOX_NODE: process.execPath };
}

/** The path of the compiled helper, compiling it if no cache has it. Fails closed. */
export function compiledHelper(build: HelperBuild, env: NodeJS.ProcessEnv): string {
  const source = join(LIBEXEC, `${build.name}.rs`);
  const file = helperFile(build, helperKey(build));
  const dirs = build.dirs ?? cacheDirs(env);
  const usable = (path: string) => trustworthy(path) && (!build.mustBeStatic || isStaticElf(path));
  for (const dir of dirs) {
    if (existsSync(join(dir, file)) && usable(join(dir, file))) return join(dir, file);
  }
  const dir = dirs.find(usableDir);
  if (!dir) throw new UserError(`no writable cache directory for cargo-sandbox's ${build.name} (tried ${dirs.join(', ')}); nothing was built`, ['set CARGO_SANDBOX_CACHE_DIR to a writable directory']);
  // The package's own copy, built when it was packed, if it is this very helper and intact.
  if (build.prebuilt !== false && installPrebuilt(build, join(dir, file), warn)) return join(dir, file);
  const tmp = join(dir, `${file}.${process.pid}.tmp`);
  announce?.(build.name);
  const rustc = env.RUSTC || 'rustc';
  const compile = (statically: boolean) =>
    spawnSync(rustc, rustcArgs(build, tmp, statically), {
      env: { ...env, ...build.compileEnv },
      // Not in the workspace: rustup would follow its toolchain file to a rustc of its choosing.
      cwd: dir,
      encoding: 'utf8',
    });
  let r = compile(true);
  if (r.status !== 0) r = compile(false);
  if (r.status !== 0) {
    throw new UserError(`could not compile cargo-sandbox's ${build.name} (${source}) with \`${rustc}\`; nothing was built`, [
      (r.stderr || r.error?.message || '').trim().split('\n').slice(0, 12).join('\n'),
    ]);
  }
  if (build.mustBeStatic && !isStaticElf(tmp)) {
    rmSync(tmp, { force: true });
    throw new UserError(
      `could not link cargo-sandbox's ${build.name} statically with \`${rustc}\`, and a dynamically linked one would load libraries that build scripts plant on cargo's LD_LIBRARY_PATH, on the host; nothing was built`,
      ['install the C library for static linking (Debian, Ubuntu: libc6-dev; Fedora: glibc-static), or set RUSTC to a rustc that links it'],
    );
  }
  renameSync(tmp, join(dir, file));
  return join(dir, file);
}

/**
 * Makes `link` a symlink to `target`, unless it already is one: through a temporary name and a
 * rename, so that nobody ever finds it missing or half-made.
 */
export function pointLinkAt(link: string, target: string): void {
  try {
    if (readlinkSync(link) === target) return;
  } catch {
    /* missing, or not a link: replaced below */
  }
  const tmp = `${link}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  symlinkSync(target, tmp);
  renameSync(tmp, link);
}

/** What cargo starts of ours: one static entry point each (libexec/entry.rs), never a script. */
export const ENTRY_MODES = ['rustc-wrapper', 'rustc-wrapper-keep-args', 'rustdoc-wrapper', 'run-binary', 'proc-macro-server'] as const;
export type EntryMode = (typeof ENTRY_MODES)[number];

/** The static entry point for `mode` (under a build script's name, any of them is the launcher). */
export function entryBinary(mode: EntryMode, env: NodeJS.ProcessEnv): string {
  return compiledHelper({ name: 'entry', compileEnv: { CARGO_SANDBOX_ENTRY_MODE: mode }, mustBeStatic: true }, env);
}

/**
 * The static program that builds each sandbox itself (libexec/direct-sandbox.rs, shared/direct_sandbox*.rs):
 * bubblewrap's options in, the same view out, made through descriptors. Static: cargo's
 * LD_LIBRARY_PATH is the build scripts' to fill.
 */
export function directSandboxBinary(env: NodeJS.ProcessEnv): string {
  return compiledHelper({ name: 'direct-sandbox', mustBeStatic: true }, env);
}

/** The supervisor that runs inside bubblewrap around each build script (libexec/confine.rs). */
export function confineBinary(env: NodeJS.ProcessEnv): string {
  return compiledHelper({ name: 'confine' }, env);
}
