// `cargo sandbox allow <PKG>[@=VERSION] [GRANTS]...`: merges the grants into `[sandbox.package.PKG]`
// of the user's cargo config (or, with --workspace, the workspace's), checks the result with the
// real loader, and writes it atomically. The same code path writes what the prompt after a failed
// build was told yes to (allow-prompt.ts).

import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { describeRequest, requestEntries, requestPackage, type AllowRequest } from '../config/allow-grants.js';
import { cargoHome, loadToml, parseConfigText, type ConfigLayer } from '../config/cargo-config.js';
import { EditError, mergeTable, tableHeader, tomlKey, tomlValue, type EntryChange } from '../config/config-edit.js';
import { readLockfile } from '../config/lockfile.js';
import { loadSandboxConfig, type ConfigIssue } from '../config/sandbox-config.js';
import { didYouMean } from '../config/suggest.js';
import { openTrustStore, TRUST_VARIABLE } from '../config/trust-store.js';
import { findWorkspaceRoot } from '../config/workspace.js';
import { findWorkspaceSecrets } from '../config/workspace-secrets.js';
import { reportIssues } from '../diagnostics/config-issues.js';
import { grantConcern } from '../diagnostics/allow-offers.js';
import { plural, UserError, type Reporter } from '../diagnostics/style.js';
import { displayPath, isInside, safeRealpath } from '../paths.js';
import { defaultPolicy } from '../policy/default-policy.js';
import type { AllowArgs } from './allow-args.js';
import type { CargoOptions } from './args.js';

/** The config file an allow writes, and how it is named to the user. */
export interface AllowTarget {
  path: string;
  /** `~/.cargo/config.toml`, or the workspace's path as given. */
  shown: string;
  /** Set for a workspace's own config: its trust is carried over (or not). */
  workspaceRoot?: string;
}

/** Cargo reads `config` before `config.toml` in the same directory: the one cargo reads is edited. */
function configIn(dotCargo: string): string {
  const legacy = join(dotCargo, 'config');
  return existsSync(legacy) ? legacy : join(dotCargo, 'config.toml');
}

