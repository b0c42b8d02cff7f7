// Attacks that break their own package under the sandbox, or need a terminal: one cargo run
// each, every one with a plain-cargo control that shows it works unsandboxed.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { lootOf, outFile, ranReport, soloWorkspace } from '../helpers/attack-env.js';
import { CLI, filesContaining, run, runCli, runPlainCargo, SECRETS, type RunResult, type Scratch } from '../helpers/sandbox-env.js';

/** Runs `command` (sh) on a new pseudo-terminal; then reads one line typed into it, as a shell would. */
function inTerminal(command: string, typedFile: string, opts: { cwd: string; env: NodeJS.ProcessEnv }): Promise<RunResult> {
  const py = `
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execvp('bash', ['bash', '-c', sys.argv[1] + '; read -r -t 2 line; printf "%s" "$line" > "$0"', sys.argv[2]])
out = b''
while True:
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode('utf-8', 'replace'))
sys.exit(os.waitstatus_to_exitcode(status))
`;
  return run('python3', ['-c', py, command, typedFile], opts);
}

describe('attacks that break their own package, or need a terminal (one cargo run each)', { concurrency: false }, () => {
  interface Solo {
    scratch: Scratch;
    ws: string;
    result: RunResult;
    typed: string;
  }
  async function solo(mode: 'sandbox' | 'plain', pkg: string): Promise<Solo> {
    const { scratch, ws } = soloWorkspace(`solo-${mode}`);
    const cargo = mode === 'sandbox' ? [CLI] : ['cargo'];
    const typedFile = join(scratch.root, 'typed');
    const opts = { cwd: ws, env: scratch.env };
    const result = pkg === 'attack-tiocsti'
      ? await inTerminal(`${cargo.join(' ')} build -p ${pkg}`, typedFile, opts)
      : mode === 'sandbox' ? await runCli(['build', '-p', pkg], opts) : await runPlainCargo(['build', '-p', pkg], opts);
    return { scratch, ws, result, typed: existsSync(typedFile) ? readFileSync(typedFile, 'utf8') : '' };
  }

  test('a symlink planted in OUT_DIR is removed before rustc can follow it to ~/.ssh (control: the key is compiled in)', async () => {
    const plain = await solo('plain', 'attack-symlink-include');
    assert.ok(filesContaining(join(plain.ws, 'target'), SECRETS.sshKey).length > 0, 'plain: the key was not compiled in');
    const s = await solo('sandbox', 'attack-symlink-include');
    assert.match(ranReport(s.ws, 'attack-symlink-include') ?? '', /symlink-include Ok/);
    assert.deepEqual(filesContaining(join(s.ws, 'target'), SECRETS.sshKey), []);
    assert.notEqual(s.result.status, 0);
    assert.match(s.result.stderr, /^warning: the build script of `attack-symlink-include v0\.1\.0` left a symlink `\S+\/out\/key` -> `\S+\/\.ssh\/id_ed25519` leading out of its OUT_DIR; it was removed/m);
  });

  test('a crate that include_str!s ~/.ssh/id_ed25519 (rustc reads it, not the build script) fails to compile, and the key is nowhere in target/ (control: compiled in)', async () => {
    const pkg = 'attack-include-host';
    const plain = await solo('plain', pkg);
    assert.equal(plain.result.status, 0, plain.result.stderr);
    assert.ok(filesContaining(join(plain.ws, 'target'), SECRETS.sshKey).length > 0, 'plain: the key was not compiled in');
    const s = await solo('sandbox', pkg);
    assert.match(ranReport(s.ws, pkg) ?? '', /include-host Ok/, 'the attack did not write its code');
    assert.notEqual(s.result.status, 0);
    assert.match(s.result.stderr, /couldn't read `\S+\/\.ssh\/id_ed25519`/);
    assert.deepEqual(filesContaining(join(s.ws, 'target'), SECRETS.sshKey), []);
  });

  test('a crate that include_bytes!s /proc/self/environ gets rustc\'s scrubbed environment: no token in target/ (control: the tokens are compiled in)', async () => {
    const pkg = 'attack-include-environ';
    const plain = await solo('plain', pkg);
    assert.equal(plain.result.status, 0, plain.result.stderr);
    assert.ok(filesContaining(join(plain.ws, 'target'), SECRETS.envAws).length > 0, 'plain: the environment was not compiled in');
    const s = await solo('sandbox', pkg);
    assert.equal(s.result.status, 0, s.result.stderr);
    assert.ok(ranReport(s.ws, pkg), 'the attack did not run');
    for (const secret of [SECRETS.envAws, SECRETS.envGithubToken, SECRETS.envRegistryToken, SECRETS.envCustom]) {
      assert.deepEqual(filesContaining(join(s.ws, 'target'), secret), [], secret);
    }
  });

  test('the kernel keyring of the session that started cargo: neither its keys nor their names reach a build script (control: it reads the secret)', async () => {
    const secret = 'KEYRING-SECRET-8d8d';
    // cargo runs in a new session keyring holding a user key, as a login session's keyring would.
    const inKeyring = (argv: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }) =>
      run('python3', ['-c', `import ctypes, os, sys
libc = ctypes.CDLL(None); libc.syscall.restype = ctypes.c_long
assert libc.syscall(250, 1, None) > 0  # KEYCTL_JOIN_SESSION_KEYRING
assert libc.syscall(248, b"user", b"cs-test-secret", b"${secret}", ${secret.length}, -3) > 0  # add_key to @s
os.execvp(sys.argv[1], sys.argv[1:])`, ...argv], opts);
    const p = soloWorkspace('keyring-plain');
    const plain = await inKeyring(['cargo', 'build', '-p', 'attack-keyring'], { cwd: p.ws, env: p.scratch.env });
    assert.equal(plain.status, 0, plain.stderr);
    assert.ok(lootOf(p.ws, 'attack-keyring').includes(secret), `plain: the key was not read: ${ranReport(p.ws, 'attack-keyring')}`);
    const s = soloWorkspace('keyring');
    const r = await inKeyring([CLI, 'build', '-p', 'attack-keyring'], { cwd: s.ws, env: s.scratch.env });
    assert.equal(r.status, 0, r.stderr);
    assert.match(ranReport(s.ws, 'attack-keyring') ?? '', /keyctl search=-1/);
    assert.doesNotMatch(lootOf(s.ws, 'attack-keyring'), /KEYRING-SECRET|cs-test-secret/);
  });

  for (const [pkg, variable, marker] of [
    ['attack-rustc-env-preload', 'LD_PRELOAD', 'PWNED-BY-LD_PRELOAD'],
    ['attack-rustc-env-path', 'PATH', 'PWNED-BY-PATH'],
    // Whitespace before `cargo:`, which cargo trims (the check once did not).
    ['attack-rustc-env-spaced', 'LD_PRELOAD', 'PWNED-BY-LD_PRELOAD'],
  ] as const) {
    test(`cargo:rustc-env=${variable} from ${pkg} (code run by rustc, outside the sandbox) is refused (control: it runs)`, async () => {
      const plain = await solo('plain', pkg);
      assert.ok(existsSync(join(plain.scratch.home, marker)), `plain: ${marker} was not created`);
      const s = await solo('sandbox', pkg);
      assert.equal(existsSync(join(s.scratch.home, marker)), false);
      assert.equal(s.result.status, 101);
      assert.match(s.result.stderr, new RegExp(`^note: it asked cargo to set \`${variable}\` for rustc`, 'm'));
    });
  }

  test('the build script cannot kill the cargo that runs it (control: cargo dies)', async () => {
    const plain = await solo('plain', 'attack-signal-parent');
    assert.equal(plain.result.signal, 'SIGKILL', `plain: cargo was not killed (${plain.result.status})`);
    assert.ok(ranReport(plain.ws, 'attack-signal-parent'), 'plain: the attack did not run');
    const s = await solo('sandbox', 'attack-signal-parent');
    assert.equal(s.result.status, 0, s.result.stderr);
    assert.ok(ranReport(s.ws, 'attack-signal-parent'), 'the attack did not run');
    assert.match(outFile(s.ws, 'attack-signal-parent', 'signals') ?? '', /^targets=[1-9]\d* delivered=0$/);
  });

  test('no keystrokes are pushed into the user\'s terminal with TIOCSTI (control: the shell reads them)', async () => {
    const plain = await solo('plain', 'attack-tiocsti');
    assert.equal(plain.typed, 'echo PWNED-BY-TIOCSTI', plain.result.stdout);
    const s = await solo('sandbox', 'attack-tiocsti');
    assert.equal(s.result.status, 0, s.result.stdout);
    assert.match(ranReport(s.ws, 'attack-tiocsti') ?? '', /injected=0/);
    assert.equal(s.typed, '');
  });
});
