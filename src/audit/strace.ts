// Parsing `strace -f -o FILE` output into syscall events. Pure.
// strace splits a call that another process interrupts into `<unfinished ...>` and
// `<... NAME resumed>` lines; they are joined here, per PID.

export interface SyscallEvent {
  pid: number;
  name: string;
  /** The raw argument text, as strace printed it. */
  args: string;
  /** The return value (-1 on failure). */
  result: number;
  /** ENOENT, EACCES, ... on failure. */
  errno?: string;
}

const LINE = /^(\d+)\s+(.*)$/;
const CALL = /^([a-z0-9_]+)\((.*)\)\s+=\s+(-?\d+|\?)(?:\s+([A-Z][A-Z0-9_]+))?/;

export function parseStrace(text: string): SyscallEvent[] {
  const events: SyscallEvent[] = [];
  const pending = new Map<number, string>();
  for (const raw of text.split('\n')) {
    const m = LINE.exec(raw);
    if (!m) continue;
    const pid = Number(m[1]);
    let body = m[2]!;
    if (body.startsWith('+++') || body.startsWith('---')) continue;
    if (body.endsWith('<unfinished ...>')) {
      pending.set(pid, body.slice(0, -'<unfinished ...>'.length).trimEnd());
      continue;
    }
    const resumed = /^<\.\.\. [a-z0-9_]+ resumed>\s?(.*)$/.exec(body);
    if (resumed) {
      const start = pending.get(pid);
      pending.delete(pid);
      if (start === undefined) continue;
      body = `${start}${start.endsWith('(') ? '' : ' '}${resumed[1]}`.replace(/, \)/, ')');
    }
    const call = CALL.exec(body);
    if (!call) continue;
    events.push({
      pid,
      name: call[1]!,
      args: call[2]!,
      result: call[3] === '?' ? 0 : Number(call[3]),
      ...(call[4] ? { errno: call[4] } : {}),
    });
  }
  return events;
}

/** The quoted strings of an argument list, C escapes decoded (strace's `"..."` with `\n`, `\x..`). */
export function quotedStrings(args: string): string[] {
  const out: string[] = [];
  for (const m of args.matchAll(/"((?:[^"\\]|\\.)*)"/g)) out.push(unescapeC(m[1]!));
  return out;
}

function unescapeC(s: string): string {
  return s.replace(/\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)/g, (_, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]+$/.test(e)) return String.fromCharCode(parseInt(e, 8));
    return ({ n: '\n', t: '\t', r: '\r', v: '\v', f: '\f' } as Record<string, string>)[e] ?? e;
  });
}

/** The argv of an execve line: the quoted strings inside the first `[...]`. */
export function execArgv(args: string): string[] {
  const open = args.indexOf('[');
  if (open < 0) return [];
  let depth = 0;
  let inString = false;
  for (let i = open; i < args.length; i++) {
    const c = args[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '[') depth++;
    else if (c === ']' && --depth === 0) return quotedStrings(args.slice(open, i + 1));
  }
  return quotedStrings(args.slice(open));
}

/** A socket address as strace prints it, as `host:port`, `unix:/path` or `unix:@name`. */
export function socketAddress(args: string): string | undefined {
  const port = /sin6?_port=htons\((\d+)\)/.exec(args)?.[1];
  const v4 = /inet_addr\("([^"]+)"\)/.exec(args)?.[1];
  const v6 = /inet_pton\(AF_INET6, "([^"]+)"/.exec(args)?.[1];
  if (port && (v4 || v6)) return v4 ? `${v4}:${port}` : `[${v6}]:${port}`;
  const unix = /sun_path=(@?)"((?:[^"\\]|\\.)*)"/.exec(args);
  if (unix) return `unix:${unix[1]}${unix[2]}`;
  return undefined;
}
