// Cargo keeps the compiler's version text in <target-dir>/.rustc_info.json and believes it when
// the file's key matches the compiler and wrapper it is about to use. That text is what sets this
// user's artifacts apart (libexec/entry/identity.rs), so a copy from anywhere else (a repository
// that ships target/) is never believed: before cargo starts, the file must be the one cargo
// wrote for us last time, by identity (device, inode, size, change time), recorded in the user's
// cache after each run; any other is removed, and cargo asks the compiler again. The compiled front
// end does the same (front-end.rs, `rustc-info` entries).

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileIdentity } from './session-cache.js';

export interface RustcInfo {
  /** <target-dir>/.rustc_info.json */
  file: string;
  /** Where its identity is recorded (in the user's cache, beside the identity file). */
  record: string;
}

export function rustcInfoOf(targetDir: string, identityFile: string): RustcInfo {
  const file = join(targetDir, '.rustc_info.json');
  const key = createHash('sha256').update(file).digest('hex').slice(0, 32);
  return { file, record: join(dirname(identityFile), 'rustc-info', key) };
}

/** The file's identity (of the link itself, if it is one), or undefined if there is none. */
function currentIdentity(file: string): string | undefined {
  try {
    return fileIdentity(file);
  } catch {
    return undefined;
  }
}

/** Before cargo: removes the file unless it is the one recorded (a link, a directory: removed too). */
export function distrustForeignRustcInfo(info: RustcInfo): void {
  const found = currentIdentity(info.file);
  if (found === undefined) return;
  let recorded: string | undefined;
  try {
    recorded = readFileSync(info.record, 'utf8');
  } catch {
    recorded = undefined;
  }
  if (found !== recorded) rmSync(info.file, { recursive: true, force: true });
}

/** After cargo: the file it wrote (no sandbox can write the target dir's top). */
export function recordRustcInfo(info: RustcInfo): void {
  const found = currentIdentity(info.file);
  if (found === undefined) return void rmSync(info.record, { force: true });
  mkdirSync(dirname(info.record), { recursive: true, mode: 0o700 });
  writeFileSync(info.record, found, { mode: 0o600 });
}
