// Everything a sandboxed build needs to know before cargo starts, gathered once: cargo's config
// layers, the [sandbox] configuration with the command-line grants, the workspace, target dir and
// lockfile, and the default policy.

import { existsSync } from 'node:fs';
import { safeRealpath } from '../paths.js';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { cargoHome, loadConfigLayers, lookup, type ConfigLayer } from '../config/cargo-config.js';
import { readLockfile, type LockedPackage } from '../config/lockfile.js';
import { loadUserSourceConfigs, sourceFacts, verifiedLockfile, type SourceFacts } from '../config/source-replacement.js';
import { loadSandboxConfig, type ConfigIssue } from '../config/sandbox-config.js';
import { buildDir, cargoBuildDirectory, configuredTargetDir } from '../config/target-dir.js';
import type { Grants, SandboxConfig } from '../config/types.js';
import { didYouMean } from '../config/suggest.js';
import { findWorkspaceRoot } from '../config/workspace.js';
import { findWorkspaceSecrets, type WorkspaceSecrets } from '../config/workspace-secrets.js';
import { openTrustStore, type TrustStore } from '../config/trust-store.js';
import { loadWorkspaceFiles } from '../config/workspace-files.js';
import type { WorkspaceFile } from '../config/workspace-trust.js';
import { buildConfigPaths } from '../policy/build-config.js';
import { defaultPolicy, type SandboxPolicy } from '../policy/default-policy.js';
import { isPassed } from '../policy/environment.js';
import type { StaticPathVars } from '../policy/effective.js';
import type { CargoOptions } from './args.js';
import { applyGrantFlags, type GrantFlag } from './grant-flags.js';

export interface SandboxContext {
  cwd: string;
  home: string;
  env: NodeJS.ProcessEnv;
  layers: ConfigLayer[];
  workspaceRoot: string;
  /** Checksums cargo did not verify are left out (claimedChecksum): no pin matches them. */
  locked: LockedPackage[] | undefined;
  /** Who configures source replacement: what decides whether a Cargo.lock checksum is verified. */
  sourceFacts: SourceFacts;
  config: SandboxConfig;
  issues: ConfigIssue[];
  policy: SandboxPolicy;
  vars: StaticPathVars;
  /** Cargo's build directory, when configured apart from the target dir (target-dir.ts). */
  buildDir: string | undefined;
  /** Whether the user named the target dir (--target-dir, the variables, `build.target-dir`). */
  targetDirChosen: boolean;
  /** `.env` files and git config found in the workspace: what the policy hides or serves. */
  workspaceSecrets: WorkspaceSecrets;
  /** The workspace's own config and toolchain files, each trusted or not (workspace-trust.ts). */
  workspaceFiles: WorkspaceFile[];
  trustStore: TrustStore;
}

function firstFlag(g: Grants): string {
  const s = (g.allowNetwork ?? g.allowRead[0] ?? g.allowWrite[0] ?? g.allowEnv[0] ?? g.allowExec[0])?.source;
  return s?.kind === 'flag' ? s.flag : '--allow-*';
}

