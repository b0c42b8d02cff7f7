// From the configuration and the locked packages to the policy files of a session: one per
// package that has grants of its own (per version where a grant names versions), plus a default.

import type { SandboxConfig } from '../config/types.js';
import type { LockedPackage } from '../config/lockfile.js';
import { effectiveGrants, grantsFingerprint, type EffectiveGrants, type StaticPathVars } from './effective.js';

export interface PackagePolicies {
  files: { file: string; grants: EffectiveGrants }[];
  fingerprints: { global: string; packages: Record<string, string> };
}

export function packagePolicies(config: SandboxConfig, locked: readonly LockedPackage[] | undefined, vars: StaticPathVars): PackagePolicies {
  const files: PackagePolicies['files'] = [{ file: '_default', grants: effectiveGrants(config, { name: '' }, vars) }];
  const fingerprints: PackagePolicies['fingerprints'] = {
    global: grantsFingerprint([config.global], vars),
    packages: {},
  };
  const names = [...new Set(config.packages.map((p) => p.spec.name))];
  for (const name of names) {
    const entries = config.packages.filter((p) => p.spec.name === name);
    fingerprints.packages[name] = grantsFingerprint(entries.map((e) => e.grants), vars);
    files.push({ file: name, grants: effectiveGrants(config, { name }, vars) });
    if (entries.some((e) => e.spec.versionReq)) {
      for (const pkg of locked?.filter((p) => p.name === name) ?? []) {
        files.push({ file: `${name}@${pkg.version}`, grants: effectiveGrants(config, pkg, vars) });
      }
    }
  }
  return { files, fingerprints };
}

