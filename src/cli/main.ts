// Entry point: `cargo sandbox <cargo command> [args...]`, `cargo sandbox policy`, `cargo sandbox doctor`.

import { parseInvocation, resolveColor, type CargoOptions } from './args.js';
import { explainFrontEndRun, sandboxedCargo } from './build.js';
import { AFTER_VARIABLE, ENTRY_VARIABLE } from '../intercept/session-cache.js';
import { helpText, topicHelp } from './help.js';
import { exitLikeCargo } from './run-cargo.js';
import { createReporter, reportUserError, shouldColor, UserError, type Reporter } from '../diagnostics/style.js';
import { packageVersion } from '../paths.js';
import { announceHelperCompiles } from '../backends/native-helpers.js';

function reporterFor(options: CargoOptions | undefined, env: NodeJS.ProcessEnv): Reporter {
  const choice = resolveColor(options?.color, env);
  return createReporter({
    color: shouldColor(choice, Boolean(process.stderr.isTTY)),
    quiet: options?.quiet,
    verbose: (options?.verbose ?? 0) > 0,
  });
}

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  // From the compiled front end (libexec/front-end.rs): cargo already ran with a cached session.
  const after = env[AFTER_VARIABLE];
  // From the front end, on a miss: where to write this run's session so that it can replay it.
  const cacheEntry = env[ENTRY_VARIABLE];
  delete env[AFTER_VARIABLE];
  delete env[ENTRY_VARIABLE];
  // Installed as `cargo-sandbox-proc-macro-srv`, rust-analyzer starts us with no arguments.
  let inv: ReturnType<typeof parseInvocation>;
  const asServer = process.argv[1]?.endsWith('-proc-macro-srv');
  try {
    inv = parseInvocation(asServer ? ['proc-macro-server'] : argv);
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    reportUserError(reporterFor(undefined, env), err);
    return err.exitCode;
  }
  if (inv.kind === 'help') {
    process.stdout.write(inv.topic ? topicHelp(inv.topic) : helpText(packageVersion()));
    return 0;
  }
  if (inv.kind === 'version') {
    process.stdout.write(`cargo-sandbox ${packageVersion()}\n`);
    return 0;
  }
  const reporter = reporterFor(inv.options, env);
  // The first run compiles the helpers the package has no prebuilt copy of (seconds): said as
  // cargo says what it compiles; a prebuilt copy that fails its checks is said too.
  announceHelperCompiles(
    (helper) => reporter.progress('Compiling', `cargo-sandbox's ${helper} helper (first use; cached afterwards)`),
    (text, help) => {
      reporter.message('warning', text);
      if (help) reporter.message('help', help);
    },
  );
  try {
    // The other commands are loaded on demand: the build's start-up pays only for its own modules.
    if (inv.kind === 'doctor') return await (await import('./doctor.js')).runDoctor(env, reporter);
    if (inv.kind === 'allow') return await (await import('./allow-command.js')).runAllowCommand(inv.args, inv.options, env, reporter);
    if (inv.kind === 'trust') return await (await import('./trust-command.js')).runTrustCommand(inv.action, inv.options, env, reporter);
    if (inv.kind === 'policy') return await (await import('./policy-command.js')).runPolicyCommand(inv, env, reporter);
    if (inv.kind === 'audit') return await (await import('./audit.js')).runAudit(inv, env, reporter);
    if (inv.kind === 'proc-macro-server') return await (await import('./proc-macro-server.js')).runProcMacroServer(inv.options, env, asServer ? argv : argv.slice(argv.indexOf('proc-macro-server') + 1));
    if (after) exitLikeCargo(await explainFrontEndRun(inv, after, env, reporter));
    exitLikeCargo(await sandboxedCargo(inv, env, reporter, {}, cacheEntry));
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
