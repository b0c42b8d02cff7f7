// `cargo sandbox trust [--show | --list | --revoke]`: what the workspace's own config and toolchain
// files would run and grant, each key with file:line and the program it names; then (without
// --show) trusts those files as they are now. A change to any of them makes it untrusted again.

import { trustFindings, type TrustMode, type WorkspaceFile } from '../config/workspace-trust.js';
import { contextTrustMode } from '../diagnostics/trust.js';
import { canonicalRoot, TRUST_VARIABLE } from '../config/trust-store.js';
import { plural, UserError, type Reporter } from '../diagnostics/style.js';
import type { CargoOptions } from './args.js';
import { loadContext } from './context.js';
import { reportIssues } from '../diagnostics/config-issues.js';

export type TrustAction = 'trust' | 'show' | 'list' | 'revoke';

const STATE: Record<WorkspaceFile['trust'], string> = { trusted: 'trusted', changed: 'CHANGED since you trusted it', new: 'not trusted' };
const EFFECT = { refused: 'runs outside the sandbox', ignored: 'changes the sandbox', confined: 'applies inside the sandbox' } as const;

function describe(files: readonly WorkspaceFile[], mode: TrustMode): string {
  const out: string[] = [];
  for (const f of files) {
    out.push(`  ${f.path} (${f.kind === 'toolchain' ? "rustup's toolchain file" : 'cargo config'}; ${STATE[f.trust]})`);
    // As if untrusted, for every command: everything the file would do.
    const findings = trustFindings({ ...f, trust: 'new' }, mode);
    for (const x of findings) out.push(`      ${x.line ? `line ${x.line}: ` : ''}\`${x.key}\` ${x.what} [${x.unvetted ? 'refused until trusted' : EFFECT[x.effect]}]`);
    if (findings.length === 0) out.push('      nothing in it runs a program or changes the sandbox');
  }
  return `${out.join('\n')}\n`;
}

export async function runTrustCommand(action: TrustAction, options: CargoOptions, env: NodeJS.ProcessEnv, reporter: Reporter): Promise<number> {
  const ctx = await loadContext(options, [], env);
  const store = ctx.trustStore;
  if (action === 'list') {
    const all = store.list();
    if (all.length === 0) process.stdout.write(`no trusted workspaces (${store.path})\n`);
    for (const w of all) process.stdout.write(`${w.workspace} (trusted ${w.trustedAt})\n${w.files.map((f) => `  ${f}\n`).join('')}`);
    return 0;
  }
  const root = canonicalRoot(ctx.workspaceRoot);
  if (action === 'revoke') {
    if (!store.revoke(ctx.workspaceRoot)) {
      reporter.message('warning', `\`${root}\` was not trusted`);
      return 0;
    }
    reporter.message('note', `\`${root}\` is no longer trusted: its sandbox settings are ignored and what its configuration would run is refused`);
    return 0;
  }
  const files = ctx.workspaceFiles;
  if (files.length === 0) {
    process.stdout.write(`workspace ${root} has no config or toolchain file of its own: there is nothing to trust (your own configuration always applies)\n`);
    return 0;
  }
  process.stdout.write(`workspace ${root}: its own configuration\n${describe(files, contextTrustMode(ctx))}`);
  if (action === 'show') return 0;
  if (env[TRUST_VARIABLE]) throw new UserError(`${TRUST_VARIABLE} is set, which already trusts workspaces under \`${env[TRUST_VARIABLE]}\`; nothing was recorded`, [`unset it to record trust for this workspace`]);
  // What is trusted is read as it would be once trusted: a mistyped key is said now, not trusted.
  const asTrusted = await loadContext(options, [], { ...env, [TRUST_VARIABLE]: ctx.workspaceRoot });
  const errors = asTrusted.issues.filter((i) => i.level === 'error');
  if (errors.length) {
    reportIssues(reporter, errors);
    throw new UserError(`the workspace's configuration has ${plural(errors.length, 'error')} (above); nothing was recorded`, ['fix them, then run `cargo sandbox trust` again']);
  }
  store.record(ctx.workspaceRoot, files);
  reporter.message('note', `trusted ${plural(files.length, 'file')} of \`${root}\` as they are now (recorded in ${store.path}); a change to any of them makes it untrusted again`);
  return 0;
}
