// The workspace as an attacker: which keys of its own cargo config files and rustup toolchain file
// would run a program on the host or widen the sandbox, until the user trusts those files.
// An allow-list: a key passes untrusted only if trust-allowlist.ts lists it, or if it is handled
// here and what it names runs inside the sandbox (linkers, rustflags: every compilation is
// confined). Everything else is refused: the compiler's version probe, wrappers, credential
// providers, runners of `cargo run`/`test`, the toolchain rustup picks, all of [env] (it reaches
// the version probe and our entry point on the host), build-script override tables
// (`[target.<triple>.<links>]`: their output skips the supervisor's checks), keys we do not know,
// and, when the user compiles on the host (`sandbox.proc-macros = false`), linkers and flags too.
// Pure: the files come in as text and parsed tables.

import { relative } from 'node:path';
import { isInside } from '../paths.js';
import { locateKeys, positionOf } from './locate.js';
import { toolPath } from './cargo-config.js';
import type { FileTrust } from './trust-store.js';
import { allowedKey, harmlessEmptyTable, refusedKeyReason, TARGET_KEYS } from './trust-allowlist.js';

export interface WorkspaceFile {
  path: string;
  kind: 'cargo-config' | 'toolchain';
  text: string;
  /** Parsed TOML ({} when nothing in it can need trust; undefined: not TOML, e.g. a legacy `rust-toolchain`). */
  table: Record<string, unknown> | undefined;
  /** Base for relative tool paths: the parent of `.cargo`, or the toolchain file's directory. */
  baseDir: string;
  trust: FileTrust;
  /** False for an included file that does not exist (yet). */
  exists: boolean;
  /** The files it includes, resolved. */
  includes?: string[];
}

export interface TrustFinding {
  file: string;
  line?: number;
  /** As written: `build.rustc-wrapper`, `env.LD_PRELOAD`, `sandbox.package.foo.allow-network`. */
  key: string;
  /** What it would do, for the user to judge: "runs `/w/tools/x` on the host as the rustc wrapper". */
  what: string;
  /** For a toolchain `path`: the directory rustup would run cargo and rustc from. */
  toolchain?: string;
  /**
   * Refused: nothing starts until the file is trusted. Ignored: a grant left out, with a note.
   * Confined: it applies, and what it runs runs inside the sandbox (shown by `trust`).
   */
  effect: 'refused' | 'ignored' | 'confined';
  /** Refused because it is not known to be safe (not for a program we know it runs). */
  unvetted?: boolean;
}

export interface TrustMode {
  /** Compilations run on the host (`sandbox.proc-macros = false` in the user's own config). */
  hostCompiles: boolean;
  /** The command runs the workspace's binaries (run, test, bench), through a configured runner. */
  runsBinaries: boolean;
  /** The user chose the toolchain (`+toolchain`, RUSTUP_TOOLCHAIN): rustup ignores the toolchain file. */
  toolchainChosen?: boolean;
  /** The command as typed (`b`, `clippy`): an alias of that name would make it something else. */
  command?: string;
  /** Target directories outside it are refused (they can put binaries where they run later). */
  workspaceRoot?: string;
  /** Includes from inside it are refused: build scripts can write there. */
  targetDir?: string;
}

/** Cargo's own commands and built-in aliases: an untrusted alias may shadow the latter. */
const BUILT_IN_ALIASES = new Set(['b', 'c', 'd', 'r', 't', 'rm']);
const COMMANDS = new Set(['build', 'check', 'test', 'run', 'bench', 'doc', 'clippy', 'fix', 'fmt', 'clean', 'update', 'metadata', 'tree', 'fetch', 'package', 'publish', 'install', 'uninstall', 'rustc', 'rustdoc', 'generate-lockfile', 'vendor', 'verify-project', 'search', 'help', 'locate-project', 'pkgid', 'new', 'init', 'add', 'remove', 'version', 'login', 'logout', 'owner', 'yank', 'report', 'config', 'info', ...BUILT_IN_ALIASES]);

/** A toolchain *name* (`stable`, `1.80`, `nightly-2026-01-01`, a linked custom one), not a path. */
const TOOLCHAIN_NAME = /^[A-Za-z0-9_+-][A-Za-z0-9._+-]*$/;

type Entry = { path: string[]; value: unknown };

