// `npm run bench`: cargo-sandbox against plain cargo on real crates from Debian's registry
// (bench/workspace: 48 build scripts, C compilation included; bench/macro-workspace: derives and
// attribute macros), alternating run by run, then the per-process costs (bench/micro.ts) against
// one bare bubblewrap measured in the same run, as ratios to issue 29's targets, and where each
// process's time goes (the per-stage profile, CARGO_SANDBOX_PROFILE). Wall and CPU time (CPU: the
// cgroup of each measured command where one can be made, see bench/measure.rs). Prints tables and
// writes bench/results.json (--per-process: bench/results-per-process.json) and, from it, the
// README's figures (bench/readme-figures.ts). Not part of the tests.
//
//   npm run bench -- [--runs N] [--script-rounds N] [--quick] [--per-process]
//
// --quick: plain cargo and cargo sandbox only, 3 no-op rebuilds per run, 8 build scripts, and no
// network, jobserver or memory scenarios (runs still default to 5). --per-process: no whole
// builds, only the per-process costs (one untimed sandboxed build makes the session), 8 scripts.
// The per-process costs are measured for both sandbox builders, alternating: the direct one
// (libexec/direct-sandbox.rs) and bubblewrap (the same session with `sandbox-builder` = bwrap).

import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatSummary, summarize } from '../src/intercept/profile.js';
import { bwrapFloor, cachedSessionEnv, median, peakMemory, perScriptCost, profiledSession, removeStopwatch, sessionWith, setupStopwatch, timed, wrapperCost, writeJson, type Cost } from './micro.js';
import { jobserverCost, networkCost } from './scenarios.js';
import { findExecutable } from '../src/backends/preflight.js';
import { NOOP_AS_USER, TARGETS, writeFigures } from './readme-figures.js';
import { noopAsAnotherUser } from './as-user.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'bin', 'cargo-sandbox');
const args = process.argv.slice(2);
const option = (name: string, fallback: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) || fallback : fallback);
const perProcessOnly = args.includes('--per-process');
const quick = args.includes('--quick') || perProcessOnly;
const runs = option('--runs', 5);
const scriptRounds = option('--script-rounds', 5);
// The bench's own cache (compiled helpers, cached sessions): what a user has after a first build.
const CACHE = mkdtempSync(join(tmpdir(), 'cs-bench-cache-'));
const BASE_ENV = { ...process.env, CARGO_SANDBOX_CACHE_DIR: CACHE, CARGO_TERM_PROGRESS_WHEN: 'never' };

interface Mode {
  name: string;
  command: (cargoArgs: string[]) => [string, string[]];
  env?: Record<string, string>;
}

const PLAIN: Mode = { name: 'plain cargo', command: (a) => ['cargo', a] };
const SANDBOX: Mode = { name: 'cargo sandbox', command: (a) => [CLI, a] };
const MODES: Mode[] = quick ? [PLAIN, SANDBOX] : [PLAIN, SANDBOX, { name: 'cargo sandbox, proc-macros = false', command: (a) => [CLI, a], env: { CARGO_SANDBOX_PROC_MACROS: 'false' } }];

function workspace(name = 'workspace'): string {
  const dir = mkdtempSync(join(tmpdir(), 'cs-bench-'));
  cpSync(join(ROOT, 'bench', name), dir, { recursive: true });
  mkdirSync(join(dir, '.cargo'), { recursive: true });
  writeFileSync(join(dir, '.cargo/config.toml'), '[source.crates-io]\nreplace-with = "debian"\n[source.debian]\ndirectory = "/usr/share/cargo/registry"\n[net]\noffline = true\n');
  return dir;
}

