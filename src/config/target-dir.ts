// The target directory, resolved as cargo does: --target-dir, CARGO_TARGET_DIR,
// CARGO_BUILD_TARGET_DIR, build.target-dir in config, else <workspace>/target.

import { resolve } from 'node:path';
import { lookup, type ConfigLayer } from './cargo-config.js';

export function targetDir(opts: {
  cwd: string;
  argTargetDir: string | undefined;
  env: NodeJS.ProcessEnv;
  layers: readonly ConfigLayer[];
  workspaceRoot: string;
}): string {
  if (opts.argTargetDir) return resolve(opts.cwd, opts.argTargetDir);
  if (opts.env.CARGO_TARGET_DIR) return resolve(opts.cwd, opts.env.CARGO_TARGET_DIR);
  const cli = opts.layers.find((l) => l.rank === 'cli' && typeof lookup(l.table, ['build', 'target-dir']) === 'string');
  if (cli) return resolve(cli.baseDir, lookup(cli.table, ['build', 'target-dir']) as string);
  if (opts.env.CARGO_BUILD_TARGET_DIR) return resolve(opts.cwd, opts.env.CARGO_BUILD_TARGET_DIR);
  const file = opts.layers.find((l) => l.rank === 'file' && typeof lookup(l.table, ['build', 'target-dir']) === 'string');
  if (file) return resolve(file.baseDir, lookup(file.table, ['build', 'target-dir']) as string);
  return resolve(opts.workspaceRoot, 'target');
}
