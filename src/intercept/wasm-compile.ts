// Compiles a build script for another target (sandbox.target, e.g. wasm32-wasip1), with its
// build-dependencies rebuilt for that target from the rustc arguments the wrapper recorded beside
// each library (cached by mtime). Proc-macro dependencies stay host programs; they are rebuilt
// for the host only when target-rustc is another compiler than cargo's (its metadata differs).
// Started by the rustc wrapper for build-script compilations of such packages only.
//
//   node wasm-compile.js TARGET_JSON -- [WRAPPER] RUSTC ARGS...   (ARGS' --out-dir: the staging dir)

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface TargetSpec {
  target: string;
  rustc?: string;
  rustflags: string[];
}

export interface Invocation {
  env: Record<string, string>;
  cwd: string;
  program: string;
  args: string[];
}

/** Arguments the target compiler does not need (or, being older, does not know). */
const DROP_WITH_VALUE = new Set(['--check-cfg', '--json', '--error-format', '--diagnostic-width']);

export function parseRecord(data: string): Invocation {
  const parts = data.split('\0');
  if (parts.at(-1) === '') parts.pop();
  const sep = parts.indexOf('--');
  const env: Record<string, string> = {};
  for (const kv of parts.slice(0, sep)) {
    const eq = kv.indexOf('=');
    if (eq > 0 && kv.slice(eq + 1) !== '') env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const command = parts.slice(sep + 1);
  const cwd = env.PWD ?? process.cwd();
  delete env.PWD;
  const [program, args] = splitProgram(command);
  return { env, cwd, program, args };
}

/** `[wrapper] rustc args...`: the compiler is the word before the first option. */
export function splitProgram(command: readonly string[]): [string, string[]] {
  const firstOption = command.findIndex((a) => a.startsWith('-'));
  const at = Math.max(0, (firstOption < 0 ? command.length : firstOption) - 1);
  return [command[at]!, command.slice(at + 1)];
}

export interface Retarget {
  target: string | undefined;
  outDir: string;
  depsDirs: string[];
  externs: (name: string, path: string) => string;
  rustflags: string[];
}

/** The same compilation, for another target and output directory. */
export function retarget(args: readonly string[], r: Retarget): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const eq = a.indexOf('=');
    const name = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    if (DROP_WITH_VALUE.has(name)) {
      if (name === a) i++;
      continue;
    }
    if (a === '-C' && /^incremental=/.test(args[i + 1] ?? '')) {
      i++;
      continue;
    }
    if (a === '--out-dir') {
      out.push(a, r.outDir);
      i++;
    } else if (a === '-L' && (args[i + 1] ?? '').startsWith('dependency=')) {
      i++;
    } else if (a === '--extern') {
      const spec = args[++i]!;
      const eqAt = spec.indexOf('=');
      out.push('--extern', eqAt < 0 ? spec : `${spec.slice(0, eqAt)}=${r.externs(spec.slice(0, eqAt), spec.slice(eqAt + 1))}`);
    } else if (a.startsWith('--emit=')) {
      out.push(`--emit=${a.slice('--emit='.length).split(',').filter((k) => k !== 'metadata').join(',')}`);
    } else out.push(a);
  }
  for (const d of r.depsDirs) out.push('-L', `dependency=${d}`);
  if (r.target) out.push('--target', r.target);
  out.push(...r.rustflags);
  return out;
}

function fail(message: string, details = ''): never {
  process.stderr.write(`error: cargo-sandbox: ${message}\n${details}`);
  process.exit(101);
}

/**
 * One compilation, through cargo-sandbox's own rustc wrapper (the static entry point that started
 * us, __CARGO_SANDBOX_ENTRY): it runs in the sandbox, as every compilation of the build does.
 */
