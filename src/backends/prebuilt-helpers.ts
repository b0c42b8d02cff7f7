// The helpers compiled when the package was packed (scripts/prebuild-helpers.mjs, run by
// `npm pack`'s prepack): prebuilt/PLATFORM-ARCH/, with a manifest of each one's cache key and
// SHA-256. The first use copies one into the cache instead of compiling it (~16 s on two cores),
// and only if it is exactly the helper this package would compile: the same platform and
// architecture, the same key (sources, compile-time variables), the recorded SHA-256, a static ELF
// for this machine. Anything else, and it is compiled as without a prebuilt copy; a copy that does
// not match its manifest is said (a warning): the package on disk is not what was packed.
// Checked once, when copied: the cache's copy is then used as a compiled one is (the hot path,
// the front end and cargo starting the entry point, never runs Node for it).

import { createHash } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { PACKAGE_ROOT } from '../paths.js';
import { ENTRY_MODES, helperFile, helperKey, installPathsEnv, isStaticElf, type HelperBuild } from './native-helpers.js';

export const MANIFEST_VERSION = 1;

/** Where this machine's prebuilt helpers are in the package. */
export function prebuiltDir(root = PACKAGE_ROOT): string {
  return join(root, 'prebuilt', `${process.platform}-${process.arch}`);
}

export interface PrebuiltHelper {
  /** libexec/NAME.rs */
  name: string;
  /** helperKey() of the build it was compiled as (with placeholders: see below). */
  key: string;
  /** SHA-256 (hex) of the file as packed. */
  sha256: string;
}

export interface PrebuiltManifest {
  version: number;
  platform: string;
  arch: string;
  /** `rustc -vV`'s first line, for whoever reads it: not checked. */
  rustc: string;
  /** By file name (helperFile()), each a file beside the manifest. */
  helpers: Record<string, PrebuiltHelper>;
}

/**
 * The front end and the proc-macro server's launcher have the package root and Node's path
 * compiled in (env!), which only the installation knows. Their prebuilt copies are compiled with
 * a placeholder of this many bytes instead, which the copy into the cache overwrites with the path
 * and NULs (libexec/shared/fixed_path.rs ends the string at the first NUL).
 */
export const PLACEHOLDER_BYTES = 4096;

export function placeholder(variable: string): string {
  return `@${variable}@`.padEnd(PLACEHOLDER_BYTES, '#');
}

/** The build a prebuilt copy of `build` was compiled as: the installation's paths as placeholders. */
export function templateBuild(build: HelperBuild): HelperBuild {
  const installVariables = Object.keys(installPathsEnv());
  const compileEnv = build.compileEnv && Object.fromEntries(Object.entries(build.compileEnv).map(([k, v]) => [k, installVariables.includes(k) ? placeholder(k) : v]));
  return { name: build.name, compileEnv, mustBeStatic: true };
}

/** Every helper cargo-sandbox compiles, as packed: each prebuilt copy is one of these. */
export function packedHelpers(): HelperBuild[] {
  return [
    ...ENTRY_MODES.map((mode) => ({ name: 'entry', compileEnv: { CARGO_SANDBOX_ENTRY_MODE: mode } })),
    { name: 'direct-sandbox' },
    { name: 'confine' },
    { name: 'front-end', compileEnv: installPathsEnv() },
    { name: 'proc-macro-srv', compileEnv: installPathsEnv() },
  ].map(templateBuild);
}

/** ELF e_machine for Node's architecture names: a copy for another machine is never used. */
const ELF_MACHINE: Partial<Record<string, number>> = { x64: 62, arm64: 183, riscv64: 243, loong64: 258, ppc64: 21 };

export function elfMachineMatches(bytes: Buffer): boolean {
  return bytes.length > 0x14 && bytes.readUInt32BE(0) === 0x7f454c46 && bytes.readUInt16LE(0x12) === ELF_MACHINE[process.arch];
}

function readManifest(dir: string): PrebuiltManifest | string {
  try {
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as PrebuiltManifest;
    if (m.version !== MANIFEST_VERSION || typeof m.helpers !== 'object' || m.helpers === null) return 'its manifest has another format';
    return m;
  } catch (e) {
    return `its manifest cannot be read (${(e as Error).message})`;
  }
}

