// After a build that succeeded: what the sandbox hid that it may have wanted, so that "it built"
// never quietly means "it built something else" (pyo3 finding /usr/bin/python3 because the pyenv
// shim on PATH lives in the hidden home). Two things are known for sure:
//   - PATH directories inside the hidden home that hold programs (a script that ran one got
//     another, or none);
//   - variables a build script declared it reads (`cargo:rerun-if-env-changed`) that are set in
//     your environment and removed in the sandbox (secret-looking names are not offered).
// Said once: the same findings are not repeated on later builds (a marker in the cache).

import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join, relative, sep } from 'node:path';
import { emptyRequest, type AllowRequest } from '../config/allow-grants.js';
import { allowCommandLine, grantConcern, printable } from './allow-offers.js';
import { displayPath, isInside, PACKAGE_ROOT } from '../paths.js';
import { globMatch, isPassed } from '../policy/environment.js';
import type { SandboxPolicy } from '../policy/default-policy.js';
import type { EffectiveGrants } from '../policy/effective.js';
import type { BuildScriptRun } from '../intercept/session.js';

/** Cargo keeps a script's whole output, bounded by its max-output (64 MiB by default). */
const MAX_OUTPUT_READ = 64 * 1024 ** 2;

export interface HiddenInputs {
  /** PATH directories in the hidden home that hold programs. */
  pathDirs: string[];
  /** The packages whose build scripts said they look for programs (rerun-if-env-changed=PATH, ...). */
  pathUsers: string[];
  /** Per package: variables it reads that the sandbox removed. */
  variables: { packageName: string; names: string[] }[];
}

/** `cargo:rerun-if-env-changed=NAME` (and cargo's `cargo::` form) in a build script's output. */
export function declaredVariables(output: string): string[] {
  const names = new Set<string>();
  for (const m of output.matchAll(/^cargo::?rerun-if-env-changed=(.+)$/gm)) names.add(m[1]!.trim());
  return [...names];
}

