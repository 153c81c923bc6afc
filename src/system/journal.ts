/**
 * Native journal entries (issue 13 §1): each pino record becomes one journal entry with fields
 * (journal-fields.ts), sent with libsystemd's sd_journal_sendv through the npm `systemd-journald`
 * binding. Why that binding and not the native protocol over `unix-dgram`: it is libsystemd itself
 * (the protocol's reference client: field validation, the binary form for multi-line values, the
 * memfd fallback for a big entry), and libsystemd-dev is already what the sd-notify build needs.
 *
 * Like sd-notify it is an optional dependency: where it cannot load, the daemon says so once and
 * writes today's `<N>`-prefixed JSON lines to stdout, which journald also takes (as text).
 *
 * Blocking: sd_journal_sendv is one sendmsg() on a datagram socket, as synchronous as today's
 * synchronous stdout line to journald's stream socket; it waits only while journald's receive
 * queue is full. Being synchronous is what keeps the SIGTERM guarantee: a record is in the
 * journal's socket before the log call returns, nothing is buffered in the process.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import type { DestinationStream } from 'pino';
import { describeError } from '../core/errors.js';
import { isPlainObject } from '../core/json.js';
import { journalEntry } from './journal-fields.js';
// How a native binding is loaded; tests inject one that throws to simulate a missing libsystemd.
import type { ModuleLoader } from './notify.js';

/** The socket libsystemd sends native entries to (sd-journal.h; not configurable in libsystemd). */
export const JOURNAL_SOCKET = '/run/systemd/journal/socket';

/**
 * The binding's native function: sd_journal_sendv(priority, "NAME=value"…), returning 0 or a
 * negative errno. The package's JavaScript wrapper (its log.js) drops that return value, so a
 * vanished journal would go unnoticed; we call the addon its wrapper calls.
 */
export interface JournalBinding {
  send(priority: number, ...fields: string[]): number;
}

export const JOURNAL_BINDING_MODULE = 'systemd-journald/build/Release/journal_send.node';
export const JOURNAL_FIX =
  'apt install libsystemd-dev pkg-config build-essential && npm rebuild systemd-journald';

function hasSend(m: unknown): m is JournalBinding {
  return typeof m === 'object' && m !== null && 'send' in m && typeof m.send === 'function';
}

export type LoadedBinding =
  | { readonly ok: true; readonly binding: JournalBinding }
  | { readonly ok: false; readonly why: string };

export function loadJournalBinding(load: ModuleLoader = createRequire(import.meta.url)): LoadedBinding {
  try {
    const m = load(JOURNAL_BINDING_MODULE);
    if (hasSend(m)) return { ok: true, binding: m };
    return { ok: false, why: `${JOURNAL_BINDING_MODULE} has no send()` };
  } catch (err) {
    return { ok: false, why: describeError(err) };
  }
}

const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

function errnoName(rc: number): string {
  return ERRNO_NAMES.get(-rc) ?? `errno ${-rc}`;
}

export type JournalDestinationState = 'native' | 'failing';

export interface JournalDestinationOptions {
  readonly binding: JournalBinding;
  /** Where a record goes when the journal refuses it: `<N>`-prefixed JSON lines on stdout. */
  readonly fallback: DestinationStream;
}

/**
 * A pino destination that sends each record as a native entry. Never throws into the daemon: a
 * record the journal refuses (journald restarting: ENOENT/ECONNREFUSED) goes to the fallback
 * instead, so nothing is lost, and the switch is said once each way, in the fallback's own
 * format (a log call from here would recurse).
 */
export class JournalDestination implements DestinationStream {
  #state: JournalDestinationState = 'native';
  readonly #o: JournalDestinationOptions;
  /** Records the journal refused and the fallback took. */
  refused = 0;

  constructor(o: JournalDestinationOptions) {
    this.#o = o;
  }

  get state(): JournalDestinationState {
    return this.#state;
  }

  write(line: string): void {
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (err) {
      // pino wrote it, so this is a bug; the line still reaches the journal as text.
      this.#o.fallback.write(line);
      this.#notice(3, `journal: a log line was not JSON (${describeError(err)}); written as text`);
      return;
    }
    if (!isPlainObject(record)) {
      this.#o.fallback.write(line);
      return;
    }
    const entry = journalEntry(record);
    let why: string | undefined;
    try {
      const rc = this.#o.binding.send(entry.priority, ...entry.fields);
      if (rc < 0) why = errnoName(rc);
    } catch (err) {
      why = describeError(err);
    }
    if (why === undefined) {
      this.#transition('native', 'the journal takes native entries again');
      return;
    }
    this.refused += 1;
    this.#transition(
      'failing',
      `the journal refused a native entry (${why}); writing JSON lines to stdout until it takes them again`,
    );
    this.#o.fallback.write(line);
  }

  #transition(to: JournalDestinationState, why: string): void {
    if (this.#state === to) return;
    this.#state = to;
    this.#notice(
      to === 'failing' ? 4 : 6,
      `journal ${to === 'failing' ? 'native → failing' : 'failing → native'}: ${why}`,
    );
  }

  /** One record in pino's JSON shape, so the fallback prefixes its priority like any other. */
  #notice(priority: number, msg: string): void {
    const level = priority <= 3 ? 50 : priority === 4 ? 40 : 30;
    this.#o.fallback.write(
      `${JSON.stringify({ level, time: new Date().toISOString(), component: 'journal', msg })}\n`,
    );
  }
}

export type LogTarget = 'auto' | 'journal' | 'stdout';

/**
 * Whether records go to the journal natively (issue 13 §1): under a unit (JOURNAL_STREAM set by
 * systemd for a service whose stdout is the journal) with `auto`, or wherever the journal's socket
 * exists with `journal` (a test's private journal, a container with the host's socket mounted).
 * Under a unit whose journal socket is missing, stdout (`<N>` lines) is the only working path.
 */
export function wantsNativeJournal(
  target: LogTarget,
  env: NodeJS.ProcessEnv,
  socketExists: () => boolean = () => existsSync(JOURNAL_SOCKET),
): boolean {
  if (target === 'stdout') return false;
  // The socket is checked in both cases: libsystemd's journal-send.c returns success for ENOENT
  // ("fail silently if the journal is not available"), so without it records would vanish.
  if (target === 'journal') return socketExists();
  return env.JOURNAL_STREAM !== undefined && env.JOURNAL_STREAM !== '' && socketExists();
}
