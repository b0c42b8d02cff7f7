// Quick grants on the command line, Deno-style, for one-off builds. They are ours, so they are
// taken out of the arguments given to cargo. Cargo's own options of that shape are few
// (`--allow-dirty`, `--allow-staged`, `--allow-no-vcs`): any other `--allow-*` or `--sandbox-*`
// before `--` is a misspelling of ours, stopped here rather than handed to cargo.
//   --allow-network[=PKG,...]   --allow-network=PKG:DEST,...   --allow-env=[PKG:]VAR,...
//   --allow-read=[PKG:]PATH   --allow-write=[PKG:]PATH   --allow-exec=[PKG:]PROGRAM,...

import { emptyGrants, type Grants, type PackageGrants, type SandboxConfig, type Source } from '../config/types.js';
import { checkPathSyntax } from '../config/sandbox-config.js';
import { mergeNetwork, parseDestination } from '../config/network-destinations.js';
import { ENV_PATTERN } from '../policy/environment.js';
import { UserError } from '../diagnostics/style.js';
import { didYouMean } from '../config/suggest.js';

const FLAGS = ['--allow-network', '--allow-env', '--allow-read', '--allow-write', '--allow-exec'] as const;
/** Cargo's own options that look like ours (`cargo fix`, `package`, `publish`). */
const CARGOS_ALLOW = ['--allow-dirty', '--allow-staged', '--allow-no-vcs'];
type Flag = (typeof FLAGS)[number];
const PACKAGE = /^[A-Za-z0-9_-]+$/;

export interface GrantFlag {
  flag: Flag;
  value: string | undefined;
  arg: string;
}

/** Splits our flags (grants, --sandbox-run) from cargo's arguments (nothing after `--` is looked at). */
export function extractGrantFlags(args: readonly string[]): { cargoArgs: string[]; flags: GrantFlag[]; sandboxRun: boolean } {
  const cargoArgs: string[] = [];
  const flags: GrantFlag[] = [];
  let passthrough = false;
  let sandboxRun = false;
  for (const arg of args) {
    if (passthrough || arg === '--') {
      passthrough = true;
      cargoArgs.push(arg);
      continue;
    }
    if (arg === '--sandbox-run') {
      sandboxRun = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const name = (eq < 0 ? arg : arg.slice(0, eq)) as Flag;
    if ((FLAGS as readonly string[]).includes(name)) flags.push({ flag: name, value: eq < 0 ? undefined : arg.slice(eq + 1), arg });
    else if (/^--(allow|sandbox)-/.test(name) && !CARGOS_ALLOW.includes(name)) throw unknownFlag(name);
    else cargoArgs.push(arg);
  }
  return { cargoArgs, flags, sandboxRun };
}

function unknownFlag(name: string): UserError {
  const suggestion = didYouMean(name, [...FLAGS, '--sandbox-run', ...CARGOS_ALLOW]);
  return new UserError(`unknown flag \`${name}\`: it is neither cargo-sandbox's nor cargo's; nothing was built`, [
    suggestion ? `did you mean \`${suggestion}\`?` : `cargo-sandbox's flags: ${[...FLAGS, '--sandbox-run'].join(', ')} (\`cargo sandbox --help\`)`,
  ]);
}

/** `PKG:REST` when the part before the first colon is a package name, else everyone's. */
function splitPackage(value: string): { pkg?: string; rest: string } {
  const colon = value.indexOf(':');
  if (colon > 0 && PACKAGE.test(value.slice(0, colon))) return { pkg: value.slice(0, colon), rest: value.slice(colon + 1) };
  return { rest: value };
}

/** Adds the flags' grants to `config`, above every other source. */
export function applyGrantFlags(config: SandboxConfig, flags: readonly GrantFlag[], cwd: string): void {
  // A package's flags get an entry of their own, applied after its tables (effective.ts).
  const grantsFor = (pkg: string | undefined): Grants => {
    if (!pkg) return config.global;
    let entry = config.packages.find((p) => p.key === pkg && p.fromFlags);
    if (!entry) {
      entry = { spec: { name: pkg }, key: pkg, grants: emptyGrants(), fromFlags: true } satisfies PackageGrants;
      config.packages.push(entry);
    }
    return entry.grants;
  };
  for (const f of flags) {
    const source: Source = { kind: 'flag', flag: f.arg };
    const bad = (why: string, example: string) => new UserError(`invalid \`${f.arg}\`: ${why}`, [`for example: \`${example}\``]);
    if (f.flag === '--allow-network') {
      for (const item of f.value === undefined ? [undefined] : f.value.split(',')) {
        // The package is everything before the first colon; the rest, a destination.
        const colon = item?.indexOf(':') ?? -1;
        const pkg = colon < 0 ? item : item!.slice(0, colon);
        if (pkg !== undefined && !PACKAGE.test(pkg)) {
          const dest = item && parseDestination(item).ok;
          throw bad(dest ? `\`${item}\` names no package: a destination is allowed to one package at a time` : `\`${pkg}\` is not a package name`, dest ? `--allow-network=sqlx-macros:${item}` : '--allow-network=openssl-src');
        }
        const grants = grantsFor(pkg);
        if (colon < 0) {
          grants.allowNetwork = { value: true, source };
          continue;
        }
        const raw = item!.slice(colon + 1);
        const parsed = parseDestination(raw);
        if (!parsed.ok) {
          throw new UserError(`invalid \`${f.arg}\`: \`${raw}\` is not a destination: ${parsed.problem}`, [
            ...(parsed.suggestion ? [`did you mean \`--allow-network=${pkg}:${parsed.suggestion}\`?`] : []),
            'a destination is HOST or HOST:PORT, e.g. `--allow-network=sqlx-macros:127.0.0.1:5432`, `--allow-network=foo:[::1]:5432`, `--allow-network=foo:*.example.com:443`',
          ]);
        }
        grants.allowNetwork = mergeNetwork(grants.allowNetwork, { value: [{ value: parsed.destination, source }], source });
      }
      continue;
    }
    if (!f.value) throw bad('it needs a value', `${f.flag}=${f.flag === '--allow-env' ? 'openssl-sys:OPENSSL_DIR' : 'openssl-sys:/opt/openssl'}`);
    const { pkg, rest } = splitPackage(f.value);
    if (f.flag === '--allow-env') {
      for (const name of rest.split(',')) {
        if (!ENV_PATTERN.test(name)) throw bad(`\`${name}\` is not a variable name`, '--allow-env=openssl-sys:OPENSSL_DIR');
        grantsFor(pkg).allowEnv.push({ value: name, source });
      }
    } else if (f.flag === '--allow-exec') {
      for (const program of rest.split(',').filter(Boolean)) grantsFor(pkg).allowExec.push({ value: program, source });
    } else {
      const problem = checkPathSyntax(rest);
      if (problem) throw bad(`the path contains ${problem}`, `${f.flag}=openssl-sys:/opt/openssl`);
      const list = f.flag === '--allow-read' ? grantsFor(pkg).allowRead : grantsFor(pkg).allowWrite;
      list.push({ value: { raw: rest, baseDir: cwd }, source });
    }
  }
}
