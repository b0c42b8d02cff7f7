// `npm run bench`: cargo-sandbox against plain cargo on real crates from Debian's registry
// (bench/workspace: 48 build scripts, C compilation included; bench/macro-workspace: derives and
// attribute macros), alternating run by run, then the
// per-call costs (bench/micro.ts). Prints a table and writes bench/results.json. Not part of the tests.
//
//   npm run bench -- [--runs N] [--script-rounds N]

import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bwrapFloor, cachedSessionEnv, median, peakMemory, percentile, perScriptCost, wrapperCost, writeJson } from './micro.js';
import { jobserverCost, networkCost } from './scenarios.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'bin', 'cargo-sandbox');
const args = process.argv.slice(2);
const option = (name: string, fallback: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) || fallback : fallback);
const runs = option('--runs', 3);
const scriptRounds = option('--script-rounds', 3);
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
const MODES: Mode[] = [PLAIN, SANDBOX, { name: 'cargo sandbox, proc-macros = false', command: (a) => [CLI, a], env: { CARGO_SANDBOX_PROC_MACROS: 'false' } }];

const TARGETS: Record<string, number> = { 'clean build': 1.05, 'no-op rebuild': 1.10, 'clean build, proc-macro-heavy': 1.05 };

function workspace(name = 'workspace'): string {
  const dir = mkdtempSync(join(tmpdir(), 'cs-bench-'));
  cpSync(join(ROOT, 'bench', name), dir, { recursive: true });
  mkdirSync(join(dir, '.cargo'), { recursive: true });
  writeFileSync(join(dir, '.cargo/config.toml'), '[source.crates-io]\nreplace-with = "debian"\n[source.debian]\ndirectory = "/usr/share/cargo/registry"\n[net]\noffline = true\n');
  return dir;
}

