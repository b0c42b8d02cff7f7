// End-to-end test scaffolding: a fake user (home with secrets, its own CARGO_HOME), fixture
// workspaces copied into a scratch directory, and runs of the real CLI with real cargo.

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, type Dirent, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const CLI = join(REPO_ROOT, 'bin', 'cargo-sandbox');
export const FIXTURES = join(REPO_ROOT, 'test', 'fixtures');
export const DEBIAN_REGISTRY = '/usr/share/cargo/registry';

/**
 * The sandbox builder this run of the suite uses: the direct one (libexec/direct-sandbox.rs), or
 * bubblewrap under `CARGO_SANDBOX_BACKEND=bubblewrap npm test`.
 */
export const BUILDER: 'direct' | 'bubblewrap' = process.env.CARGO_SANDBOX_BACKEND === 'bubblewrap' ? 'bubblewrap' : 'direct';

/** strace's options for `tracedPrograms`: the execs, and the calls that show a sandbox being made. */
export const TRACE_SANDBOXING = ['-f', '-qq', '-e', 'trace=execve,clone,clone3,prctl', '-e', 'signal=none'];

/**
 * What a build did, in order, from an strace log made with TRACE_SANDBOXING: the file name of each
 * program exec'd (a failed exec, a PATH lookup that missed, is left out), `<namespaces>` where a
 * process was cloned into new namespaces (a PID namespace among them: a sandbox), `<seccomp>` where
 * a seccomp filter was installed (the supervisor confining the program it starts).
 */