function time(mode: Mode, ws: string, cargoArgs: string[]): Cost {
  const [program, argv] = mode.command(cargoArgs);
  try {
    return timed(program, argv, { cwd: ws, env: { ...BASE_ENV, ...mode.env } });
  } catch (e) {
    throw new Error(`${mode.name} ${cargoArgs.join(' ')} failed (is scripts/setup.sh done?): ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** --per-process: no timing, only the builds that leave the front end a cached session of bench/workspace. */
function sessionBuilds(ws: string): Record<string, Record<string, Cost[]>> {
  for (let i = 0; i < 3; i++) time(SANDBOX, ws, ['build']);
  return {};
}

/** Whole builds, alternating the modes run by run (`macros`: the proc-macro-heavy workspace). */
function wholeBuilds(workspaces: Map<string, string>, macros: Map<string, string>) {
  const results: Record<string, Record<string, Cost[]>> = {};
  const record = (scenario: string, mode: string, c: Cost) => ((results[scenario] ??= {})[mode] ??= []).push(c);
  for (let i = 0; i < runs; i++) {
    for (const mode of MODES) {
      const ws = workspaces.get(mode.name)!;
      rmSync(join(ws, 'target'), { recursive: true, force: true });
      record('clean build', mode.name, time(mode, ws, ['build']));
      for (let j = 0; j < (quick ? 3 : 5); j++) record('no-op rebuild', mode.name, time(mode, ws, ['build']));
      if (!quick) {
        time(mode, ws, ['check']); // the first check builds every dependency's metadata: not timed
        const main = join(ws, 'src/main.rs');
        writeFileSync(main, readFileSync(main, 'utf8') + `\n// edit ${i}\n`);
        record('check after a one-line change', mode.name, time(mode, ws, ['check']));
      }
      const heavy = macros.get(mode.name)!;
      rmSync(join(heavy, 'target'), { recursive: true, force: true });
      record('clean build, proc-macro-heavy', mode.name, time(mode, heavy, ['build']));
      process.stderr.write(`run ${i + 1}/${runs}: ${mode.name} done (load ${loadavg()[0]!.toFixed(2)})\n`);
    }
  }
  return results;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}

