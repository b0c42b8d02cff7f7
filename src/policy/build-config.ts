// The files and directories that build-configuration variables (environment.ts, BUILD_CONFIG_VARS)
// name, shown read-only — unless the path is the home directory (or above it), the root, or
// inside a secret the sandbox hides.
// Pure: the host comes in through `HostPaths`. Only the user's own environment counts (cargo's
// `[env]` table, which a workspace controls, never makes anything visible).

import { dirname, isAbsolute, resolve } from 'node:path';
import { isInside } from '../paths.js';
import { BUILD_CONFIG_VARS, globMatch, type PathForm } from './environment.js';

export interface HostPaths {
  home: string;
  /** Secrets the sandbox hides: nothing inside one is shown. */
  masked: readonly string[];
  /** Trees the sandbox shows anyway (the system, the toolchain, the workspace): not repeated. */
  visible: readonly string[];
  exists(path: string): boolean;
  /** Where a path really is (links resolved; itself when it cannot be resolved). */
  realpath(path: string): string;
}

export interface ShownPath {
  variable: string;
  path: string;
}

export interface SkippedPath extends ShownPath {
  why: string;
}

/** The paths a value names, as written. */
function namedPaths(value: string, form: PathForm): string[] {
  switch (form) {
    case 'list':
      return value.split(':').filter(Boolean);
    case 'path':
    case 'program':
      return [value];
    case 'flags': {
      // `-I/x`, `-L/x`, `-isystem /x`, `--sysroot=/x`, `/x/libfoo.a`: the absolute path in each word.
      return value.split(/\s+/).map((w) => w.replace(/^-[A-Za-z-]*=?/, '')).filter((w) => w.startsWith('/'));
    }
    case 'none':
      return [];
  }
}

function formOf(name: string): PathForm | undefined {
  let found: PathForm | undefined;
  for (const g of BUILD_CONFIG_VARS) {
    for (const [pattern, form] of g.vars) {
      // The exact name says more than a pattern (`PYO3_PYTHON` before `PYO3_*`).
      if (pattern === name) return form;
      if (found === undefined && globMatch(pattern, name)) found = form;
    }
  }
  return found;
}

/**
 * What the sandbox shows read-only for the build-configuration variables set in `env` (only
 * those `passes` lets through), and what it does not show, with why. A program shows its
 * prefix (`X` for `X/bin/prog`) where it is and where its link leads (a virtualenv's python).
 */
export function buildConfigPaths(env: Record<string, string | undefined>, passes: (name: string) => boolean, host: HostPaths): { shown: ShownPath[]; skipped: SkippedPath[] } {
  const shown: ShownPath[] = [];
  const skipped: SkippedPath[] = [];
  for (const [variable, value] of Object.entries(env).sort(([a], [b]) => a.localeCompare(b))) {
    const form = value ? formOf(variable) : undefined;
    if (!form || !value || !passes(variable)) continue;
    for (const written of namedPaths(value, form)) {
      if (!isAbsolute(written)) continue;
      const path = resolve(written);
      const candidates = form === 'program' ? [path, host.realpath(path)].map(prefixOf) : [path];
      for (const p of new Set(candidates)) {
        // Shown where it really is: a link (a `.venv` a repository ships, leading into ~/.ssh) is
        // judged by what it leads to.
        const real = host.realpath(p);
        const why = refusal(p, host) ?? refusal(real, host);
        if (why) skipped.push({ variable, path: p, why });
        else if (!shown.some((s) => s.path === real) && !host.visible.some((v) => isInside(real, v))) shown.push({ variable, path: real });
      }
    }
  }
  return { shown, skipped };
}

/** `X` for `X/bin/prog` (the install it belongs to), else the program's directory. */
function prefixOf(program: string): string {
  const dir = dirname(program);
  return /\/s?bin$/.test(dir) ? dirname(dir) : dir;
}

function refusal(path: string, host: HostPaths): string | undefined {
  if (!host.exists(path)) return 'it does not exist';
  if (path === '/' || isInside(host.home, path)) return 'it would show your whole home directory';
  if (host.masked.some((m) => isInside(path, m))) return 'it is inside a secret the sandbox hides';
  return undefined;
}