const isTable = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Every key with its value; an empty table is one too (`[target.<triple>.foo]` acts by being there). */
function entries(table: unknown, prefix: string[] = []): Entry[] {
  if (!isTable(table) || (Object.keys(table).length === 0 && prefix.length > 0)) return [{ path: prefix, value: table }];
  return Object.entries(table).flatMap(([k, v]) => entries(v, [...prefix, k]));
}

/** Keys that apply to compilations (confined) unless compilations run on the host. */
function compilationKey(path: readonly string[]): boolean {
  const [top, second, third] = path;
  if (top === 'build') return path.length === 2 && (second === 'rustflags' || second === 'rustdocflags' || second === 'rustdoc');
  if (top === 'target') return path.length === 3 && (third === 'linker' || third === 'rustflags' || third === 'rustdocflags');
  // Nightly `profile-rustflags`: the same flags, per profile.
  return top === 'profile' && path.at(-1) === 'rustflags' && (path.length === 3 || (path.length === 5 && third === 'package') || (path.length === 4 && third === 'build-override'));
}

function show(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && !Array.isArray(value) && 'value' in value) return show((value as { value: unknown }).value);
  return JSON.stringify(value);
}

function program(value: unknown, baseDir: string): string {
  const first = Array.isArray(value) ? value[0] : typeof value === 'string' ? value.split(/\s+/)[0] : show(value);
  return toolPath(String(first ?? ''), baseDir);
}

