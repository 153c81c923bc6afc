/**
 * One turn of the conversation and its latency timeline (design.md §3.6): press → first frame sent
 * → stt → tts start → first audio → tts stop, as millisecond offsets from the turn's start. A turn
 * ends exactly once and is then reported as one record (one info log line, one 'turn' event).
 */
import type { ListenMode } from '../protocol/messages.js';
import { BoundedQueue } from './bounded-queue.js';

/**
 * What started the turn: the button (`click` in toggle mode, `press` in push-to-talk), the wake
 * word (`wake`, wake.ts), the automatic return to listening after a reply in auto mode (`auto`,
 * protocol.md §11.9), or a `tts start` the server sent while the device was idle (`server`).
 */
export type TurnTrigger = 'click' | 'press' | 'wake' | 'auto' | 'server';

export type TurnMilestone =
  | 'connected'
  | 'firstFrameSent'
  | 'detect'
  | 'released'
  | 'stt'
  | 'ttsStart'
  | 'firstAudio'
  | 'ttsStop'
  | 'playedOut';

const MILESTONE_LABELS: Readonly<Record<TurnMilestone, string>> = {
  connected: 'connected',
  firstFrameSent: 'first frame',
  detect: 'listen detect',
  released: 'released',
  stt: 'stt',
  ttsStart: 'tts start',
  firstAudio: 'first audio',
  ttsStop: 'tts stop',
  playedOut: 'played out',
};
const MILESTONE_ORDER: readonly TurnMilestone[] = [
  'connected',
  'firstFrameSent',
  'detect',
  'released',
  'stt',
  'ttsStart',
  'firstAudio',
  'ttsStop',
  'playedOut',
];

/** How a turn ended; stable strings, they appear in logs. */
export type TurnOutcome =
  | 'reply' // tts stop after a reply (or an empty reply)
  | 'cancelled' // the user stopped it with the button
  | 'barge-in' // the user interrupted the reply to talk again
  | 'lost' // the connection ended under it
  | 'send-failed' // a listen frame could not be sent (protocol.md §5.1; the seed bug of design.md §1)
  | 'deadline' // a deadline of design.md §3.3 fired
  | 'no-follow-up' // auto mode: nobody spoke again after the reply
  | 'connect-timeout' // pressed while offline, the connection did not come in time
  | 'reconnect' // long press
  | 'fault' // the mic or the speaker failed
  | 'activating' // the device went to activation
  | 'stopped'; // the daemon is stopping

export interface TurnTimeline {
  readonly trigger: TurnTrigger;
  readonly mode: ListenMode;
  readonly outcome: TurnOutcome;
  /** Clock time of the press (or of the automatic start). */
  readonly startedAt: number;
  readonly durationMs: number;
  /** First occurrence of each milestone, ms after `startedAt`; absent when it never happened. */
  readonly milestones: Readonly<Partial<Record<TurnMilestone, number>>>;
  /** Uplink Opus packets handed to the session. */
  readonly framesSent: number;
  /** Uplink packets the session refused (not ready or over its buffer bound; design.md §3.2). */
  readonly framesRefused: number;
  /** Packets said while connecting that fell out of the bounded pre-connect queue. */
  readonly framesOverflowed: number;
  readonly packetsPlayed: number;
  readonly packetsUndecodable: number;
}

/**
 * What a wake word's turn sends before its `listen start` (protocol.md §5.1, §11.10): the wake word's
 * own audio as Opus packets, then `listen detect` with the phrase. Kept until it has gone out, so a
 * link lost under it sends it whole on the next session.
 */
export interface WakeOpening {
  readonly phrase: string;
  readonly packets: readonly Buffer[];
}

export class Turn {
  readonly #marks = new Map<TurnMilestone, number>();
  readonly #pending: BoundedQueue<Buffer>;
  /** Listening detail: the uplink is closed (listen stop sent or stt received); waiting for `tts start`. */
  awaitingReply = false;
  /** Push-to-talk while connecting: the button was released before the connection came. */
  released = false;
  /**
   * Speaking detail: `tts stop` came in auto mode and the speaker is playing out its tail; the
   * turn ends, and the next one listens, once it has (turn-context.ts playOut).
   */
  playingOut = false;
  /** A wake word's turn until its opening went out (opening.ts); undefined for every other turn. */
  wakeOpening: WakeOpening | undefined;
  framesSent = 0;
  framesRefused = 0;
  packetsPlayed = 0;
  packetsUndecodable = 0;

