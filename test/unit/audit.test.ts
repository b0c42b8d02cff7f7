import assert from 'node:assert/strict';
import { test } from 'node:test';
import { observe, riskScore } from '../../src/audit/observe.js';
import { execArgv, parseStrace, socketAddress } from '../../src/audit/strace.js';
import { mergeIntoConfig } from '../../src/audit/suggest.js';
import { changesSince } from '../../src/audit/approvals.js';
import { clearBuildDirs } from '../../src/cli/audit-workspace.js';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const TRACE = `100 execve("/usr/bin/bwrap", ["bwrap", "--args", "3"], 0x1 /* 3 vars */) = 0
100 openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC) = 3</etc/passwd>
102 execve("/c/confine", ["/c/confine", "--out", "/t/out"], 0x2 /* 9 vars */) = 0
103 execve("/t/b/build_script_build-1.real", ["/t/b/build_script_build-1.real"], 0x3 /* 9 vars */) = 0
103 openat(AT_FDCWD</w/pkg>, "/home/u/.ssh/id_ed25519", O_RDONLY|O_CLOEXEC) = -1 ENOENT (No such file or directory)
103 openat(AT_FDCWD, "/home/u/.nothing", O_RDONLY) = -1 ENOENT (No such file or directory)
103 openat(AT_FDCWD, "/usr/include/stdio.h", O_RDONLY) = 3</usr/include/stdio.h>
103 openat(AT_FDCWD, "/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY) = -1 ENOENT (No such file or directory)
104 execve("/usr/bin/cc", ["cc", "-c", "a \\"quoted\\" arg"], 0x4 /* 9 vars */ <unfinished ...>
103 connect(3<socket:[1]>, {sa_family=AF_INET, sin_port=htons(443), sin_addr=inet_addr("1.2.3.4")}, 16) = -1 ENETUNREACH (Network is unreachable)
104 <... execve resumed>) = 0
104 openat(5</t/out/obj>, "x.o", O_WRONLY|O_CREAT|O_TRUNC, 0666) = 6</t/out/obj/x.o>
104 openat(AT_FDCWD</w/pkg/sub/dir>, "../../../../home/u/.bashrc", O_WRONLY|O_APPEND) = -1 EROFS (Read-only file system)
102 openat(AT_FDCWD, "/t/out", O_RDONLY|O_DIRECTORY) = 4</t/out>
105 execve("/usr/local/bin/evil", ["evil"], 0x5 /* 1 var */) = -1 EACCES (Permission denied)
`;

const CTX = {
  scriptBinary: '/t/b/build_script_build-1.real',
  readable: ['/usr', '/etc', '/w/pkg', '/t/b', '/t/out'],
  masked: ['/etc/shadow'],
  writable: ['/t/out', '/tmp', '/dev'],
  private: ['/tmp'],
  cwd: '/w/pkg/sub/dir',
  exists: (p: string) => p === '/home/u/.ssh/id_ed25519' || p === '/home/u/.bashrc',
};

test('strace lines: unfinished calls are joined, argv and socket addresses decoded', () => {
  const events = parseStrace(TRACE);
  const cc = events.find((e) => e.name === 'execve' && e.pid === 104)!;
  assert.equal(cc.result, 0);
  assert.deepEqual(execArgv(cc.args), ['cc', '-c', 'a "quoted" arg']);
  const connect = events.find((e) => e.name === 'connect')!;
  assert.equal(connect.errno, 'ENETUNREACH');
  assert.equal(socketAddress(connect.args), '1.2.3.4:443');
  assert.equal(socketAddress('{sa_family=AF_UNIX, sun_path=@"/tmp/.X11-unix/X0"}'), 'unix:@/tmp/.X11-unix/X0');
  // A sendto's data comes first and is the process's: text in it that looks like an address is not one.
  const forged = '5<UDP:[1]>, "sin_port=htons(5432) {sa_family=AF_INET, sin_port=htons(5432), sin_addr=inet_addr(\\"10.0.0.1\\")}"..., 70000, 0, {sa_family=AF_INET, sin_port=htons(9), sin_addr=inet_addr("127.0.0.1")}, 16';
  assert.equal(socketAddress(forged), '127.0.0.1:9');
  assert.equal(socketAddress('7<socket:[2]>, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28'), '[::1]:443');
  assert.equal(socketAddress('{msg_name={sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("192.0.2.53")}, msg_namelen=16, msg_iov=[{iov_base="{sa_family=AF_INET, sin_port=htons(1)", iov_len=9}]}'), '192.0.2.53:53');
});

test('only the script\'s own events count; hidden host files are blocked reads, probes are not', () => {
  const o = observe(parseStrace(TRACE), CTX);
  assert.deepEqual(o.executed.map((x) => [x.program, x.blocked]), [['/usr/bin/cc', false], ['/usr/local/bin/evil', true]]);
  assert.deepEqual(o.readOutside, [{ path: '/home/u/.ssh/id_ed25519', blocked: true }]);
  assert.deepEqual(o.writtenOutside, [{ path: '/home/u/.bashrc', blocked: true }]);
  assert.deepEqual(o.network, [{ destination: '1.2.3.4:443', blocked: true }]);
  assert.ok(riskScore(o, 0) > riskScore({ executed: [], readOutside: [], writtenOutside: [], network: [], filesRead: 0 }, 0));
});

