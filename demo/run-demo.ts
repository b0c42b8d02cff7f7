// The demo: build a workspace whose dependencies include a malicious build script and real -sys
// crates, through cargo-sandbox, as a stand-in user whose home holds (fake) secrets. Then check,
// on the host, what the attack achieved: nothing, while the real crates built and link.

import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const REGISTRY = '/usr/share/cargo/registry';
const SSH_KEY = 'DEMO-SSH-PRIVATE-KEY-0xC0FFEE';
const AWS_KEY = 'DEMO-AWS-SECRET-0xBADC0DE';
const ENV_TOKEN = 'DEMO-GITHUB-TOKEN-0xDEADBEEF';
const BASHRC = 'export PS1="$ "\n';

const color = process.stdout.isTTY && process.env.NO_COLOR === undefined;
const green = (s: string) => (color ? `\x1b[32m${s}\x1b[0m` : s);
const red = (s: string) => (color ? `\x1b[31m${s}\x1b[0m` : s);
const bold = (s: string) => (color ? `\x1b[1m${s}\x1b[0m` : s);

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, inherit: boolean) {
  return new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', inherit ? 'inherit' : 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout }));
  });
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? filesUnder(p) : e.isFile() ? [p] : [];
  });
}

async function main(): Promise<number> {
  if (!existsSync(REGISTRY)) {
    console.error('error: Debian\'s crate registry is missing (/usr/share/cargo/registry)\nhelp: run `bash scripts/demo.sh`, which installs it');
    return 1;
  }
  const scratch = mkdtempSync(join(tmpdir(), 'cargo-sandbox-demo-'));
  const home = join(scratch, 'home');
  mkdirSync(join(home, '.ssh'), { recursive: true });
  mkdirSync(join(home, '.aws'));
  mkdirSync(join(home, '.cargo'));
  writeFileSync(join(home, '.ssh/id_ed25519'), `${SSH_KEY}\n`);
  writeFileSync(join(home, '.aws/credentials'), `aws_secret_access_key = ${AWS_KEY}\n`);
  writeFileSync(join(home, '.bashrc'), BASHRC);
  const realCargoBin = join(process.env.CARGO_HOME || join(homedir(), '.cargo'), 'bin');
  if (existsSync(realCargoBin)) symlinkSync(realCargoBin, join(home, '.cargo/bin'));

  const ws = join(scratch, 'workspace');
  cpSync(join(ROOT, 'demo/workspace'), ws, { recursive: true });
  mkdirSync(join(ws, '.cargo'));
  writeFileSync(
    join(ws, '.cargo/config.toml'),
    `[source.crates-io]\nreplace-with = "debian"\n[source.debian]\ndirectory = "${REGISTRY}"\n[net]\noffline = true\n`,
  );
  let received = '';
  const server = createServer((s) => s.setEncoding('utf8').on('data', (d: string) => (received += d)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  writeFileSync(join(ws, 'exfil-port.txt'), String(port));

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    CARGO_HOME: join(home, '.cargo'),
    RUSTUP_HOME: process.env.RUSTUP_HOME || join(homedir(), '.rustup'),
    GITHUB_TOKEN: ENV_TOKEN,
  };
  console.log(bold('cargo-sandbox demo'));
  console.log(`  workspace: ${ws}`);
  console.log(`  stand-in home with fake secrets: ${home}`);
  console.log(`  attacker's "server": 127.0.0.1:${port}\n`);
  console.log(bold('$ cargo sandbox build'));
  const build = await run(join(ROOT, 'bin/cargo-sandbox'), ['build'], ws, env, true);
  await new Promise((r) => setTimeout(r, 200));
  server.close();

  const target = join(ws, 'target');
  const leaked = existsSync(target)
    ? filesUnder(target).filter((f) => statSync(f).size < 256 << 20 && [SSH_KEY, AWS_KEY, ENV_TOKEN].some((s) => readFileSync(f).includes(s)))
    : [];
  const app = await run(join(target, 'debug/demo-app'), [], ws, env, false).catch(() => ({ code: 1, stdout: '' }));
  const checks: [string, boolean][] = [
    ['the build succeeded: openssl-sys, libsqlite3-sys, libz-sys, zstd-sys, bzip2-sys, ring built', build.code === 0],
    ['the app runs and links the real libraries', app.code === 0 && /linked OpenSSL/.test(app.stdout)],
    ['~/.ssh key, ~/.aws credentials and $GITHUB_TOKEN are nowhere in target/', leaked.length === 0],
    ['~/.bashrc is unchanged', readFileSync(join(home, '.bashrc'), 'utf8') === BASHRC],
    ['nothing reached the attacker\'s server', received === ''],
  ];
  console.log(`\n${bold('What the malicious build script of sneaky-helper achieved:')}`);
  if (app.stdout) console.log(app.stdout.replace(/^/gm, '  | '));
  for (const [what, ok] of checks) console.log(`  ${ok ? green('✔') : red('✘')} ${what}`);
  const failed = checks.filter(([, ok]) => !ok).length;
  console.log(failed ? red(`\n${failed} check(s) failed`) : green('\nThe attack was blocked; the real crates built.'));
  return failed ? 1 : 0;
}

main().then((code) => process.exit(code), (err: unknown) => {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
