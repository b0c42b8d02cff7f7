// max-processes for a user who is not root: the tool, started as uid 65534 inside a cgroup that is
// delegated to that user (owned by it, as `systemd-run --user --scope -p Delegate=yes` makes one),
// enforces the limit there; inside a cgroup that is not, it builds and says the limit is not
// enforced and how to get it. Nothing sandboxed can move itself out of its cgroup. Root makes both
// cgroups and starts each run in one (root's toolchain shown to the user in a private mount
// namespace, as install.test.ts does).

import assert from 'node:assert/strict';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { findDelegation, MAIN_LEAF, notDelegated, pidsHierarchy, type PidsHierarchy } from '../../src/backends/cgroup-delegation.js';
import { CLI, FIXTURES, makeScratch, run, runPlainCargo, sleep, walkFiles, type Scratch } from '../helpers/sandbox-env.js';

const NOBODY = 65534;
const CONFIG = '[sandbox.package.bomb]\nmax-processes = 64\n';

/** A build script that tries to leave its cgroup: into the delegated one, its leaf, the root. */
function escapeScript(delegated: string, mount: string): string {
  const targets = [join(delegated, 'cgroup.procs'), join(delegated, MAIN_LEAF, 'cgroup.procs'), join(mount, 'cgroup.procs')];
  return `use std::io::Write;
fn main() {
    let before = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mut report = String::new();
    for target in ${JSON.stringify(targets)} {
        let r = std::fs::OpenOptions::new().write(true).open(target).and_then(|mut f| f.write_all(b"0"));
        report += &format!("{target}: {}\\n", match r { Ok(()) => "MOVED".to_string(), Err(e) => e.to_string() });
    }
    let made = std::fs::create_dir(${JSON.stringify(join(delegated, 'escape'))});
    report += &format!("mkdir: {}\\n", match made { Ok(()) => "MADE".to_string(), Err(e) => e.to_string() });
    let after = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    report += &format!("same cgroup: {}\\n", before == after);
    std::fs::write(format!("{}/report", std::env::var("OUT_DIR").unwrap()), report).unwrap();
}
`;
}

/** Session cgroups are gone after a build: only the leaf our processes moved into (v2) is left. */
function leftovers(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory() && d.name !== MAIN_LEAF).map((d) => d.name);
}

function removeTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const d of readdirSync(dir, { withFileTypes: true })) if (d.isDirectory()) removeTree(join(dir, d.name));
  try {
    rmdirSync(dir);
  } catch {
    /* still busy: the kernel frees it when the last process leaves */
  }
}

