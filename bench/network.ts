// `npm run bench`'s network numbers (allow-network lists): what one proxied connection costs a
// build script (a new TCP connection and one HTTP request, through the forward and through the
// proxy, against plain TCP under plain cargo), and what a whole clean build of a package with an
// allow-network list costs against the same package without it.

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

export async function networkCost(root: string, cli: string, env: NodeJS.ProcessEnv, runs: number) {
  const server = await startServer();
  const variants: Variant[] = [
    { name: 'plain cargo', program: 'cargo', config: '' },
    { name: 'cargo sandbox, no network', program: cli, config: '' },
    { name: 'cargo sandbox, allow-network list', program: cli, config: `[sandbox.package.fetcher]\nallow-network = ["${server.addr}"]\n` },
  ];
  const dirs = variants.map((v) => {
    const dir = mkdtempSync(join(tmpdir(), 'cs-bench-net-'));
    cpSync(join(root, 'bench/network-workspace'), dir, { recursive: true });
    writeFileSync(join(dir, 'server.txt'), server.addr);
    if (v.config) {
      mkdirSync(join(dir, '.cargo'));
      writeFileSync(join(dir, '.cargo/config.toml'), v.config);
    }
    return dir;
  });
  const builds: Record<string, number[]> = {};
  const connections: Record<string, number[]> = {};
  try {
    for (let i = 0; i < runs; i++) {
      variants.forEach((v, k) => {
        rmSync(join(dirs[k]!, 'target'), { recursive: true, force: true });
        const start = process.hrtime.bigint();
        const r = spawnSync(v.program, ['build'], { cwd: dirs[k], env: { ...env, CARGO_SANDBOX_TRUST_WORKSPACE: dirs[k] }, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`${v.name}: the network bench build failed:\n${r.stderr}`);
        (builds[v.name] ??= []).push(Number(process.hrtime.bigint() - start) / 1e6);
        for (const [kind, ms] of Object.entries(reported(dirs[k]!))) (connections[`${v.name}: ${kind}`] ??= []).push(ms);
      });
    }
  } finally {
    server.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
  const med = (o: Record<string, number[]>) => Object.fromEntries(Object.entries(o).map(([k, xs]) => [k, median(xs)]));
  return { builds: med(builds), connections: med(connections) };
}
