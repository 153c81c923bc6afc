/**
 * What the soak reads out of the daemon's log: states that outlived their own deadline (from the
 * `conversation_to`/`link_to` transition lines), a conversation that shows "ready to talk" while
 * the link is down, and the lines at error level and above. Pure: records in, findings out.
 */
import type { Config } from '../src/config/schema.js';
import { epochMs, type LogRecord } from './soak-daemon.js';

/** The limit of each waiting state, in ms; a state not listed waits for nothing (idle, ready…). */
export interface StateLimits {
  readonly conversation: Readonly<Record<string, number>>;
  readonly link: Readonly<Record<string, number>>;
}

/** attempt.ts: a close we asked for is terminated after this grace (not configurable). */
export const CLOSE_GRACE_MS = 1_000;

/**
 * The deadlines of design.md §3.2–3.3 as the daemon arms them, with the same composition as the
 * watchdog's wedge check (system/service.ts), made exact for the states whose deadline is re-armed
 * without a logged transition (a self-transition is not logged, core/state.ts):
 * - link `connecting`: a credential refresh (bounded by handshakeTimeoutMs) then the upgrade itself;
 * - link `backoff`: the largest delay — the backoff cap, or the refresh rate bound after a refused
 *   token where the build has one (refreshMinIntervalMs) — plus the spacing of a press (backoffBaseMs);
 * - conversation `listening`: the listen deadline, then the reply deadline re-armed at release/stt;
 * - conversation `speaking`: re-armed by every packet, so the longest reply the server can send
 *   (its utterance cap, paced in real time, and its tail) plus the deadline after the last packet.
 */
export function stateLimits(
  config: Pick<Config, 'connection' | 'conversation'>,
  server: { readonly maxUtteranceMs: number; readonly ttsTailMs: number },
): StateLimits {
  const c = config.connection;
  const v = config.conversation;
  return {
    link: {
      connecting: 2 * c.handshakeTimeoutMs,
      handshaking: c.helloTimeoutMs,
      backoff: Math.max(c.backoffCapMs, refreshMinIntervalMs(c)) + c.backoffBaseMs,
      closing: CLOSE_GRACE_MS,
    },
    conversation: {
      connecting: v.listenDeadlineMs,
      listening: v.listenDeadlineMs + v.replyDeadlineMs,
      speaking: server.maxUtteranceMs + server.ttsTailMs + v.speakingDeadlineMs,
      error: v.errorDisplayMs,
    },
  };
}

function refreshMinIntervalMs(c: object): number {
  return 'refreshMinIntervalMs' in c && typeof c.refreshMinIntervalMs === 'number'
    ? c.refreshMinIntervalMs
    : 0;
}

export interface StuckState {
  readonly machine: 'conversation' | 'link';
  readonly state: string;
  readonly ms: number;
  readonly limitMs: number;
  /** When it was entered (or its deadline last re-armed), ISO. */
  readonly since: string;
  /** The transition that ended it, or "still in it at the end". */
  readonly endedBy: string;
  /** What the soak was doing (fault and phase). */
  readonly context: string;
}

export interface Mismatch {
  readonly conversation: string;
  readonly link: string;
  readonly ms: number;
  readonly since: string;
  readonly context: string;
}

interface Track {
  state: string;
  since: number;
  context: string;
}

/** Conversation states that tell the user "talk to me" and need a ready link. */
const NEEDS_LINK = new Set(['idle', 'listening', 'speaking']);

export class DeadlineMonitor {
  readonly stuck: StuckState[] = [];
  readonly mismatches: Mismatch[] = [];
  /** State durations seen, by machine and state: count and the longest. */
  readonly longest = new Map<string, { n: number; maxMs: number }>();
  #conv: Track | undefined;
  #link: Track | undefined;
  #mismatchSince: number | undefined;
  #mismatchContext = '';
  #finished = false;

  constructor(
    readonly limits: StateLimits,
    readonly marginMs: number,
    /** Mismatches shorter than this are the few ms between two lines of one synchronous step. */
    readonly mismatchGraceMs: number,
    private readonly context: () => string,
  ) {}

  /** A new daemon process: its states start over (offline/offline). */
  restart(at: number): void {
    this.#conv = { state: 'offline', since: at, context: this.context() };
    this.#link = { state: 'offline', since: at, context: this.context() };
    this.#mismatchSince = undefined;
  }