const seconds = (ms: number) => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 1000).toFixed(2)} s`);
const millis = (ms: number) => `${ms.toFixed(1)} ms`;

function machine(): string {
  const bwrap = spawnSync('bwrap', ['--version'], { encoding: 'utf8' }).stdout.trim();
  const cargo = spawnSync('cargo', ['--version'], { encoding: 'utf8' }).stdout.trim();
  return `${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}, ${bwrap}, ${cargo}, Node ${process.version}`;
}

const medianCost = (xs: readonly Cost[]): Cost => ({ wallMs: median(xs.map((x) => x.wallMs)), cpuMs: median(xs.map((x) => x.cpuMs)) });
const ratio = (a: number, b: number) => `${(a / b).toFixed(3)}x`;

async function main() {
  const cpuSource = setupStopwatch(ROOT, CACHE);
  const loadBefore = loadavg()[0]!;
  const workspaces = new Map(MODES.map((m) => [m.name, workspace()]));
  // Compiles the helpers once (as a user's first build does), outside every timing.
  const warm = mkdtempSync(join(tmpdir(), 'cs-bench-warm-'));
  cpSync(join(ROOT, 'test/fixtures/tiny'), warm, { recursive: true });
  time(SANDBOX, warm, ['check']);
  const macroWorkspaces = new Map(MODES.map((m) => [m.name, workspace('macro-workspace')]));
  const whole = perProcessOnly ? sessionBuilds(workspaces.get(SANDBOX.name)!) : wholeBuilds(workspaces, macroWorkspaces);
  if (!perProcessOnly) {
    process.stderr.write('no-op rebuilds as a user who is not root (its first builds included, untimed)...\n');
    const asUser = noopAsAnotherUser(ROOT, CLI, join(CACHE, 'measure'), runs * (quick ? 3 : 5));
    if ('skipped' in asUser) process.stderr.write(`  skipped: ${asUser.skipped}\n`);
    else whole[NOOP_AS_USER] = asUser;
  }

  process.stderr.write('per process: bare bwrap, a compilation, build scripts (bare vs sandboxed), the profile...\n');
  // The session of `cargo sandbox build` in bench/workspace (proc macros sandboxed, the default).
  const sandboxWs = workspaces.get(SANDBOX.name)!;
  const sessionEnv = cachedSessionEnv(CACHE, (e) => {
    const data = readFileSync(join(e.env.__CARGO_SANDBOX_SESSION ?? '/nonexistent', 'session.data'), 'utf8');
    return e.argv.at(-1) === 'build' && data.includes(`\0workspace=${sandboxWs}\0`) && data.includes('\0proc-macros=1\0');
  });
  const profiledEnv = profiledSession(sessionEnv);
  // The same session, built by bubblewrap: the two builders measured side by side.
  const bwrapPath = findExecutable('bwrap', process.env);
  const sessions: Record<string, Record<string, string>> = { direct: sessionEnv, ...(bwrapPath ? { bubblewrap: sessionWith(sessionEnv, { 'sandbox-builder': bwrapPath, 'builder-in-process': undefined }) } : {}) };
  const rounds = quick ? 30 : 100;
  // The floor and the compilation alternate with each other too: the floor before and after.
  const floorA = bwrapFloor(rounds / 2);
  const wrapper = wrapperCost(sessions, rounds, profiledEnv);
  const floorB = bwrapFloor(rounds / 2);
  const floorAdded: Cost = { wallMs: (floorA.bwrapAdded.wallMs + floorB.bwrapAdded.wallMs) / 2, cpuMs: (floorA.bwrapAdded.cpuMs + floorB.bwrapAdded.cpuMs) / 2 };
  const { scripts, profiles } = perScriptCost(workspaces.get(SANDBOX.name)!, sessions, profiledEnv, scriptRounds, quick ? 8 : Infinity);
  const scriptAdded = Object.fromEntries(Object.keys(sessions).map((name) => [name, medianCost(scripts.map((s) => s.added[name]!))]));
  for (const s of [profiledEnv, sessions.bubblewrap]) if (s) rmSync(s.__CARGO_SANDBOX_SESSION!, { recursive: true, force: true });

  let memory: Record<string, number> = {};
  let memoryNoop: Record<string, number> = {};
  let network: Awaited<ReturnType<typeof networkCost>> | undefined;
  let jobserver: ReturnType<typeof jobserverCost> | undefined;
  if (!quick) {
    const memoryWs = workspaces.get(SANDBOX.name)!;
    rmSync(join(memoryWs, 'target'), { recursive: true, force: true });
    const ours = /^(node|front-end|confine|bwrap)$/;
    memory = await peakMemory(CLI, ['build'], { cwd: memoryWs, env: BASE_ENV }, ours);
    memoryNoop = await peakMemory(CLI, ['build'], { cwd: memoryWs, env: BASE_ENV }, ours);
    process.stderr.write('network: a build script with an allow-network list...\n');
    network = await networkCost(ROOT, CLI, BASE_ENV, Math.max(3, runs));
    process.stderr.write('jobserver: a C-heavy build script (make over 16 C files)...\n');
    jobserver = jobserverCost(ROOT, CLI, BASE_ENV, Math.max(3, runs));
  }

  const base = PLAIN.name;
  const rows = [['whole builds (wall / CPU)', ...MODES.map((m) => m.name), 'target']];
  for (const [scenario, byMode] of Object.entries(whole)) {
    const b = medianCost(byMode[base]!);
    rows.push([
      scenario,
      ...MODES.map((m) => {
        if (!byMode[m.name]) return '-';
        const v = medianCost(byMode[m.name]!);
        return m.name === base ? `${seconds(v.wallMs)} / ${seconds(v.cpuMs)}` : `${seconds(v.wallMs)} (${ratio(v.wallMs, b.wallMs)}) / ${seconds(v.cpuMs)} (${ratio(v.cpuMs, b.cpuMs)})`;
      }),
      TARGETS[scenario] ? `${TARGETS[scenario]!.of} <= ${TARGETS[scenario]!.ratio}x` : '',
    ]);
  }
  const cost = (c: Cost) => `${millis(c.wallMs)} / ${millis(c.cpuMs)}`;
  const over = (c: Cost) => `${ratio(c.wallMs, floorAdded.wallMs)} / ${ratio(c.cpuMs, floorAdded.cpuMs)}`;
  const perCall = [
    ['per process, added over the bare program (wall / CPU)', 'median', 'over one bare bwrap', 'target'],
    ['floor: one bare `bwrap --ro-bind / / --unshare-all --die-with-parent /bin/true`, over /bin/true', cost(floorAdded), '1.000x / 1.000x', ''],
    ...Object.keys(sessions).flatMap((name) => [
      [`confined compilation, ${name} builder (wrapper, sandbox, supervisor; /bin/true as rustc)`, cost(wrapper.added[name]!), over(wrapper.added[name]!), '<= 1x'],
      [`build script, ${name} builder (${scripts.length} scripts: median of each's median)`, cost(scriptAdded[name]!), over(scriptAdded[name]!), '<= 1x'],
    ]),
  ];
  const where = machine();
  process.stdout.write(table(rows));
  process.stdout.write(`(medians of ${runs} alternating runs; no-op: ${quick ? 3 : 5} per run; ${cpuSource})\n\n`);
  process.stdout.write(table(perCall));
  process.stdout.write(`(floor and compilation: medians of ${rounds} alternating runs, the floor measured before and after; each script: median of ${scriptRounds} alternating runs, bare vs through its launcher)\n\n`);
  process.stdout.write(`where each process's time goes (CARGO_SANDBOX_PROFILE=1; ms, median/p90):\n`);
  process.stdout.write(`  a clean build of bench/workspace:\n${indent(formatSummary(summarize(profiles)))}\n`);
  process.stdout.write(`  a compilation with /bin/true as rustc:\n${indent(formatSummary(summarize(wrapper.profiles)))}\n\n`);
  if (network) {
    const plainDirect = network.connections['plain cargo: direct'];
    const netRows = [['network (allow-network list)', 'median', 'over plain cargo']];
    for (const [k, ms] of Object.entries(network.connections)) netRows.push([`  one connection + request, ${k}`, millis(ms), plainDirect !== undefined ? `+${millis(ms - plainDirect)}` : '']);
    const plainBuild = network.builds['plain cargo']!;
    for (const [k, ms] of Object.entries(network.builds)) netRows.push([`  clean build of one package, ${k}`, seconds(ms), ratio(ms, plainBuild)]);
    process.stdout.write(table(netRows) + '\n');
  }
  if (jobserver) {
    const plainC = jobserver['plain cargo']!;
    const cRows = [['C-heavy build script (make, -j from the jobserver, cargo -j2)', 'median', 'over plain cargo']];
    for (const [k, ms] of Object.entries(jobserver)) cRows.push([`  clean build, ${k}`, seconds(ms), ratio(ms, plainC)]);
    process.stdout.write(table(cRows) + '\n');
    const mib = (m: Record<string, number>) => Object.entries(m).map(([k, kb]) => `${k} ${(kb / 1024).toFixed(1)} MiB`).join(', ');
    process.stdout.write(`peak memory (max RSS) of our processes, clean build: ${mib(memory)}\n`);
    process.stdout.write(`peak memory, no-op rebuild: ${mib(memoryNoop) || '(no process of ours lived 20 ms)'}\n`);
  }
  const load = `load average ${loadBefore.toFixed(2)} before, ${loadavg()[0]!.toFixed(2)} after`;
  process.stdout.write(`machine: ${where}; ${load}; ${new Date().toISOString()}\n`);
  // A per-process run measures no whole build: it keeps the full run's file and the README's figures.
  writeJson(join(ROOT, perProcessOnly ? 'bench/results-per-process.json' : 'bench/results.json'), {
    machine: where, load, date: new Date().toISOString(), quick, runs, scriptRounds, cpu: cpuSource, wholeBuilds: whole,
    floor: { before: floorA, after: floorB, added: floorAdded }, compilation: { bare: wrapper.bare, wrapped: wrapper.wrapped, added: wrapper.added },
    scripts, scriptAdded, profile: { cleanBuild: summarize(profiles), compilation: summarize(wrapper.profiles) }, network, jobserver, peakMemoryKiB: { cleanBuild: memory, noopRebuild: memoryNoop },
  });
  // The README states what this run measured (the figures block, bench/readme-figures.ts).
  if (!perProcessOnly) writeFigures();
  for (const ws of [...workspaces.values(), ...macroWorkspaces.values(), warm, CACHE]) rmSync(ws, { recursive: true, force: true });
  removeStopwatch();
}

const indent = (text: string) => text.split('\n').map((l) => `    ${l}`).join('\n');

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  removeStopwatch();
  process.exit(1);
});
