/**
 * The turn state machine (design.md §3.3): button gestures become listen/abort messages, server
 * messages move the device between listening and speaking, deadlines make sure no wait is endless,
 * and a lost connection never leaves a turn half open. Nothing is terminal.
 *
 * This file is the facade: lifecycle, subscriptions, the connection's events, faults and deadlines.
 * The one state field and the transition path live in turn-context.ts; gestures.ts and replies.ts
 * hold the button's and the server's halves of a turn, wake.ts the wake word's.
 */
import { EventEmitter } from 'node:events';
import { ErrorCode, type Fault } from '../core/errors.js';
import type { InputEvent } from '../hardware/input.js';
import type { ServerMessage } from '../protocol/messages.js';
import { type LinkLoss, type LinkState, linkAtRest } from '../session/session-port.js';
import type { ConversationState } from './conversation-state.js';
import type { DeadlineKind } from './deadlines.js';
import { handleInput, startPendingTurn } from './gestures.js';
import { type ConversationSnapshot, checkInvariants, invariantBreach } from './invariants.js';
import { handleAudio, handleMessage } from './replies.js';
import { type ConversationDeps, type SpeakerState, TurnContext, type TurnUplink } from './turn-context.js';
import type { TurnTimeline, TurnTrigger } from './turn-timeline.js';
import { handleWake, type WakeCall } from './wake.js';

export type { ConversationState } from './conversation-state.js';
export {
  type ConversationDeps,
  PENDING_FRAMES,
  type SpeakerState,
  type TurnUplink,
} from './turn-context.js';
export type { TurnMilestone, TurnOutcome, TurnTimeline, TurnTrigger } from './turn-timeline.js';
export type { WakeCall } from './wake.js';

export interface ConversationEvents {
  state: [to: ConversationState, from: ConversationState, reason: string];
  /** Once per turn, when it ends: its latency timeline and counters. */
  turn: [timeline: TurnTimeline];
  /**
   * A person's turn (button, wake word; not auto mode's follow-up) started taking their speech:
   * `open` once its uplink is open (listen start sent), `held` while it waits for the link (what is
   * said is kept for the connection). Told before the turn's first frames go out.
   */
  listening: [trigger: TurnTrigger, uplink: TurnUplink];
  /** The speaker changed: a reply stream opened, its complete tail plays out, or it fell silent. */
  speaker: [to: SpeakerState];
}

const TURN_DEADLINES = {
  listen: { code: ErrorCode.ListenDeadline, what: 'no stt/tts reply' },
  reply: { code: ErrorCode.ReplyDeadline, what: 'no tts start after the utterance' },
  speaking: { code: ErrorCode.SpeakingDeadline, what: 'no audio and no tts stop' },
} as const;

export class Conversation extends EventEmitter<ConversationEvents> {
  readonly #d: ConversationDeps;
  readonly #ctx: TurnContext;
  #started = false;
  /** Nesting of #step: an event reported while another is being handled. */
  #depth = 0;

  // Bound once so stop() removes exactly the listeners start() added. Each event is one step.
  readonly #onReady = (): void => this.#step(() => this.#linkReady());
  readonly #onLost = (loss: LinkLoss): void => this.#step(() => this.#linkLost(loss));
  readonly #onLinkState = (to: LinkState, _from: LinkState, reason: string): void =>
    this.#step(() => this.#linkState(to, reason));
  readonly #onMessage = (message: ServerMessage): void => this.#step(() => handleMessage(this.#ctx, message));
  readonly #onAudio = (packet: Buffer): void => this.#step(() => handleAudio(this.#ctx, packet));
  readonly #onFrame = (pcm: Buffer): void => this.#step(() => this.#frame(pcm));
  readonly #onMicFault = (f: Fault): void => this.#step(() => this.#fault('mic', f));
  readonly #onSpeakerFault = (f: Fault): void => this.#step(() => this.#fault('speaker', f));
  readonly #onDrained = (): void => this.#step(() => this.#drained());

