// After cargo reports a failed build script, say that it ran sandboxed and what the sandbox denies.

import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { BuildScriptRun } from '../intercept/session.js';
import type { SandboxPolicy } from '../policy/default-policy.js';
import type { NetworkAccess } from '../config/types.js';
import { destinationCheck, displayPath, grantSnippet, networkProposal, type Finding, type HintContext } from './blocked-hints.js';
import { isEmptyRequest, type AllowRequest } from '../config/allow-grants.js';
import { allowCommandLine, offerFor, printable, shellWord, withheldHelp, type OfferView } from './allow-offers.js';

/**
 * Build scripts that were started but did not finish successfully: cargo writes `output` beside
 * OUT_DIR only after a successful run. Cargo back-dates that file's mtime to the script's start,
 * so its ctime (set by that very change) is what tells when it was written.
 */
export function failedRuns(runs: readonly BuildScriptRun[]): BuildScriptRun[] {
  return runs.filter((run) => {
    try {
      return statSync(join(dirname(run.outDir), 'output')).ctimeMs < run.startedAtMs;
    } catch {
      return true;
    }
  });
}

export interface FailureReport {
  notes: string[];
  help: string[];
  /** Per package, what `cargo sandbox allow` would grant (what the prompt asks about). */
  offers: AllowOffer[];
}

export interface AllowOffer {
  /** `the build script of \`foo v1.0.0\``'s package name, as cargo names it. */
  packageName: string;
  request: AllowRequest;
  /** Whose code asked: its `build script` (the default), or its `proc macros`. */
  who?: string;
}

/** The one-off flags (`--allow-read=PKG:PATH`, ...) that grant what was found, for this build only. */
export function grantFlags(packageName: string, findings: readonly Finding[], home: string, network?: NetworkAccess): string[] {
  const flags = new Set<string>();
  const net = networkProposal(findings, network);
  for (const f of findings) {
    if (f.kind === 'read') flags.add(`--allow-read=${packageName}:${displayPath(f.path, home)}`);
    else if (f.kind === 'exec') flags.add(`--allow-read=${packageName}:${displayPath(f.dir, home)}`);
    else if (f.kind === 'write') flags.add(`--allow-write=${packageName}:${displayPath(f.grant, home)}`);
    else if (f.kind === 'env') flags.add(`--allow-env=${packageName}:${f.name}`);
  }
  // A flag's list joins the package's own: only the new destinations.
  if (net && 'whole' in net) flags.add(`--allow-network=${packageName}`);
  else for (const d of net?.added ?? []) flags.add(`--allow-network=${packageName}:${d}`);
  return [...flags].map(shellWord);
}

export interface FailureOptions {
  /** Show the TOML table too (`-v`): the command is what is offered by default. */
  verbose?: boolean;
  /** What offers are judged against (secrets, the home, the workspace): allow-offers.ts. */
  view?: OfferView;
}

