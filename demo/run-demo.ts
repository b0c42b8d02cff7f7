// The demo: build a workspace whose dependencies include a malicious build script and real -sys
// crates, once with plain cargo and once through cargo-sandbox, each as a stand-in user whose
// throw-away home holds (fake) secrets; then show, side by side, what the attack achieved on the host.

import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
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

interface Outcome {
  built: boolean;
  linked: boolean;
  appOutput: string;
  leaked: boolean;
  bashrcChanged: boolean;
  received: string;
}

/**
 * One build of the demo workspace as a stand-in user (a throw-away home with fake secrets), with
 * plain cargo or through cargo-sandbox; what the attack achieved, judged on the host. Everything
 * it made (~250 MB, mostly target/) is removed afterwards (CARGO_SANDBOX_KEEP_DEMO=1 keeps it).
 */
async function attempt(sandboxed: boolean): Promise<Outcome> {
  const scratch = mkdtempSync(join(tmpdir(), `cargo-sandbox-demo-${sandboxed ? 'sandboxed' : 'plain'}-`));
  try {
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
    writeFileSync(join(ws, '.cargo/config.toml'), `[source.crates-io]\nreplace-with = "debian"\n[source.debian]\ndirectory = "${REGISTRY}"\n[net]\noffline = true\n`);
    let received = '';
    const server = createServer((c) => c.setEncoding('utf8').on('data', (d: string) => (received += d)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    writeFileSync(join(ws, 'exfil-port.txt'), String((server.address() as { port: number }).port));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      HOME: home,
      CARGO_HOME: join(home, '.cargo'),
      RUSTUP_HOME: process.env.RUSTUP_HOME || join(homedir(), '.rustup'),
      GITHUB_TOKEN: ENV_TOKEN,
    };
    console.log(bold(sandboxed ? '\n$ cargo sandbox build' : '\n$ cargo build          # plain cargo, in a throw-away home'));
    const build = sandboxed ? await run(join(ROOT, 'bin/cargo-sandbox'), ['build'], ws, env, true) : await run('cargo', ['build'], ws, env, true);
    await new Promise((r) => setTimeout(r, 200));
    server.close();
    const target = join(ws, 'target');
    const leaked = existsSync(target) && filesUnder(target).some((f) => statSync(f).size < 256 << 20 && [SSH_KEY, AWS_KEY, ENV_TOKEN].some((x) => readFileSync(f).includes(x)));
    const app = await run(join(target, 'debug/demo-app'), [], ws, env, false).catch(() => ({ code: 1, stdout: '' }));
    return {
      built: build.code === 0,
      linked: app.code === 0 && /linked OpenSSL/.test(app.stdout),
      appOutput: app.stdout,
      leaked,
      bashrcChanged: readFileSync(join(home, '.bashrc'), 'utf8') !== BASHRC,
      received,
    };
  } finally {
    if (process.env.CARGO_SANDBOX_KEEP_DEMO !== '1') rmSync(scratch, { recursive: true, force: true });
    else console.log(`  (kept: ${scratch})`);
  }
}

async function main(): Promise<number> {
  if (!existsSync(REGISTRY)) {
    console.error('error: Debian\'s crate registry is missing (/usr/share/cargo/registry)\nhelp: run `bash scripts/demo.sh`, which installs it');
    return 1;
  }
  console.log(bold('cargo-sandbox demo: the same workspace (real -sys crates, and sneaky-helper, whose build script'));
  console.log(bold('steals keys and tokens, appends to ~/.bashrc and phones home), built twice.'));
  const plain = await attempt(false);
  const sandboxed = await attempt(true);
  const rows: [string, (o: Outcome) => string, (o: Outcome) => boolean][] = [
    ['~/.ssh key, ~/.aws key, $GITHUB_TOKEN in target/', (o) => (o.leaked ? 'LEAKED' : 'no'), (o) => !o.leaked],
    ['~/.bashrc', (o) => (o.bashrcChanged ? 'BACKDOORED' : 'unchanged'), (o) => !o.bashrcChanged],
    ["sent to the attacker's server", (o) => (o.received ? `${o.received.length} bytes` : 'nothing'), (o) => !o.received],
    ['openssl-sys, libsqlite3-sys, libz-sys, ring... built', (o) => (o.built ? 'yes' : 'NO'), (o) => o.built],
    ['the app links the real libraries', (o) => (o.linked ? 'yes' : 'NO'), (o) => o.linked],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  console.log(`\n${bold(`${'What sneaky-helper achieved'.padEnd(width)}  ${'plain cargo'.padEnd(12)}  cargo sandbox`)}`);
  for (const [label, show, good] of rows) {
    const cell = (o: Outcome, pad: number) => (good(o) ? green : red)(show(o).padEnd(pad));
    console.log(`${label.padEnd(width)}  ${cell(plain, 12)}  ${cell(sandboxed, 0)}`);
  }
  if (plain.received) console.log(`\n  what plain cargo's build sent out: ${plain.received.slice(0, 160).replace(/\n/g, ' | ')}`);
  const attackWorked = plain.leaked && plain.bashrcChanged && plain.received !== '';
  const blocked = rows.every(([, , good]) => good(sandboxed));
  if (!attackWorked) console.log(red('\nthe attack did not work under plain cargo either: the demo shows nothing'));
  console.log(blocked ? green('\nUnder cargo sandbox the attack was blocked; the real crates built.') : red('\nUnder cargo sandbox something got through (see above)'));
  return blocked && attackWorked ? 0 : 1;
}

main().then((code) => process.exit(code), (err: unknown) => {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
