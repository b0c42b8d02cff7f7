// The README's measured figures, generated: the performance tables from bench/results.json (what
// the last `npm run bench` measured), the attack-case counts from THREAT-MODEL.md's table. `npm run
// bench` rewrites them after each run, `npm run figures` from the files as they are; the docs test
// fails when the README says anything else.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PACKAGE_ROOT } from '../src/paths.js';
import type { Cost } from './micro.js';

/** The no-op rebuild as `nobody`, with root's install of the package (bench/as-user.ts). */
export const NOOP_AS_USER = 'no-op rebuild, a user who is not root';

/** Issue 29's targets, over plain cargo: CPU for clean builds, wall for no-op rebuilds. */
export const TARGETS: Record<string, { ratio: number; of: 'cpu' | 'wall' }> = {
  'clean build': { ratio: 1.03, of: 'cpu' },
  'clean build, proc-macro-heavy': { ratio: 1.03, of: 'cpu' },
  'no-op rebuild': { ratio: 1.1, of: 'wall' },
  [NOOP_AS_USER]: { ratio: 1.1, of: 'wall' },
};

/** What the figures are made from: the parts of bench/results.json they use. */
export interface BenchResults {
  machine: string;
  load: string;
  date: string;
  quick: boolean;
  runs: number;
  scriptRounds: number;
  cpu: string;
  wholeBuilds: Record<string, Record<string, Cost[]>>;
  floor: { added: Cost };
  compilation: { added: Record<string, Cost> };
  scripts: unknown[];
  scriptAdded: Record<string, Cost>;
  profile: { cleanBuild: { kind: string; count: number }[] };
}

export const BEGIN = '<!-- figures: generated from bench/results.json by `npm run figures`; edit the bench, not this -->';
export const END = '<!-- end of generated figures -->';

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const medianCost = (xs: readonly Cost[]): Cost => ({ wallMs: median(xs.map((x) => x.wallMs)), cpuMs: median(xs.map((x) => x.cpuMs)) });
const seconds = (ms: number) => `${(ms / 1000).toFixed(ms >= 10_000 ? 1 : 2)} s`;
const millis = (ms: number) => `${ms.toFixed(1)} ms`;
const times = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
const bold = (s: string, yes: boolean) => (yes ? `**${s}**` : s);

/** The README block: where and how it was measured, the whole builds, the per-process costs. */
export function renderFigures(r: BenchResults): string {
  const scriptCount = r.profile.cleanBuild.find((p) => p.kind === 'build script')?.count;
  const names: Record<string, string> = {
    'clean build': `clean \`cargo build\`${scriptCount ? `, ${scriptCount} build scripts` : ''}`,
    'clean build, proc-macro-heavy': 'clean `cargo build`, proc-macro-heavy',
    'no-op rebuild': 'no-op rebuild (nothing changed)',
    [NOOP_AS_USER]: 'no-op rebuild, a user who is not root (the package installed by root; CPU: getrusage)',
  };
  const lines = [
    `Latest run, \`npm run bench${r.quick ? ' -- --quick' : ''}\`, ${r.date.slice(0, 10)}: ${r.machine}; ${r.load}; medians of ${r.runs} alternating runs, ${r.cpu}.`,
    '',
    '| scenario | plain cargo (wall / CPU) | cargo sandbox (wall / CPU) | target |',
    '|---|---|---|---|',
  ];
  for (const [scenario, byMode] of Object.entries(r.wholeBuilds)) {
    const plain = medianCost(byMode['plain cargo'] ?? []);
    const ours = medianCost(byMode['cargo sandbox'] ?? []);
    const target = TARGETS[scenario];
    const wall = bold(times(ours.wallMs, plain.wallMs), target?.of === 'wall');
    const cpu = bold(times(ours.cpuMs, plain.cpuMs), target?.of === 'cpu');
    const goal = target ? `${target.of === 'cpu' ? 'CPU' : 'wall'} ≤ ${target.ratio.toFixed(2)}×` : '';
    lines.push(`| ${names[scenario] ?? scenario} | ${seconds(plain.wallMs)} / ${seconds(plain.cpuMs)} | ${seconds(ours.wallMs)} (${wall}) / ${seconds(ours.cpuMs)} (${cpu}) | ${goal} |`);
  }
  const floor = r.floor.added;
  const cost = (c: Cost) => `${millis(c.wallMs)} / ${millis(c.cpuMs)}`;
  const over = (c: Cost, main: boolean) => bold(`${times(c.wallMs, floor.wallMs)} / ${times(c.cpuMs, floor.cpuMs)}`, main);
  lines.push(
    '',
    '| per process, added over the bare program | wall / CPU | over the floor (wall / CPU) | target |',
    '|---|---|---|---|',
    `| **the floor**: one bare \`bwrap --ro-bind / / --unshare-all --die-with-parent /bin/true\`, over \`/bin/true\` | ${cost(floor)} | 1× / 1× | — |`,
  );
  for (const builder of Object.keys(r.compilation.added)) {
    const main = builder === 'direct';
    const label = main ? '**direct builder** (default)' : `${builder} builder (the fallback)`;
    lines.push(`| one confined compilation, ${label}, \`/bin/true\` as rustc | ${cost(r.compilation.added[builder]!)} | ${over(r.compilation.added[builder]!, main)} | ≤ 1× |`);
    const scripts = r.scriptAdded[builder];
    if (scripts) lines.push(`| one build script, ${label}, median of ${r.scripts.length} scripts' medians of ${r.scriptRounds} | ${cost(scripts)} | ${over(scripts, main)} | ≤ 1× |`);
  }
  return lines.join('\n');
}

/** The attack cases of THREAT-MODEL.md's table, by number. */
export function attackCases(threatModel: string): number[] {
  return [...threatModel.matchAll(/^\| (\d+) \|/gm)].map((m) => Number(m[1]));
}

/** The README with its generated parts replaced: the figures block and the two case counts. */
export function withFigures(readme: string, results: BenchResults, threatModel: string): string {
  const begin = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`README.md has no figures block (${BEGIN} ... ${END})`);
  const count = attackCases(threatModel).length;
  return `${readme.slice(0, begin + BEGIN.length)}\n${renderFigures(results)}\n${readme.slice(end)}`
    .replace(/— \d+ attack cases, listed/, `— ${count} attack cases, listed`)
    .replace(/a \d+-case attack suite/, `a ${count}-case attack suite`);
}

/** `npm run figures` (and the end of `npm run bench`): rewrites README.md in place. */
export function writeFigures(root = PACKAGE_ROOT): void {
  const read = (name: string) => readFileSync(join(root, name), 'utf8');
  const results = JSON.parse(read('bench/results.json')) as BenchResults;
  writeFileSync(join(root, 'README.md'), withFigures(read('README.md'), results, read('THREAT-MODEL.md')));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) writeFigures();