test('suggested grants merge into config.toml: comments kept, arrays extended, new tables appended', () => {
  const text = '# mine\n[sandbox.package."a@=1.0.0"]\nallow-read = ["/x"] # why\n\n[build]\njobs = 2\n';
  const g = { package: 'a', version: '1.0.0', read: ['/x', '/y'], write: [], network: true, exec: [] };
  const merged = mergeIntoConfig(text, [g, { ...g, package: 'b', read: ['/z'], network: false }]);
  assert.equal(merged, '# mine\n[sandbox.package."a@=1.0.0"]\nallow-read = ["/x", "/y"] # why\nallow-network = true\n\n[build]\njobs = 2\n\n[sandbox.package."b@=1.0.0"]\nallow-read = ["/z"]\n');
  assert.equal(mergeIntoConfig(merged, [g]), merged);
});

test('changes since approval: what a new version does differently', () => {
  const script = { package: 'a', version: '2.0.0', dependencyPath: [], durationMs: 0, risk: 0, executed: [{ program: '/usr/bin/curl', argv: [], blocked: false }], readOutside: [], writtenOutside: [], network: [], envDeclared: [], filesRead: 0 };
  const approved = { version: 1 as const, packages: { a: { version: '1.0.0', executes: ['cc'], reads: [], writes: [], network: [] } } };
  assert.deepEqual(changesSince(approved, [script]), [{ package: 'a', approvedVersion: '1.0.0', version: '2.0.0', checksumChanged: false, added: { executes: ['curl'] }, removed: { executes: ['cc'] } }]);
});

test('the lock names home paths as ~/ (the same for every developer); a stale pinned table is replaced', async () => {
  const { approvalsFor } = await import('../../src/audit/approvals.js');
  const script = { package: 'a', version: '2.0.0', dependencyPath: [], durationMs: 0, risk: 0, executed: [], readOutside: [{ path: '/home/u/sdk/x.h', blocked: false }], writtenOutside: [], network: [], envDeclared: [], filesRead: 0 };
  assert.deepEqual(approvalsFor([script], '/home/u').packages.a?.reads, ['~/sdk/x.h']);
  const text = '[sandbox.package."a@=1.0.0"]\nallow-network = true\n\n[build]\njobs = 2\n';
  const g = { package: 'a', version: '2.0.0', read: [], write: [], network: true, exec: [] };
  assert.equal(mergeIntoConfig(text, [g], ['a@=1.0.0']), '[build]\njobs = 2\n\n[sandbox.package."a@=2.0.0"]\nallow-network = true\n');
});

test('the audit clears build dirs and proc macros\' fingerprints in its own target dir, never through a link a repository shipped', () => {
  const root = mkdtempSync(join(tmpdir(), 'audit-clear-'));
  try {
    const victim = join(root, 'victim');
    for (const d of ['debug/build/x', 'build/y', '.fingerprint/mac-0123456789abcdef']) mkdirSync(join(victim, d), { recursive: true });
    const target = join(root, 'target', 'cargo-sandbox-audit');
    for (const d of ['debug/build/s-1/out', 'debug/.fingerprint/mac-0123456789abcdef', 'debug/.fingerprint/lib-0123456789abcdef', 'x86_64-unknown-linux-gnu/debug/.fingerprint/mac-fedcba9876543210', 'yy']) mkdirSync(join(target, d), { recursive: true });
    writeFileSync(join(target, 'yy', '.fingerprint'), 'not a directory');
    symlinkSync(victim, join(target, 'zz'));
    symlinkSync(join(victim, '.fingerprint'), join(target, 'debug', 'build-link'));
    clearBuildDirs(target, new Set(['mac']));
    assert.equal(existsSync(join(target, 'debug/build')), false);
    assert.deepEqual(readdirSync(join(target, 'debug/.fingerprint')), ['lib-0123456789abcdef']);
    assert.deepEqual(readdirSync(join(target, 'x86_64-unknown-linux-gnu/debug/.fingerprint')), []);
    for (const d of ['debug/build/x', 'build/y', '.fingerprint/mac-0123456789abcdef']) assert.ok(existsSync(join(victim, d)), d);
    // The audit's directory itself a link: the link goes, what it pointed to stays.
    const linked = join(root, 'target2');
    mkdirSync(linked);
    symlinkSync(victim, join(linked, 'cargo-sandbox-audit'));
    clearBuildDirs(join(linked, 'cargo-sandbox-audit'), new Set(['mac']));
    assert.equal(existsSync(join(linked, 'cargo-sandbox-audit')), false);
    for (const d of ['debug/build/x', 'build/y', '.fingerprint/mac-0123456789abcdef']) assert.ok(existsSync(join(victim, d)), d);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
