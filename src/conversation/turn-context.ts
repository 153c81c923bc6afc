/**
 * The conversation's shared core (design.md §3.3): the one state field, the resources a turn holds
 * (mic, speaker, the turn itself, its deadline) and the one transition path. The button gestures
 * (gestures.ts), the server's replies (replies.ts) and the facade (conversation.ts) all act through
 * it. Internal to this folder: its fields are public only so those three files can share them.
 *
 * Re-entrancy: `session.send()` may report a loss synchronously (a failed write is a fault the
 * supervisor handles at once). Code that calls out therefore puts its own state in order first, or
 * checks `epoch` (bumped on every transition) before taking its next step.
 */
import type { Logger } from 'pino';
import { type AudioSink, type AudioSource, FRAME_MS } from '../audio/audio-port.js';
import type { OpusDecoder, OpusEncoder } from '../audio/opus.js';
import type { ConversationConfig } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import { StateCell } from '../core/state.js';
import type { ClientMessage, ListenMode } from '../protocol/messages.js';
import { linkAtRest, type SessionPort } from '../session/session-port.js';
import { MessageId } from '../system/message-ids.js';
import type { ConversationState } from './conversation-state.js';
import { type DeadlineKind, DeadlineSlot, deadlineFor } from './deadlines.js';
import { ReplyGate } from './reply-gate.js';
import { formatTurn, Turn, type TurnOutcome, type TurnTimeline, type TurnTrigger } from './turn-timeline.js';

export interface ConversationDeps {
  readonly session: SessionPort;
  readonly source: AudioSource;
  readonly sink: AudioSink;
  readonly encoder: OpusEncoder;
  readonly decoder: OpusDecoder;
  readonly clock: Clock;
  readonly config: ConversationConfig;
  /**
   * The wake word (wake.ts): `duringSpeech` (absent: a wake word while speaking is ignored), and the
   * encoder of the wake word's own audio (absent: the uplink's).
   */
  readonly wakeWord?: { readonly duringSpeech: boolean; readonly encoder?: OpusEncoder };
  /** Expected to carry `component: 'conversation'` already (the composition root names components). */
  readonly log: Logger;
  /**
   * False while the privacy mute is on (audio/privacy.ts): auto mode then opens no follow-up turn
   * after a reply. Absent = always allowed. Presses are refused before they get here (daemon.ts).
   */
  readonly micAllowed?: () => boolean;
}

/** ≤ 1 s of uplink said while connecting: 16 × 60 ms = 960 ms, oldest dropped first (design.md §5.11). */
export const PENDING_FRAMES = Math.floor(1000 / FRAME_MS);

export const LISTEN_STOP: ClientMessage = { type: 'listen', state: 'stop' };
export const ABORT: ClientMessage = { type: 'abort' };

export function listenStart(mode: ListenMode): ClientMessage {
  return { type: 'listen', state: 'start', mode };
}

/**
 * What the speaker is doing for us: nothing, a reply stream we are feeding (between `tts start` and
 * `tts stop`), or the tail of a complete reply it is still playing out (after `end()`, until
 * 'drained'). A complete reply plays to its last sample whatever happens to the link; only a press
 * (or a stop) cuts a tail (issue "Against a real xiaozhi server" §3).
 */
export type SpeakerState = 'silent' | 'stream' | 'tail';

/** Where a starting turn's speech goes: to the server now, or held until the link is ready. */
export type TurnUplink = 'open' | 'held';

/** What the facade is told besides state changes (conversation.ts turns them into events). */
export interface TurnHooks {
  /** A person's turn started taking their speech (see TurnContext#announce). */
  readonly listening?: (trigger: TurnTrigger, uplink: TurnUplink) => void;
  /** The speaker's state changed (a reply stream opened, its tail plays, silence). */
  readonly speaker?: (to: SpeakerState) => void;
}

