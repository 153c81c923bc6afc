/**
 * sd_notify (design.md §3.6): READY=1, STATUS=, STOPPING=1 and WATCHDOG=1 to systemd for
 * `Type=notify` with `WatchdogSec=`. Node's dgram cannot send unix datagrams, so this goes through
 * the native `sd-notify` package (libsystemd's sd_notify). Every message is sent by this process
 * itself (sd_notify(0, …) carries our own pid), so `NotifyAccess=main` is enough.
 *
 * `sd-notify` is an optional dependency: a dev machine without libsystemd still installs and runs
 * (no NOTIFY_SOCKET → a no-op notifier). Under systemd a missing binding is fatal and says how to
 * fix it: without it systemd would wait for READY=1 and kill the unit at TimeoutStartSec.
 */
import { createRequire } from 'node:module';
import type { Logger } from 'pino';
import { describeError, ErrorCode, type Fault, fault } from '../core/errors.js';

export interface Notifier {
  /** READY=1 and the first STATUS= in one datagram. */
  ready(status: string): void;
  /** STATUS=, flattened to one bounded line; not sent again while the text stays the same. */
  status(text: string): void;
  /** STOPPING=1: the first thing said on SIGTERM, so systemd shows "deactivating" at once. */
  stopping(): void;
  /** WATCHDOG=1. Only the health-gated Watchdog calls it (system/watchdog.ts). */
  watchdog(): void;
}

/** The part of the `sd-notify` module used here: sd_notify(0, text), which reads NOTIFY_SOCKET at each call. */
export interface SdNotifyBinding {
  sendState(text: string): void;
}

export type OpenNotifierResult =
  | { readonly ok: true; readonly notifier: Notifier }
  | { readonly ok: false; readonly fault: Fault };

/** How the binding is loaded; tests inject one that throws to simulate a missing libsystemd. */
export type ModuleLoader = (id: string) => unknown;

export const SD_NOTIFY_FIX = 'apt install libsystemd-dev build-essential && npm rebuild sd-notify';

/**
 * `systemctl status` shows STATUS= on one line; the whole datagram must stay far below systemd's
 * 4096-byte notify buffer. 200 characters hold "offline: retry in 4.2 s (connect ECONNREFUSED)"
 * with room for a mic fault.
 */
export const MAX_STATUS_CHARS = 200;

/**
 * One line, bounded: each newline would start a new KEY=VALUE field in the datagram (a status
 * quoting "…\nWATCHDOG=1" would ping the watchdog), and a NUL would end the C string early.
 */
export function statusLine(text: string): string {
  const flat = text
    .split(/\r\n|[\r\n]/)
    .map((l) =>
      Array.from(l, (ch) => (isControl(ch) ? ' ' : ch))
        .join('')
        .trim(),
    )
    .filter((l) => l.length > 0)
    .join(' | ');
  // By code points, so an emoji or a Chinese status is never cut inside a surrogate pair.
  const chars = Array.from(flat);
  return chars.length <= MAX_STATUS_CHARS ? flat : `${chars.slice(0, MAX_STATUS_CHARS - 1).join('')}…`;
}

function isControl(ch: string): boolean {
  const c = ch.codePointAt(0) ?? 0;
  return c < 0x20 || c === 0x7f;
}

/** Remembers the last STATUS= sent: STATUS is rendered on every state change, most repeat it. */
class StatusMemo {
  #last: string | undefined;

  /** The line to send, or undefined when it is what systemd already shows. */
  next(text: string): string | undefined {
    const line = statusLine(text);
    if (line === this.#last) return undefined;
    this.#last = line;
    return line;
  }
}

/** The real thing: libsystemd through `sd-notify`. Constructing it sends nothing. */
export class SdNotifier implements Notifier {
  readonly #memo = new StatusMemo();

  constructor(
    private readonly binding: SdNotifyBinding,
    private readonly log: Logger,
  ) {}

  ready(status: string): void {
    const line = this.#memo.next(status);
    this.#send(line === undefined ? 'READY=1' : `READY=1\nSTATUS=${line}`);
  }

  status(text: string): void {
    const line = this.#memo.next(text);
    if (line !== undefined) this.#send(`STATUS=${line}`);
  }

  stopping(): void {
    this.#send('STOPPING=1');
  }