function time(mode: Mode, ws: string, cargoArgs: string[]): number {
  const [program, argv] = mode.command(cargoArgs);
  const start = process.hrtime.bigint();
  const r = spawnSync(program, argv, { cwd: ws, env: { ...BASE_ENV, ...mode.env }, stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${mode.name} ${cargoArgs.join(' ')} failed (is scripts/setup.sh done?):\n${r.stderr}`);
  return ms;
}

/** Whole builds, alternating the modes run by run (`macros`: the proc-macro-heavy workspace). */
function wholeBuilds(workspaces: Map<string, string>, macros: Map<string, string>) {
  const results: Record<string, Record<string, number[]>> = {};
  const record = (scenario: string, mode: string, ms: number) => ((results[scenario] ??= {})[mode] ??= []).push(ms);
  for (let i = 0; i < runs; i++) {
    for (const mode of MODES) {
      const ws = workspaces.get(mode.name)!;
      rmSync(join(ws, 'target'), { recursive: true, force: true });
      record('clean build', mode.name, time(mode, ws, ['build']));
      for (let j = 0; j < 5; j++) record('no-op rebuild', mode.name, time(mode, ws, ['build']));
      time(mode, ws, ['check']); // the first check builds every dependency's metadata: not timed
      const main = join(ws, 'src/main.rs');
      writeFileSync(main, readFileSync(main, 'utf8') + `\n// edit ${i}\n`);
      record('check after a one-line change', mode.name, time(mode, ws, ['check']));
      const heavy = macros.get(mode.name)!;
      rmSync(join(heavy, 'target'), { recursive: true, force: true });
      record('clean build, proc-macro-heavy', mode.name, time(mode, heavy, ['build']));
      process.stderr.write(`run ${i + 1}/${runs}: ${mode.name} done\n`);
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

async function main() {
  const workspaces = new Map(MODES.map((m) => [m.name, workspace()]));
  // Compiles the helpers once (as a user's first build does), outside every timing.
  const warm = mkdtempSync(join(tmpdir(), 'cs-bench-warm-'));
  cpSync(join(ROOT, 'test/fixtures/tiny'), warm, { recursive: true });
  time(SANDBOX, warm, ['check']);
  const macroWorkspaces = new Map(MODES.map((m) => [m.name, workspace('macro-workspace')]));
  const whole = wholeBuilds(workspaces, macroWorkspaces);

  process.stderr.write('per build script (bare vs sandboxed), floor, wrapper, memory...\n');
  const floor = bwrapFloor();
  const sessionEnv = cachedSessionEnv(CACHE, (e) => e.argv.at(-1) === 'build' && e.env.__CARGO_SANDBOX_PROC_MACROS === '1');
  const wrapper = wrapperCost(sessionEnv);
  const { scripts, breakdown } = perScriptCost(workspaces.get(SANDBOX.name)!, sessionEnv, scriptRounds);
  const added = scripts.map((s) => s.addedMs);
  const memoryWs = workspaces.get(SANDBOX.name)!;
  rmSync(join(memoryWs, 'target'), { recursive: true, force: true });
  const ours = /^(node|front-end|confine|bwrap)$/;
  const memory = await peakMemory(CLI, ['build'], { cwd: memoryWs, env: BASE_ENV }, ours);
  const memoryNoop = await peakMemory(CLI, ['build'], { cwd: memoryWs, env: BASE_ENV }, ours);

  process.stderr.write('network: a build script with an allow-network list...\n');
  const network = await networkCost(ROOT, CLI, BASE_ENV, Math.max(3, runs));
  process.stderr.write('jobserver: a C-heavy build script (make over 16 C files)...\n');
  const jobserver = jobserverCost(ROOT, CLI, BASE_ENV, Math.max(3, runs));

  const base = PLAIN.name;
  const rows = [['whole builds', ...MODES.map((m) => m.name), 'target']];
  for (const [scenario, byMode] of Object.entries(whole)) {
    const b = median(byMode[base]!);
    rows.push([
      scenario,
      ...MODES.map((m) => {
        const v = median(byMode[m.name]!);
        return m.name === base ? seconds(v) : `${seconds(v)} (${(v / b).toFixed(3)}x)`;
      }),
      TARGETS[scenario] ? `<= ${TARGETS[scenario]}x` : '',
    ]);
  }
  const perCall = [
    ['per call', 'median', 'p95', 'target'],
    [`build script, added by the sandbox (${scripts.length} scripts)`, millis(median(added)), millis(percentile(added, 95)), `<= ${millis(floor.bwrapAddedMs + 10)} (floor + 10 ms)`],
    ['floor: one bare bwrap around /bin/true, over a process start', millis(floor.bwrapAddedMs), '', ''],
    ['compilation, added by the sandbox (wrapper, bwrap, supervisor)', millis(wrapper.addedMs), '', `<= ${millis(floor.bwrapAddedMs + 10)} (floor + 10 ms)`],
  ];
  const mem = Object.entries({ ...memory })
    .map(([k, kb]) => `${k} ${(kb / 1024).toFixed(1)} MiB`)
    .join(', ');
  const memNoop = Object.entries(memoryNoop)
    .map(([k, kb]) => `${k} ${(kb / 1024).toFixed(1)} MiB`)
    .join(', ');
  const where = machine();
  process.stdout.write(table(rows));
  process.stdout.write(`(medians of ${runs} alternating runs; no-op: 5 per run)\n\n`);
  process.stdout.write(table(perCall));
  process.stdout.write(`(each script: median of ${scriptRounds} alternating runs, bare vs through its launcher)\n\n`);
  if (breakdown) {
    const steps = Object.entries(breakdown.medians);
    const bare = breakdown.medians.bare!;
    process.stdout.write(`where it goes (${breakdown.package}, the quickest script; medians, each step over bare):\n`);
    process.stdout.write(table(steps.map(([step, ms]) => [`  ${step}`, millis(ms), step === 'bare' ? '' : `+${millis(ms - bare)}`])) + '\n');
  }
  const plainDirect = network.connections['plain cargo: direct'];
  const netRows = [['network (allow-network list)', 'median', 'over plain cargo']];
  for (const [k, ms] of Object.entries(network.connections)) netRows.push([`  one connection + request, ${k}`, millis(ms), plainDirect !== undefined ? `+${millis(ms - plainDirect)}` : '']);
  const plainBuild = network.builds['plain cargo']!;
  for (const [k, ms] of Object.entries(network.builds)) netRows.push([`  clean build of one package, ${k}`, seconds(ms), `${(ms / plainBuild).toFixed(3)}x`]);
  process.stdout.write(table(netRows) + '\n');
  const plainC = jobserver['plain cargo']!;
  const cRows = [['C-heavy build script (make, -j from the jobserver, cargo -j2)', 'median', 'over plain cargo']];
  for (const [k, ms] of Object.entries(jobserver)) cRows.push([`  clean build, ${k}`, seconds(ms), `${(ms / plainC).toFixed(3)}x`]);
  process.stdout.write(table(cRows) + '\n');
  process.stdout.write(`peak memory (max RSS) of our processes, clean build: ${mem}\n`);
  process.stdout.write(`peak memory, no-op rebuild: ${memNoop || '(no process of ours lived 20 ms)'}\n`);
  process.stdout.write(`machine: ${where}\n`);
  writeJson(join(ROOT, 'bench/results.json'), { machine: where, runs, scriptRounds, wholeBuilds: whole, floor, wrapper, scripts, breakdown, network, jobserver, peakMemoryKiB: { cleanBuild: memory, noopRebuild: memoryNoop } });
  for (const ws of [...workspaces.values(), ...macroWorkspaces.values(), warm, CACHE]) rmSync(ws, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
