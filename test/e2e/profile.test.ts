// CARGO_SANDBOX_PROFILE=1: after the build, a note with each kind of sandboxed process and the
// median/p90 of each stage; without it, no profile is asked for (bubblewrap, seen through a
// wrapper of the test's, gets no `--profile-fd` and no file on it). And the direct builder runs in
// the entry points' own process.

import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BUILDER, CLI, copyFixture, makeScratch, run, runCli, TRACE_SANDBOXING, tracedPrograms } from '../helpers/sandbox-env.js';

const BWRAP = process.env.CARGO_SANDBOX_BWRAP || '/usr/bin/bwrap';
const STAGES = ['entry', 'namespaces+mounts', 'supervisor setup', 'program', 'teardown', 'total', 'program cpu', 'sandbox cpu'];

/** The note's rows: kind -> [count, [median, p90] per column of STAGES]. */
function rows(stderr: string): Map<string, { count: number; cells: [number, number][] }> {
  const lines = stderr.split('\n');
  const at = lines.findIndex((l) => /^note: sandbox profile \(CARGO_SANDBOX_PROFILE\), milliseconds, median\/p90 per process:$/.test(l));
  assert.ok(at >= 0, stderr);
  const header = lines[at + 1]!;
  let from = 0;
  for (const s of ['count', ...STAGES]) {
    const i = header.indexOf(s, from);
    assert.ok(i >= 0, `no column \`${s}\` in the summary:\n${header}`);
    from = i + s.length;
  }
  const result = new Map<string, { count: number; cells: [number, number][] }>();
  for (const line of lines.slice(at + 2)) {
    const m = /^ *(compilation|build script|rustdoc) +(\d+) +(.*)$/.exec(line);
    if (!m) break;
    const cells = m[3]!.trim().split(/ +/).map((c) => c.split('/').map(Number) as [number, number]);
    assert.equal(cells.length, STAGES.length, line);
    result.set(m[1]!, { count: Number(m[2]), cells });
  }
  return result;
}