export function tracedPrograms(log: string): string[] {
  return log.split('\n').flatMap((line) => {
    if (/\bclone3?\(.*CLONE_NEWPID/.test(line)) return ['<namespaces>'];
    if (/\bprctl\(PR_SET_SECCOMP, SECCOMP_MODE_FILTER/.test(line)) return ['<seccomp>'];
    const exec = /execve\("([^"]+)"/.exec(line);
    return exec && !/= -1 E[A-Z]+/.test(line) ? [basename(exec[1]!)] : [];
  });
}

/**
 * Whether, in `programs` (tracedPrograms), the build script ran in the sandbox: between its
 * launcher and the real script, a sandbox made (by the launcher itself, the direct builder in its
 * own process: entry/in_process.rs; or by bwrap) and the supervisor's seccomp filter installed
 * (the supervisor, which only the sandbox starts, runs in the sandbox's own process too with the
 * direct builder). Unsandboxed, the launcher execs the script.
 */
export function scriptRanSandboxed(programs: readonly string[]): boolean {
  const launcher = programs.indexOf('build-script-build');
  const script = programs.findIndex((p, i) => i > launcher && p.endsWith('.real'));
  if (launcher < 0 || script < 0) return false;
  const between = programs.slice(launcher + 1, script);
  const made = between.indexOf(BUILDER === 'bubblewrap' ? 'bwrap' : '<namespaces>');
  return made >= 0 && between.indexOf('<seccomp>') > made;
}

const realHome = process.env.HOME || homedir();
const realCargoHome = process.env.CARGO_HOME || join(realHome, '.cargo');
const realRustupHome = process.env.RUSTUP_HOME || join(realHome, '.rustup');

/** Secrets planted in the fake home; a test fails if any of them shows up where it must not. */
export const SECRETS = {
  sshKey: 'SSH-PRIVATE-KEY-7f3a9c',
  awsKey: 'AWS-SECRET-5d1e88',
  cargoToken: 'CARGO-CREDENTIAL-b41c07',
  gitCredential: 'GIT-CREDENTIAL-9e2f4a',
  netrc: 'NETRC-PASSWORD-c0ffee',
  kube: 'KUBE-TOKEN-77aa01',
  docker: 'DOCKER-AUTH-5e5e5e',
  gh: 'GH-OAUTH-TOKEN-abcd12',
  history: 'HISTORY-PASSWORD-0ff1ce',
  browser: 'BROWSER-LOGIN-4b1d00',
  npmrc: 'NPM-AUTH-TOKEN-9a9a9a',
  envGithubToken: 'ENV-GITHUB-TOKEN-31337',
  envAws: 'ENV-AWS-SECRET-42424',
  envRegistryToken: 'ENV-REGISTRY-TOKEN-8080',
  envCustom: 'ENV-MY-API-TOKEN-1234',
  /** Under a name no shell can spell (npm's per-registry token). */
  envOddName: 'ENV-NPM-ODD-NAME-TOKEN-5150',
  /** Held open by another process, through /proc/<pid>/fd only (the file itself is deleted). */
  openFile: 'OPEN-FILE-SECRET-5150',
  /** Left in the host's /tmp by another program. */
  tmpToken: 'TMP-TOKEN-7e7e7e',
  /** Only in the heap of another process (never in its environment or arguments), for ptrace to read. */
  ptrace: 'PTRACE-VICTIM-SECRET-6060',
  /** In the workspace's `.env` and a member's `.env.local`. */
  dotEnv: 'DOTENV-DATABASE-PASSWORD-6a6a6a',
  dotEnvMember: 'DOTENV-MEMBER-API-KEY-3c3c3c',
  /** What a CI checkout leaves in .git/config: an Authorization header, a token in the remote URL. */
  gitExtraheader: 'GIT-EXTRAHEADER-BASIC-d00d00',
  gitUrlToken: 'GIT-URL-TOKEN-feedbeef',
  /** An ordinary home file that no mask names: only "home is not mounted" keeps it out. */
  homeDocument: 'HOME-DOCUMENT-NOTES-2718',
} as const;

export const BASHRC = '# the user\'s own bashrc\nexport PS1="$ "\n';

export interface Scratch {
  root: string;
  home: string;
  cargoHome: string;
  /** Where the user's sockets live (ssh-agent, D-Bus, Docker): the root, or `/run/user/<uid>/...`. */
  runtimeDir: string;
  env: NodeJS.ProcessEnv;
}

/**
 * Where a scratch user lives. `tmp`: everything under /tmp (home at <root>/home), which the sandbox
 * replaces with a private tmpfs. `host`: as on a real machine, the home under /home with the workspace
 * inside it and the sockets under /run/user/<uid>, so a sandbox that bound /home or /run would show.
 */
export type Layout = 'tmp' | 'host';

// Every scratch directory goes when the test file's process exits (a full run leaves gigabytes
// otherwise); CARGO_SANDBOX_KEEP_TEST_DIRS=1 keeps them for a look after a failure.
const scratchDirs: string[] = [];
process.on('exit', () => {
  if (process.env.CARGO_SANDBOX_KEEP_TEST_DIRS) return;
  for (const dir of scratchDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // Paths longer than PATH_MAX (the long-path attack): rm walks them by descriptor.
      spawnSync('rm', ['-rf', '--', dir]);
    }
  }
});

/**
 * A fresh fake user. Its workspaces are trusted (CARGO_SANDBOX_TRUST_WORKSPACE: their own config,
 * with the grants tests write, applies) unless `untrusted`, as for a repository just cloned.
 */