/** One note per failed script (with what it tried that was blocked), then the grants that allow it. */
export function failureNotes(
  /** `network`: the package's allow-network now, which a proposed list extends. */
  failed: readonly { run: BuildScriptRun; blocked: readonly Finding[]; wasm?: boolean; network?: NetworkAccess }[],
  home: string,
  /** The table a grant goes in: `name`, or `"name@=version"` where its approvals are pinned. */
  tableKey: (run: BuildScriptRun) => string = (run) => run.packageName,
  options: FailureOptions = {},
): FailureReport {
  if (failed.length === 0) return { notes: [], help: [], offers: [] };
  const view: OfferView = options.view ?? { home, masked: [], codeTrees: [] };
  const notes = failed.flatMap(({ run, blocked, wasm, network }) => {
    const pkg = run.packageVersion ? `${run.packageName} v${run.packageVersion}` : run.packageName;
    const net = network === true ? "the host's network" : typeof network === 'object' && network.length ? 'network only to its allow-network list' : 'no network';
    const how = wasm
      ? 'ran as WebAssembly (WASI) inside the cargo-sandbox sandbox: it cannot start processes (rustc, cc, pkg-config) and sees only its package, OUT_DIR and /tmp'
      : `ran inside the cargo-sandbox sandbox: ${net}, home directory hidden, environment scrubbed, writable only OUT_DIR and a private /tmp`;
    // What a finding quotes comes from the script's own output: never printed raw.
    return [`the build script of \`${pkg}\` ${how}`, ...blocked.map((f) => printable(f.message))];
  });
  // A WebAssembly script that failed for any reason: running it natively is the first thing to try.
  const withNative = failed.map(({ run, blocked, wasm, network }) => ({ run, network, blocked: wasm && !blocked.some((f) => f.kind === 'wasi') ? [...blocked, { kind: 'wasi', message: '' } as Finding] : blocked }));
  // One offer per package (a script that ran twice, for two feature sets, failed twice): one
  // command, and one table should it be pasted (two of the same name are a TOML error).
  const byTable = new Map<string, { run: BuildScriptRun; blocked: Finding[]; network: NetworkAccess | undefined }>();
  for (const { run, blocked, network } of withNative) {
    const entry = byTable.get(tableKey(run));
    if (entry) entry.blocked.push(...blocked);
    else byTable.set(tableKey(run), { run, blocked: [...blocked], network });
  }
  const help: string[] = [];
  const offers: AllowOffer[] = [];
  const snippets: string[][] = [];
  const flags = new Set<string>();
  for (const [key, { run, blocked, network }] of byTable) {
    const { request, kept, withheld } = offerFor(key.replace(/^"(.*)"$/, '$1'), blocked, view, network, run.manifestDir);
    if (!isEmptyRequest(request)) {
      help.push(`to allow this: ${allowCommandLine(request)}`);
      offers.push({ packageName: run.packageName, request });
    }
    help.push(...withheldHelp(run.packageName, withheld));
    const snippet = grantSnippet(key, kept, home, network);
    if (snippet.length) snippets.push(snippet);
    for (const f of grantFlags(run.packageName, kept, home, network)) flags.add(f);
  }
  if (options.verbose && snippets.length) help.push(`or add to a cargo config file:\n${snippets.map((s) => s.map((l) => `    ${l}`).join('\n')).join('\n\n')}`);
  if (flags.size) help.push(`or, for one build only, add to the command: \`${[...flags].join(' ')}\``);
  // A destination read from an error message may be one of several the script needs.
  const guessed = failed.some(({ blocked, network }) => {
    const net = networkProposal(blocked, network);
    return net !== undefined && 'list' in net && blocked.some((f) => f.kind === 'network' && f.guessed);
  });
  const refused = failed.some(({ blocked }) => blocked.some((f) => f.kind === 'refused'));
  const unexplained = failed.filter(({ blocked, wasm }) => blocked.length === 0 && !wasm).map(({ run }) => run.packageName);
  const check = destinationCheck(failed.flatMap(({ blocked, network }) => {
    const net = networkProposal(blocked, network);
    return net && 'added' in net ? net.added : [];
  }));
  if (check) help.push(check);
  if (guessed) help.push('the destination was read from its error output: if it needs others, the next build names them the same way; `--network` (`allow-network = true`) shares the whole network instead');
  if (refused) help.push('no grant allows this: the build script tried to run code outside the sandbox; report it to the crate\'s maintainers, or drop the dependency');
  for (const name of unexplained) {
    help.push(`its error names nothing the sandbox blocked; \`cargo sandbox audit -p ${name}\` traces the script and lists every file, program and address it was denied`);
  }
  help.push('run `cargo sandbox doctor` to check the sandbox itself');
  return { notes, help, offers };
}

/** What was visible and writable for one build script: the policy plus its own directories. */
export function hintContext(policy: SandboxPolicy, run: BuildScriptRun, home: string, env: NodeJS.ProcessEnv, wasm = false): HintContext {
  const buildRoot = dirname(dirname(run.outDir));
  return {
    home,
    wasm,
    visible: wasm
      ? [run.manifestDir, run.outDir, '/tmp']
      : [...policy.system, ...policy.etc, ...policy.readOnly, run.manifestDir, buildRoot, '/proc', '/dev'],
    // Writable grants are per package; the note is about what the default policy denies.
    writable: [run.outDir],
    env,
    envRules: policy.env,
  };
}
