// What an untrusted workspace may not do, said before cargo starts: its keys that would run a
// program on the host stop the build (each with file:line and what it would run), its sandbox
// grants are ignored with a note, and `cargo sandbox trust` is named as the way to accept them.

import { isAbsolute } from 'node:path';
import { trustFindings, type TrustFinding, type TrustMode, type WorkspaceFile } from '../config/workspace-trust.js';
import { UserError, type Reporter } from './style.js';
import type { SandboxContext } from '../cli/context.js';
import { isInside } from '../paths.js';

/** Cargo commands that run the workspace's binaries (through a configured runner). */
const RUNS_BINARIES = new Set(['run', 'r', 'test', 't', 'bench']);
const VALUE_OPTIONS = new Set(['--color', '--config', '--manifest-path', '--target-dir', '-Z', '-C', '--target', '-p', '--package']);

/**
 * One argument before cargo's command, as clap reads it: a short cluster (`-vC DIR`, `-qZflag`)
 * takes its first value option's value from the rest of the cluster, or else from the next argument.
 */
function valueOption(arg: string): { option: string; takesNext: boolean } | undefined {
  if (VALUE_OPTIONS.has(arg)) return { option: arg, takesNext: true };
  if (arg.startsWith('--') || !arg.startsWith('-')) return undefined;
  for (let i = 1; i < arg.length; i++) {
    const option = `-${arg[i]}`;
    if (VALUE_OPTIONS.has(option)) return { option, takesNext: i === arg.length - 1 };
  }
  return undefined;
}

/** The cargo command in cargo's arguments (`build` in `-v --config x build --release`). */
export function cargoSubcommand(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return args[i + 1];
    if (valueOption(a)?.takesNext) i++;
    else if (!a.startsWith('-')) return a;
  }
  return undefined;
}

/**
 * How the workspace's files act on this run. The toolchain file is inert when the user chose the
 * toolchain: `cargo-sandbox +stable ...`, or RUSTUP_TOOLCHAIN set by the user or by rustup's proxy
 * for `cargo +stable sandbox` (rustup says where it came from in RUSTUP_TOOLCHAIN_SOURCE).
 */
export function trustMode(cargoArgs: readonly string[], procMacrosSandboxed: boolean, env: NodeJS.ProcessEnv, toolchain?: string, where: { workspaceRoot?: string; targetDir?: string } = {}): TrustMode {
  const fromFile = env.RUSTUP_TOOLCHAIN_SOURCE === 'toolchain-file';
  const command = cargoSubcommand(cargoArgs);
  return {
    hostCompiles: !procMacrosSandboxed,
    runsBinaries: RUNS_BINARIES.has(command ?? ''),
    command,
    toolchainChosen: toolchain !== undefined || (!!env.RUSTUP_TOOLCHAIN && !fromFile),
    ...where,
  };
}

/**
 * The mode of one command in this context. Without a command: every key as it acts on `cargo run`
 * with the workspace's own toolchain, i.e. everything the files would do (trust --show, doctor).
 */
export function contextTrustMode(ctx: SandboxContext, cargoArgs: readonly string[] = ['run'], env: NodeJS.ProcessEnv = {}, toolchain?: string): TrustMode {
  return trustMode(cargoArgs, ctx.config.procMacros?.value ?? true, env, toolchain, { workspaceRoot: ctx.workspaceRoot, targetDir: ctx.vars.TARGET_DIR });
}

/**
 * Cargo's `-C DIR` (nightly) reads another directory's configuration than the one checked here:
 * refused, with the equivalent that is checked.
 */
export function refuseDirectoryOption(cargoArgs: readonly string[]): void {
  for (let i = 0; i < cargoArgs.length; i++) {
    const a = cargoArgs[i]!;
    if (!a.startsWith('-') || a === '--') return;
    const v = valueOption(a);
    if (v?.option === '-C') {
      throw new UserError('cargo-sandbox does not follow `-C DIR`: it checks the configuration of the directory it starts in', ['`cd DIR` first, then run the same command without `-C`']);
    }
    if (v?.takesNext) i++;
  }
}

export function describeFinding(f: TrustFinding): string {
  return `${f.file}${f.line ? `:${f.line}` : ''}: \`${f.key}\` ${f.what}`;
}

/**
 * Stops (UserError) when an untrusted workspace file would run something on the host; notes the
 * grants it would have given, which are ignored. `env`: ours, where rustup's proxy names the
 * toolchain it ran (RUSTUP_TOOLCHAIN, a path for a `path` toolchain) and cargo names itself (CARGO).
 */
export function enforceWorkspaceTrust(files: readonly WorkspaceFile[], mode: TrustMode, reporter: Reporter, env: NodeJS.ProcessEnv): void {
  const findings = files.flatMap((f) => trustFindings(f, mode));
  const changed = files.filter((f) => f.trust === 'changed' && findings.some((x) => x.file === f.path && x.effect !== 'confined'));
  for (const f of changed) reporter.message('note', `\`${f.path}\` changed since you trusted it: it is untrusted again`);
  const refused = findings.filter((f) => f.effect === 'refused');
  const toolchainPaths = refused.map((f) => f.toolchain).filter((p): p is string => p !== undefined);
  const starters = [env.RUSTUP_TOOLCHAIN, env.CARGO].filter((p): p is string => !!p && isAbsolute(p));
  const starter = starters.find((p) => [mode.workspaceRoot, ...toolchainPaths].some((tree) => tree && isInside(p, tree)));
  if (starter && refused.length) {
    reporter.message('error', `cargo-sandbox was started by \`${starter}\`, a toolchain from this untrusted workspace (its toolchain file): it already ran with your full rights, before any sandbox`);
    reporter.message('help', 'open untrusted code with `cargo-sandbox build` (or `cargo-sandbox +stable build`), which goes through neither cargo\'s aliases nor the workspace\'s toolchain');
  }
  const ignored = findings.filter((f) => f.effect === 'ignored');
  if (ignored.length && !refused.length) {
    reporter.message('note', `this workspace's configuration is not trusted: its sandbox settings are ignored\n${ignored.map((f) => `    ${describeFinding(f)}`).join('\n')}`);
    reporter.message('help', 'review them, then `cargo sandbox trust` applies them (a change to the file makes it untrusted again)');
  }
  if (refused.length) {
    // Keys refused for not being on the allow-list are not known to run anything: said as much.
    const what = refused.some((f) => f.unvetted) ? 'would run programs outside the sandbox or sets keys not known to be safe' : 'would run programs outside the sandbox';
    throw new UserError(
      `this workspace's configuration ${what}, and it is not trusted; nothing was built\n${refused.map((f) => `    ${describeFinding(f)}`).join('\n')}${ignored.length ? `\n(and it would change the sandbox:)\n${ignored.map((f) => `    ${describeFinding(f)}`).join('\n')}` : ''}`,
      [
        'if this is your own code, review these lines, then run `cargo sandbox trust` (a change to the files makes the workspace untrusted again)',
        'if it is not, delete those keys in your copy (plain cargo would run them, with your full rights)',
      ],
    );
  }
}
