// From the configuration and the locked packages to the policy files of a session: one per
// package that has grants of its own (per version where a grant names versions), plus a default.

import type { SandboxConfig } from '../config/types.js';
import type { LockedPackage } from '../config/lockfile.js';
import { effectiveGrants, grantsFingerprint, packageMatches, type EffectiveGrants, type StaticPathVars } from './effective.js';

/**
 * The grants of one package, written as `packages/<file>.data` (records.json's `package` format): `_default` (global grants only),
 * `<name>` or `<name>@<version>`; the launcher takes the most specific file that exists.
 */
export interface PackagePolicyFile {
  file: string;
  grants: EffectiveGrants;
}

/** Variables cargo records as env-deps of build-script compilations: a change reruns the script. */
export interface PolicyFingerprints {
  global: string;
  /** By package name. */
  packages: Record<string, string>;
}

export interface PackagePolicies {
  files: PackagePolicyFile[];
  fingerprints: PolicyFingerprints;
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
    if (entries.some((e) => e.spec.versionReq || e.spec.checksum)) {
      // One file per version: the launcher knows a package by name and version only. Several
      // locked packages of one version (a git copy beside the registry's) may differ in sources:
      // then an approval pinned to a checksum applies to none of them, since it cannot be told
      // which one runs (the last written would otherwise lend its approval to the others).
      const versions = new Map<string, LockedPackage[]>();
      for (const pkg of locked?.filter((p) => p.name === name) ?? []) versions.set(pkg.version, [...(versions.get(pkg.version) ?? []), pkg]);
      for (const [version, same] of versions) {
        const pkg = same.every((p) => p.checksum === same[0]!.checksum) ? same[0]! : { name, version };
        files.push({ file: `${name}@${version}`, grants: effectiveGrants(config, pkg, vars) });
      }
    }
  }
  return { files, fingerprints };
}

/**
 * Approvals that no longer apply: pinned tables (`name@=version`, `checksum`) of a package whose
 * locked version or sources match none of them. Such a package runs with the default policy.
 */
export function staleApprovals(config: SandboxConfig, locked: readonly LockedPackage[] | undefined): { key: string; locked: LockedPackage }[] {
  const stale: { key: string; locked: LockedPackage }[] = [];
  for (const pkg of locked ?? []) {
    const pinned = config.packages.filter((p) => p.spec.name === pkg.name && (p.spec.versionReq || p.spec.checksum));
    if (pinned.length && !pinned.some((p) => packageMatches(p.spec, pkg))) stale.push({ key: pinned[pinned.length - 1]!.key, locked: pkg });
  }
  return stale;
}

