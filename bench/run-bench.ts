// `npm run bench`: cargo-sandbox against plain cargo on real crates from Debian's registry
// (bench/workspace: 48 build scripts, C compilation included),
// alternating run by run. Prints a table and writes bench/results.json. Not part of the tests.
//
//   npm run bench -- [--runs N] [--quick]

import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'bin', 'cargo-sandbox');
const args = process.argv.slice(2);
const runs = Number(args[args.indexOf('--runs') + 1]) || 3;

interface Mode {
  name: string;
  command: (cargoArgs: string[]) => [string, string[]];
  env?: Record<string, string>;
}

const MODES: Mode[] = [
  { name: 'plain cargo', command: (a) => ['cargo', a] },
  { name: 'cargo sandbox', command: (a) => [CLI, a] },
  { name: 'cargo sandbox, proc-macros = false', command: (a) => [CLI, a], env: { CARGO_SANDBOX_PROC_MACROS: 'false' } },
];

function workspace(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cs-bench-'));
  cpSync(join(ROOT, 'bench/workspace'), dir, { recursive: true });
  mkdirSync(join(dir, '.cargo'), { recursive: true });
  writeFileSync(join(dir, '.cargo/config.toml'), '[source.crates-io]\nreplace-with = "debian"\n[source.debian]\ndirectory = "/usr/share/cargo/registry"\n[net]\noffline = true\n');
  return dir;
}

function time(mode: Mode, ws: string, cargoArgs: string[]): number {
  const [program, argv] = mode.command(cargoArgs);
  const start = process.hrtime.bigint();
  const r = spawnSync(program, argv, { cwd: ws, env: { ...process.env, ...mode.env, CARGO_TERM_PROGRESS_WHEN: 'never' }, stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${mode.name} ${cargoArgs.join(' ')} failed:\n${r.stderr}`);
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function main() {
  const results: Record<string, Record<string, number[]>> = {};
  const record = (scenario: string, mode: string, ms: number) => ((results[scenario] ??= {})[mode] ??= []).push(ms);
  const workspaces = new Map(MODES.map((m) => [m.name, workspace()]));
  for (let i = 0; i < runs; i++) {
    for (const mode of MODES) {
      const ws = workspaces.get(mode.name)!;
      rmSync(join(ws, 'target'), { recursive: true, force: true });
      record('clean build', mode.name, time(mode, ws, ['build']));
      record('no-op rebuild', mode.name, time(mode, ws, ['build']));
      time(mode, ws, ['check']); // the first check builds every dependency's metadata: not timed
      const main = join(ws, 'src/main.rs');
      writeFileSync(main, readFileSync(main, 'utf8') + `\n// edit ${i}\n`);
      record('check after a one-line change', mode.name, time(mode, ws, ['check']));
      process.stderr.write(`run ${i + 1}/${runs}: ${mode.name} done\n`);
    }
  }
  const base = MODES[0]!.name;
  const rows = [['scenario', ...MODES.map((m) => m.name)]];
  for (const [scenario, byMode] of Object.entries(results)) {
    const b = median(byMode[base]!);
    rows.push([scenario, ...MODES.map((m) => {
      const v = median(byMode[m.name]!);
      return m.name === base ? `${(v / 1000).toFixed(2)} s` : `${(v / 1000).toFixed(2)} s (${(v / b).toFixed(3)}x)`;
    })]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  process.stdout.write(rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n') + '\n');
  const machine = `${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${Math.round(totalmem() / 2 ** 30)} GiB`;
  process.stdout.write(`medians of ${runs} alternating runs on ${machine}\n`);
  writeFileSync(join(ROOT, 'bench/results.json'), JSON.stringify({ machine, runs, results }, null, 2) + '\n');
  for (const ws of workspaces.values()) rmSync(ws, { recursive: true, force: true });
}

main();