/**
 * Copies the prebuilt copy of `build` to `dest` (in a cache directory), checked and with the
 * installation's paths written in. True if it did; false if there is none for this exact build
 * (then it is compiled, as it is without prebuilt copies), or one that fails a check (`warn` says
 * which: it is never used).
 */
export function installPrebuilt(build: HelperBuild, dest: string, warn: (text: string, help?: string) => void, root = PACKAGE_ROOT): boolean {
  const dir = prebuiltDir(root);
  if (!existsSync(join(dir, 'manifest.json'))) return false; // a clone, or packed for another platform
  const template = templateBuild(build);
  const key = helperKey(template);
  const file = helperFile(build, key);
  const refuse = (why: string) => {
    warn(`cargo-sandbox's prebuilt ${build.name} helper (${join(dir, file)}) is not used: ${why}; compiling it instead`, 'reinstall cargo-sandbox from its package to use the prebuilt helpers again');
    return false;
  };
  const manifest = readManifest(dir);
  if (typeof manifest === 'string') return refuse(manifest);
  const entry = Object.hasOwn(manifest.helpers, file) ? manifest.helpers[file] : undefined;
  // Sources changed since packing (a clone's edits): another key, not a prebuilt one. Silent.
  if (!entry || entry.key !== key || entry.name !== build.name || manifest.platform !== process.platform || manifest.arch !== process.arch) return false;
  let bytes: Buffer;
  try {
    bytes = readFileSync(join(dir, file));
  } catch (e) {
    return refuse(`it cannot be read (${(e as Error).message})`);
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== entry.sha256) return refuse(`its SHA-256 is ${sha256}, not ${entry.sha256} as its manifest records`);
  if (!elfMachineMatches(bytes)) return refuse(`it is not an ELF program for ${process.arch}`);
  for (const [variable, value] of Object.entries(build.compileEnv ?? {})) {
    if (template.compileEnv?.[variable] === value) continue;
    const slot = Buffer.from(placeholder(variable));
    const path = Buffer.from(value);
    // Too long to fit (or a NUL in it): compiled with the value, as without a prebuilt copy.
    if (path.length >= PLACEHOLDER_BYTES || path.includes(0)) return false;
    const filled = Buffer.alloc(PLACEHOLDER_BYTES);
    path.copy(filled);
    let found = 0;
    for (let at = bytes.indexOf(slot); at !== -1; at = bytes.indexOf(slot, at + PLACEHOLDER_BYTES)) {
      filled.copy(bytes, at);
      found++;
    }
    if (found === 0) return refuse(`it has no place for ${variable}`);
  }
  const tmp = join(dirname(dest), `${basename(dest)}.${process.pid}.tmp`);
  try {
    rmSync(tmp, { force: true }); // left by a run of the same pid that was killed
    writeFileSync(tmp, bytes, { mode: 0o755, flag: 'wx' });
    chmodSync(tmp, 0o755);
    // Read back from the cache: what the checks pass is what runs.
    if (!isStaticElf(tmp)) {
      rmSync(tmp, { force: true });
      return refuse('it is not statically linked');
    }
    renameSync(tmp, dest);
    return true;
  } catch (e) {
    rmSync(tmp, { force: true });
    return refuse(`it cannot be copied to ${dirname(dest)} (${(e as Error).message})`);
  }
}

/** For `doctor`: how many helpers the package has prebuilt for this machine, and where. */
export function prebuiltSummary(root = PACKAGE_ROOT): string {
  const dir = prebuiltDir(root);
  if (!existsSync(join(dir, 'manifest.json'))) return `none for ${process.platform}-${process.arch}: each helper is compiled on first use (seconds each)`;
  const manifest = readManifest(dir);
  if (typeof manifest === 'string') return `none usable in ${dir}: ${manifest}; each helper is compiled on first use`;
  return `${Object.keys(manifest.helpers).length} helpers for ${process.platform}-${process.arch} in ${dir}, packed with ${manifest.rustc}: each is checked and copied on first use`;
}