export class TurnContext {
  readonly cell: StateCell<ConversationState>;
  readonly deadline: DeadlineSlot;
  turn: Turn | undefined;
  /** The mic was started by us and not stopped since. */
  micOn = false;
  /** The speaker's one state field; changed only through the playback* methods and drained(). */
  speaker: SpeakerState = 'silent';
  /** After a cancel, refuses what answers the cancelled utterance (reply-gate.ts). */
  readonly gate: ReplyGate;
  /** Bumped on every change of state: lets a caller see that an event during its call moved things. */
  epoch = 0;
  activationCode: string | undefined;
  discardedPackets = 0;

  /** The last turn announced through `hooks.listening`, per phase, so each is told once. */
  #announced: { readonly turn: Turn; readonly uplink: TurnUplink } | undefined;

  constructor(
    readonly d: ConversationDeps,
    private readonly onDeadline: (kind: DeadlineKind) => void,
    private readonly onTurn: (timeline: TurnTimeline) => void,
    private readonly hooks: TurnHooks = {},
  ) {
    this.cell = new StateCell<ConversationState>('offline', d.log, 'conversation');
    this.deadline = new DeadlineSlot(d.clock);
    this.gate = new ReplyGate(d.log);
  }

  /** A TTS stream is open on the speaker (begin called, neither end nor abort since). */
  get sinkOpen(): boolean {
    return this.speaker === 'stream';
  }

  get state(): ConversationState {
    return this.cell.value;
  }

  now(): number {
    return this.d.clock.now();
  }

  /** The one transition path: clears the old state's deadline, arms the new one's, logs. */
  enter(to: ConversationState, reason: string, extra?: Record<string, unknown>): void {
    if (to !== this.state) this.epoch++;
    this.arm(to);
    this.cell.transition(to, reason, extra);
    this.#announce(to);
  }

