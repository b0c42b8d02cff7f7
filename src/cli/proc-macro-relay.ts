// The host side of `cargo sandbox proc-macro-server`: rust-analyzer talks to this relay as to its
// proc-macro server (JSON lines on stdin and stdout, one response per request, strictly in turn),
// and the relay hands each request to a sandboxed server of the workspace the request's library
// belongs to (one per workspace, started on first use: proc-macro-server.ts).
//
// Why a relay: the library paths arrive in the protocol (`ListMacros { dylib_path }`,
// `ExpandMacro { lib, ... }`), and a client may ask one server for libraries of several
// workspaces. A single sandbox would have to show every target dir anyone might name; here each
// server's view holds one workspace and its target dir, and a path is served only when it is a
// proc-macro library cargo built there (checkLibrary). The relay reads only the requests; the
// servers' responses pass through as whole lines, unread.

import { lstatSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { ChildProcess } from 'node:child_process';

/** One sandboxed server: its process and the lines it has written that nobody has taken yet. */
export interface ServerProcess {
  child: ChildProcess;
  /** The next response line; undefined once the server has exited. */
  next(): Promise<string | undefined>;
}

export function serverProcess(child: ChildProcess): ServerProcess {
  const lines: string[] = [];
  const waiting: ((line: string | undefined) => void)[] = [];
  let closed = false;
  const rl = createInterface({ input: child.stdout!, crlfDelay: Infinity });
  rl.on('line', (line) => {
    const w = waiting.shift();
    if (w) w(line);
    else lines.push(line);
  });
  rl.on('close', () => {
    closed = true;
    for (const w of waiting.splice(0)) w(undefined);
  });
  return {
    child,
    next: () => {
      if (lines.length) return Promise.resolve(lines.shift());
      if (closed) return Promise.resolve(undefined);
      return new Promise((r) => waiting.push(r));
    },
  };
}

/** Where a library rust-analyzer names may come from: a cargo target dir, and the workspace using it. */
export interface LibraryHome {
  /** The target dir (`<target>/<profile>/deps/lib*.so`). */
  targetDir: string;
}

/**
 * A proc-macro library as cargo leaves it, or an error message: an absolute, normalized path with
 * no link anywhere in it (the real path is the path), a regular file named `lib*.so` directly in a
 * `deps` directory of a cargo target dir (one that holds cargo's CACHEDIR.TAG).
 */
export function checkLibrary(path: unknown): LibraryHome | string {
  if (typeof path !== 'string' || !isAbsolute(path) || resolve(path) !== path) return `\`${String(path)}\` is not an absolute, normalized path`;
  let real: string;
  try {
    real = realpathSync(path);
  } catch (e) {
    return `cannot read \`${path}\`: ${(e as Error).message}`;
  }
  if (real !== path) return `\`${path}\` passes through a link (it leads to \`${real}\`)`;
  if (!lstatSync(path).isFile()) return `\`${path}\` is not a regular file`;
  const deps = dirname(path);
  if (!/^lib.+\.so$/.test(basename(path)) || basename(deps) !== 'deps') return `\`${path}\` is not a proc-macro library in a target dir's \`deps\` (\`<target>/<profile>/deps/lib*.so\`)`;
  const targetDir = dirname(dirname(deps));
  try {
    if (!lstatSync(resolve(targetDir, 'CACHEDIR.TAG')).isFile()) throw new Error();
  } catch {
    return `\`${targetDir}\` (where \`${path}\` lies) is not a cargo target dir (no CACHEDIR.TAG)`;
  }
  return { targetDir };
}

export interface RelayOptions {
  /** The server of the workspace rust-analyzer was started for (version checks, configuration). */
  first(): ServerProcess;
  /** The server for a library's target dir, started on first use; a string says why there is none. */
  serverFor(home: LibraryHome): Promise<ServerProcess | string>;
  /** A server that stopped or was stopped: the next request for its workspace starts a new one. */
  forget(server: ServerProcess): void;
  /** How long one request may take before its server is killed (the workspace's `timeout`). */
  timeoutMs: number;
  write(line: string): void;
  warn(message: string): void;
}

/** Answers requests from rust-analyzer, one line each, until its input ends. */
export class Relay {
  /** The last `SetConfig` request: replayed to every server started after it. */
  private config: string | undefined;
  private readonly configured = new Set<ServerProcess>();

  constructor(private readonly o: RelayOptions) {}

  async handle(line: string): Promise<void> {
    let request: Record<string, unknown>;
    try {
      request = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new Error('rust-analyzer sent a request that is not JSON (only the JSON protocol is served)');
    }
    const kind = Object.keys(request)[0];
    const body = request[kind ?? ''] as Record<string, unknown> | undefined;
    if (kind === 'ApiVersionCheck') return this.o.write(await this.ask(this.o.first(), line, kind));
    if (kind === 'SetConfig') {
      this.config = line;
      this.configured.clear();
      return this.o.write(await this.ask(this.o.first(), line, kind));
    }
    if (kind === 'ListMacros' || kind === 'ExpandMacro') {
      const home = checkLibrary(kind === 'ListMacros' ? body?.dylib_path : body?.lib);
      const server = typeof home === 'string' ? home : await this.o.serverFor(home);
      if (typeof server === 'string') {
        this.o.warn(`refused to load a proc macro: ${server}`);
        return this.o.write(errorResponse(kind, `cargo-sandbox: ${server}`));
      }
      return this.o.write(await this.ask(server, line, kind));
    }
    // A request this relay does not know could name a library it has not checked: refused.
    throw new Error(`rust-analyzer sent a request cargo-sandbox does not know (\`${kind}\`); is rust-analyzer newer than its proc-macro server?`);
  }

  /** `line` to `server`, its response back; an error response if it stops or takes too long. */
  private async ask(server: ServerProcess, line: string, kind: string): Promise<string> {
    if (this.config && !this.configured.has(server) && kind !== 'SetConfig') {
      this.configured.add(server);
      const answer = await this.exchange(server, this.config);
      if (answer === undefined) return this.failed(server, kind, 'stopped');
    }
    if (kind === 'SetConfig') this.configured.add(server);
    const answer = await this.exchange(server, line);
    return answer ?? this.failed(server, kind, this.timedOut.has(server) ? 'timeout' : 'stopped');
  }

  private readonly timedOut = new Set<ServerProcess>();

  private async exchange(server: ServerProcess, line: string): Promise<string | undefined> {
    if (server.child.stdin?.writable) server.child.stdin.write(`${line}\n`);
    const timer = setTimeout(() => {
      this.timedOut.add(server);
      server.child.kill('SIGKILL');
    }, this.o.timeoutMs);
    try {
      return await server.next();
    } finally {
      clearTimeout(timer);
    }
  }

  private failed(server: ServerProcess, kind: string, why: 'stopped' | 'timeout'): string {
    this.o.forget(server);
    const message =
      why === 'timeout'
        ? `cargo-sandbox: a proc macro ran longer than its timeout of ${this.o.timeoutMs / 1000}s; its server was stopped (raise it with \`timeout\`)`
        : 'cargo-sandbox: the sandboxed proc-macro server stopped (a macro over its max-memory or max-processes limit, or refused by the sandbox?); the next request starts a new one';
    this.o.warn(message.replace(/^cargo-sandbox: /, ''));
    return errorResponse(kind, message);
  }
}

/** The protocol's error answer to a request of `kind`. */
export function errorResponse(kind: string, message: string): string {
  if (kind === 'ApiVersionCheck' || kind === 'SetConfig') throw new Error(message);
  // ListMacros: Result<Vec<..>, String>; ExpandMacro: Result<FlatTree, PanicMessage(String)>.
  return JSON.stringify({ [kind]: { Err: message } });
}
