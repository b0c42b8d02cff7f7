// /etc by allow-list: a build script sees what builds need of /etc (the loader's cache and
// configuration, passwd, hosts, /etc/alternatives' links to the compiler...) and nothing else:
// not a service's credentials (`/etc/kubernetes/admin.conf`, `/etc/mysql/debian.cnf`), not a file
// no mask names. A grant of /etc shows it, with the host's secrets still masked. Plain cargo reads
// everything (control). Planting files in /etc needs root, as CI runs.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { copyFixture, makeScratch, runCli, runPlainCargo, walkFiles, type RunResult } from '../helpers/sandbox-env.js';

const TAG = `cs-etc-view-${process.pid}`;
/** The files planted for the test, each holding one line that must not reach a sandboxed script. */
const PLANTED = ['/etc/kubernetes/admin.conf', '/etc/mysql/debian.cnf', '/etc/cargo-sandbox-etc-view.conf'];
const marker = (path: string) => `ETC-SECRET-${TAG}-${path}`;

/** What one build script read: path -> its first line, or `error ...`. */
function readBy(ws: string, pkg: string, name = 'loot'): Map<string, string> | string {
  const file = walkFiles(join(ws, 'target')).find((p) => new RegExp(`/build/${pkg}-[0-9a-f]+/out/${name}$`).test(p));
  if (!file) return '';
  const text = readFileSync(file, 'utf8');
  if (name !== 'loot') return text;
  return new Map(text.split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)]));
}

const isRoot = process.getuid?.() === 0;

describe('/etc by allow-list', { concurrency: false, skip: isRoot ? false : 'needs root: the test plants files in /etc' }, () => {
  const created: string[] = [];
  let plain: { ws: string; result: RunResult };
  let sandboxed: { ws: string; result: RunResult };

  before(async () => {
    for (const path of PLANTED) {
      let dir = dirname(path);
      const missing: string[] = [];
      while (!existsSync(dir)) {
        missing.unshift(dir);
        dir = dirname(dir);
      }
      for (const d of missing) mkdirSync(d, { mode: 0o755 });
      assert.ok(!existsSync(path), `${path} exists on this host: the test would overwrite it`);
      created.push(missing[0] ?? path);
      writeFileSync(path, `${marker(path)}\n`, { mode: 0o644 });
    }
    const setUp = (label: string) => {
      const scratch = makeScratch(`etc-view-${label}`);
      const ws = copyFixture(scratch, 'etc-view');
      mkdirSync(join(ws, '.cargo'));
      writeFileSync(join(ws, '.cargo', 'config.toml'), '[sandbox.package.etc-probe-granted]\nallow-read = ["/etc"]\n');
      return { ws, env: scratch.env };
    };
    const p = setUp('plain');
    plain = { ws: p.ws, result: await runPlainCargo(['build'], { cwd: p.ws, env: p.env }) };
    const s = setUp('sandbox');
    sandboxed = { ws: s.ws, result: await runCli(['build'], { cwd: s.ws, env: s.env }) };
  });

  after(() => {
    for (const path of created) rmSync(path, { recursive: true, force: true });
  });

  test('plain cargo reads the planted files and /etc/shadow (control)', () => {
    assert.equal(plain.result.status, 0, plain.result.stderr);
    for (const pkg of ['etc-probe', 'etc-probe-granted']) {
      const read = readBy(plain.ws, pkg) as Map<string, string>;
      for (const path of PLANTED) assert.equal(read.get(path), marker(path), `${pkg}: ${path}`);
      assert.doesNotMatch(read.get('/etc/shadow') ?? 'error', /^error/, `${pkg}: /etc/shadow`);
    }
  });

  test('sandboxed, what is not on the allow-list is not there; what builds need is, and cc runs through /etc/alternatives', () => {
    assert.equal(sandboxed.result.status, 0, sandboxed.result.stderr);
    const read = readBy(sandboxed.ws, 'etc-probe') as Map<string, string>;
    for (const path of [...PLANTED, '/etc/shadow']) assert.match(read.get(path) ?? '', /^error .*No such file or directory/, path);
    for (const path of ['/etc/passwd', '/etc/hosts', '/etc/ld.so.conf']) {
      assert.equal(read.get(path), readFileSync(path, 'utf8').split('\n')[0], path);
    }
    assert.equal(readBy(sandboxed.ws, 'etc-probe', 'cc'), readBy(plain.ws, 'etc-probe', 'cc'));
    assert.match(readBy(sandboxed.ws, 'etc-probe', 'cc') as string, /\S/);
  });

  test('a grant of /etc shows what it holds, with the host\'s secrets still masked', () => {
    const read = readBy(sandboxed.ws, 'etc-probe-granted') as Map<string, string>;
    for (const path of PLANTED) assert.equal(read.get(path), marker(path), path);
    assert.match(read.get('/etc/shadow') ?? 'missing', /^$|^error/, '/etc/shadow');
    assert.notEqual(read.get('/etc/shadow'), readFileSync('/etc/shadow', 'utf8').split('\n')[0]);
  });
});