describe('the per-stage profile', { concurrency: false }, () => {
  test('with CARGO_SANDBOX_PROFILE=1: every kind that ran, every stage, non-negative, adding up to the whole; without it, no profile file', async () => {
    const s = makeScratch('profile');
    const ws = copyFixture(s, 'tiny');
    const log = join(s.root, 'bwrap.log');
    const spy = join(s.root, 'bwrap-spy');
    // (No command substitution: its pipe would be the shell's next free descriptor, 7 for a launcher.)
    writeFileSync(spy, `#!/bin/sh\n{ printf 'args:'; printf ' %s' "$@"; printf '\\nfd7:'; readlink /proc/$$/fd/7; echo; } >> '${log}' 2>/dev/null\nexec '${BWRAP}' "$@"\n`);
    chmodSync(spy, 0o755);
    const env = { ...s.env, CARGO_SANDBOX_BWRAP: spy };

    const started = process.hrtime.bigint();
    const r = await runCli(['build'], { cwd: ws, env: { ...env, CARGO_SANDBOX_PROFILE: '1' } });
    const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /unused environment variable `CARGO_SANDBOX_PROFILE`/);
    const summary = rows(r.stderr);
    assert.deepEqual([...summary.keys()], ['compilation', 'build script'], r.stderr);
    for (const [kind, { count, cells }] of summary) {
      assert.ok(count >= 1, kind);
      for (const [i, [med, p90]] of cells.entries()) {
        assert.ok(med >= 0 && p90 >= med, `${kind} ${STAGES[i]}: ${med}/${p90}`);
      }
      const total = cells[5]![0];
      assert.ok(total > 0 && total < wallMs, `${kind}: a process took ${total} ms of a ${wallMs} ms run`);
      // bubblewrap's namespaces and mounts, and the program itself, take some time.
      assert.ok(cells[1]![0] > 0 && cells[3]![0] > 0, `${kind}: ${JSON.stringify(cells)}`);
    }
    // One build script: its stages add up to its total (each printed to 3 significant digits).
    const script = summary.get('build script')!;
    assert.equal(script.count, 1);
    const sum = script.cells.slice(0, 5).reduce((a, [m]) => a + m, 0);
    assert.ok(Math.abs(sum - script.cells[5]![0]) <= 0.05 * script.cells[5]![0] + 0.05, `stages add up to ${sum}, the total is ${script.cells[5]![0]}`);
    const profiled = readFileSync(log, 'utf8');
    assert.match(profiled, /^args:.* --profile-fd 7 .*$/m);
    assert.match(profiled, /^fd7:\/.*\/runs\/\d+\/profile-\d+$/m);

    // rustdoc, sandboxed as compilations are.
    const doc = await runCli(['doc'], { cwd: ws, env: { ...env, CARGO_SANDBOX_PROFILE: '1' } });
    assert.equal(doc.status, 0, doc.stderr);
    assert.ok(rows(doc.stderr).get('rustdoc')?.count === 1, doc.stderr);

    // Without the switch: nothing asked of the supervisor, no file handed to it, no note.
    rmSync(log);
    rmSync(join(ws, 'target'), { recursive: true });
    const plain = await runCli(['build'], { cwd: ws, env });
    assert.equal(plain.status, 0, plain.stderr);
    assert.doesNotMatch(plain.stderr, /sandbox profile/);
    assert.ok(existsSync(log));
    const unprofiled = readFileSync(log, 'utf8');
    assert.match(unprofiled, /^args:.* --args 3/m, 'bubblewrap did not run');
    assert.doesNotMatch(unprofiled, /--profile-fd/);
    assert.match(unprofiled, /^fd7:$/m);
    assert.doesNotMatch(unprofiled, /^fd7:./m);
  });

  // Issue 29: the direct builder's code, and the supervisor's, run in the entry points' own
  // processes (two execs less per sandboxed process); bubblewrap, the control, is exec'd and execs
  // the supervisor, so the trace does see both there.
  test('neither the direct builder nor the supervisor is exec\'d: the launcher and the rustc wrapper build the sandbox and confine its program themselves', { skip: BUILDER !== 'direct' && 'the suite runs on bubblewrap' }, async () => {
    const s = makeScratch('in-process');
    const ws = copyFixture(s, 'tiny');
    const events = async (env: NodeJS.ProcessEnv) => {
      const trace = join(s.root, 'execs');
      rmSync(join(ws, 'target'), { recursive: true, force: true });
      const r = await run('strace', [...TRACE_SANDBOXING, '-o', trace, CLI, 'build'], { cwd: ws, env });
      assert.equal(r.status, 0, r.stderr);
      return tracedPrograms(readFileSync(trace, 'utf8'));
    };
    const count = (xs: string[], p: (x: string) => boolean) => xs.filter(p).length;
    // (A first build runs the builder's probe, once per boot: not traced.)
    assert.equal((await runCli(['build'], { cwd: ws, env: s.env })).status, 0);
    const direct = await events(s.env);
    // The sandboxed processes ran (the script, rustc inside), each in a sandbox of its own and
    // confined by the supervisor's filter...
    assert.ok(direct.some((p) => p.endsWith('.real')), direct.join('\n'));
    assert.ok(count(direct, (p) => p === '<namespaces>') >= 2 && count(direct, (p) => p === '<seccomp>') >= 2, direct.join('\n'));
    // ...with no builder or supervisor program between the entry points and them.
    assert.deepEqual(direct.filter((p) => /direct-sandbox|bwrap|^confine-/.test(p)), []);
    const bubblewrap = await events({ ...s.env, CARGO_SANDBOX_BACKEND: 'bubblewrap' });
    assert.ok(count(bubblewrap, (p) => p === 'bwrap') >= 2 && count(bubblewrap, (p) => /^confine-[0-9a-f]{16}$/.test(p)) >= 2, bubblewrap.join('\n'));
  });
});