export function holdsPrograms(dir: string, ours = PACKAGE_ROOT): boolean {
  try {
    return readdirSync(dir).some((n) => {
      try {
        const st = statSync(join(dir, n));
        // cargo-sandbox's own commands (a `--prefix ~/prefix` install's bin/) are no build's input.
        return st.isFile() && (st.mode & 0o111) !== 0 && !isInside(realpathSync(join(dir, n)), ours);
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

/** What the sandbox hid from this build's scripts (pure but for reading their outputs and PATH). */
export function findHiddenInputs(
  runs: readonly BuildScriptRun[],
  env: Record<string, string | undefined>,
  home: string,
  policy: SandboxPolicy,
  grantsOf: (run: BuildScriptRun) => EffectiveGrants,
): HiddenInputs {
  const visible = [...policy.system, ...policy.etc, ...policy.readOnly];
  const pathDirs = (env.PATH ?? '').split(delimiter).filter((d) => isAbsolute(d) && isInside(d, home) && !visible.some((v) => isInside(d, v)) && holdsPrograms(d));
  const variables: HiddenInputs['variables'] = [];
  const pathUsers = new Set<string>();
  for (const run of runs) {
    // Cargo's record of the script's output: read only as the regular file cargo writes (a
    // `target/` shipped with a repository may hold a link to /dev/zero or a FIFO there).
    const file = join(dirname(run.outDir), 'output');
    let output = '';
    try {
      const st = lstatSync(file);
      if (!st.isFile() || st.size > MAX_OUTPUT_READ) continue;
      output = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const granted = grantsOf(run).env.map((e) => e.value);
    const declared = declaredVariables(output);
    if (declared.some((n) => PROGRAM_VARIABLES.includes(n))) pathUsers.add(run.packageName);
    const names = declared.filter(
      (n) => env[n] !== undefined && !isPassed(policy.env, n) && !granted.some((g) => globMatch(g, n)) && !policy.env.deny.some((d) => globMatch(d, n)),
    );
    const entry = variables.find((v) => v.packageName === run.packageName);
    if (entry) entry.names = [...new Set([...entry.names, ...names])];
    else if (names.length) variables.push({ packageName: run.packageName, names });
  }
  return { pathDirs: [...new Set(pathDirs)], pathUsers: [...pathUsers], variables: variables.filter((v) => v.names.length) };
}

/**
 * Variables a build script declares when it looks for a program on PATH or for an interpreter
 * (pyo3-build-config: PYO3_PYTHON, VIRTUAL_ENV, CONDA_PREFIX): its script is the one a hidden
 * PATH directory concerns.
 */
const PROGRAM_VARIABLES = ['PATH', 'PYO3_PYTHON', 'PYTHON_SYS_EXECUTABLE', 'VIRTUAL_ENV', 'CONDA_PREFIX', 'PYENV_VERSION', 'NVM_DIR', 'NODE', 'RBENV_VERSION', 'ASDF_DIR'];

/** Version managers that keep their programs below one directory of the home: granted whole. */
const TOOL_ROOTS = ['.pyenv', '.nvm', '.asdf', '.rbenv', '.nodenv', '.goenv', '.jenv', '.volta', '.sdkman', '.conda', '.deno', '.bun', 'miniconda3', 'anaconda3', 'miniforge3', 'mambaforge'];

/** The directory to show for a PATH directory: a version manager's root (`~/.pyenv`), or itself. */
export function toolRoot(dir: string, home: string): string {
  const first = relative(home, dir).split(sep)[0]!;
  return TOOL_ROOTS.includes(first) ? join(home, first) : dir;
}

/** The note and help lines for `found` (empty when nothing was hidden). */
export function hiddenInputsMessages(found: HiddenInputs, home: string, masked: readonly string[] = [], verbose = false): { notes: string[]; help: string[] } {
  const notes: string[] = [];
  const help: string[] = [];
  // The user's own PATH names these (not a script's output); a secret or the home is still never offered.
  const roots = [...new Set(found.pathDirs.map((d) => toolRoot(d, home)))].filter((r) => !grantConcern(r, { home, masked }));
  if (found.pathDirs.length) {
    const dirs = found.pathDirs.map((d) => `\`${printable(displayPath(d, home))}\``).join(', ');
    const whose = found.pathUsers.length ? `the build script of ${found.pathUsers.map((p) => `\`${p}\``).join(' and ')}` : 'build scripts';
    notes.push(`the sandbox hid ${dirs} (on your PATH, in your home) from ${whose}: a program it ran from there was found further along PATH, or not at all`);
    const request = (pkg: string): AllowRequest => ({ ...emptyRequest(pkg), read: roots.map((r) => displayPath(r, home)) });
    if (roots.length) {
      for (const pkg of found.pathUsers) help.push(`if it needs ${roots.length > 1 ? 'them' : 'it'}: ${allowCommandLine(request(pkg))}`);
      if (!found.pathUsers.length) help.push(`if a build script needs ${roots.length > 1 ? 'them' : 'it'}: ${allowCommandLine(request('PACKAGE'))} (PACKAGE: its package)`);
    }
  }
  for (const v of found.variables) {
    const names = v.names.map((n) => `\`${n}\``).join(', ');
    notes.push(`the build script of \`${v.packageName}\` reads ${names} (rerun-if-env-changed), set in your environment but removed in the sandbox: it built without ${v.names.length > 1 ? 'them' : 'it'}`);
    help.push(`to pass ${v.names.length > 1 ? 'them' : 'it'}: ${allowCommandLine({ ...emptyRequest(v.packageName), env: v.names })}`);
    if (verbose) help.push(`or add to a cargo config file:\n    [sandbox.package.${v.packageName}]\n    allow-env = [${v.names.map((n) => JSON.stringify(n)).join(', ')}]`);
  }
  return { notes, help };
}

/** Whether these exact messages were already said for this workspace (and remembers them when not). */
export function alreadySaid(messages: readonly string[], workspace: string, cacheDir: string | undefined): boolean {
  if (!cacheDir || messages.length === 0) return false;
  const marker = join(cacheDir, 'said', createHash('sha256').update(workspace).update('\0').update(messages.join('\n')).digest('hex').slice(0, 32));
  if (existsSync(marker)) return true;
  try {
    mkdirSync(dirname(marker), { recursive: true });
    writeFileSync(marker, '');
  } catch {
    /* said again next time: no harm */
  }
  return false;
}