export async function loadContext(options: CargoOptions, grantFlags: readonly GrantFlag[], env: NodeJS.ProcessEnv, cwd = process.cwd()): Promise<SandboxContext> {
  const home = env.HOME || homedir();
  const cargoHomeDir = cargoHome(env, home);
  const foundWorkspace = findWorkspaceRoot(cwd, options.manifestPath);
  const workspaceRoot = foundWorkspace ?? cwd;
  const trustStore = openTrustStore(env, home);
  const workspaceFiles = await loadWorkspaceFiles({ cwd, cargoHomeDir, home, workspaceRoot, store: trustStore });
  // An untrusted file's [sandbox] tables are left out (listed as ignored before a build).
  const untrusted = new Set(workspaceFiles.filter((f) => f.trust !== 'trusted').map((f) => f.path));
  const isUntrusted = (l: ConfigLayer) => l.source.kind === 'file' && untrusted.has(l.source.path);
  const layers = (await loadConfigLayers({ cwd, cargoHomeDir, configArgs: options.configArgs })).map((l) => {
    if (l.rank !== 'file' || !isUntrusted(l)) return l;
    const { sandbox: _ignored, ...table } = l.table;
    return { ...l, table };
  });
  // The dependency graph matters only to per-package settings; reading it is skipped otherwise.
  const perPackage =
    layers.some((l) => lookup(l.table, ['sandbox', 'package']) !== undefined) ||
    Object.keys(env).some((k) => k.startsWith('CARGO_SANDBOX_PACKAGE_')) ||
    grantFlags.length > 0;
  const facts = sourceFacts(workspaceRoot, perPackage ? await loadUserSourceConfigs({ cwd, cargoHomeDir, home, configArgs: options.configArgs, workspaceRoot }) : [], workspaceFiles);
  const locked = perPackage ? verifiedLockfile(await readLockfile(workspaceRoot), facts) : undefined;
  const { config, issues } = loadSandboxConfig(layers, env, cwd, locked?.map((p) => p.name));
  const known = config.packages.map((p) => p.key);
  applyGrantFlags(config, grantFlags, cwd);
  // A flag for a package the graph does not have does nothing: said, as for config tables.
  const names = locked?.map((p) => p.name);
  for (const p of names ? config.packages.filter((p) => !known.includes(p.key) && !names.includes(p.spec.name)) : []) {
    const suggestion = didYouMean(p.spec.name, names!);
    const flag = firstFlag(p.grants);
    issues.push({ level: 'warning', message: `package \`${p.spec.name}\` is not in the dependency graph`, source: { kind: 'flag', flag }, help: suggestion ? [`did you mean \`${suggestion}\`?`] : ['its grants have no effect'] });
  }
  const chosenTargetDir = configuredTargetDir({ cwd, argTargetDir: options.targetDir, env, layers });
  const vars: StaticPathVars = {
    HOME: home,
    WORKSPACE_ROOT: workspaceRoot,
    TARGET_DIR: chosenTargetDir ?? resolve(workspaceRoot, 'target'),
  };
  const targetDirChosen = chosenTargetDir !== undefined;
  const workspaceSecrets = findWorkspaceSecrets(workspaceRoot, vars.TARGET_DIR);
  // Compilations are shown artifacts only there and in the target dir: never where an untrusted
  // file says (it could name the home, then list it in rustflags for rustc to read). The trust
  // check refuses such a file's build-dir anyway (trust-allowlist.ts); this holds without it.
  const configured = buildDir({ cwd, env, layers: layers.filter((l) => !isUntrusted(l)), workspaceRoot, cargoHome: cargoHomeDir });
  // A part only cargo computes (`{workspace-path-hash}`): asked of cargo; none if it cannot say.
  const cargoBuildDir = configured?.includes('{') ? cargoBuildDirectory({ cwd, env, manifestPath: options.manifestPath, configArgs: options.configArgs }) : configured;
  const base = defaultPolicy({
    home,
    cargoHome: cargoHomeDir,
    rustupHome: env.RUSTUP_HOME ? resolve(env.RUSTUP_HOME) : resolve(home, '.rustup'),
    workspaceRoot,
    workspaceSecrets,
  });
  // The user's own environment only: cargo's `[env]` (the workspace's) shows nothing.
  const buildConfig = buildConfigPaths(env, (name) => isPassed(base.env, name), { home, masked: base.masked, visible: [...base.system, ...base.etc, ...base.readOnly], exists: existsSync, realpath: safeRealpath });
  // With no workspace here (`cargo install --path P` from /tmp, an editor's server started in /),
  // the working directory is not shown: bound read-only over the private /tmp, it would leave the
  // compiler and the linker no writable temporary directory. What is built is shown by its own binds.
  const shown = foundWorkspace ? base.readOnly : base.readOnly.filter((p) => p !== workspaceRoot);
  const policy = { ...base, readOnly: [...shown, ...buildConfig.shown.map((s) => s.path)], buildConfig };
  return { cwd, home, env, layers, workspaceRoot, locked, sourceFacts: facts, config, issues, policy, vars, buildDir: cargoBuildDir, targetDirChosen, workspaceSecrets, workspaceFiles, trustStore };
}
