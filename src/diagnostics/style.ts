// Cargo-style messages on stderr: `error:`, `warning:`, `note:`, `help:`.
// Colour follows cargo's rules: --color, then CARGO_TERM_COLOR, then whether stderr is a terminal.

export type ColorChoice = 'auto' | 'always' | 'never';
export type Level = 'error' | 'warning' | 'note' | 'help';

const LEVEL_COLOR: Record<Level, string> = {
  error: '\x1b[1m\x1b[31m',
  warning: '\x1b[1m\x1b[33m',
  note: '\x1b[1m\x1b[36m',
  help: '\x1b[1m\x1b[36m',
};
const RESET = '\x1b[0m';
const BOLD = '\x1b[1m';

export interface Reporter {
  readonly color: boolean;
  readonly quiet: boolean;
  readonly verbose: boolean;
  /** One message: the first line gets the level prefix, the rest are indented like cargo's. */
  message(level: Level, text: string): void;
  /** Informational line (suppressed by -q). */
  status(text: string): void;
  /** A status line as cargo prints one: the verb right-aligned to 12 columns, bold green. */
  progress(verb: string, text: string): void;
  raw(text: string): void;
}

export function shouldColor(choice: ColorChoice, isTty: boolean): boolean {
  if (choice === 'always') return true;
  if (choice === 'never') return false;
  return isTty;
}

export function formatMessage(level: Level, text: string, color: boolean): string {
  const prefix = color ? `${LEVEL_COLOR[level]}${level}${RESET}${BOLD}:${RESET}` : `${level}:`;
  return `${prefix} ${text}\n`;
}

export function createReporter(opts: {
  color: boolean;
  quiet?: boolean;
  verbose?: boolean;
  write?: (s: string) => void;
}): Reporter {
  const write = opts.write ?? ((s: string) => void process.stderr.write(s));
  return {
    color: opts.color,
    quiet: opts.quiet ?? false,
    verbose: opts.verbose ?? false,
    message(level, text) {
      write(formatMessage(level, text, opts.color));
    },
    status(text) {
      if (!opts.quiet) write(`${text}\n`);
    },
    progress(verb, text) {
      const padded = verb.padStart(12);
      if (!opts.quiet) write(`${opts.color ? `\x1b[1m\x1b[32m${padded}\x1b[0m` : padded} ${text}\n`);
    },
    raw(text) {
      write(text);
    },
  };
}

/** "1 build script", "2 build scripts". */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** An error the user can act on: printed as `error:` plus optional `help:` lines, never with a stack. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly help: readonly string[] = [],
    readonly exitCode = 101,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

export function reportUserError(reporter: Reporter, err: UserError): void {
  reporter.message('error', err.message);
  for (const h of err.help) reporter.message('help', h);
}
