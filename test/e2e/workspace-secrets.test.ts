// The workspace's own secrets beyond the shared attack workspace: a package directory outside the
// workspace (cargo-fuzz's layout), a `.env` that links out of it, and a `.env` that appears after
// a cached session was written. Each with a plain-cargo control that reads the secret.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { filesContaining, makeScratch, runCli, runPlainCargo, type Scratch } from '../helpers/sandbox-env.js';

const DOTENV = 'FUZZ-DOTENV-SECRET-4e4e4e';
const HEADER = 'FUZZ-EXTRAHEADER-SECRET-5f5f5f';
const LATE = 'LATE-DOTENV-SECRET-6a6a6a';

/** A crate whose build script reports its directory's `.env` files, its git config and commit. */
function reportingCrate(dir: string, name: string, deps = ''): void {
  mkdirSync(join(dir, 'src'), { recursive: true });
  writeFileSync(join(dir, 'Cargo.toml'), `[package]\nname = "${name}"\nversion = "0.1.0"\nedition = "2021"\nbuild = "build.rs"\n[dependencies]\n${deps}`);
  writeFileSync(join(dir, 'src/lib.rs'), 'pub const REPORT: &str = include_str!(concat!(env!("OUT_DIR"), "/report"));\n');
  writeFileSync(
    join(dir, 'build.rs'),
    `use std::fs;
fn main() {
    let dir = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let mut report = String::new();
    for f in [".env", ".env.production", "config/.env", ".git/config"] {
        report.push_str(&fs::read_to_string(dir.join(f)).unwrap_or_else(|e| format!("{f}: {e}\\n")));
    }
    let head = std::process::Command::new("git").args(["rev-parse", "HEAD"]).current_dir(&dir).output().map(|o| String::from_utf8_lossy(&o.stdout).to_string()).unwrap_or_default();
    report.push_str(&format!("HEAD={head}"));
    fs::write(std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("report"), report).unwrap();
    println!("cargo:rerun-if-changed=build.rs");
}
`,
  );
}

function git(cwd: string, env: NodeJS.ProcessEnv, ...args: string[]): string {
  const r = spawnSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd, env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

/** cargo-fuzz's layout: the repository's crate at its root, a `fuzz/` workspace that depends on it. */
function fuzzLayout(label: string): { s: Scratch; repo: string; fuzz: string; commit: string } {
  const s = makeScratch(label);
  const repo = join(s.root, 'repo');
  reportingCrate(repo, 'mycrate');
  writeFileSync(join(repo, '.env'), `DB_PASSWORD=${DOTENV}\n`);
  mkdirSync(join(repo, 'config'));
  writeFileSync(join(repo, 'config/.env'), `DB_PASSWORD=${DOTENV}\n`);
  const fuzz = join(repo, 'fuzz');
  mkdirSync(join(fuzz, 'src'), { recursive: true });
  writeFileSync(join(fuzz, 'Cargo.toml'), '[package]\nname = "fuzz"\nversion = "0.1.0"\nedition = "2021"\n[workspace]\nmembers = ["."]\n[dependencies]\nmycrate = { path = ".." }\n');
  writeFileSync(join(fuzz, 'src/lib.rs'), 'pub use mycrate::REPORT;\n');
  git(repo, s.env, 'init', '-q');
  git(repo, s.env, 'add', 'Cargo.toml');
  git(repo, s.env, 'commit', '-q', '-m', 'init');
  git(repo, s.env, 'config', 'http.https://git.example.com/.extraheader', `AUTHORIZATION: basic ${HEADER}`);
  return { s, repo, fuzz, commit: git(repo, s.env, 'rev-parse', 'HEAD') };
}

describe('workspace secrets outside the shared attack workspace', { concurrency: false }, () => {
  test('a path dependency outside the workspace (cargo-fuzz layout): its .env files and git token stay hidden, git still works (control: plain cargo reads them)', async () => {
    const plain = fuzzLayout('fuzz-plain');
    assert.equal((await runPlainCargo(['build'], { cwd: plain.fuzz, env: plain.s.env })).status, 0);
    for (const secret of [DOTENV, HEADER]) assert.ok(filesContaining(join(plain.fuzz, 'target'), secret).length > 0, `plain: ${secret} not read`);
    const f = fuzzLayout('fuzz-sandboxed');
    const r = await runCli(['build'], { cwd: f.fuzz, env: f.s.env });
    assert.equal(r.status, 0, r.stderr);
    for (const secret of [DOTENV, HEADER]) assert.deepEqual(filesContaining(join(f.fuzz, 'target'), secret), [], secret);
    assert.ok(filesContaining(join(f.fuzz, 'target'), `HEAD=${f.commit}`).length > 0, 'git rev-parse HEAD failed in the sandbox');
  });

  test('a .env that links out of the workspace, or nowhere, does not break the build', async () => {
    const s = makeScratch('dotenv-link');
    const ws = join(s.root, 'ws');
    reportingCrate(ws, 'linked');
    symlinkSync('../outside/app.env', join(ws, '.env'));
    symlinkSync('/nonexistent/app.env', join(ws, '.env.local'));
    const r = await runCli(['build'], { cwd: ws, env: s.env });
    assert.equal(r.status, 0, r.stderr);
  });

  test('a .env created after a cached session was written is hidden at the next build (control: plain cargo reads it)', async () => {
    const s = makeScratch('dotenv-late');
    const ws = join(s.root, 'ws');
    reportingCrate(ws, 'late');
    for (let i = 0; i < 2; i++) assert.equal((await runCli(['build'], { cwd: ws, env: s.env })).status, 0);
    writeFileSync(join(ws, '.env.production'), `API_KEY=${LATE}\n`);
    writeFileSync(join(ws, 'build.rs'), `${'// changed: the script runs again\n'}${(await import('node:fs')).readFileSync(join(ws, 'build.rs'), 'utf8')}`);
    const r = await runCli(['build'], { cwd: ws, env: s.env });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(filesContaining(join(ws, 'target'), LATE), []);
    assert.equal((await runPlainCargo(['build'], { cwd: ws, env: s.env })).status, 0);
    assert.ok(filesContaining(join(ws, 'target'), LATE).length > 0, 'plain: the late .env was not read');
  });
});
