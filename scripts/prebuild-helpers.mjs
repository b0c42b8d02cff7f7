#!/usr/bin/env node
// Compiles every native helper for this machine's platform into prebuilt/PLATFORM-ARCH/, with
// manifest.json (each one's cache key and SHA-256): run by `npm pack` (prepack, after tsc), so
// that the tarball's first run copies them instead of compiling them (~16 s on two cores).
// Each is compiled exactly as the first use would compile it (rustcArgs, helperKey in
// src/backends/native-helpers.ts), statically linked: a helper that cannot be is an error here,
// never a dynamically linked copy in the package. Files already there with the key and SHA-256
// the manifest records are kept (a second `npm pack` compiles nothing); any other is removed.
//
// Usage: node scripts/prebuild-helpers.mjs   (after `npm run build`; RUSTC names the rustc)

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (!existsSync(join(root, 'dist/src/backends/prebuilt-helpers.js'))) {
  process.stderr.write('error: cargo-sandbox is not built (no dist/): run `npm run build` first\n');
  process.exit(101);
}
const { helperFile, helperKey, isStaticElf, rustcArgs } = await import('../dist/src/backends/native-helpers.js');
const { elfMachineMatches, MANIFEST_VERSION, packedHelpers, prebuiltDir } = await import('../dist/src/backends/prebuilt-helpers.js');

/** @param {string} text @param {string[]} [help] @returns {never} */
function fail(text, help = []) {
  process.stderr.write(`error: ${text}\n${help.map((h) => `help: ${h}\n`).join('')}`);
  process.exit(101);
}

const rustc = process.env.RUSTC || 'rustc';
const version = spawnSync(rustc, ['-vV'], { encoding: 'utf8' });
if (version.status !== 0) fail(`cannot run \`${rustc}\` to prebuild cargo-sandbox's helpers: ${(version.stderr || version.error?.message || '').trim()}`, ['install Rust (https://rustup.rs), or set RUSTC']);
const out = prebuiltDir(root);
mkdirSync(out, { recursive: true });

/** @type {{ helpers?: Record<string, { name: string, key: string, sha256: string }> }} */
let previous = {};
try {
  previous = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
} catch {
  /* none yet */
}
/** @param {string} path @returns {string} */
const sha256 = (path) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** @type {Record<string, { name: string, key: string, sha256: string }>} */
const helpers = {};
/** @type {{ build: { name: string, compileEnv?: Record<string, string> }, key: string, file: string }[]} */
const todo = [];
for (const build of packedHelpers()) {
  const key = helperKey(build);
  const file = helperFile(build, key);
  const old = previous.helpers?.[file];
  if (old?.key === key && existsSync(join(out, file)) && sha256(join(out, file)) === old.sha256) helpers[file] = old;
  else todo.push({ build, key, file });
}

/** @param {{ build: { name: string, compileEnv?: Record<string, string> }, key: string, file: string }} job @returns {Promise<void>} */
function compile({ build, key, file }) {
  const tmp = join(out, `${file}.${process.pid}.tmp`);
  process.stderr.write(`   Compiling cargo-sandbox's ${build.name} helper (prebuilt: ${file})\n`);
  return new Promise((resolve) => {
    // As the first use: the helper's compile-time variables, and not in a workspace (rustup
    // would follow a toolchain file).
    const child = spawn(rustc, rustcArgs(build, tmp, true), { cwd: out, env: { ...process.env, ...build.compileEnv }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (e) => fail(`cannot run \`${rustc}\`: ${e.message}`));
    child.on('close', (status) => {
      if (status !== 0) fail(`could not compile cargo-sandbox's ${build.name} helper statically with \`${rustc}\``, [stderr.trim().split('\n').slice(0, 12).join('\n'), 'install the C library for static linking (Debian, Ubuntu: libc6-dev; Fedora: glibc-static)']);
      if (!isStaticElf(tmp) || !elfMachineMatches(readFileSync(tmp))) fail(`\`${rustc}\` did not link cargo-sandbox's ${build.name} helper statically for ${process.arch}: it is not packed`);
      renameSync(tmp, join(out, file));
      helpers[file] = { name: build.name, key, sha256: sha256(join(out, file)) };
      resolve();
    });
  });
}

// Two at a time on two cores: the entry point alone is compiled five times (one per mode).
const queue = [...todo];
await Promise.all(
  Array.from({ length: Math.max(1, Math.min(availableParallelism(), 4)) }, async () => {
    for (let job = queue.shift(); job; job = queue.shift()) await compile(job);
  }),
);
for (const f of readdirSync(out)) if (f !== 'manifest.json' && !(f in helpers)) rmSync(join(out, f), { force: true });
const manifest = { version: MANIFEST_VERSION, platform: process.platform, arch: process.arch, rustc: version.stdout.split('\n')[0], helpers };
writeFileSync(join(out, 'manifest.json.tmp'), `${JSON.stringify(manifest, null, 2)}\n`);
renameSync(join(out, 'manifest.json.tmp'), join(out, 'manifest.json'));
process.stderr.write(`    Finished ${Object.keys(helpers).length} prebuilt helpers in ${out} (${todo.length} compiled)\n`);
