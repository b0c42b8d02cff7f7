// `npm run bench`'s one-package scenarios, each a clean build alternating with plain cargo:
//  - network (allow-network lists): what one proxied connection costs a build script (a new TCP
//    connection and one HTTP request, through the forward and through the proxy, against plain
//    TCP under plain cargo), and a clean build of a package with a list against one without;
//  - jobserver: a C-heavy build script (`make` over 16 C files, -j from cargo's jobserver).

import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median } from './micro.js';

/** An HTTP server in its own process: the bench's own process blocks while cargo runs. */
async function startServer(): Promise<{ addr: string; stop(): void }> {
  const child = spawn(process.execPath, ['-e', "require('http').createServer((q, s) => s.end('ok')).listen(0, '127.0.0.1', function () { console.log(this.address().port) })"], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())));
  return { addr: `127.0.0.1:${port}`, stop: () => child.kill() };
}

interface Variant {
  name: string;
  program: string;
  config: string;
}

/** The build script's own measurements, from cargo's record of its output. */
function reported(ws: string): Record<string, number> {
  const build = join(ws, 'target/debug/build');
  const out: Record<string, number> = {};
  for (const d of readdirSync(build).filter((n) => n.startsWith('fetcher-'))) {
    let text = '';
    try {
      text = readFileSync(join(build, d, 'output'), 'utf8');
    } catch {
      continue;
    }
    for (const m of text.matchAll(/cargo:warning=(\w+)-ms=([\d.]+)/g)) out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** Clean builds of copies of `bench/<name>`, one per variant, alternating; `after` reads each build. */
function alternateBuilds(root: string, name: string, variants: Variant[], env: NodeJS.ProcessEnv, runs: number, prepare: (dir: string) => void, after: (variant: string, dir: string) => void = () => {}) {
  const dirs = variants.map((v) => {
    const dir = mkdtempSync(join(tmpdir(), 'cs-bench-scenario-'));
    cpSync(join(root, 'bench', name), dir, { recursive: true });
    prepare(dir);
    if (v.config) {
      mkdirSync(join(dir, '.cargo'));
      writeFileSync(join(dir, '.cargo/config.toml'), v.config);
    }
    return dir;
  });
  const builds: Record<string, number[]> = {};
  try {
    for (let i = 0; i < runs; i++) {
      variants.forEach((v, k) => {
        rmSync(join(dirs[k]!, 'target'), { recursive: true, force: true });
        const start = process.hrtime.bigint();
        const r = spawnSync(v.program, ['build', '-j2'], { cwd: dirs[k], env: { ...env, CARGO_SANDBOX_TRUST_WORKSPACE: dirs[k] }, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`${v.name}: the ${name} build failed:\n${r.stderr}`);
        (builds[v.name] ??= []).push(Number(process.hrtime.bigint() - start) / 1e6);
        after(v.name, dirs[k]!);
      });
    }
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
  return medians(builds);
}

const medians = (o: Record<string, number[]>) => Object.fromEntries(Object.entries(o).map(([k, xs]) => [k, median(xs)]));

export async function networkCost(root: string, cli: string, env: NodeJS.ProcessEnv, runs: number) {
  const server = await startServer();
  const variants: Variant[] = [
    { name: 'plain cargo', program: 'cargo', config: '' },
    { name: 'cargo sandbox, no network', program: cli, config: '' },
    { name: 'cargo sandbox, allow-network list', program: cli, config: `[sandbox.package.fetcher]\nallow-network = ["${server.addr}"]\n` },
  ];
  const connections: Record<string, number[]> = {};
  try {
    const builds = alternateBuilds(root, 'network-workspace', variants, env, runs, (dir) => writeFileSync(join(dir, 'server.txt'), server.addr), (variant, dir) => {
      for (const [kind, ms] of Object.entries(reported(dir))) (connections[`${variant}: ${kind}`] ??= []).push(ms);
    });
    return { builds, connections: medians(connections) };
  } finally {
    server.stop();
  }
}

/** The C-heavy build script: plain cargo against cargo sandbox (make's parallelism is the jobserver's). */
export function jobserverCost(root: string, cli: string, env: NodeJS.ProcessEnv, runs: number) {
  const variants: Variant[] = [
    { name: 'plain cargo', program: 'cargo', config: '' },
    { name: 'cargo sandbox', program: cli, config: '' },
  ];
  return alternateBuilds(root, 'jobserver-workspace', variants, env, runs, () => {});
}