export function userTarget(env: NodeJS.ProcessEnv, home: string): AllowTarget {
  const path = configIn(cargoHome(env, home));
  return { path, shown: displayPath(path, home) };
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

export function workspaceTarget(cwd: string, manifestPath: string | undefined, home: string): AllowTarget {
  const root = findWorkspaceRoot(cwd, manifestPath);
  if (!root) throw new UserError('could not find `Cargo.toml` in the current directory or any parent: `--workspace` writes the workspace\'s own `.cargo/config.toml`', ['run it in the workspace, or without `--workspace` to write your own cargo config']);
  const path = configIn(join(root, '.cargo'));
  // The repository's own files: a link among them (to your own config, to a file elsewhere) is
  // not followed, as no file a repository made is (your own config's link, a dotfiles one, is).
  for (const p of [join(root, '.cargo'), path]) {
    if (lstatOrUndefined(p)?.isSymbolicLink()) {
      throw new UserError(`\`${displayPath(p, home)}\` is a symbolic link: cargo-sandbox does not write a workspace's config through a link (a repository may have made it, leading to any file); nothing was changed`, ['write the grant by hand where you mean it, or run `cargo sandbox allow` without `--workspace` to write your own cargo config']);
    }
  }
  return { path, shown: displayPath(path, home), workspaceRoot: root };
}

/**
 * The request with its paths as the config file should hold them: relative ones made absolute
 * (a config resolves them against its own directory, not the shell's), those in the home as
 * `~/...` (the same for every machine), those in the workspace relative to it in its own config.
 */
function normalizePaths(r: AllowRequest, cwd: string, home: string, workspaceRoot: string | undefined): AllowRequest {
  const fix = (p: string) => {
    if (p.startsWith('~') || p.startsWith('${')) return p;
    const abs = resolve(cwd, p);
    if (workspaceRoot && isInside(abs, workspaceRoot)) return relative(workspaceRoot, abs) || '.';
    return abs !== home && isInside(abs, home) ? displayPath(abs, home) : abs;
  };
  return { ...r, read: [...new Set(r.read.map(fix))], write: [...new Set(r.write.map(fix))] };
}

/** Errors of `text` as a config file (TOML first, then every `[sandbox]` key), by the real loader. */
async function configErrors(path: string, text: string, cwd: string): Promise<ConfigIssue[]> {
  const toml = await loadToml();
  const table = parseConfigText(text, path, toml);
  const layer: ConfigLayer = { source: { kind: 'file', path }, rank: 'file', baseDir: dirname(dirname(path)), text, table };
  return loadSandboxConfig([layer], {}, cwd, undefined).issues.filter((i) => i.level === 'error');
}

/** Writes `text` beside `path` and renames it over (a reader never sees half a file), keeping its mode. */
function writeAtomically(path: string, text: string): void {
  // A config that is a link (a dotfiles repository) is edited where it leads: the link stays.
  const real = existsSync(path) ? safeRealpath(path) : path;
  mkdirSync(dirname(real), { recursive: true });
  const mode = existsSync(real) ? statSync(real).mode & 0o7777 : undefined;
  const tmp = join(dirname(real), `.${real.slice(dirname(real).length + 1)}.cargo-sandbox-${process.pid}.tmp`);
  try {
    writeFileSync(tmp, text, { mode: mode ?? 0o644, flag: 'wx' });
    if (mode !== undefined) chmodSync(tmp, mode);
    renameSync(tmp, real);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new UserError(`could not write \`${path}\`: ${err instanceof Error ? err.message : String(err)}; nothing was changed`);
  }
}

const listed = (v: EntryChange['added']) => (Array.isArray(v) ? v.join(', ') : String(v));

/** "read /opt/ssl, network crates.io:443": what the changes added (or found already there). */
function describeChanges(changes: readonly EntryChange[], which: 'added' | 'present'): string {
  return changes
    .filter((c) => c[which] !== undefined && !(Array.isArray(c[which]) && (c[which] as readonly string[]).length === 0))
    .map((c) => (c.key === 'allow-network' ? (c[which] === true ? 'the whole network' : `network ${listed(c[which])}`) : `${c.key.replace(/^allow-/, '')} ${listed(c[which])}`))
    .join(', ');
}

export interface AllowResult {
  /** Whether the file was written (false: everything was already there). */
  written: boolean;
}

/**
 * Merges `request` into `target`, validated and written atomically, and says what changed. Paths
 * must already be as the file should hold them (normalizePaths).
 */
export async function applyAllow(request: AllowRequest, target: AllowTarget, opts: { env: NodeJS.ProcessEnv; home: string; cwd: string }, reporter: Reporter): Promise<AllowResult> {
  const pkg = requestPackage(request);
  const before = existsSync(target.path) ? readFileSync(target.path, 'utf8') : '';
  const tablePath = ['sandbox', 'package', request.key];
  let merged: { text: string; changes: EntryChange[] };
  try {
    merged = mergeTable(before, tablePath, requestEntries(request));
  } catch (err) {
    if (!(err instanceof EditError)) throw err;
    const lines = [tableHeader(tablePath), ...requestEntries(request).filter((e) => !Array.isArray(e.value) || e.value.length).map((e) => `${tomlKey(e.key)} = ${tomlValue(e.value)}`)];
    throw new UserError(`could not add to \`${target.shown}\`: a key of \`${tableHeader(tablePath)}\` ${err.message}; nothing was written`, [`add by hand:\n${lines.map((l) => `    ${l}`).join('\n')}`]);
  }
  const added = describeChanges(merged.changes, 'added');
  const present = describeChanges(merged.changes, 'present');
  if (!added) {
    reporter.message('note', `\`${pkg}\` already has ${present || describeRequest(request)} in \`${target.shown}\`; nothing was written`);
    return { written: false };
  }
  // What the loader says of the file as it would be: only errors this edit brings (an error
  // already there is the user's to fix, and cargo-sandbox reports it on every build anyway).
  const was = before ? await configErrors(target.path, before, opts.cwd).catch(() => [] as ConfigIssue[]) : [];
  let now: ConfigIssue[];
  try {
    now = await configErrors(target.path, merged.text, opts.cwd);
  } catch (err) {
    // Not TOML once edited: the table is already defined another way (an inline table, dotted keys).
    if (!(err instanceof UserError)) throw err;
    throw new UserError(`\`${target.shown}\` would not be valid TOML with this grant: ${err.help[0] ?? err.message}; nothing was written`, [`\`${requestPackage(request)}\` may be defined there as an inline table or with dotted keys: add the grant to it by hand`]);
  }
  const fresh = now.filter((i) => !was.some((w) => w.message === i.message));
  if (fresh.length) {
    reportIssues(reporter, fresh);
    throw new UserError(`\`${target.shown}\` would not be valid with this grant (${plural(fresh.length, 'error')} above); nothing was written`);
  }
  // Whether the workspace's file was trusted as it was (its recorded hash, not the variable's say).
  const store = target.workspaceRoot ? openTrustStore({ ...opts.env, [TRUST_VARIABLE]: undefined }, opts.home) : undefined;
  const wasTrusted = store && target.workspaceRoot && before ? store.fileTrust(target.workspaceRoot, target.path, before) === 'trusted' : false;
  writeAtomically(target.path, merged.text);
  reporter.progress('Allowed', `${pkg}: ${added} (in ${target.shown})`);
  if (present) reporter.status(`             already there: ${present}`);
  if (store && target.workspaceRoot) {
    if (wasTrusted) {
      // The only change is ours: the file is trusted as it now is.
      store.record(target.workspaceRoot, [{ path: target.path, text: merged.text }]);
      reporter.message('note', `the workspace's configuration stays trusted (only this grant changed)`);
    } else if (opts.env[TRUST_VARIABLE]) {
      reporter.message('note', `the workspace is trusted by ${TRUST_VARIABLE}; its grants apply`);
    } else {
      reporter.message('warning', `\`${target.shown}\` is not trusted: its grants apply only after you review and trust it`);
      reporter.message('help', `run \`cargo sandbox trust\` in the workspace`);
    }
  }
  return { written: true };
}

/** What the sandbox hides that a grant would show: warned, not refused (the user typed it). */
function warnSecrets(request: AllowRequest, home: string, cwd: string, env: NodeJS.ProcessEnv, reporter: Reporter): void {
  const workspaceRoot = findWorkspaceRoot(cwd, undefined) ?? cwd;
  const policy = defaultPolicy({ home, cargoHome: cargoHome(env, home), rustupHome: undefined, workspaceRoot, workspaceSecrets: findWorkspaceSecrets(workspaceRoot, join(workspaceRoot, 'target')) });
  const expand = (p: string) => (p === '~' ? home : p.startsWith('~/') ? join(home, p.slice(2)) : isAbsolute(p) ? p : resolve(workspaceRoot, p));
  for (const [verb, paths] of [['read', request.read], ['write', request.write]] as const) {
    for (const p of paths) {
      const why = grantConcern(expand(p), { home, masked: policy.masked, realpath: safeRealpath });
      if (why) reporter.message('warning', `\`${p}\` is ${why}: the build script of \`${requestPackage(request)}\` will be able to ${verb} it`);
    }
  }
}

/** A name the dependency graph does not have: said (a typo grants nothing), not refused. */
async function warnUnknownPackage(name: string, cwd: string, reporter: Reporter): Promise<void> {
  const root = findWorkspaceRoot(cwd, undefined);
  const locked = root ? await readLockfile(root).catch(() => undefined) : undefined;
  if (!locked || locked.some((p) => p.name === name)) return;
  const suggestion = didYouMean(name, locked.map((p) => p.name));
  reporter.message('warning', `package \`${name}\` is not in this workspace's Cargo.lock${suggestion ? `: did you mean \`${suggestion}\`?` : ''}`);
}

export async function runAllowCommand(args: AllowArgs, options: CargoOptions, env: NodeJS.ProcessEnv, reporter: Reporter, cwd = process.cwd()): Promise<number> {
  const home = env.HOME || homedir();
  const target = args.workspace ? workspaceTarget(cwd, options.manifestPath, home) : userTarget(env, home);
  const request = normalizePaths(args.request, cwd, home, target.workspaceRoot);
  await warnUnknownPackage(requestPackage(request), cwd, reporter);
  warnSecrets(request, home, cwd, env, reporter);
  await applyAllow(request, target, { env, home, cwd }, reporter);
  return 0;
}
