// The workspace an audit observes, from `cargo metadata`, and the audit's own target directory made
// ready so that every build script and every proc macro runs again.

import { spawnSync } from 'node:child_process';
import { lstatSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../diagnostics/style.js';
import type { AuditInvocation } from './audit.js';
import { cargoCommand } from './run-cargo.js';

export interface Metadata {
  targetDir: string;
  workspaceRoot: string;
  /** Packages with a build script, by `name version`, with the path that pulls each in. */
  scripts: Map<string, string[]>;
  /** Names of the packages with a proc-macro library. */
  procMacros: Set<string>;
}

export function cargoMetadata(inv: AuditInvocation, env: NodeJS.ProcessEnv): Metadata {
  const { program, prefix } = cargoCommand(inv.toolchain, env);
  const args = [...prefix, 'metadata', '--format-version', '1', ...(inv.options.manifestPath ? ['--manifest-path', inv.options.manifestPath] : [])];
  const r = spawnSync(program, args, { env, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new UserError('`cargo metadata` failed; nothing was audited', [(r.stderr ?? '').trim().split('\n').slice(-5).join('\n')]);
  const meta = JSON.parse(r.stdout) as {
    target_directory: string;
    workspace_root: string;
    workspace_members: string[];
    packages: { id: string; name: string; version: string; targets: { kind: string[] }[] }[];
    resolve: { nodes: { id: string; deps: { pkg: string }[] }[] } | null;
  };
  const byId = new Map(meta.packages.map((p) => [p.id, p]));
  const label = (id: string) => `${byId.get(id)?.name} ${byId.get(id)?.version}`;
  const edges = new Map((meta.resolve?.nodes ?? []).map((n) => [n.id, n.deps.map((d) => d.pkg)]));
  const via = new Map<string, string | null>(meta.workspace_members.map((m) => [m, null]));
  const queue = [...meta.workspace_members];
  while (queue.length) {
    const id = queue.shift()!;
    for (const dep of edges.get(id) ?? []) {
      if (!via.has(dep)) {
        via.set(dep, id);
        queue.push(dep);
      }
    }
  }
  const scripts = new Map<string, string[]>();
  for (const id of via.keys()) {
    const p = byId.get(id);
    if (!p?.targets.some((t) => t.kind.includes('custom-build'))) continue;
    const path: string[] = [];
    for (let at: string | null | undefined = id; at; at = via.get(at)) path.unshift(label(at));
    scripts.set(label(id), path);
  }
  const procMacros = new Set(meta.packages.filter((p) => via.has(p.id) && p.targets.some((t) => t.kind.includes('proc-macro'))).map((p) => p.name));
  return { targetDir: meta.target_directory, workspaceRoot: meta.workspace_root, scripts, procMacros };
}

/**
 * Build scripts skip work their OUT_DIR already holds (ring keeps its objects): each audit starts
 * from empty build directories, `<target>/<profile>/build` and `<target>/<triple>/<profile>/build`.
 * Proc macros run only when a crate that uses them compiles: their fingerprints go too (cargo's
 * `.fingerprint/NAME-HASH`), so they are rebuilt and every crate that loads them compiles again.
 */
export function clearBuildDirs(targetDir: string, procMacros: ReadonlySet<string>): void {
  // A target dir may come with the repository: never follow a link, only real directories count.
  const dirs = (dir: string) => {
    try {
      return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory());
    } catch {
      return [];
    }
  };
  const visit = (dir: string, depth: number) => {
    for (const entry of dirs(dir)) {
      const path = join(dir, entry.name);
      if (entry.name === 'build' && depth > 0) rmSync(path, { recursive: true, force: true });
      else if (entry.name === '.fingerprint' && depth > 0) {
        for (const unit of dirs(path)) {
          const pkg = /^(.+)-[0-9a-f]{16}$/.exec(unit.name)?.[1];
          if (pkg && procMacros.has(pkg)) rmSync(join(path, unit.name), { recursive: true, force: true });
        }
      } else if (depth < 2) visit(path, depth + 1);
    }
  };
  // The audit's own directory as a link (shipped in a repository's target/): the link goes, and
  // cargo makes a real directory.
  if (lstatSync(targetDir, { throwIfNoEntry: false })?.isSymbolicLink()) unlinkSync(targetDir);
  visit(targetDir, 0);
}