  constructor(deps: ConversationDeps) {
    super();
    this.#d = deps;
    this.#ctx = new TurnContext(
      deps,
      (kind) => this.#step(() => this.#deadline(kind)),
      (timeline) => this.emit('turn', timeline),
      {
        listening: (trigger, uplink) => this.emit('listening', trigger, uplink),
        speaker: (to) => this.emit('speaker', to),
      },
    );
    this.#ctx.cell.on('change', (to, from, reason) => this.emit('state', to, from, reason));
  }

  get state(): ConversationState {
    return this.#ctx.state;
  }

  /** The code to show while `activating` (for STATUS). */
  get activationCode(): string | undefined {
    return this.#ctx.activationCode;
  }

  /** The conversation has the mic running: listening with the uplink open, or a press held while connecting. */
  get sourceRunning(): boolean {
    return this.#ctx.micOn;
  }

  /** A TTS stream is open on the speaker (exactly while speaking). */
  get playbackOpen(): boolean {
    return this.#ctx.sinkOpen;
  }

  /** What the speaker does for the conversation: a reply streaming or playing out its tail, or nothing. */
  get speaker(): SpeakerState {
    return this.#ctx.speaker;
  }

  /** Downlink packets dropped because they arrived outside `speaking` (protocol.md §4.2). */
  get discardedPackets(): number {
    return this.#ctx.discardedPackets;
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    const { session, source, sink } = this.#d;
    session.on('ready', this.#onReady);
    session.on('lost', this.#onLost);
    session.on('state', this.#onLinkState);
    session.on('message', this.#onMessage);
    session.on('audio', this.#onAudio);
    source.on('frame', this.#onFrame);
    source.on('fault', this.#onMicFault);
    sink.on('fault', this.#onSpeakerFault);
    sink.on('drained', this.#onDrained);
    if (this.state !== 'activating') this.#ctx.recover(`started (link ${session.state})`);
  }

  /** Unsubscribes, silences mic and speaker, clears every timer. Idempotent. */
  stop(): void {
    if (!this.#started) return;
    this.#started = false;
    const { session, source, sink } = this.#d;
    session.off('ready', this.#onReady);
    session.off('lost', this.#onLost);
    session.off('state', this.#onLinkState);
    session.off('message', this.#onMessage);
    session.off('audio', this.#onAudio);
    source.off('frame', this.#onFrame);
    source.off('fault', this.#onMicFault);
    sink.off('fault', this.#onSpeakerFault);
    sink.off('drained', this.#onDrained);
    this.#ctx.teardown('stopped');
    this.#ctx.enter('offline', 'stopped');
  }

  /** A debounced button gesture (design.md §3.3). Any sequence, in any state, leaves a consistent state. */
  input(event: InputEvent): void {
    if (!this.#started) {
      this.#d.log.debug({ input: event }, `input ${event} ignored: conversation not running`);
      return;
    }
    this.#step(() => handleInput(this.#ctx, event));
  }

  /**
   * The privacy mute came on (audio/privacy.ts, issue 15 §3): a turn that hears the person ends at
   * once, like a cancel: listening → mic off, rest, `abort` and its answer refused (so nothing said
   * before the mute is answered after it); a press kept while connecting is dropped with what it
   * held. A reply that plays goes on (the speaker is not the mic); auto mode then opens no
   * follow-up (ConversationDeps.micAllowed).
   */
  muteMic(reason: string): void {
    this.#step(() => this.#muteMic(reason));
  }

  #muteMic(reason: string): void {
    const ctx = this.#ctx;
    switch (ctx.state) {
      case 'listening':
        ctx.teardown('cancelled');
        ctx.recover(`mic muted (${reason}): listening ended`);
        ctx.cancelOnServer('mic muted');
        return;
      case 'connecting':
        if (!ctx.turn) return;
        ctx.teardown('cancelled');
        ctx.recover(`mic muted (${reason}): the pending turn and what it held dropped`);
        return;
      default:
        this.#d.log.debug(`mic muted in ${ctx.state}: no turn hears the person`);
    }
  }

  /** A wake word was heard (wake.ts): one more input of the same machine, like a press. */
  wake(call: WakeCall): void {
    if (!this.#started) {
      this.#d.log.debug(`wake word "${call.phrase}" ignored: conversation not running`);
      return;
    }
    const options = { duringSpeech: this.#d.wakeWord?.duringSpeech ?? false };
    this.#step(() => handleWake(this.#ctx, call, options));
  }

  /** OTA says the device must be activated (design.md §3.7): shown until `setActivating(undefined)`. */
  setActivating(code: string | undefined): void {
    this.#step(() => this.#setActivating(code));
  }

  #setActivating(code: string | undefined): void {
    const ctx = this.#ctx;
    if (code === undefined) {
      if (this.state !== 'activating') return;
      ctx.activationCode = undefined;
      ctx.recover('activation done');
      return;
    }
    ctx.activationCode = code;
    if (this.state === 'activating') return;
    ctx.teardown('activating');
    ctx.enter('activating', `activation required: code ${code}`, { activation_code: code });
  }

  /** Throws if mic, speaker, turn or deadline disagree with the state. For tests. */
  assertInvariants(): void {
    checkInvariants(this.#snapshot());
  }

  #snapshot(): ConversationSnapshot {
    const ctx = this.#ctx;
    return {
      state: ctx.state,
      started: this.#started,
      micOn: ctx.micOn,
      speaker: ctx.speaker,
      turn: ctx.turn,
      deadline: ctx.deadline.kind,
      activationCode: ctx.activationCode,
      config: this.#d.config,
    };
  }

  /**
   * Runs one event's handling; with `checkInvariants` on, then checks that the state it left holds
   * together. A breach is logged (an error the soak counts) rather than thrown: the device goes on,
   * and the next recovery path (a deadline, the link) puts it back in order.
   */
  #step(handle: () => void): void {
    // An event can arrive inside another's handling (a send that reports a loss at once,
    // turn-context.ts); the invariants hold between outermost events, not inside them.
    this.#depth++;
    try {
      handle();
    } finally {
      this.#depth--;
    }
    if (this.#depth > 0 || !this.#d.config.checkInvariants) return;
    const breach = invariantBreach(this.#snapshot());
    if (breach !== undefined) {
      this.#d.log.error(
        { code: ErrorCode.Invariant, state: this.state },
        `conversation invariant broken in ${this.state}: ${breach}`,
      );
    }
  }

  // ------------------------------------------------------------------ the connection

  #linkReady(): void {
    const ctx = this.#ctx;
    // Nothing of the old session can arrive on a new one: a cancel's refusal ends here.
    ctx.gate.open('new session');
    if (ctx.state === 'offline') ctx.enter('idle', 'connection ready');
    else if (ctx.state === 'connecting') {
      if (ctx.turn) startPendingTurn(ctx, ctx.turn);
      else ctx.enter('idle', 'connection ready');
    }
  }

  #linkLost(loss: LinkLoss): void {
    const s = this.state;
    if (s === 'idle' || s === 'listening' || s === 'speaking') this.#linkDown(loss.cause, loss.routine);
    else this.#d.log.debug(`connection lost in ${s} (${loss.cause}): nothing to undo`);
  }

  #linkState(to: LinkState, reason: string): void {
    // Becoming ready is carried by the 'ready' event: only from then on can frames be sent.
    if (to === 'ready') return;
    const s = this.state;
    // At rest the device stays idle through a link state that is a rest too (on-demand idle, or
    // a stale session being renewed on purpose: session-port.ts linkAtRest).
    if (s === 'listening' || s === 'speaking' || (s === 'idle' && !linkAtRest(to))) {
      this.#linkDown(`link ${to} (${reason})`, undefined);
    }
    if (to === 'idle' && this.state === 'offline') {
      this.#ctx.enter('idle', 'on-demand: no connection needed until the next press');
    }
  }

  /**
   * A lost connection (design.md §3.3): mic off and an incomplete reply cut at once, no turn half
   * open, offline. A complete reply (its `tts stop` came) plays to its last sample: xinnan closes
   * ~3 ms after the `tts stop` of a farewell (protocol.md §8.1 rows 3, 5, 6), and cutting there
   * would swallow the last 0.3–0.45 s the speaker still holds.
   */
  #linkDown(cause: string, routine: boolean | undefined): void {
    const ctx = this.#ctx;
    ctx.teardown('lost', 'keep');
    const tail = ctx.speaker === 'tail' ? '; the reply plays out to its end' : '';
    // A routine close (protocol.md §8) is not an error: an info transition, an offline indicator.
    ctx.enter('offline', `connection lost: ${cause}${tail}`, routine === undefined ? undefined : { routine });
  }

  /** The speaker has played everything it was given. */
  #drained(): void {
    const ctx = this.#ctx;
    if (!ctx.drained()) return; // the end of a stream we silenced or never fed: nothing to do
    if (ctx.state === 'speaking' && ctx.turn?.playingOut) {
      ctx.finishPlayOut('the reply played out: listening again (auto)');
      return;
    }
    // Push-to-talk's tail after tts stop, or a reply the link went away under: the operator's log
    // says the reply was heard to its end.
    this.#d.log.info(`the reply played out (${ctx.state})`);
  }

  // ------------------------------------------------------------------ audio devices

  #frame(pcm: Buffer): void {
    const ctx = this.#ctx;
    const turn = ctx.turn;
    // Frames still in flight after source.stop() belong to no turn.
    if (!turn || !ctx.micOn) return;
    const packet = this.#d.encoder.encode(pcm);
    if (ctx.state === 'listening') ctx.sendPacket(turn, packet);
    else turn.hold(packet);
  }

  #fault(device: 'mic' | 'speaker', fault: Fault): void {
    const ctx = this.#ctx;
    this.#d.log.warn({ code: fault.code }, `${device} fault: ${fault.message}`);
    if (device === 'speaker' && ctx.speaker === 'tail') {
      // The reply was complete; only its tail is lost, and no 'drained' will come.
      ctx.playbackAbort();
      if (ctx.turn?.playingOut)
        ctx.finishPlayOut("speaker fault during the reply's tail: listening again (auto)");
      return;
    }
    if (!(device === 'mic' ? ctx.micOn : ctx.sinkOpen)) return;
    // The turn cannot go on without it: end it visibly; the audio adapter retries by itself.
    const tell = ctx.state === 'speaking' || ctx.state === 'listening';
    ctx.teardown('fault');
    ctx.enter('error', `${device} fault (${fault.code})`);
    // A stop path like any other: the server must not answer what the dead mic half heard.
    if (tell) ctx.cancelOnServer(`${device} fault`);
  }

  // ------------------------------------------------------------------ deadlines (design.md §3.3)

  #deadline(kind: DeadlineKind): void {
    const ctx = this.#ctx;
    const { config, log } = this.#d;
    if (kind === 'error-display') {
      ctx.recover('error display over');
      return;
    }
    if (kind === 'connect') {
      if (!ctx.turn) {
        // After a long press nobody waits for a turn: show offline, the supervisor keeps trying.
        ctx.recover(`no connection within ${config.listenDeadlineMs} ms of the long press`);
        return;
      }
      const code = ErrorCode.ConnectFailed;
      log.warn(
        { code, deadline: kind, after_ms: config.listenDeadlineMs },
        `connect deadline: no connection within ${config.listenDeadlineMs} ms of the press; turn dropped`,
      );
      ctx.teardown('connect-timeout');
      ctx.enter('error', `connect deadline (${code})`);
      return;
    }
    const turn = ctx.current();
    if (kind === 'speaking' && turn.playingOut) {
      // The sink's own bound should have ended this first (its fault); a backstop, not an error.
      log.warn(
        { code: ErrorCode.AudioSink, deadline: kind, after_ms: config.speakingDeadlineMs },
        `the speaker did not finish the reply within ${config.speakingDeadlineMs} ms of tts stop; silenced, listening again`,
      );
      ctx.playbackAbort();
      ctx.finishPlayOut('play-out deadline: listening again (auto)');
      return;
    }
    const ms = {
      listen: config.listenDeadlineMs,
      reply: config.replyDeadlineMs,
      speaking: config.speakingDeadlineMs,
    }[kind];
    if (kind === 'listen' && turn.trigger === 'auto') {
      // Auto mode listened again after a reply and nobody spoke: the conversation is over, not
      // broken. A cancel, not a `listen stop`: xinnan would recognise the 30 s of room noise and
      // might answer it (turn-context.ts cancelOnServer).
      ctx.teardown('no-follow-up');
      ctx.recover(`no follow-up speech within ${ms} ms`);
      ctx.cancelOnServer('no follow-up speech');
      return;
    }
    const d = TURN_DEADLINES[kind];
    log.warn({ code: d.code, deadline: kind, after_ms: ms }, `${kind} deadline: ${d.what} within ${ms} ms`);
    ctx.teardown('deadline');
    ctx.enter('error', `${kind} deadline (${d.code})`);
    // Tell the server the turn is over, and refuse a late answer: the user has seen the error and
    // moved on (only the log cares whether the abort left, design.md §1.1).
    ctx.cancelOnServer(`${kind} deadline`);
  }
}