  /**
   * A person's turn (not auto mode's return to listening, not speech the server started) begins to
   * take their speech: at once when it enters listening, or held while the link comes (connecting).
   * Told here, on the one transition path, so every way into a turn (button gestures, the pending
   * turn on ready, and any other input that reuses begin()/openTurn) is told the same, once per
   * turn and phase. Same-state entries count too: a push-to-talk press while waiting for a reply
   * opens a new turn without leaving listening.
   */
  #announce(to: ConversationState): void {
    const turn = this.turn;
    const listening = this.hooks.listening;
    if (!listening || !turn || turn.trigger === 'auto' || turn.trigger === 'server') return;
    const uplink: TurnUplink | undefined =
      to === 'listening' ? 'open' : to === 'connecting' ? 'held' : undefined;
    if (uplink === undefined) return;
    const seen = this.#announced;
    if (seen?.turn === turn && (seen.uplink === uplink || uplink === 'held')) return;
    this.#announced = { turn, uplink };
    listening(turn.trigger, uplink);
  }

  /** Arms the deadline `state` must have (re-arming restarts it), or none. */
  arm(state: ConversationState): void {
    const spec = deadlineFor(state, this.turn?.awaitingReply ?? false, this.d.config);
    if (spec) this.deadline.arm(spec, this.onDeadline);
    else this.deadline.clear();
  }

  /** Back to rest: idle when the link allows it, else offline. Never called with a turn open. */
  recover(reason: string): void {
    this.enter(linkAtRest(this.d.session.state) ? 'idle' : 'offline', reason);
  }

  /** `preroll: false` for auto mode's return to listening: the buffered audio is our own reply. */
  micStart(preroll = true): void {
    if (this.micOn) return;
    this.micOn = true;
    this.d.source.start({ preroll });
  }

  micStop(): void {
    if (!this.micOn) return;
    this.micOn = false;
    this.d.source.stop();
  }

  /** A reply starts: fresh decoder state (protocol.md §11.8), playback at our fixed rate (§4.3). */
  playbackBegin(): void {
    this.d.decoder.reset();
    this.d.sink.begin(this.d.decoder.rate);
    this.#speakerTo('stream', 'tts start');
  }

  /** The reply is complete: let the speaker play out what it has. */
  playbackEnd(): void {
    if (this.speaker !== 'stream') return;
    // State first: a sink with nothing queued may report 'drained' inside end().
    this.#speakerTo('tail', 'tts stop: playing out');
    this.d.sink.end();
  }

  /** Silence now, a draining tail included (a press, a stop, a fault: protocol.md §11.11). */
  playbackAbort(): void {
    this.#speakerTo('silent', 'silenced');
    this.d.sink.abort();
  }

  /**
   * The sink played out everything it had. Returns whether it was the tail of a complete reply
   * (the sink may also report the end of a stream we aborted or never fed).
   */
  drained(): boolean {
    if (this.speaker !== 'tail') return false;
    this.#speakerTo('silent', 'played out');
    return true;
  }

  #speakerTo(to: SpeakerState, why: string): void {
    if (this.speaker === to) return;
    this.d.log.trace(
      { speaker_from: this.speaker, speaker_to: to },
      `speaker ${this.speaker} → ${to}: ${why}`,
    );
    this.speaker = to;
    this.hooks.speaker?.(to);
  }

  /**
   * Every abrupt exit: mic off and the turn reported at once. The speaker is silenced too, except
   * with `tail: 'keep'` (a lost link): then only an incomplete reply is cut, and a complete one
   * plays to its last sample (§3 of the issue: xinnan closes ~3 ms after its farewell's `tts stop`).
   */
  teardown(outcome: TurnOutcome, tail: 'cut' | 'keep' = 'cut'): void {
    this.micOn = false;
    this.d.source.stop();
    if (tail === 'cut' || this.speaker === 'stream') this.playbackAbort();
    this.endTurn(outcome);
  }

  /**
   * A cancel (design.md §3.3): tell the server to stop (`abort`, never `listen stop`: xinnan
   * recognises what it has on a `listen stop` in every mode and would answer the cancelled
   * utterance, [SRV core/handle/textHandler/listenMessageHandler.py]) and refuse whatever still
   * answers it until the next `listen start` (reply-gate.ts). `abort` is what the firmware sends
   * to stop the server (protocol.md §5.1, §6.3); xinnan stops its LLM/TTS and answers `tts stop`,
   * which the idle device ignores. The gate is shut before the send: an answer can come at any time.
   */
  cancelOnServer(why: string): void {
    this.gate.refuse(why);
    this.send(ABORT, 'abort');
  }

  endTurn(outcome: TurnOutcome): void {
    const turn = this.turn;
    if (!turn) return;
    this.turn = undefined;
    // A reply whose tts stop came is a reply, however its tail ends (a click, a loss, a stop).
    const timeline = turn.finish(turn.playingOut ? 'reply' : outcome, this.now());
    this.d.log.info({ message_id: MessageId.TurnEnded, turn: timeline }, formatTurn(timeline));
    this.onTurn(timeline);
  }

  newTurn(trigger: TurnTrigger, mode: ListenMode): Turn {
    return new Turn(trigger, mode, this.now(), PENDING_FRAMES);
  }

  /** The open turn of listening/speaking; its absence there is a programmer error. */
  current(): Turn {
    if (!this.turn) throw new Error(`conversation in ${this.state} without a turn`);
    return this.turn;
  }

  /** Guarded send (design.md §1.1): never throws; a false is logged here and handled by the caller. */
  send(message: ClientMessage, what: string): boolean {
    const ok = this.d.session.send(message);
    if (!ok) this.d.log.debug({ what }, `${what} not sent: connection not ready`);
    // The device asks for a new utterance: from here on the server's answers are for it.
    else if (message.type === 'listen' && message.state === 'start') this.gate.open('listen start sent');
    return ok;
  }

  /**
   * A send the turn depends on. False means stop here: either it failed (handled: → offline) or an
   * event reported during the send already moved the state and cleaned up after itself.
   */
  sendOrFail(message: ClientMessage, what: string): boolean {
    const epoch = this.epoch;
    const ok = this.send(message, what);
    if (epoch !== this.epoch) return false;
    if (!ok) this.sendFailed(what);
    return ok;
  }

  /**
   * The seed bug (design.md §1): the socket went away under the turn. Nothing stays half open and
   * nothing is terminal: the supervisor reports the loss and reconnects, `ready` brings back idle.
   */
  sendFailed(what: string): void {
    this.teardown('send-failed');
    this.enter('offline', `${what} not sent: connection not ready`);
  }

  /** Sends `listen start`, then listens. The turn is installed first so a loss during the send ends it. */
  openTurn(turn: Turn, reason: string, preroll = turn.takesPreroll): void {
    this.turn = turn;
    if (!this.sendOrFail(listenStart(turn.mode), 'listen start')) return;
    // Listening first: a pre-roll source hands over its buffered frames inside start(), and those
    // must go out as this turn's first audio (design.md §3.4), not be held as if still connecting.
    this.enter('listening', reason);
    this.micStart(preroll);
  }

  /**
   * Auto mode's `tts stop`: the reply is complete but the speaker still has its tail to play. As the
   * firmware (protocol.md §6.1: listen start deferred in auto mode until playback has drained), the
   * mic reopens only once it has, or it would stream the device's own voice to the server's VAD.
   * The state stays `speaking` (the LED says what the speaker does) under the speaking deadline;
   * the sink's 'drained' (or its fault, or the deadline) calls finishPlayOut.
   */
  playOut(turn: Turn): void {
    turn.playingOut = true;
    this.enter('speaking', 'tts stop: the speaker plays out the reply, then listening again (auto)');
    // Last: a sink with nothing queued may report 'drained' inside end().
    this.playbackEnd();
  }

  /** The tail has played (or never will): the reply turn ends, a new one listens, fresh audio only. */
  finishPlayOut(reason: string): void {
    const turn = this.turn;
    if (this.state !== 'speaking' || !turn?.playingOut) return;
    turn.mark('playedOut', this.now());
    this.endTurn('reply');
    this.openFollowUp(reason);
  }

  /**
   * Auto mode listens again after a reply (protocol.md §11.9), but only if the `listen start` can go
   * out. The server may be closing the session right after its `tts stop` (xinnan's farewell, exit
   * command or exit intent close ~3 ms after it: protocol.md §8.1 rows 3, 5, 6): then its close frame
   * is in while the socket's 'close' event, and so the link's state, still lag behind. That is a
   * routine end, not a failed turn: no turn is opened, the device goes offline, and the supervisor's
   * loss and reconnect follow.
   */
  openFollowUp(reason: string): void {
    if (this.d.micAllowed?.() === false) {
      // The person muted the mic while the reply played: it plays to its end, nobody is heard after.
      this.recover('reply complete; mic muted: no follow-up turn');
      return;
    }
    const epoch = this.epoch;
    const link = this.d.session.state;
    const sent = link === 'ready' && this.send(listenStart('auto'), 'listen start');
    if (epoch !== this.epoch) return; // a loss reported during the send moved things already
    if (sent) {
      this.turn = this.newTurn('auto', 'auto');
      this.enter('listening', reason);
      this.micStart(false);
      return;
    }
    this.enter(
      link === 'idle' ? 'idle' : 'offline',
      link === 'ready'
        ? 'reply complete; the server is closing the session: no follow-up turn'
        : `reply complete; link ${link}: no follow-up turn`,
    );
  }

  sendPacket(turn: Turn, packet: Buffer): void {
    if (this.d.session.sendAudio(packet)) {
      turn.framesSent++;
      turn.mark('firstFrameSent', this.now());
    } else {
      // Counted, not an error: a refused frame is the supervisor's business (design.md §3.2).
      turn.framesRefused++;
    }
  }
}
