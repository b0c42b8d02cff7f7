// This user's identity for `rustc -vV` (libexec/entry/identity.rs says why): 128 random bits in the
// user's own cache, readable by nobody else, made once. The launcher refuses a file that is a
// link, not ours, or readable by others; so does this.

import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, fsyncSync, linkSync, lstatSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../diagnostics/style.js';
import { cacheDirs, usableDir } from '../backends/native-helpers.js';

/** The identity file, created if missing. */
export function userIdentityFile(env: NodeJS.ProcessEnv): string {
  // The user's own cache (the last of cacheDirs), never the package's, which other users share.
  const dirs = cacheDirs(env);
  const dir = [...dirs].reverse().find(usableDir);
  if (!dir) throw new UserError(`no writable cache directory for cargo-sandbox's identity file (tried ${dirs.join(', ')}); nothing was built`, ['set CARGO_SANDBOX_CACHE_DIR to a writable directory']);
  const file = join(dir, 'identity');
  if (!lstatSync(file, { throwIfNoEntry: false })) createIdentity(file);
  const s = lstatSync(file);
  if (!s.isFile() || s.uid !== (process.getuid?.() ?? s.uid) || (s.mode & 0o077) !== 0) {
    throw new UserError(`${file} is not a private file of this user; nothing was built`, [`remove it (\`rm ${file}\`): cargo-sandbox makes a new one, and rebuilds what it built before`]);
  }
  return file;
}

/**
 * Written whole under a name of its own, then linked into place: a build killed halfway leaves no
 * empty identity (every later build would stop on it), and of two builds racing, one wins.
 */
function createIdentity(file: string): void {
  const temporary = `${file}.${process.pid}.tmp`;
  // One a killed run of the same PID left behind: never anyone else's (the directory is ours).
  rmSync(temporary, { force: true });
  try {
    const fd = openSync(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      writeSync(fd, `${randomBytes(16).toString('hex')}\n`);
      if ((fstatSync(fd).mode & 0o077) !== 0) throw new UserError(`could not make ${temporary} private`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    linkSync(temporary, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    rmSync(temporary, { force: true });
  }
}
