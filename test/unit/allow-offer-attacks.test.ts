// What a malicious build script's output can make the denial notes and the prompt offer, and what
// a shipped config can make the editor do (review of issue 30's `cargo sandbox allow`, THREAT-MODEL
// case 128). The view is the one explainBuild builds (after-build.ts offerView): the default
// policy's masks and environment rules, the home, the workspace. Each attack has a control beside it.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'smol-toml';
import { EditError, mergeTable } from '../../src/config/config-edit.js';
import { blockedHints, proxyFindings, type HintContext } from '../../src/diagnostics/blocked-hints.js';
import { failureNotes, hintContext } from '../../src/diagnostics/failure-notes.js';
import { maybePrompt } from '../../src/diagnostics/allow-prompt.js';
import type { OfferView } from '../../src/diagnostics/allow-offers.js';
import { createReporter } from '../../src/diagnostics/style.js';
import { defaultPolicy } from '../../src/policy/default-policy.js';
import type { BuildScriptRun } from '../../src/intercept/session.js';

const home = '/home/u';
const ws = '/home/u/src/app';
const policy = defaultPolicy({ home, cargoHome: `${home}/.cargo`, rustupHome: `${home}/.rustup`, workspaceRoot: ws });
const view: OfferView = { home, masked: policy.masked, codeTrees: [], workspaceRoot: ws, realpath: (p) => p, envDeny: policy.env.deny };

function run(manifestDir: string, name = 'evil'): BuildScriptRun {
  return { launcherPath: '', envFile: '', startedAtMs: 0, findings: [], supervised: true, processRefusals: 0, packageName: name, packageVersion: '1.0.0', outDir: `${ws}/target/debug/build/${name}-1/out`, manifestDir };
}

/** What a failed script's stderr turns into: the help lines and the prompt's offers, as after-build.ts builds them. */
function offers(stderr: string, r: BuildScriptRun, env: Record<string, string>, exists: (p: string) => boolean) {
  const ctx: HintContext = { ...hintContext(policy, r, home, env), exists };
  return failureNotes([{ run: r, blocked: blockedHints(stderr, ctx) }], home, (x) => x.packageName, { view });
}

const REGISTRY_PKG = '/home/u/.cargo/registry/src/x/evil-1.0.0';

describe('what a failing build script can get offered', () => {
  test('a variable the sandbox removes as a secret is never offered (control: an ordinary one is)', () => {
    const env = { PATH: '/usr/bin', AWS_SECRET_ACCESS_KEY: 'k', CARGO_REGISTRY_TOKEN: 't', GITHUB_TOKEN: 'g', MYSDK_ROOT: '/srv/sdk' };
    const r = offers('error: AWS_SECRET_ACCESS_KEY CARGO_REGISTRY_TOKEN GITHUB_TOKEN MYSDK_ROOT not set\n', run(REGISTRY_PKG), env, () => false);
    assert.deepEqual(r.offers[0]?.request.env, ['MYSDK_ROOT'], r.help.join('\n'));
    assert.ok(!r.help.some((h) => /--env (AWS|CARGO_REGISTRY|GITHUB)/.test(h)), r.help.join('\n'));
    assert.ok(r.help.some((h) => /not offered.*`AWS_SECRET_ACCESS_KEY`.*a variable the sandbox removes as a secret/s.test(h)), r.help.join('\n'));
  });

  test('a host socket, or a path where the host keeps them, is never offered as a read (control: a plain file is)', () => {
    const sockets = ['/run/user/1000/bus', '/tmp/.X11-unix/X0', '/var/run/docker.sock', '/run/user/1000/gnupg/S.gpg-agent'];
    const stderr = [...sockets, '/srv/sdk/config.txt'].map((s) => `Error: No such file or directory (os error 2): ${s}`).join('\n');
    const r = offers(stderr, run(REGISTRY_PKG), { PATH: '/usr/bin' }, (p) => sockets.includes(p) || p === '/srv/sdk/config.txt');
    assert.deepEqual(r.offers[0]?.request.read, ['/srv/sdk/config.txt'], r.help.join('\n'));
    for (const s of sockets) assert.ok(r.help.some((h) => h.includes(`read \`${s}\``) && /sockets/.test(h)), `${s}:\n${r.help.join('\n')}`);
  });

  test('a write is never offered over the package\'s whole directory, a single-package workspace\'s root (control: a directory below it is)', () => {
    const exists = (p: string) => [ws, `${ws}/.git`, `${ws}/.git/hooks`, `${ws}/gen`, '/home/u', '/home', '/'].includes(p);
    const root = offers(`Error: Read-only file system (os error 30): ${ws}/generated/bindings.rs\n`, run(ws, 'app'), { PATH: '/usr/bin' }, exists);
    assert.equal(root.offers.length, 0, root.help.join('\n'));
    assert.ok(root.help.some((h) => /whole package directory/.test(h)), root.help.join('\n'));
    const below = offers(`Error: Read-only file system (os error 30): ${ws}/gen/bindings.rs\n`, run(ws, 'app'), { PATH: '/usr/bin' }, exists);
    assert.deepEqual(below.offers[0]?.request.write, ['~/src/app/gen'], below.help.join('\n'));
  });

  test('the prompt asks for neither the whole network nor this machine\'s services (control: a named host is asked)', async () => {
    const h = mkdtempSync(join(tmpdir(), 'cs-offer-attacks-'));
    const blocked = proxyFindings([
      { destination: '127.0.0.1:2375', allowed: false, reason: 'not in allow-network' },
      { destination: 'crates.io:443', allowed: false, reason: 'not in allow-network' },
    ]);
    const report = failureNotes([{ run: run('/x/evil'), blocked }], h, (x) => x.packageName, { view: { ...view, home: h } });
    let said = '';
    const reporter = createReporter({ color: false, write: (s) => void (said += s) });
    assert.equal(await maybePrompt(report.offers, { HOME: h }, h, h, reporter, () => 'y', { stdin: true, stderr: true }), 1, said);
    assert.match(said, /^Allow evil's build script to network crates\.io:443\? \[y\/N\] /m);
    assert.doesNotMatch(said, /Allow .*127\.0\.0\.1/);
    assert.match(said, /`127\.0\.0\.1:2375` \(this machine or its networks\) for `evil` is not asked here/);
    assert.equal(readFileSync(join(h, '.cargo', 'config.toml'), 'utf8'), '[sandbox.package.evil]\nallow-network = ["crates.io:443"]\n');
  });
});

describe('what a shipped config can make the editor do', () => {
  test('a table header spelled inside a multi-line string stops the edit (control: a plain file gets the grant where it says)', () => {
    const shipped = ['[sandbox.package.evil]', 'allow-read = ["""/opt/x', '[sandbox.package.good]', '"""]', ''].join('\n');
    assert.throws(() => mergeTable(shipped, ['sandbox', 'package', 'good'], [{ key: 'allow-network', value: ['crates.io:443'] }]), EditError);
    const plain = mergeTable('[sandbox.package.evil]\nallow-read = ["/opt/x"]\n', ['sandbox', 'package', 'good'], [{ key: 'allow-network', value: ['crates.io:443'] }]);
    const parsed = parse(plain.text) as { sandbox: { package: Record<string, Record<string, unknown>> } };
    assert.deepEqual(parsed.sandbox.package.good!['allow-network'], ['crates.io:443']);
    assert.equal(parsed.sandbox.package.evil!['allow-network'], undefined);
  });
});
