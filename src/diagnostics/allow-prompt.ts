// After a failed build, at a terminal: ask once per package whether to allow what its build
// script was denied (as `pnpm approve-builds` asks), and write the yeses to the user's config
// through the allow command's own code path. Never anywhere else: not in CI, not without a
// terminal on both stdin and stderr, not with -q, not with CARGO_SANDBOX_PROMPT=never; a build
// never waits for an answer nobody can give. Never the whole network either (see below).

import { closeSync, constants, openSync, readSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { allowWords, describeRequest, emptyRequest, isEmptyRequest, mergeRequests, requestPackage } from '../config/allow-grants.js';
import type { AllowOffer } from './failure-notes.js';
import { printable, shellWord } from './allow-offers.js';
import type { Reporter } from './style.js';

export const PROMPT_VARIABLE = 'CARGO_SANDBOX_PROMPT';

/** Whether this run may ask (the terminals are passed in for tests). */
export function mayPrompt(env: NodeJS.ProcessEnv, reporter: Reporter, tty = { stdin: Boolean(process.stdin.isTTY), stderr: Boolean(process.stderr.isTTY) }): boolean {
  return tty.stdin && tty.stderr && !('CI' in env) && !reporter.quiet && env[PROMPT_VARIABLE] !== 'never';
}

/**
 * One line from `fd`, read a byte at a time so that nothing past it is taken from the terminal
 * (what the user typed ahead stays for the shell). Undefined at end of input.
 */
export function readLine(fd = 0): string | undefined {
  const byte = Buffer.alloc(1);
  let line = '';
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, byte, 0, 1, null);
    } catch (err) {
      // A terminal left non-blocking by another program: wait for the key, briefly.
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
        continue;
      }
      return line.length ? line : undefined;
    }
    if (n === 0) return line.length ? line : undefined;
    const c = byte.toString('latin1');
    if (c === '\n') return line;
    if (line.length < 4096) line += c;
  }
}

/**
 * Throws away what is waiting on the terminal: an answer typed before the question was shown
 * answers nothing (a `y` typed during a long build, or lines left by something else).
 */
export function discardTypedAhead(): void {
  let fd: number | undefined;
  try {
    fd = openSync('/dev/tty', constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    const buf = Buffer.alloc(4096);
    for (let i = 0; i < 256 && readSync(fd, buf, 0, buf.length, null) > 0; i++);
  } catch {
    /* EAGAIN: nothing waiting */
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** "y", "yes" (any case, spaces around): yes; anything else, or nothing, is no. */
export function isYes(answer: string | undefined): boolean {
  return answer !== undefined && /^\s*y(es)?\s*$/i.test(answer);
}

export async function maybePrompt(offers: readonly AllowOffer[], env: NodeJS.ProcessEnv, home: string, cwd: string, reporter: Reporter, ask: () => string | undefined = readLine, tty?: { stdin: boolean; stderr: boolean }): Promise<number> {
  if (offers.length === 0 || !mayPrompt(env, reporter, tty)) return 0;
  const { applyAllow, userTarget } = await import('../cli/allow-command.js');
  const target = userTarget(env, home);
  // One question per package: two offers for one (a script and its macros) are asked together.
  const byPackage = new Map<string, AllowOffer>();
  for (const o of offers) {
    const had = byPackage.get(o.request.key);
    byPackage.set(o.request.key, had ? { ...had, request: mergeRequests(had.request, o.request) } : o);
  }
  reporter.message('note', `a yes writes the grant to \`${target.shown}\` (your own cargo config)`);
  let written = 0;
  for (const whole of byPackage.values()) {
    // The whole network is never one keystroke away: a script's error output asks for it with
    // nothing to show for where (the note above gives the command for whoever means it).
    const { network, ...rest } = whole.request;
    // Nor is this machine or its networks (docker's TCP API, a database on localhost, the cloud
    // metadata service): the process chose them; the help above names them, to be typed.
    const { addressKind } = await import('./blocked-hints.js');
    const local = Array.isArray(network) ? network.filter((d) => addressKind(d.slice(0, d.lastIndexOf(':')), new Map(), osHostname())) : [];
    const kept = Array.isArray(network) ? network.filter((d) => !local.includes(d)) : undefined;
    const offer = network === true ? { ...whole, request: rest } : local.length ? { ...whole, request: { ...rest, ...(kept!.length ? { network: kept } : {}) } } : whole;
    if (local.length) reporter.message('note', `\`${printable(local.join(', '))}\` (this machine or its networks) for \`${printable(requestPackage(whole.request))}\` is not asked here: type the command above if you mean it`);
    if (network === true) {
      const command = ['cargo', 'sandbox', 'allow', ...allowWords({ ...emptyRequest(whole.request.key), network: true })].map(shellWord).join(' ');
      reporter.message('note', `the whole network for \`${printable(requestPackage(whole.request))}\` is not asked here: \`${printable(command)}\` grants it, if you mean it`);
    }
    if (isEmptyRequest(offer.request)) continue;
    const who = offer.who ?? 'build script';
    // Only an answer typed after the question is shown counts.
    if (ask === readLine) discardTypedAhead();
    reporter.raw(`Allow ${printable(requestPackage(offer.request))}'s ${who} to ${printable(describeRequest(offer.request))}? [y/N] `);
    const answer = ask();
    if (answer === undefined) reporter.raw('\n');
    if (!isYes(answer)) continue;
    try {
      if ((await applyAllow(offer.request, target, { env, home, cwd }, reporter)).written) written++;
    } catch (err) {
      const { reportUserError, UserError } = await import('./style.js');
      if (!(err instanceof UserError)) throw err;
      reportUserError(reporter, err);
    }
  }
  if (written) reporter.message('help', 'run the build again to use the new grants');
  return written;
}