  watchdog(): void {
    this.#send('WATCHDOG=1', 'trace');
  }

  #send(text: string, level: 'debug' | 'trace' = 'debug'): void {
    // The binding drops sd_notify's return value: a vanished socket is silent. systemd notices
    // the missing READY/WATCHDOG itself, which is the failure that matters.
    this.binding.sendState(text);
    this.log[level]({ sd_notify: text.replace(/\n/g, ' ') }, 'sd_notify sent');
  }
}

/** Outside systemd (dev machine, tests, `--sim` in a terminal): says at debug what would be sent. */
export class NoopNotifier implements Notifier {
  readonly #memo = new StatusMemo();

  constructor(private readonly log: Logger) {}

  ready(status: string): void {
    this.log.debug({ status: this.#memo.next(status) }, 'no NOTIFY_SOCKET: READY=1 not sent');
  }

  status(text: string): void {
    const line = this.#memo.next(text);
    if (line !== undefined) this.log.debug({ status: line }, 'no NOTIFY_SOCKET: STATUS not sent');
  }

  stopping(): void {
    this.log.debug('no NOTIFY_SOCKET: STOPPING=1 not sent');
  }

  watchdog(): void {
    this.log.trace('no NOTIFY_SOCKET: WATCHDOG=1 not sent');
  }
}

function isBinding(mod: unknown): mod is SdNotifyBinding {
  return typeof mod === 'object' && mod !== null && 'sendState' in mod && typeof mod.sendState === 'function';
}

/**
 * Picks the notifier for this environment. NOTIFY_SOCKET unset (or empty) → no-op. Set → the
 * `sd-notify` binding, loaded only now so a machine without libsystemd never loads it; a binding
 * that cannot load is a fault for main.ts to exit with (exit 78, EX_CONFIG, so systemd does not
 * restart-loop on an installation problem).
 */
export function openNotifier(
  env: NodeJS.ProcessEnv,
  log: Logger,
  load: ModuleLoader = createRequire(import.meta.url),
): OpenNotifierResult {
  const socket = env.NOTIFY_SOCKET;
  if (!socket) {
    log.debug('NOTIFY_SOCKET not set: not under systemd Type=notify, sd_notify disabled');
    return { ok: true, notifier: new NoopNotifier(log) };
  }
  let mod: unknown;
  try {
    mod = load('sd-notify');
  } catch (err) {
    return { ok: false, fault: unavailable(socket, describeError(err)) };
  }
  if (!isBinding(mod)) return { ok: false, fault: unavailable(socket, 'module has no sendState()') };
  log.debug({ notify_socket: socket }, 'sd_notify via libsystemd');
  return { ok: true, notifier: new SdNotifier(mod, log) };
}

function unavailable(socket: string, cause: string): Fault {
  // The first line of a dlopen/bindings error names the missing file; the rest is a search list.
  const first = cause.split('\n')[0] ?? cause;
  return fault(
    ErrorCode.NotifyUnavailable,
    `NOTIFY_SOCKET=${socket} is set (systemd Type=notify) but the sd-notify binding cannot be loaded (${first}); fix: ${SD_NOTIFY_FIX}`,
  );
}

/** Node's setTimeout turns anything above 2^31-1 ms into 1 ms: a huge WatchdogSec must not become a ping storm. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The WATCHDOG=1 interval in ms — half of WATCHDOG_USEC, as sd_watchdog_enabled(3) advises — or
 * undefined when systemd expects no pings. Follows sd_watchdog_enabled: WATCHDOG_USEC must be a
 * positive integer, and a WATCHDOG_PID that is set must be valid and ours (a child that inherited
 * the environment must not ping for its parent).
 */
export function readWatchdogUsec(env: NodeJS.ProcessEnv, pid: number = process.pid): number | undefined {
  const usecText = env.WATCHDOG_USEC;
  if (usecText === undefined || !/^\d+$/.test(usecText)) return undefined;
  const usec = Number(usecText);
  if (usec <= 0) return undefined;
  const pidText = env.WATCHDOG_PID;
  if (pidText !== undefined) {
    if (!/^\d+$/.test(pidText) || Number(pidText) !== pid) return undefined;
  }
  return Math.min(MAX_TIMER_MS, Math.max(1, Math.floor(usec / 2000)));
}