  constructor(
    readonly trigger: TurnTrigger,
    readonly mode: ListenMode,
    readonly startedAt: number,
    pendingCapacity: number,
  ) {
    this.#pending = new BoundedQueue(pendingCapacity);
  }

  /** Auto mode listens again after the reply (protocol.md §11.9); a server-initiated reply does not. */
  get followUp(): boolean {
    return this.mode === 'auto' && this.trigger !== 'server';
  }

  /**
   * Whether the mic's pre-roll (the ~300 ms before the mic was started) belongs to this turn. Not
   * for a wake word: its own audio, sent first, already ends at the detection, and the pre-roll would
   * repeat the wake word's last syllables (or, barging in, the device's own voice).
   */
  get takesPreroll(): boolean {
    return this.trigger !== 'wake';
  }

  reached(milestone: TurnMilestone): boolean {
    return this.#marks.has(milestone);
  }

  /** Records the first occurrence of a milestone; later ones are ignored. */
  mark(milestone: TurnMilestone, now: number): void {
    if (!this.#marks.has(milestone)) this.#marks.set(milestone, now - this.startedAt);
  }

  /** Keeps a packet said before the connection was ready; the oldest goes when full. */
  hold(packet: Buffer): void {
    this.#pending.push(packet);
  }

  get held(): number {
    return this.#pending.size;
  }

  takeHeld(): Buffer[] {
    return this.#pending.drain();
  }

  finish(outcome: TurnOutcome, now: number): TurnTimeline {
    this.#pending.clear();
    const milestones: Partial<Record<TurnMilestone, number>> = {};
    for (const m of MILESTONE_ORDER) {
      const at = this.#marks.get(m);
      if (at !== undefined) milestones[m] = at;
    }
    return {
      trigger: this.trigger,
      mode: this.mode,
      outcome,
      startedAt: this.startedAt,
      durationMs: now - this.startedAt,
      milestones,
      framesSent: this.framesSent,
      framesRefused: this.framesRefused,
      framesOverflowed: this.#pending.dropped,
      packetsPlayed: this.packetsPlayed,
      packetsUndecodable: this.packetsUndecodable,
    };
  }
}

/** One human line for the journal: `turn click/auto → reply: first frame +60, stt +1800 … (4210 ms)`. */
/**
 * Reply latency of a turn: its first TTS audio after the user finished speaking, i.e. the button's
 * release in push-to-talk, else the server's `stt`. Undefined when the turn had no reply audio, or
 * when the audio came first (a clock oddity, not a latency). The one definition the metrics
 * histogram and the fleet report (which reads the milestones back from the journal) share.
 */
export function replyLatencyMs(m: Readonly<Partial<Record<TurnMilestone, number>>>): number | undefined {
  const end = m.firstAudio;
  const from = m.released ?? m.stt;
  if (end === undefined || from === undefined || end < from) return undefined;
  return end - from;
}

export function formatTurn(r: TurnTimeline): string {
  const steps = MILESTONE_ORDER.flatMap((m) => {
    const at = r.milestones[m];
    return at === undefined ? [] : [`${MILESTONE_LABELS[m]} +${Math.round(at)}`];
  });
  const counts = [`${r.framesSent} frames sent`];
  if (r.framesRefused > 0) counts.push(`${r.framesRefused} refused`);
  if (r.framesOverflowed > 0) counts.push(`${r.framesOverflowed} overflowed`);
  if (r.packetsPlayed > 0) counts.push(`${r.packetsPlayed} packets played`);
  if (r.packetsUndecodable > 0) counts.push(`${r.packetsUndecodable} undecodable`);
  const timeline = steps.length > 0 ? `: ${steps.join(', ')}` : '';
  return `turn ${r.trigger}/${r.mode} → ${r.outcome}${timeline} (${Math.round(r.durationMs)} ms; ${counts.join(', ')})`;
}