/** Every key of one untrusted file that is refused or ignored (none for a trusted file). */
export function trustFindings(file: WorkspaceFile, mode: TrustMode): TrustFinding[] {
  if (file.trust === 'trusted') return [];
  const positions = locateKeys(file.text);
  const found: TrustFinding[] = [];
  const add = (path: string[], what: string, effect: TrustFinding['effect'] = 'refused', unvetted = false, at = path) => {
    found.push({ file: file.path, line: positionOf(positions, at)?.line, key: path.join('.'), what, effect, ...(unvetted ? { unvetted } : {}) });
  };
  if (file.kind === 'toolchain') {
    if (mode.toolchainChosen) return found;
    const toolchain = file.table?.toolchain as Record<string, unknown> | undefined;
    if (toolchain && typeof toolchain.path === 'string') {
      const dir = toolPath(toolchain.path.includes('/') ? toolchain.path : `./${toolchain.path}`, file.baseDir);
      add(['toolchain', 'path'], `rustup runs cargo and rustc from \`${dir}\`, on the host`);
      found[found.length - 1]!.toolchain = dir;
    }
    // rustup takes a path where a name goes too (the legacy one-line file, `channel`).
    const named = file.table === undefined ? file.text.split('\n').map((l) => l.trim()).find(Boolean) : toolchain?.channel;
    if (named !== undefined && !(typeof named === 'string' && TOOLCHAIN_NAME.test(named))) {
      const key = file.table === undefined ? 'toolchain' : 'toolchain.channel';
      found.push({ file: file.path, line: file.table === undefined ? 1 : positionOf(positions, ['toolchain', 'channel'])?.line, key, what: `names \`${String(named)}\`, not a toolchain name: rustup would run cargo and rustc from there, on the host`, effect: 'refused' });
    }
    return found;
  }
  if (!file.table) {
    // Read as cargo reads it, it might hold any key: we cannot tell what it runs.
    found.push({ file: file.path, key: '(the whole file)', what: 'is not TOML that cargo-sandbox can read, so what it runs cannot be shown', effect: 'refused' });
    return found;
  }
  for (const { path, value } of entries(file.table)) {
    const [top, second, third] = path;
    const key = path.join('.');
    if (isTable(value) && harmlessEmptyTable(path)) continue;
    if (top === 'sandbox') {
      add(path, `would set \`${key} = ${JSON.stringify(value)}\` for the sandbox`, 'ignored');
    } else if (top === 'alias' && second !== undefined) {
      // `cargo sandbox` itself, the command typed, a built-in alias (`b = "run"`), or any alias when
      // the typed command is not cargo's own (it may be an alias of yours that expands to this one).
      const typedIsAlias = mode.command !== undefined && !COMMANDS.has(mode.command);
      const hijacks = second === 'sandbox' || second === mode.command || BUILT_IN_ALIASES.has(second) || typedIsAlias;
      add(path.slice(0, 2), `makes \`cargo ${second}\` run \`cargo ${show(value)}\``, hijacks ? 'refused' : 'confined');
    } else if (top === 'include') {
      if (found.some((f) => f.key === 'include')) continue;
      // Where a build script can write (the target dir), or anywhere outside the workspace, a file
      // could appear between two builds: refused.
      const outside = (file.includes ?? []).filter((inc) => (mode.workspaceRoot !== undefined && !isInside(inc, mode.workspaceRoot)) || (mode.targetDir !== undefined && isInside(inc, mode.targetDir)));
      if (outside.length) add(['include'], `reads configuration from \`${outside.join('`, `')}\`, where build scripts or others can write it`);
      else add(['include'], `reads more configuration from \`${(file.includes ?? []).join('`, `')}\` (each file checked on its own)`, 'confined');
    } else if (top === 'unstable') {
      add(path, `sets unstable cargo option \`${key}\` (nightly: it can move outputs or change what runs)`);
    } else if (top === 'doc' && second === 'browser') {
      add(path, `runs \`${program(value, file.baseDir)}\` on the host for \`cargo doc --open\``);
    } else if (top === 'build' && (second === 'artifact-dir' || second === 'out-dir')) {
      add(path, `copies the build's binaries into \`${show(value)}\`, on the host`);
    } else if (top === 'build' && second === 'target-dir' && typeof value === 'string') {
      const dir = toolPath(value.includes('/') ? value : `./${value}`, file.baseDir);
      const outside = mode.workspaceRoot !== undefined && relative(mode.workspaceRoot, dir).startsWith('..');
      add(path, `puts the build's outputs in \`${dir}\``, outside ? 'refused' : 'confined');
    } else if (top === 'build' && (second === 'rustc' || second === 'rustc-wrapper' || second === 'rustc-workspace-wrapper')) {
      const role = second === 'rustc' ? 'the compiler (its version probe runs outside the sandbox)' : `the ${second.replace('rustc-', 'rustc ')}`;
      add(path, `runs \`${program(value, file.baseDir)}\` on the host as ${role}`);
    } else if (top === 'registry' && (second === 'credential-provider' || second === 'global-credential-providers')) {
      add(path, `runs \`${program(value, file.baseDir)}\` on the host to get registry tokens`);
    } else if ((top === 'registries' && third === 'credential-provider') || top === 'credential-alias') {
      add(path, `runs \`${program(value, file.baseDir)}\` on the host to get registry tokens`);
    } else if (top === 'target' && third === 'runner' && path.length === 3) {
      const what = `runs every binary of \`cargo run\`, \`test\` and \`bench\` through \`${program(value, file.baseDir)}\`, on the host`;
      add(path, what, mode.runsBinaries ? 'refused' : 'confined');
    } else if (top === 'env' && second !== undefined) {
      // An allow-list of none: cargo sets them for every program it starts, and some of those run
      // on the host (rustc's version probe, our entry point, which reads OUT_DIR, PWD, ... to
      // decide what a sandbox sees), so no name is safe to leave to the workspace.
      add(path.slice(0, 2), `sets \`${second}=${show(value)}\` for the programs cargo starts`, 'refused', true);
    } else if (top === 'target' && second !== undefined && third !== undefined && !(path.length === 3 && TARGET_KEYS.has(third)) && (path.length > 3 || isTable(value)) && !second.startsWith('cfg(')) {
      // `[target.<triple>.<links>]`: cargo skips the build script of every package with that
      // `links` and hands on the table as its output — `rustc-env` for rustc (and so for our entry
      // point on the host), `rustc-link-arg`, `rustc-cfg` — past the supervisor's directive checks.
      // At its header, or (a dotted key, `foo.rustc-env.X = ...`) at the line that names it.
      const table = path.slice(0, 3);
      add(table, `overrides the build script of packages with \`links = "${third}"\`: cargo hands its \`rustc-env\`, \`rustc-link-arg\`, ... to their compilations and to programs on the host as if the script had printed them, unchecked`, 'refused', true, positions.has(table.join('\0')) ? table : path);
    } else if (compilationKey(path)) {
      if (mode.hostCompiles) add(path, `runs on the host (compilations are not sandboxed: sandbox.proc-macros = false): \`${show(value)}\``);
      else add(path, `applies to compilations, which run inside the sandbox (linker included): \`${show(value)}\``, 'confined');
    } else if (!allowedKey(path)) {
      // Cargo ignores other keys of `[target.'cfg(...)']` (with a warning): refused all the same,
      // as every key we do not know.
      add(path, refusedKeyReason(path, show(value)), 'refused', true);
    }
  }
  // One finding per [env] variable, not one per field of `{ value, relative }`.
  return found.filter((f, i) => found.findIndex((g) => g.key === f.key && g.file === f.file) === i);
}