export function makeScratch(label: string, opts: { layout?: Layout; untrusted?: boolean } = {}): Scratch {
  let root: string;
  let home: string;
  let runtimeDir: string;
  if (opts.layout === 'host') {
    root = home = mkdtempSync(`/home/cs-test-${label}-`);
    const userRuntime = `/run/user/${process.getuid?.() ?? 0}`;
    mkdirSync(userRuntime, { recursive: true, mode: 0o700 });
    runtimeDir = mkdtempSync(join(userRuntime, `cs-test-${label}-`));
    scratchDirs.push(root, runtimeDir);
  } else {
    root = runtimeDir = mkdtempSync(join(tmpdir(), `cs-test-${label}-`));
    home = join(root, 'home');
    scratchDirs.push(root);
  }
  const cargoHome = join(home, '.cargo');
  mkdirSync(join(home, '.ssh'), { recursive: true });
  writeFileSync(join(home, '.ssh', 'id_ed25519'), `-----BEGIN OPENSSH PRIVATE KEY-----\n${SECRETS.sshKey}\n`);
  mkdirSync(join(home, '.aws'));
  writeFileSync(join(home, '.aws', 'credentials'), `[default]\naws_secret_access_key = ${SECRETS.awsKey}\n`);
  writeFileSync(join(home, '.git-credentials'), `https://user:${SECRETS.gitCredential}@example.com\n`);
  writeFileSync(join(home, '.netrc'), `machine example.com login u password ${SECRETS.netrc}\n`);
  writeFileSync(join(home, '.bashrc'), BASHRC);
  const plant = (rel: string, text: string) => {
    mkdirSync(join(home, rel, '..'), { recursive: true });
    writeFileSync(join(home, rel), text);
  };
  plant('.kube/config', `users:\n- user:\n    token: ${SECRETS.kube}\n`);
  plant('.docker/config.json', `{"auths":{"registry.example":{"auth":"${SECRETS.docker}"}}}\n`);
  plant('.config/gh/hosts.yml', `git.example.com:\n  oauth_token: ${SECRETS.gh}\n`);
  plant('.bash_history', `mysql -u root -p${SECRETS.history}\n`);
  plant('.mozilla/firefox/abc.default/logins.json', `{"password":"${SECRETS.browser}"}\n`);
  plant('.npmrc', `//registry.npm.example/:_authToken=${SECRETS.npmrc}\n`);
  plant('Documents/notes.txt', `${SECRETS.homeDocument}\n`);
  mkdirSync(cargoHome);
  writeFileSync(join(cargoHome, 'credentials.toml'), `[registry]\ntoken = "${SECRETS.cargoToken}"\n`);
  // A registry crate's unpacked sources, which a build script would backdoor for later builds.
  plant('.cargo/registry/src/index.registry.example-1949cf8c6b5b557f/victim-reg-1.0.0/src/lib.rs', 'pub fn registry() {}\n');
  // The user's own ~/.cargo/bin (a directory an attack may plant into), holding links to the real tools.
  mkdirSync(join(cargoHome, 'bin'));
  for (const tool of readdirSync(join(realCargoHome, 'bin'))) symlinkSync(join(realCargoHome, 'bin', tool), join(cargoHome, 'bin', tool));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    CARGO_HOME: cargoHome,
    RUSTUP_HOME: realRustupHome,
    LANG: 'C.UTF-8',
    TERM: 'dumb',
    CARGO_TERM_COLOR: 'never',
    CARGO_TERM_PROGRESS_WHEN: 'never',
    GITHUB_TOKEN: SECRETS.envGithubToken,
    AWS_SECRET_ACCESS_KEY: SECRETS.envAws,
    CARGO_REGISTRY_TOKEN: SECRETS.envRegistryToken,
    MY_API_TOKEN: SECRETS.envCustom,
    'npm_config_//registry.npm.example/:_authToken': SECRETS.envOddName,
    SSH_AUTH_SOCK: join(runtimeDir, 'agent.sock'),
    ...(opts.layout === 'host' ? { XDG_RUNTIME_DIR: runtimeDir } : {}),
    ...(opts.untrusted ? {} : { CARGO_SANDBOX_TRUST_WORKSPACE: root }),
    // `CARGO_SANDBOX_BACKEND=bubblewrap npm test` runs the whole suite on the fallback builder.
    ...(process.env.CARGO_SANDBOX_BACKEND ? { CARGO_SANDBOX_BACKEND: process.env.CARGO_SANDBOX_BACKEND } : {}),
  };
  return { root, home, cargoHome, runtimeDir, env };
}

/** Copies a fixture workspace into the scratch dir; registry crates come from Debian's packages. */
export function copyFixture(scratch: Scratch, name: string, opts: { debianRegistry?: boolean } = {}): string {
  const dest = join(scratch.root, name);
  cpSync(join(FIXTURES, name), dest, { recursive: true });
  if (opts.debianRegistry) {
    mkdirSync(join(dest, '.cargo'), { recursive: true });
    writeFileSync(
      join(dest, '.cargo', 'config.toml'),
      `[source.crates-io]\nreplace-with = "debian"\n[source.debian]\ndirectory = "${DEBIAN_REGISTRY}"\n[net]\noffline = true\n`,
    );
  }
  return dest;
}

