// rust-analyzer's side of the proc-macro server protocol (JSON lines, one response per request),
// enough to load a library and expand its function-like macros as the IDE does.

import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

/** keyutils' `keyctl`, found on the test's own PATH (a test may give the server another). */
const KEYCTL = spawnSync('sh', ['-c', 'command -v keyctl'], { encoding: 'utf8' }).stdout.trim() || 'keyctl';

/** The toolchain's real server: the unconfined control. */
export function realMacroServer(): string {
  const sysroot = spawnSync('rustc', ['--print', 'sysroot'], { encoding: 'utf8' }).stdout.trim();
  return join(sysroot, 'libexec', 'rust-analyzer-proc-macro-srv');
}

/** The proc-macro library cargo built in `targetDir` for the crate `name`. */
export function macroLibrary(targetDir: string, name: string): string {
  const deps = join(targetDir, 'debug', 'deps');
  const lib = readdirSync(deps).find((f) => f.startsWith(`lib${name}-`) && f.endsWith('.so'));
  if (!lib) throw new Error(`no lib${name}-*.so in ${deps}`);
  return join(deps, lib);
}

/** An empty token tree (`name!()`), in the protocol's flat encoding (API version 6). */
const EMPTY = { subtree: [0, 0, 0, 0, 0], literal: [], punct: [], ident: [], token_tree: [], text: [] };

export const versionCheck = JSON.stringify({ ApiVersionCheck: {} });

export function listMacros(lib: string): string {
  return JSON.stringify({ ListMacros: { dylib_path: lib } });
}

/** `name!()` of `lib`, with `env` set for the expansion (as rust-analyzer sets the crate's). */
export function expand(lib: string, name: string, env: Record<string, string> = {}): string {
  return JSON.stringify({ ExpandMacro: { lib, env: Object.entries(env), current_dir: null, macro_body: EMPTY, macro_name: name, attributes: null } });
}

/** What a fixture macro reported (`NAME=RESULT`, its expansion's only string), or the error. */
export function outcome(response: string | undefined): string {
  if (response === undefined) return 'no response';
  const r = JSON.parse(response) as { ExpandMacro?: { Ok?: { text: string[] }; Err?: string } };
  if (r.ExpandMacro?.Err !== undefined) return `error: ${r.ExpandMacro.Err}`;
  return r.ExpandMacro?.Ok?.text.find((t) => t.includes('=')) ?? response;
}

export interface Conversation {
  responses: string[];
  stderr: string;
  code: number | null;
}

/**
 * Starts `program` as rust-analyzer does, in a new session keyring holding the user key `key`
 * (keyutils' `keyctl`), sends `requests`, ends its input and collects every response line.
 */
export function converse(program: string, requests: readonly string[], opts: { cwd: string; env: NodeJS.ProcessEnv; key?: [string, string] }): Promise<Conversation> {
  const [name, secret] = opts.key ?? ['cargo-sandbox-unused', 'unused'];
  const child = spawn(KEYCTL, ['session', '-', '/bin/sh', '-c', '"$0" add user "$1" "$2" @s >/dev/null && shift 2 && exec "$@"', KEYCTL, name, secret, program], {
    cwd: opts.cwd,
    env: { ...opts.env, RUST_ANALYZER_INTERNALS_DO_NOT_USE: 'this is unstable' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin.end(requests.map((r) => `${r}\n`).join(''));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      // `keyctl session` says which keyring it joined, on stdout, before the server starts.
      const responses = stdout.split('\n').filter((l) => l.startsWith('{'));
      resolve({ responses, stderr, code });
    });
  });
}