function compile(program: string, args: string[], cwd: string, env: Record<string, string>, what: string): void {
  const wrapper = process.env.__CARGO_SANDBOX_ENTRY;
  if (!wrapper) fail('the rustc wrapper (__CARGO_SANDBOX_ENTRY) is not set; run the build through `cargo sandbox`');
  const r = spawnSync(wrapper, [program, ...args], { cwd, env: { ...process.env, ...env, PWD: cwd }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) fail(`could not run \`${program}\` to compile ${what}: ${r.error.message}`, 'help: set `target-rustc` to a rustc that has this target\n');
  if (r.status !== 0) fail(`could not compile ${what} for the build-script target`, `${r.stderr}\n`);
}

function main(argv: string[]): void {
  const sep = argv.indexOf('--');
  const spec = JSON.parse(readFileSync(argv[0]!, 'utf8')) as TargetSpec;
  const [hostRustc, scriptArgs] = splitProgram(argv.slice(sep + 1));
  const targetRustc = spec.rustc ?? hostRustc;
  const sameCompiler = !spec.rustc || spec.rustc === hostRustc;
  const built = new Map<string, string>();

  // <target>/<profile>/deps/libNAME-HASH.rlib -> <target>/<profile>/cargo-sandbox/<triple>/deps
  const cacheDir = (depsDir: string, triple: string) => join(dirname(depsDir), 'cargo-sandbox', triple, 'deps');

  const rebuild = (path: string, triple: string | undefined): string => {
    const key = `${triple ?? 'host'}:${path}`;
    const done = built.get(key);
    if (done) return done;
    const depsDir = dirname(path);
    const stem = basename(path).replace(/^lib/, '').replace(/\.(rlib|rmeta|so|dylib|dll)$/, '');
    const recordPath = join(depsDir, `${stem}.cargo-sandbox-args`);
    if (!existsSync(recordPath)) fail(`no recorded compilation for \`${path}\``, 'help: run `cargo clean` once, then build again with `cargo sandbox`\n');
    const record = parseRecord(readFileSync(recordPath, 'utf8'));
    const outDir = cacheDir(depsDir, triple ?? 'host');
    const isProcMacro = record.args.includes('proc-macro');
    const output = join(outDir, basename(path).replace(/\.rmeta$/, '.rlib'));
    built.set(key, output);
    mkdirSync(outDir, { recursive: true });
    // Build beside, then rename: two build scripts may need the same dependency at once.
    const tmp = mkdtempSync(join(outDir, '.tmp-'));
    try {
      const args = retarget(record.args, {
        target: isProcMacro ? undefined : triple,
        outDir: tmp,
        depsDirs: [outDir],
        externs: (_, p) => externFor(p, isProcMacro ? undefined : triple),
        rustflags: isProcMacro ? [] : spec.rustflags,
      });
      if (existsSync(output) && statSync(output).mtimeMs >= statSync(recordPath).mtimeMs) return output;
      compile(targetRustc, args, record.cwd, record.env, `\`${record.env.CARGO_PKG_NAME ?? stem}\``);
      renameSync(join(tmp, basename(output)), output);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    return output;
  };

  const externFor = (path: string, triple: string | undefined): string => {
    const isProcMacro = /\.(so|dylib|dll)$/.test(path);
    if (isProcMacro) return sameCompiler ? path : rebuild(path, undefined);
    return rebuild(path, triple);
  };

  const outIndex = scriptArgs.indexOf('--out-dir');
  const stage = scriptArgs[outIndex + 1]!;
  const depsDir = scriptArgs.find((a, i) => scriptArgs[i - 1] === '-L' && a.startsWith('dependency='))?.slice('dependency='.length);
  const depsDirs = depsDir ? [cacheDir(depsDir, spec.target), ...(sameCompiler ? [depsDir] : [cacheDir(depsDir, 'host')])] : [];
  const args = retarget(scriptArgs, { target: spec.target, outDir: stage, depsDirs, externs: (_, p) => externFor(p, spec.target), rustflags: spec.rustflags });
  compile(targetRustc, args, process.cwd(), {}, 'the build script');
}

if (process.argv[1] && import.meta.url.endsWith(basename(process.argv[1]))) main(process.argv.slice(2));
