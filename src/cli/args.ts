// Reading the command line: what is ours (help, version, doctor) and what cargo gets untouched.
// Cargo's own arguments are never rewritten; we only peek at the few that change our behaviour.

import type { ColorChoice } from '../diagnostics/style.js';
import { extractGrantFlags, type GrantFlag } from './grant-flags.js';
import type { TrustAction } from './trust-command.js';
import { UserError } from '../diagnostics/style.js';
import { HELP_TOPICS, type HelpTopic } from './help.js';
import { parseOwnCommand } from './subcommand-args.js';
import { parseAllowArgs, type AllowArgs } from './allow-args.js';

function isTopic(topic: string): topic is HelpTopic {
  return (HELP_TOPICS as readonly string[]).includes(topic);
}

export type Invocation =
  | { kind: 'help'; topic?: HelpTopic }
  | { kind: 'version' }
  | { kind: 'doctor'; options: CargoOptions }
  | { kind: 'proc-macro-server'; options: CargoOptions }
  | { kind: 'policy'; packages: string[]; format: 'table' | 'json'; options: CargoOptions; grantFlags: GrantFlag[] }
  | { kind: 'trust'; action: TrustAction; options: CargoOptions }
  | { kind: 'allow'; args: AllowArgs; options: CargoOptions }
  | { kind: 'audit'; toolchain: string | undefined; cargoArgs: string[]; options: CargoOptions; grantFlags: GrantFlag[] }
  | { kind: 'cargo'; toolchain: string | undefined; cargoArgs: string[]; options: CargoOptions; grantFlags: GrantFlag[]; sandboxRun: boolean };

/** The cargo options cargo-sandbox itself must honour (all stay in the argv given to cargo). */
export interface CargoOptions {
  color: ColorChoice | undefined;
  quiet: boolean;
  verbose: number;
  /** Values of every `--config` argument, in order (KEY=VALUE or a file path). */
  configArgs: string[];
  manifestPath: string | undefined;
  targetDir: string | undefined;
  /** Every `--target` given (cargo accepts several). */
  targets: string[];
}

const HELP_FLAGS = new Set(['-h', '--help', 'help']);
const VERSION_FLAGS = new Set(['-V', '--version']);

export function parseInvocation(argv: readonly string[]): Invocation {
  // Installed as a cargo external subcommand, cargo runs `cargo-sandbox sandbox ARGS...`.
  const args = argv[0] === 'sandbox' ? argv.slice(1) : argv.slice();
  let toolchain: string | undefined;
  if (args[0]?.startsWith('+')) toolchain = args.shift();
  const first = args[0];
  if (first === undefined || HELP_FLAGS.has(first)) {
    // `help TOPIC`: ours for our commands, cargo's for cargo's (`cargo sandbox help build`).
    const topic = first === 'help' ? args[1] : undefined;
    if (topic === undefined || isTopic(topic)) return { kind: 'help', topic };
    return { kind: 'cargo', toolchain, cargoArgs: args, options: peekCargoOptions(args), grantFlags: [], sandboxRun: false };
  }
  if (VERSION_FLAGS.has(first)) return { kind: 'version' };
  // Its flags are grants of its own (`--read PATH`), read before the build's `--allow-*` flags.
  if (first === 'allow') {
    const parsed = parseAllowArgs(args.slice(1));
    if (parsed.help) return { kind: 'help', topic: 'allow' };
    return { kind: 'allow', args: parsed, options: peekCargoOptions(args.slice(1)) };
  }
  const { cargoArgs, flags, sandboxRun } = extractGrantFlags(args);
  const options = peekCargoOptions(cargoArgs);
  const rest = cargoArgs.slice(1);
  if (first === 'doctor' || first === 'policy' || first === 'trust') {
    const { values, positionals } = parseOwnCommand(first, rest);
    if (values.help) return { kind: 'help', topic: first };
    if (first === 'doctor') return { kind: 'doctor', options };
    if (first === 'policy') return { kind: 'policy', packages: positionals, format: values.format === 'json' ? 'json' : 'table', options, grantFlags: flags };
    const chosen = (['show', 'list', 'revoke'] as const).filter((a) => values[a]);
    if (chosen.length > 1) throw new UserError(`\`--${chosen.join('` and `--')}\` cannot be used together`, ['Usage: cargo sandbox trust [--show | --list | --revoke]']);
    return { kind: 'trust', action: chosen[0] ?? 'trust', options };
  }
  if (first === 'proc-macro-server') return { kind: 'proc-macro-server', options };
  if (first === 'audit') {
    const ours = rest.slice(0, rest.includes('--') ? rest.indexOf('--') : undefined);
    if (ours.includes('--help') || ours.includes('-h')) return { kind: 'help', topic: 'audit' };
    return { kind: 'audit', toolchain, cargoArgs: rest, options, grantFlags: flags };
  }
  return { kind: 'cargo', toolchain, cargoArgs, options, grantFlags: flags, sandboxRun };
}

const VALUE_OPTIONS = new Set(['--color', '--config', '--manifest-path', '--target-dir', '--target']);

export function peekCargoOptions(args: readonly string[]): CargoOptions {
  const options: CargoOptions = {
    color: undefined,
    quiet: false,
    verbose: 0,
    configArgs: [],
    manifestPath: undefined,
    targetDir: undefined,
    targets: [],
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') break; // the rest belongs to the program cargo runs
    let name = arg;
    let value: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      name = arg.slice(0, eq);
      value = arg.slice(eq + 1);
    } else if (VALUE_OPTIONS.has(arg)) {
      value = args[++i];
    }
    switch (name) {
      case '--color':
        if (value === 'auto' || value === 'always' || value === 'never') options.color = value;
        break;
      case '--config':
        if (value !== undefined) options.configArgs.push(value);
        break;
      case '--manifest-path':
        options.manifestPath = value;
        break;
      case '--target-dir':
        options.targetDir = value;
        break;
      case '--target':
        if (value) options.targets.push(value);
        break;
      case '-q':
      case '--quiet':
        options.quiet = true;
        break;
      case '--verbose':
        options.verbose++;
        break;
      default:
        if (/^-v+$/.test(arg)) options.verbose += arg.length - 1;
    }
  }
  return options;
}

export function resolveColor(
  fromArgs: ColorChoice | undefined,
  env: NodeJS.ProcessEnv,
): ColorChoice {
  if (fromArgs) return fromArgs;
  const fromEnv = env.CARGO_TERM_COLOR;
  if (fromEnv === 'always' || fromEnv === 'never' || fromEnv === 'auto') return fromEnv;
  return 'auto';
}
