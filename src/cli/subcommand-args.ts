// The arguments of cargo-sandbox's own commands (policy, trust, doctor), read by Node's own
// parser (util.parseArgs): unknown options and stray values are errors, as in cargo, never ignored.
// Cargo's commands are not parsed here: their arguments reach cargo untouched.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UserError } from '../diagnostics/style.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** The cargo options our commands accept (read again by peekCargoOptions for their values). */
const CARGO_OPTIONS: Options = {
  'manifest-path': { type: 'string' },
  config: { type: 'string', multiple: true },
  color: { type: 'string' },
  'target-dir': { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
  verbose: { type: 'boolean', short: 'v', multiple: true },
  help: { type: 'boolean', short: 'h' },
};

const COMMANDS = {
  policy: { options: { ...CARGO_OPTIONS, format: { type: 'string' } }, positionals: true, usage: 'cargo sandbox policy [OPTIONS] [PKG]...' },
  trust: { options: { ...CARGO_OPTIONS, show: { type: 'boolean' }, list: { type: 'boolean' }, revoke: { type: 'boolean' } }, positionals: false, usage: 'cargo sandbox trust [--show | --list | --revoke]' },
  doctor: { options: { color: { type: 'string' }, quiet: CARGO_OPTIONS.quiet!, verbose: CARGO_OPTIONS.verbose!, help: CARGO_OPTIONS.help! }, positionals: false, usage: 'cargo sandbox doctor [OPTIONS]' },
} satisfies Record<string, { options: Options; positionals: boolean; usage: string }>;

export type OwnCommand = keyof typeof COMMANDS;

export interface ParsedCommand {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

/** Parses `args` (after the command's name), or a cargo-styled error naming the bad argument. */
export function parseOwnCommand(command: OwnCommand, args: readonly string[]): ParsedCommand {
  const spec = COMMANDS[command];
  try {
    const parsed = parseArgs({ args: [...args], options: spec.options as Options, allowPositionals: spec.positionals, strict: true });
    const values = parsed.values as ParsedCommand['values'];
    const positionals = parsed.positionals;
    if (typeof values.color === 'string' && !['auto', 'always', 'never'].includes(values.color)) {
      throw new UserError(`invalid value '${values.color}' for '--color <WHEN>'`, ['possible values: auto, always, never']);
    }
    if (typeof values.format === 'string' && !['table', 'json'].includes(values.format)) {
      throw new UserError(`invalid value '${values.format}' for '--format <FORMAT>'`, ['possible values: table, json']);
    }
    return { values, positionals };
  } catch (err) {
    if (err instanceof UserError) throw err;
    const what = err instanceof Error ? err.message.split('.')[0]!.replace(/^Unknown option/, 'unexpected argument').replace(/^Unexpected argument/, 'unexpected argument') : String(err);
    throw new UserError(`${what} for \`cargo sandbox ${command}\``, [`Usage: ${spec.usage}`, `for more information, try \`cargo sandbox ${command} --help\``]);
  }
}
