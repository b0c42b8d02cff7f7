// Entry point: `cargo sandbox <cargo command> [args...]`.

import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { parseInvocation, resolveColor, type CargoOptions } from './args.js';
import { runDoctor } from './doctor.js';
import { helpText } from './help.js';
import { cargoCommand, exitLikeCargo, runCargo } from './run-cargo.js';
import { preflight } from '../backends/preflight.js';
import { realHost } from '../backends/host.js';
import { cargoHome, loadConfigLayers, userRustcWrapper } from '../config/cargo-config.js';
import { findWorkspaceRoot } from '../config/workspace.js';
import { blockedHints } from '../diagnostics/blocked-hints.js';
import { rerunForStderr } from '../diagnostics/rerun.js';
import { failedRuns, failureNotes, hintContext } from '../diagnostics/failure-notes.js';
import { createReporter, reportUserError, shouldColor, UserError, type Reporter } from '../diagnostics/style.js';
import { createSession } from '../intercept/session.js';
import { LIBEXEC, packageVersion } from '../paths.js';
import { defaultPolicy } from '../policy/default-policy.js';

function reporterFor(options: CargoOptions | undefined, env: NodeJS.ProcessEnv): Reporter {
  const choice = resolveColor(options?.color, env);
  return createReporter({
    color: shouldColor(choice, Boolean(process.stderr.isTTY)),
    quiet: options?.quiet,
    verbose: (options?.verbose ?? 0) > 0,
  });
}

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number | never> {
  const inv = parseInvocation(argv);
  if (inv.kind === 'help') {
    process.stdout.write(helpText(packageVersion()));
    return 0;
  }
  if (inv.kind === 'version') {
    process.stdout.write(`cargo-sandbox ${packageVersion()}\n`);
    return 0;
  }
  const reporter = reporterFor(inv.options, env);
  if (inv.kind === 'doctor') return runDoctor(env, reporter);

  try {
    const bwrapPath = preflight(env, process.platform);
    const cwd = process.cwd();
    const home = env.HOME || homedir();
    const cargoHomeDir = cargoHome(env, home);
    const layers = loadConfigLayers({ cwd, cargoHomeDir, configArgs: inv.options.configArgs });
    const ourWrapper = resolve(LIBEXEC, 'rustc-wrapper');
    const inner = userRustcWrapper(env, layers, cwd);
    const policy = defaultPolicy({
      home,
      cargoHome: cargoHomeDir,
      rustupHome: env.RUSTUP_HOME ? resolve(env.RUSTUP_HOME) : resolve(home, '.rustup'),
      workspaceRoot: findWorkspaceRoot(cwd, inv.options.manifestPath) ?? cwd,
    });
    const session = createSession({
      policy,
      host: realHost,
      bwrapPath,
      innerWrapper: inner && resolve(cwd, inner) !== ourWrapper ? inner : undefined,
    });
    let result;
    try {
      const { program, prefix } = cargoCommand(inv.toolchain, env);
      result = await runCargo(program, [...prefix, ...inv.cargoArgs], { ...env, ...session.env });
      if (result.code !== 0 && !result.signal) {
        const failed = failedRuns(session.runs()).map((run) => ({
          run,
          blocked: blockedHints(rerunForStderr(run, session.env), hintContext(policy, run, home, env)),
        }));
        const { notes, help } = failureNotes(failed);
        for (const n of notes) reporter.message('note', n);
        for (const h of help) reporter.message('help', h);
      }
    } finally {
      session.dispose();
    }
    return exitLikeCargo(result);
  } catch (err) {
    if (err instanceof UserError) {
      reportUserError(reporter, err);
      return err.exitCode;
    }
    if (err instanceof Error && (err as NodeJS.ErrnoException).code === 'ENOENT') {
      reporter.message('error', `could not run cargo: ${err.message}`);
      reporter.message('help', 'is Rust installed and `cargo` in PATH?');
      return 101;
    }
    throw err;
  }
}

main(process.argv.slice(2), process.env).then(
  (code) => process.exit(code),
  (err: unknown) => {
    // A bug of ours: say so in one line, the stack only when asked for.
    process.stderr.write(`error: cargo-sandbox internal error: ${err instanceof Error ? err.message : String(err)}\n`);
    if (process.env.CARGO_SANDBOX_DEBUG) console.error(err);
    process.exit(101);
  },
);