  feed(r: LogRecord): void {
    if (this.#finished) return;
    const t = epochMs(r);
    if (typeof r.conversation_to === 'string') {
      this.#conv = this.#close('conversation', this.#conv, t, r.msg, r.conversation_to);
    }
    if (typeof r.link_to === 'string') {
      this.#link = this.#close('link', this.#link, t, r.msg, r.link_to);
    }
    const input = r.input;
    const conv = this.#conv;
    if (typeof input === 'string' && r.level === 20 && conv && r.msg.startsWith('input ')) {
      // Gestures that re-arm a deadline without a logged transition (conversation/gestures.ts).
      if (
        (conv.state === 'connecting' && input === 'longPress') ||
        (conv.state === 'listening' && (input === 'press' || input === 'release'))
      ) {
        conv.since = t;
      }
    }
    this.#checkMismatch(t);
  }

  /** The states the daemon is still in count too: a wait that never ended is the worst kind. */
  finish(at: number): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#close('conversation', this.#conv, at, 'still in it at the end', undefined);
    this.#close('link', this.#link, at, 'still in it at the end', undefined);
    this.#checkMismatch(at, true);
  }

  #close(
    machine: 'conversation' | 'link',
    track: Track | undefined,
    t: number,
    endedBy: string,
    next: string | undefined,
  ): Track | undefined {
    if (track) {
      const ms = t - track.since;
      const key = `${machine} ${track.state}`;
      const seen = this.longest.get(key) ?? { n: 0, maxMs: 0 };
      seen.n++;
      seen.maxMs = Math.max(seen.maxMs, ms);
      this.longest.set(key, seen);
      const limit = this.limits[machine][track.state];
      if (limit !== undefined && ms > limit + this.marginMs) {
        this.stuck.push({
          machine,
          state: track.state,
          ms,
          limitMs: limit,
          since: new Date(track.since).toISOString(),
          endedBy,
          context: track.context,
        });
      }
    }
    return next === undefined ? undefined : { state: next, since: t, context: this.context() };
  }

  #checkMismatch(t: number, final = false): void {
    const conv = this.#conv?.state;
    const link = this.#link?.state;
    const bad = conv !== undefined && link !== undefined && NEEDS_LINK.has(conv) && link !== 'ready';
    if (bad && !final) {
      if (this.#mismatchSince === undefined) {
        this.#mismatchSince = t;
        this.#mismatchContext = this.context();
      }
      return;
    }
    const since = this.#mismatchSince;
    if (since === undefined) return;
    this.#mismatchSince = undefined;
    if (t - since > this.mismatchGraceMs) {
      this.mismatches.push({
        conversation: conv ?? '?',
        link: link ?? '?',
        ms: t - since,
        since: new Date(since).toISOString(),
        context: this.#mismatchContext,
      });
    }
  }
}

export interface ErrorLine {
  readonly level: number;
  readonly code: string;
  readonly msg: string;
  readonly context: string;
  readonly time: string;
}

/**
 * Lines at error level and above. A refused token is expected while the soak rotates the server's
 * key; anything else at that level is a finding, and so is a fatal line or a broken invariant.
 */
export class LogAudit {
  readonly unexpected: ErrorLine[] = [];
  expectedAuthErrors = 0;
  fatal = 0;
  invariant = 0;
  readonly warnings = new Map<string, number>();
  /** How every turn of the run ended (per-turn lines), whoever started it. */
  readonly outcomes = new Map<string, number>();

  constructor(
    private readonly context: () => string,
    private readonly expected: (code: string, context: string) => boolean,
  ) {}

  feed(r: LogRecord): void {
    const text = `${r.msg} ${typeof r.err === 'string' ? r.err : ''}`;
    if (/invariant/i.test(text)) this.invariant++;
    const turn = r.turn;
    if (typeof turn === 'object' && turn !== null && 'outcome' in turn && 'trigger' in turn) {
      const key = `${String(turn.trigger)} → ${String(turn.outcome)}`;
      this.outcomes.set(key, (this.outcomes.get(key) ?? 0) + 1);
    }
    if (r.level === 40) {
      const key = r.msg.replace(/\d+/g, 'N').slice(0, 80);
      this.warnings.set(key, (this.warnings.get(key) ?? 0) + 1);
    }
    if (r.level < 50) return;
    if (r.level >= 60) this.fatal++;
    const code = typeof r.code === 'string' ? r.code : '-';
    const context = this.context();
    if (r.level < 60 && this.expected(code, context)) {
      this.expectedAuthErrors++;
      return;
    }
    if (this.unexpected.length < 200) {
      this.unexpected.push({ level: r.level, code, msg: r.msg, context, time: r.time ?? '' });
    }
  }
}