export interface RunResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command without blocking the event loop (test listeners keep serving meanwhile). */
export function run(
  program: string,
  args: readonly string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 900_000);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

export function runCli(args: readonly string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number }) {
  return run(CLI, args, opts);
}

export function runPlainCargo(args: readonly string[], opts: { cwd: string; env: NodeJS.ProcessEnv }) {
  return run('cargo', args, opts);
}

export function startCli(args: readonly string[], opts: { cwd: string; env: NodeJS.ProcessEnv }) {
  return spawn(CLI, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
}

/** Every entry below `dir` that is not a directory (symlinks not followed), minus what `skip` prunes. */
function walkEntries(dir: string, skip: (path: string) => boolean = () => false): { path: string; entry: Dirent }[] {
  const out: { path: string; entry: Dirent }[] = [];
  const visit = (d: string) => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (skip(p)) continue;
      if (e.isDirectory()) visit(p);
      else out.push({ path: p, entry: e });
    }
  };
  visit(dir);
  return out;
}

/** Every regular file below `dir`. */
export function walkFiles(dir: string): string[] {
  return walkEntries(dir).filter(({ entry }) => entry.isFile()).map(({ path }) => path);
}

/** Files below `dir` whose bytes contain `needle`. */
export function filesContaining(dir: string, needle: string): string[] {
  const bytes = Buffer.from(needle);
  return walkFiles(dir).filter((f) => statSync(f).size < 512 * 1024 * 1024 && readFileSync(f).includes(bytes));
}

export function isLauncher(path: string): boolean {
  return readFileSync(path).includes('cargo-sandbox build-script launcher');
}

/** Build-script binaries cargo runs (`build-script-build`) below a target dir. */
export function buildScriptEntries(targetDir: string): string[] {
  return walkFiles(targetDir).filter((f) => /\/build\/[^/]+\/build-script-[^/]+$/.test(f) && !f.endsWith('.d'));
}

/** Processes whose command line contains `marker`. */
export function processesWith(marker: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'latin1').includes(marker)) pids.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return pids;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** sha256 of every regular file below `dir` (symlinks recorded by target), for byte-identity checks. */
export function snapshot(dir: string, skip: (path: string) => boolean = () => false): Map<string, string> {
  const out = new Map<string, string>();
  for (const { path, entry } of walkEntries(dir, skip)) {
    if (entry.isSymbolicLink()) out.set(path, `-> ${readlinkSync(path)}`);
    else if (entry.isFile()) out.set(path, createHash('sha256').update(readFileSync(path)).digest('hex'));
    else out.set(path, 'special');
  }
  return out;
}

/** Paths added, removed or changed between two snapshots. */
export function snapshotDiff(before: Map<string, string>, after: Map<string, string>): string[] {
  const diff: string[] = [];
  for (const [p, h] of before) if (after.get(p) !== h) diff.push(after.has(p) ? `changed ${p}` : `removed ${p}`);
  for (const p of after.keys()) if (!before.has(p)) diff.push(`added ${p}`);
  return diff;
}

/**
 * Runs a command line as the user would paste it (`cargo sandbox allow ...` from a note), through
 * bash, with this checkout's `cargo-sandbox` on PATH for cargo to find as its `sandbox` subcommand.
 */
export function runPrinted(command: string, opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<RunResult> {
  const bin = mkdtempSync(join(tmpdir(), 'cs-printed-bin-'));
  scratchDirs.push(bin);
  symlinkSync(CLI, join(bin, 'cargo-sandbox'));
  return run('bash', ['-c', command], { ...opts, env: { ...opts.env, PATH: `${bin}:${opts.env.PATH ?? ''}` } });
}
