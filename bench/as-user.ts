// `npm run bench`'s no-op rebuild for a user who is not root, with the package installed by root
// (issue 29's second no-op target): `nobody`, in a home of its own holding two copies of
// bench/workspace, root's toolchain bound where it can read it (as test/e2e/install.test.ts
// does). That user cannot write the package's cache, so its front end, helpers and sessions are
// its own (~/.cache/cargo-sandbox), made by its first build, untimed. Plain cargo and cargo
// sandbox then alternate, each timed by the stopwatch running as that user: getrusage of the
// command's children (a no-op starts no sandbox, so nothing runs in another PID namespace).

import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cost } from './micro.js';

const NOBODY = 65534;
const REGISTRY = '[source.crates-io]\nreplace-with = "debian"\n[source.debian]\ndirectory = "/usr/share/cargo/registry"\n[net]\noffline = true\n';

function chownAll(dir: string): void {
  chownSync(dir, NOBODY, NOBODY);
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) chownAll(path);
    else chownSync(path, NOBODY, NOBODY);
  }
}

/**
 * `rounds` alternating no-op rebuilds of bench/workspace as `nobody`: plain cargo's and cargo
 * sandbox's (`cli`, root's), each as [wall, CPU]; or why it cannot run here (not root, no setpriv).
 */
export function noopAsAnotherUser(root: string, cli: string, measure: string, rounds: number): { 'plain cargo': Cost[]; 'cargo sandbox': Cost[] } | { skipped: string } {
  if (process.getuid?.() !== 0) return { skipped: 'the bench does not run as root (it becomes `nobody`)' };
  if (spawnSync('setpriv', ['--version']).status !== 0) return { skipped: 'no setpriv (util-linux)' };
  const home = mkdtempSync(join(tmpdir(), 'cs-bench-nobody-'));
  try {
    chmodSync(home, 0o755);
    for (const ws of ['plain', 'sandboxed']) {
      cpSync(join(root, 'bench/workspace'), join(home, ws), { recursive: true });
      mkdirSync(join(home, ws, '.cargo'));
      writeFileSync(join(home, ws, '.cargo/config.toml'), REGISTRY);
    }
    copyFileSync(measure, join(home, 'measure'));
    chmodSync(join(home, 'measure'), 0o755);
    chownAll(home);
    // Root's toolchain, where nobody can reach it (root's home is closed to others).
    const rust = mkdtempSync(join(tmpdir(), 'cs-bench-rust-'));
    for (const d of ['rustup', 'bin']) mkdirSync(join(rust, d));
    chmodSync(rust, 0o755);
    const realRustup = process.env.RUSTUP_HOME || join(homedir(), '.rustup');
    const realCargoBin = join(process.env.CARGO_HOME || join(homedir(), '.cargo'), 'bin');
    // As nobody: the first builds (untimed; the first sandboxed one compiles its helpers), then
    // the rounds, each line `P|S WALL_NS CPU_NS`.
    const script = [
      'set -e',
      '(cd plain && cargo build -q) >/dev/null 2>&1',
      '(cd sandboxed && "$CLI" build -q && "$CLI" build -q) >/dev/null 2>&1',
      `for i in $(seq ${rounds}); do`,
      '  echo "P $(cd plain && ../measure -- cargo build -q 2>/dev/null)"',
      '  echo "S $(cd sandboxed && ../measure -- "$CLI" build -q 2>/dev/null)"',
      'done',
    ].join('\n');
    const inner = `mount --bind "$0" "$1/rustup" && mount --bind "$2" "$1/bin" && cd "$3" && exec setpriv --reuid ${NOBODY} --regid ${NOBODY} --clear-groups env -i HOME="$3" PATH="$1/bin:/usr/local/bin:/usr/bin:/bin" RUSTUP_HOME="$1/rustup" CARGO_HOME="$3/.cargo" CARGO_TERM_COLOR=never CLI="$4" sh -c "$5"`;
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', inner, realRustup, rust, realCargoBin, home, cli, script], { encoding: 'utf8', maxBuffer: 16 << 20 });
    rmSync(rust, { recursive: true, force: true });
    if (r.status !== 0) throw new Error(`the no-op rebuilds as nobody failed (${r.status ?? r.signal}):\n${r.stderr.slice(-4000)}`);
    const samples: { 'plain cargo': Cost[]; 'cargo sandbox': Cost[] } = { 'plain cargo': [], 'cargo sandbox': [] };
    for (const line of r.stdout.split('\n')) {
      const m = /^([PS]) (\d+) (\d+)$/.exec(line.trim());
      if (m) samples[m[1] === 'P' ? 'plain cargo' : 'cargo sandbox'].push({ wallMs: Number(m[2]) / 1e6, cpuMs: Number(m[3]) / 1e6 });
    }
    if (samples['plain cargo'].length !== rounds || samples['cargo sandbox'].length !== rounds) throw new Error(`the no-op rebuilds as nobody printed no times:\n${r.stdout.slice(-2000)}${r.stderr.slice(-2000)}`);
    return samples;
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
