// The arguments of `cargo sandbox allow <PKG>[@=VERSION] [GRANTS]...`. Read here rather than by
// util.parseArgs: `--network` takes an optional value (`--network`, `--network=HOST:PORT`), and an
// unknown flag gets "did you mean" (`--allow-read` is the one-off build flag: `--read` here).

import { emptyRequest, GRANT_FLAGS, LIST_FLAGS, type AllowRequest, type ScalarKey } from '../config/allow-grants.js';
import { PACKAGE_NAME } from '../config/sandbox-config.js';
import { didYouMean } from '../config/suggest.js';
import { UserError } from '../diagnostics/style.js';

export const ALLOW_USAGE = 'cargo sandbox allow <PACKAGE>[@=VERSION] [--read PATH] [--write PATH] [--env NAME] [--exec PROGRAM] [--network[=HOST:PORT]] [--workspace]';

/** Our options that are not grants; the cargo ones are read again by peekCargoOptions. */
const VALUE_OPTIONS = ['--manifest-path', '--color', '--config'] as const;
const BOOLEAN_OPTIONS = ['--workspace', '--quiet', '-q', '--verbose', '-v', '-vv', '--help', '-h'] as const;

export interface AllowArgs {
  request: AllowRequest;
  /** Write the workspace's `.cargo/config.toml` instead of the user's. */
  workspace: boolean;
  help: boolean;
}

function usageError(message: string, help: string[] = []): UserError {
  return new UserError(message, [...help, `Usage: ${ALLOW_USAGE}`, 'for more information, try `cargo sandbox allow --help`']);
}

/** Parses `args` (after `allow`); throws a UserError naming the bad argument. */
export function parseAllowArgs(args: readonly string[]): AllowArgs {
  let pkg: string | undefined;
  let workspace = false;
  let help = false;
  const grants: { flag: string; value: string | undefined }[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq < 0 ? arg : arg.slice(0, eq);
    const inline = eq < 0 ? undefined : arg.slice(eq + 1);
    const takeValue = (): string => {
      if (inline !== undefined) return inline;
      const next = args[i + 1];
      if (next === undefined || (next.startsWith('-') && next !== '-')) throw usageError(`a value is required for \`${name}\` but none was supplied`);
      i++;
      return next;
    };
    if (!arg.startsWith('-') || arg === '-') {
      if (pkg !== undefined) throw usageError(`unexpected argument \`${arg}\`: one package at a time`, [`grant its paths with a flag, e.g. \`cargo sandbox allow ${pkg} --read ${arg}\``]);
      pkg = arg;
    } else if (name === '--network') grants.push({ flag: name, value: inline });
    else if ((GRANT_FLAGS as readonly string[]).includes(name)) grants.push({ flag: name, value: takeValue() });
    else if ((VALUE_OPTIONS as readonly string[]).includes(name)) takeValue();
    else if ((BOOLEAN_OPTIONS as readonly string[]).includes(arg)) {
      if (arg === '--workspace') workspace = true;
      if (arg === '--help' || arg === '-h') help = true;
    } else throw unknownFlag(name);
  }
  if (help) return { request: emptyRequest(pkg ?? ''), workspace, help };
  if (pkg === undefined) throw usageError('the package to allow is missing', ['for example: `cargo sandbox allow openssl-sys --read /opt/openssl`']);
  const at = pkg.indexOf('@');
  const name = at < 0 ? pkg : pkg.slice(0, at);
  if (!PACKAGE_NAME.test(name)) throw usageError(`\`${name}\` is not a package name`, ['write `NAME` or `NAME@=VERSION` (the exact version), e.g. `openssl-sys@=0.9.80`']);
  if (grants.length === 0) throw usageError(`nothing to allow \`${pkg}\``, ['name what its build script may do, e.g. `--read /opt/openssl`, `--env OPENSSL_DIR`, `--network=github.com:443`']);
  const request = emptyRequest(pkg);
  for (const { flag, value } of grants) {
    if (flag === '--network') {
      if (value === 'false') throw usageError('`--network=false` takes nothing away: allow only adds grants', ['to remove one, edit `allow-network` in the config file']);
      if (value === undefined || value === 'true') request.network = true;
      else if (request.network !== true) request.network = [...(request.network ?? []), ...value.split(',').filter(Boolean)];
      continue;
    }
    const list = LIST_FLAGS[flag as keyof typeof LIST_FLAGS];
    if (list) {
      if (value === '') throw usageError(`\`${flag}\` needs a value`);
      const field = list.slice('allow-'.length) as 'read' | 'write' | 'env' | 'exec';
      // Variable and program names hold no comma; a path may.
      const values = field === 'env' || field === 'exec' ? value!.split(',').filter(Boolean) : [value!];
      for (const v of values) if (!request[field].includes(v)) request[field].push(v);
      continue;
    }
    const key = flag.slice(2) as ScalarKey;
    // `max-processes` is a number in TOML; the others are strings ("8GiB", "15m", "native").
    const scalar = key === 'max-processes' && /^\d+$/.test(value!) ? Number(value) : value!;
    request.scalars = [...request.scalars.filter((s) => s.key !== key), { key, value: scalar }];
  }
  return { request, workspace, help };
}

function unknownFlag(name: string): UserError {
  const known = [...GRANT_FLAGS, ...VALUE_OPTIONS, ...BOOLEAN_OPTIONS.filter((o) => o.startsWith('--'))];
  // The one-off build flags (`--allow-read=PKG:PATH`) are spelled without `allow-` here.
  const bare = name.replace(/^--allow-/, '--');
  const suggestion = known.includes(bare) ? bare : didYouMean(name, known);
  return usageError(`unexpected argument \`${name}\` for \`cargo sandbox allow\``, suggestion ? [`did you mean \`${suggestion}\`?`] : []);
}
