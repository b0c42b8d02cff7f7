// Which cargo commands `cargo sandbox` runs, and how each is confined (README, "Every cargo
// command"). An allow-list: a command not named here, an external `cargo-*` program included,
// is refused before cargo starts, with the reason, since what it runs cannot be known to go
// through our wrapper. Aliases (cargo's built-in ones, and `[alias]` in the configuration, which
// the trust check has already judged) are followed to the command they run.

import { UserError } from '../diagnostics/style.js';
import { cargoSubcommand } from '../diagnostics/trust.js';
import { lookup, type ConfigLayer } from '../config/cargo-config.js';

type Gate = { confined: string } | { refused: string; help: string[] };

const COMPILES = 'every build script, proc macro and compilation runs in the sandbox';
const RUNS = `${COMPILES}; the binaries it runs run on the host unless --sandbox-run (or sandbox.run) confines them too`;
const NO_PACKAGE_CODE = 'runs no code of any package (cargo itself only)';

/** Cargo's commands, each with how it is confined or why it is refused. */
export const COMMAND_GATES: Readonly<Record<string, Gate>> = {
  build: { confined: COMPILES },
  check: { confined: COMPILES },
  doc: { confined: `${COMPILES}, rustdoc included` },
  rustc: { confined: COMPILES },
  rustdoc: { confined: `${COMPILES}, rustdoc included` },
  clippy: { confined: `${COMPILES}, clippy-driver included; with --fix, as \`fix\` with clippy-driver inside` },
  test: { confined: `${RUNS}; doctests run inside rustdoc's sandbox` },
  bench: { confined: RUNS },
  run: { confined: RUNS },
  install: { confined: `${COMPILES}; the installed program runs only when you run it` },
  package: { confined: `${COMPILES} (the verification build)` },
  publish: { confined: `${COMPILES} (the verification build)` },
  fmt: { confined: 'rustfmt formats the sources and runs no package code' },
  ...Object.fromEntries(
    ['clean', 'update', 'metadata', 'tree', 'fetch', 'generate-lockfile', 'vendor', 'verify-project', 'search', 'help', 'locate-project', 'pkgid', 'new', 'init', 'add', 'remove', 'version', 'login', 'logout', 'owner', 'yank', 'report', 'config', 'info', 'uninstall'].map((c) => [c, { confined: NO_PACKAGE_CODE }]),
  ),
  // Cargo's fix mode compiles the workspace's crates through cargo itself, which runs the compiler
  // through RUSTC_WORKSPACE_WRAPPER only: ours is that too (build.ts).
  fix: { confined: `${COMPILES}: cargo's fix mode reaches the compiler through our workspace wrapper; cargo writes the fixes into the sources` },
  miri: {
    refused: 'cargo-miri compiles and interprets through its own rustc driver and ignores RUSTC_WRAPPER: build scripts and proc macros would run on the host',
    help: ['run `cargo miri` only on code you trust'],
  },
  nextest: {
    refused: "cargo-nextest runs the workspace's setup scripts (.config/nextest.toml) and test binaries on the host",
    help: ['`cargo sandbox test --sandbox-run` runs the tests confined', 'run `cargo nextest` only on code you trust'],
  },
};

/** `--fix` before any `--` (clippy's own arguments after it are clippy's). */
export function hasFix(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).includes('--fix');
}

const BUILT_IN_ALIASES: Readonly<Record<string, string>> = { b: 'build', c: 'check', d: 'doc', t: 'test', r: 'run', rm: 'remove' };

/** The command an alias runs, as cargo expands it (a user alias shadows no built-in command). */
function expandAlias(command: string, layers: readonly ConfigLayer[]): string[] | undefined {
  for (const layer of layers) {
    const value = lookup(layer.table, ['alias', command]);
    if (typeof value === 'string') return value.split(/\s+/).filter(Boolean);
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  }
  return undefined;
}

/** What a run really is, its aliases expanded: the command and the arguments after it. */
export interface GatedCommand {
  command: string | undefined;
  /** Everything before the command (global options), the command, and what follows it. */
  args: string[];
}

/** Stops (UserError) unless the command is one that `cargo sandbox` confines; else what it runs. */
export function gateCommand(cargoArgs: readonly string[], layers: readonly ConfigLayer[]): GatedCommand {
  let args = [...cargoArgs];
  for (let depth = 0; depth < 16; depth++) {
    const command = cargoSubcommand(args);
    if (command === undefined) return { command, args }; // `cargo sandbox --version`, `-V`, `--list`: cargo only
    const at = args.indexOf(command);
    const rest = args.slice(at + 1);
    const gate = COMMAND_GATES[command];
    const alias = gate ? undefined : BUILT_IN_ALIASES[command] ? [BUILT_IN_ALIASES[command]!] : expandAlias(command, layers);
    if (alias) {
      args = [...args.slice(0, at), ...alias, ...rest];
      continue;
    }
    const typed = cargoSubcommand(cargoArgs);
    const shown = typed === command ? `\`${command}\`` : `\`${typed}\` (an alias of \`${command}\`)`;
    if (!gate) {
      throw new UserError(`cargo-sandbox does not run ${shown}: it is not one of cargo's commands that cargo-sandbox confines (an external \`cargo-${command}\` program runs on the host, and whatever it starts may not go through the sandbox); nothing was run`, [
        'the commands cargo-sandbox confines are listed in its README ("Every cargo command")',
        `run \`cargo ${command}\` without the sandbox only on code you trust`,
      ]);
    }
    if ('refused' in gate) throw new UserError(`cargo-sandbox does not run ${shown}: ${gate.refused}; nothing was run`, gate.help);
    return { command, args };
  }
  throw new UserError('cargo-sandbox could not expand the aliases of this command (more than 16 levels); nothing was run');
}