describe('max-processes for a user who is not root, through a delegated cgroup', { concurrency: false }, () => {
  let h: PidsHierarchy | undefined;
  let skip: string | undefined;
  let s: Scratch;
  let home: string;
  let ws: string;
  let rust: string;
  const made: string[] = [];
  before(() => {
    if (process.getuid?.() !== 0) return void (skip = 'needs root to make a cgroup and switch to an unprivileged user');
    h = pidsHierarchy();
    if (!h) return void (skip = 'no pids controller on a cgroup file system here (/sys/fs/cgroup/pids, /sys/fs/cgroup)');
    // cgroup v2: the root cgroup hands pids to its children (as the tool does as root).
    if (h.v2 && !readFileSync(join(h.mount, 'cgroup.subtree_control'), 'utf8').includes('pids')) writeFileSync(join(h.mount, 'cgroup.subtree_control'), '+pids');
    s = makeScratch('delegated');
    chmodSync(s.root, 0o755);
    home = join(s.root, 'nobody');
    ws = join(home, 'ws');
    mkdirSync(join(ws, 'bomb/src'), { recursive: true });
    mkdirSync(join(ws, 'escape/src'), { recursive: true });
    mkdirSync(join(ws, '.cargo'));
    writeFileSync(join(ws, 'Cargo.toml'), '[workspace]\nresolver = "2"\nmembers = ["bomb", "escape"]\n');
    cpSync(join(FIXTURES, 'limits/bomb'), join(ws, 'bomb'), { recursive: true });
    writeFileSync(join(ws, 'escape/Cargo.toml'), '[package]\nname = "escape"\nversion = "0.1.0"\nedition = "2021"\n');
    writeFileSync(join(ws, 'escape/src/lib.rs'), '');
    writeFileSync(join(ws, '.cargo/config.toml'), CONFIG);
    rust = join(s.root, 'rust');
    for (const d of ['rustup', 'bin']) mkdirSync(join(rust, d), { recursive: true });
    chmodSync(rust, 0o755);
  });
  after(() => {
    for (const dir of made) removeTree(dir);
  });

  /** A cgroup for this test, beside the others at the hierarchy's root; `owner` gets it as systemd delegates one. */
  const cgroup = (name: string, owner?: number): string => {
    const dir = join(h!.mount, `cs-test-${name}-${process.pid}`);
    mkdirSync(dir);
    made.push(dir);
    if (owner !== undefined) for (const f of ['', 'cgroup.procs', ...(h!.v2 ? ['cgroup.subtree_control', 'cgroup.threads'] : ['tasks'])]) chownSync(join(dir, f), owner, owner);
    return dir;
  };
  const chownAll = (dir: string) => {
    chownSync(dir, NOBODY, NOBODY);
    for (const e of readdirSync(dir, { withFileTypes: true })) e.isDirectory() ? chownAll(join(dir, e.name)) : chownSync(join(dir, e.name), NOBODY, NOBODY);
  };
  /** `command` as uid 65534, started in `cg` (its leaf once the tool made one: a process of a v2 cgroup that hands pids down lives in a child). */
  const asNobody = (cg: string, command: string, into = h!.v2 && existsSync(join(cg, MAIN_LEAF)) ? join(cg, MAIN_LEAF) : cg) => {
    const realRustup = process.env.RUSTUP_HOME || join(homedir(), '.rustup');
    const realCargoBin = join(process.env.CARGO_HOME || join(homedir(), '.cargo'), 'bin');
    const script = `mount --bind "$0" "$1/rustup" && mount --bind "$2" "$1/bin" && echo $$ > "$6/cgroup.procs" && cd "$3" && exec setpriv --reuid ${NOBODY} --regid ${NOBODY} --clear-groups env -i HOME="$4" PATH="$1/bin:${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin" RUSTUP_HOME="$1/rustup" CARGO_HOME="$4/.cargo" CARGO_TERM_COLOR=never CARGO_TERM_PROGRESS_WHEN=never CARGO_SANDBOX_TRUST_WORKSPACE="$4" CLI="$7" sh -c "$5"`;
    return run('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, realRustup, rust, realCargoBin, ws, home, command, into, CLI], { cwd: s.root, env: process.env, timeoutMs: 300_000 });
  };

  test('in a cgroup delegated to the user: doctor says enforced, the fork bomb is refused, the note names max-processes, no session cgroup is left (control: plain cargo, same cgroup, all 400 start)', async (t) => {
    if (skip) return t.skip(skip);
    chownAll(home);
    const cg = cgroup('delegated', NOBODY);
    const doctor = await asNobody(cg, '"$CLI" doctor');
    assert.match(doctor.stdout, new RegExp(`^ok +max-processes +enforced \\(pids cgroups in the cgroup delegated to you, ${cg}\\)$`, 'm'), doctor.stdout + doctor.stderr);
    const plain = await asNobody(cg, 'cargo build -p bomb');
    assert.equal(plain.status, 0, plain.stderr);
    const r = await asNobody(cg, '"$CLI" build -p bomb');
    assert.equal(r.status, 101, r.stderr);
    assert.match(r.stderr, /fork bomb stopped after \d+ processes/);
    assert.match(r.stderr, /^note: it was refused \d+ new process\(es\) at its limit of 64 processes alive at once \(max-processes, \S+\/\.cargo\/config\.toml:2:1\)$/m);
    assert.doesNotMatch(r.stderr, /not enforced/);
    if (h!.v2) assert.ok(readFileSync(join(cg, 'cgroup.subtree_control'), 'utf8').includes('pids'), 'pids not handed to the children');
    // bwrap has exited; what it held in the pid namespace goes a moment later.
    for (let i = 0; i < 40 && leftovers(cg).length; i++) await sleep(50);
    assert.deepEqual(leftovers(cg), [], 'the session\'s cgroups were left');
    // Again, from the leaf (as from a shell in the scope): the front end (built by now) has Node
    // write a cached session, then replays it; its cgroups stay for the next run, in the same place.
    for (const round of ['written', 'replayed']) {
      const again = await asNobody(cg, '"$CLI" build -p bomb');
      assert.equal(again.status, 101, `${round}: ${again.stderr}`);
      assert.match(again.stderr, /^note: it was refused \d+ new process\(es\) at its limit of 64 processes alive at once \(max-processes, /m, round);
    }
    const sessions = join(home, '.cache/cargo-sandbox/sessions');
    const cached = readdirSync(sessions).filter((d) => existsSync(join(sessions, d, 'entry')) && existsSync(join(sessions, d, 'cgroup')));
    assert.equal(cached.length, 1, `no cached session with a cgroup: ${readdirSync(sessions).join(' ')}`);
    assert.deepEqual(leftovers(cg), [readFileSync(join(sessions, cached[0]!, 'cgroup'), 'utf8').slice(cg.length + 1)]);
  });

  test('a sandboxed build script cannot move itself out of its cgroup nor make one (control: the same user, outside, can)', async (t) => {
    if (skip) return t.skip(skip);
    const cg = cgroup('escape', NOBODY);
    writeFileSync(join(ws, 'escape/build.rs'), escapeScript(cg, h!.mount));
    chownAll(home);
    const control = await asNobody(cg, `mkdir "${join(cg, 'control')}" && echo 0 > "${join(cg, 'control/cgroup.procs')}" && grep -q '/control$' /proc/self/cgroup && echo moved`);
    assert.equal(control.stdout.trim(), 'moved', `control: the user cannot move itself in its own cgroup: ${control.stderr}`);
    const r = await asNobody(cg, '"$CLI" build -p escape');
    assert.equal(r.status, 0, r.stderr);
    const report = walkFiles(join(ws, 'target')).find((f) => /\/build\/escape-[^/]+\/out\/report$/.test(f));
    assert.ok(report, 'the script did not run');
    const text = readFileSync(report, 'utf8');
    assert.doesNotMatch(text, /MOVED|MADE/, text);
    assert.match(text, /^same cgroup: true$/m, text);
    assert.ok(!existsSync(join(cg, 'escape')));
  });

  test('in a cgroup not delegated (root\'s): it builds, and doctor, policy and the build say max-processes is not enforced and how to get it', async (t) => {
    if (skip) return t.skip(skip);
    chownAll(home);
    const cg = cgroup('not-delegated');
    const doctor = await asNobody(cg, '"$CLI" doctor');
    assert.match(doctor.stdout, new RegExp(`^warn max-processes +not enforced: the cgroup this runs in, ${cg}, is not delegated to you: it is owned by uid 0, not by you \\(uid ${NOBODY}\\)$`, 'm'), doctor.stdout + doctor.stderr);
    assert.match(doctor.stderr, /^help: run the build in a cgroup delegated to you: `systemd-run --user --scope -p Delegate=yes cargo sandbox build`/m);
    assert.match(doctor.stderr, /^help: or run cargo-sandbox as root$/m);
    const policy = await asNobody(cg, '"$CLI" policy bomb');
    assert.equal(policy.status, 0, policy.stderr);
    assert.match(policy.stdout, /^ {2}max-processes: {2}64 \(\S+\/\.cargo\/config\.toml:2:1\)\n {18}NOT enforced here: the cgroup this runs in, \S+, is not delegated to you: .*\n {18}run the build in a cgroup delegated to you: `systemd-run --user --scope -p Delegate=yes cargo sandbox build`/m);
    assert.match(policy.stderr, /^note: max-processes is not enforced here: /m);
    const json = JSON.parse((await asNobody(cg, '"$CLI" policy --format json')).stdout) as { maxProcesses: { enforced: boolean; why?: string; fix?: string[] } };
    assert.equal(json.maxProcesses.enforced, false);
    assert.match(json.maxProcesses.why ?? '', /is not delegated to you/);
    assert.match(json.maxProcesses.fix?.[0] ?? '', /systemd-run --user --scope -p Delegate=yes/);
    const r = await asNobody(cg, '"$CLI" build -p bomb');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^warning: max-processes \(\S+\/\.cargo\/config\.toml:2:1\) is not enforced here: the cgroup this runs in, \S+, is not delegated to you: it is owned by uid 0/m);
    assert.match(r.stderr, /^help: run the build in a cgroup delegated to you: `systemd-run --user --scope -p Delegate=yes cargo sandbox build`/m);
    assert.deepEqual(leftovers(cg), []);
  });

  test('only a cgroup the user alone can write is taken as delegated: not one others can write, nor one whose procs file is root\'s, nor the root cgroup', (t) => {
    if (skip) return t.skip(skip);
    const cg = cgroup('half', NOBODY);
    assert.equal(notDelegated(h!, cg, NOBODY), undefined);
    assert.match(notDelegated(h!, cg, 1000) ?? '', /^it is owned by uid 65534, not by you \(uid 1000\)$/);
    chmodSync(cg, 0o775);
    assert.match(notDelegated(h!, cg, NOBODY) ?? '', /^it is writable by others \(mode 775\)$/);
    chmodSync(cg, 0o755);
    chownSync(join(cg, 'cgroup.procs'), 0, 0);
    assert.match(notDelegated(h!, cg, NOBODY) ?? '', /^cgroup\.procs is owned by uid 0/);
    assert.match(notDelegated(h!, '/tmp', NOBODY) ?? '', /not on a cgroup file system/);
    const line = h!.v2 ? '0::' : '1:pids:';
    assert.deepEqual(findDelegation(h!, NOBODY, `${line}/\n`), { ok: false, why: 'it is the root cgroup', dir: h!.mount });
    assert.equal(findDelegation(h!, NOBODY, `${line}/${cg.slice(h!.mount.length + 1)} (deleted)\n`).ok, false);
    assert.deepEqual(findDelegation(h!, 0, `${line}/${cg.slice(h!.mount.length + 1)}\n`), { ok: false, why: 'it is owned by uid 65534, not by you (uid 0)', dir: cg });
  });

  test('cgroup v2: a delegated cgroup that cannot be set up (a leaf that is not the user\'s) is said on the build, which runs without the limit', async (t) => {
    if (skip) return t.skip(skip);
    if (!h!.v2) return t.skip('cgroup v1 needs no leaf: nothing to set up that could fail');
    chownAll(home);
    const cg = cgroup('broken', NOBODY);
    mkdirSync(join(cg, MAIN_LEAF)); // root's
    const r = await asNobody(cg, '"$CLI" build -p bomb', cg);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`^warning: max-processes is not enforced in this build: the pids cgroup ${cg}/\\S+ could not be set up: ${cg}/${MAIN_LEAF} is not a cgroup of yours$`, 'm'));
    assert.deepEqual(leftovers(cg), []);
  });
});
