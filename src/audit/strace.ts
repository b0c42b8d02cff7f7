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
  // Quoted strings (a sendto's data buffer comes before the address, and the process wrote it) are
  // set aside first: only the sockaddr strace printed itself is read, never text inside data.
  const strings: string[] = [];
  const skeleton = args.replace(/"((?:[^"\\]|\\.)*)"/g, (_, text: string) => `"${strings.push(text) - 1}"`);
  const quoted = (index: string | undefined) => strings[Number(index)];
  const v4 = /\{sa_family=AF_INET, sin_port=htons\((\d+)\), sin_addr=inet_addr\("(\d+)"\)\}/.exec(skeleton);
  if (v4) return `${quoted(v4[2])}:${v4[1]}`;
  const v6 = /\{sa_family=AF_INET6, sin6_port=htons\((\d+)\),[^{}"]*inet_pton\(AF_INET6, "(\d+)"/.exec(skeleton);
  if (v6) return `[${quoted(v6[2])}]:${v6[1]}`;
  const unix = /\{sa_family=AF_UNIX, sun_path=(@?)"(\d+)"/.exec(skeleton);
  if (unix) return `unix:${unix[1]}${quoted(unix[2])}`;
  return undefined;
}
