/**
 * Button gestures → protocol messages (design.md §3.3, protocol.md §6.3, §11.11–12): toggle mode
 * clicks, push-to-talk press/release, long press; and the press made while offline, kept until
 * the connection comes. The wake word (wake.ts) starts its turns through the same begin(),
 * interrupt() and startPendingTurn().
 */
import type { ConversationConfig } from '../config/schema.js';
import type { InputEvent } from '../hardware/input.js';
import type { ClientMessage, ListenMode } from '../protocol/messages.js';
import { sendOpening } from './opening.js';
import { ABORT, LISTEN_STOP, type TurnContext } from './turn-context.js';
import type { Turn, TurnOutcome, TurnTrigger } from './turn-timeline.js';

/** The gesture that starts a turn: a click in toggle mode, a press in push-to-talk mode. */
export function isTalkGesture(event: InputEvent, buttonMode: ConversationConfig['buttonMode']): boolean {
  return buttonMode === 'push-to-talk' ? event === 'press' : event === 'click';
}

export function handleInput(ctx: TurnContext, event: InputEvent): void {
  const { config, log } = ctx.d;
  log.debug({ input: event }, `input ${event} in ${ctx.state}`);
  const ptt = config.buttonMode === 'push-to-talk';
  if (event === 'longPress') longPress(ctx);
  else if (isTalkGesture(event, config.buttonMode)) {
    if (ptt) talk(ctx, 'press', 'manual');
    else talk(ctx, 'click', 'auto');
  } else if (event === 'release' && ptt) release(ctx);
  else if (event === 'doubleClick') stop(ctx);
  else log.debug(`${event} means nothing in ${config.buttonMode} mode`);
}

/** The talk gesture: a click in toggle mode, a press in push-to-talk mode. */
function talk(ctx: TurnContext, trigger: 'click' | 'press', mode: ListenMode): void {
  switch (ctx.state) {
    case 'error':
      // A press skips the rest of the error display, then counts as a press at rest.
      ctx.recover(`${trigger} during the error display`);
      talk(ctx, trigger, mode);
      return;
    case 'activating':
      skipActivation(ctx, trigger);
      return;
    case 'idle':
    case 'offline':
      begin(ctx, ctx.newTurn(trigger, mode));
      return;
    case 'connecting':
      pressWhileConnecting(ctx, trigger, mode);
      return;
    case 'listening': {
      const turn = ctx.current();
      if (trigger === 'click') cancelListening(ctx, turn);
      else if (turn.awaitingReply)
        interrupt(ctx, trigger, mode, 'cancelled', 'press while waiting: listening again');
      // A second press while the button is held adds nothing.
      return;
    }
    case 'speaking':
      if (ctx.current().playingOut) {
        // The reply is complete and only its tail plays: silence it and listen; nothing to abort.
        ctx.playbackAbort();
        ctx.endTurn('reply');
        ctx.openTurn(ctx.newTurn(trigger, mode), `${trigger} while the reply plays out: listening again`);
        return;
      }
      interrupt(ctx, trigger, mode, 'barge-in', `${trigger} while speaking: abort, listening again`);
      return;
  }
}

/** As the firmware: a press (or a wake word) while activating skips the wait (protocol.md §6.3). */
export function skipActivation(ctx: TurnContext, trigger: TurnTrigger): void {
  ctx.activationCode = undefined;
  ctx.recover(`${trigger} while activating`);
}

/**
 * Starts a turn now if connected; otherwise connects now and keeps the press (design.md §3.2). A
 * wake word's turn goes the same way; only its opening (opening.ts) and its pre-roll differ.
 */
export function begin(ctx: TurnContext, turn: Turn): void {
  const { session } = ctx.d;
  // A press cuts the tail of a reply still playing (push-to-talk, or a link lost during play-out):
  // the user wants to talk, and the mic must not hear the device's own voice.
  if (ctx.speaker === 'tail') ctx.playbackAbort();
  if (session.stale) {
    // xinnan would answer this utterance with its farewell and close (protocol.md §8.1 row 3: its
    // no-voice timer has run out or is about to): a fresh session first, the press waits for it
    // like one made offline, with what is said meanwhile kept (design.md §3.2).
    ctx.turn = turn;
    ctx.enter('connecting', `${turn.trigger} on a stale session: a fresh session first`);
    ctx.micStart(turn.takesPreroll);
    session.renew(`${turn.trigger} on a stale session`);
    return;
  }
  if (session.state === 'ready') {
    const epoch = ctx.epoch;
    ctx.turn = turn;
    if (sendOpening(ctx, turn, (m, what) => ctx.send(m, what))) {
      // Listening first: the pre-roll's frames go out inside micStart() as this turn's audio.
      ctx.enter('listening', `${turn.trigger}: ${opened(turn)}`);
      ctx.micStart(turn.takesPreroll);
      return;
    }
    if (epoch !== ctx.epoch) return; // the loss was reported during the send and handled
    // The seed bug's instant: the link died under the press (close right after hello). The press
    // is not lost: it waits like a press made offline and starts when the link is back.
    ctx.enter('connecting', `${turn.trigger}: listen start not sent, link lost under the press: connecting`);
    ctx.micStart(turn.takesPreroll);
    return;
  }
  // The user cannot wait for a backoff timer: connect now, keep what is said meanwhile.
  ctx.turn = turn;
  ctx.enter('connecting', `${turn.trigger} while the link is ${session.state}: connecting`);
  ctx.micStart(turn.takesPreroll);
  session.connectNow(turn.trigger === 'wake' ? 'wake word' : 'button');
}

/**
 * What went out, for the transition's reason: `listen start (auto)`, or for a wake word
 * `wake audio (25 packets), listen detect, listen start (auto)`.
 */
function opened(turn: Turn): string {
  const start = `listen start (${turn.mode})`;
  if (turn.trigger !== 'wake') return start;
  return `wake audio (${turn.framesSent} packets), listen detect, ${start}`;
}

function pressWhileConnecting(ctx: TurnContext, trigger: 'click' | 'press', mode: ListenMode): void {
  const turn = ctx.turn;
  if (!turn) {
    begin(ctx, ctx.newTurn(trigger, mode));
    return;
  }
  if (turn.released) {
    // Push-to-talk pressed again before the connection came: keep talking into the same turn.
    turn.released = false;
    ctx.micStart();
  }
  ctx.d.session.connectNow('button');
}

/**
 * Toggle click while listening: a cancel. The firmware closes the audio channel here (protocol.md
 * §6.3, button table): in auto mode the server's VAD ends an utterance by itself, so a click is
 * "stop", not "I am done talking", and a person who stops the device mid-sentence expects silence,
 * not an answer to half a question. So, like the double click: mic off, rest, `abort`, and the reply
 * gate refuses whatever still answers (turn-context.ts cancelOnServer). Unlike the firmware the
 * socket stays open: in persistent mode the next press streams at once.
 */
function cancelListening(ctx: TurnContext, turn: Turn): void {
  const waiting = turn.awaitingReply;
  ctx.micStop();
  ctx.endTurn('cancelled');
  ctx.recover(
    waiting
      ? 'click while waiting for the reply: cancelled (abort; its answer is refused)'
      : 'click while listening: cancelled (abort; no answer will play)',
  );
  ctx.cancelOnServer(waiting ? 'click while waiting for the reply' : 'click while listening');
}

/**
 * Barge-in: abort the reply, flush playback at once (protocol.md §11.11), listen again. A wake word
 * says why in its abort (`reason: wake_word_detected`, §11.11).
 */
export function interrupt(
  ctx: TurnContext,
  trigger: TurnTrigger,
  mode: ListenMode,
  outcome: TurnOutcome,
  reason: string,
  abort: ClientMessage = ABORT,
): void {
  ctx.playbackAbort();
  ctx.micStop();
  ctx.endTurn(outcome);
  const epoch = ctx.epoch;
  // If the abort does not leave, the listen start below fails too and takes the device offline.
  ctx.send(abort, 'abort');
  if (epoch !== ctx.epoch) return;
  ctx.openTurn(ctx.newTurn(trigger, mode), reason);
}

function release(ctx: TurnContext): void {
  const turn = ctx.turn;
  if (ctx.state === 'connecting' && turn && !turn.released) {
    // Released before the connection came: the utterance is complete; it is sent on ready.
    turn.released = true;
    turn.mark('released', ctx.now());
    ctx.micStop();
    return;
  }
  if (ctx.state === 'listening' && turn && !turn.awaitingReply) {
    turn.mark('released', ctx.now());
    // Manual mode: listen stop makes the server recognise what it got (protocol.md §11.12).
    if (!ctx.sendOrFail(LISTEN_STOP, 'listen stop')) return;
    ctx.micStop();
    turn.awaitingReply = true;
    ctx.enter('listening', 'release: waiting for the reply');
    return;
  }
  ctx.d.log.debug(`release ignored in ${ctx.state}: no press to end`);
}

/**
 * Double click: stop. The one thing a single click cannot say while a reply plays (there it
 * barges in and listens again): silence, mic off, back to rest, and no answer ever plays for what
 * was stopped: a cancel (turn-context.ts cancelOnServer), never a `listen stop`, which xinnan would
 * answer ([SRV core/handle/textHandler/listenMessageHandler.py]).
 */
function stop(ctx: TurnContext): void {
  switch (ctx.state) {
    case 'listening':
    case 'speaking': {
      const speaking = ctx.state === 'speaking';
      const { playingOut } = ctx.current();
      ctx.teardown('cancelled');
      ctx.recover(`double click: stop ${speaking ? 'the reply' : 'listening'}`);
      // The server is done with a reply whose tail plays: nothing to tell it, nothing to refuse.
      if (playingOut) return;
      ctx.cancelOnServer(`double click while ${speaking ? 'speaking' : 'listening'}`);
      return;
    }
    case 'connecting':
      // The press kept for the coming connection is dropped (no listen start went out for it); the
      // connection itself stays wanted.
      ctx.teardown('cancelled');
      ctx.recover('double click: pending turn dropped');
      return;
    case 'error':
      ctx.recover('double click during the error display');
      return;
    default:
      // At rest the tail of a complete reply may still play (push-to-talk, or a link lost during
      // play-out): that is what a stop silences there.
      if (ctx.speaker === 'tail') {
        ctx.playbackAbort();
        ctx.d.log.info(`double click in ${ctx.state}: the reply's tail silenced`);
        return;
      }
      ctx.d.log.debug(`doubleClick means nothing in ${ctx.state}`);
  }
}

function longPress(ctx: TurnContext): void {
  // Local state first: reconnectFresh may report the old connection's state synchronously.
  ctx.teardown('reconnect');
  ctx.activationCode = undefined;
  ctx.enter('connecting', 'long press: reconnect with fresh credentials');
  ctx.d.session.reconnectFresh('long press');
}

/** The connection came for a press made while offline: start the turn, send what was said meanwhile. */
export function startPendingTurn(ctx: TurnContext, turn: Turn): void {
  turn.mark('connected', ctx.now());
  if (!sendOpening(ctx, turn, (m, what) => ctx.sendOrFail(m, what))) return;
  const epoch = ctx.epoch;
  for (const packet of turn.takeHeld()) {
    ctx.sendPacket(turn, packet);
    if (epoch !== ctx.epoch) return;
  }
  if (!turn.released) {
    ctx.enter('listening', 'connection ready: listening');
    return;
  }
  if (!ctx.sendOrFail(LISTEN_STOP, 'listen stop')) return;
  turn.awaitingReply = true;
  ctx.enter('listening', 'connection ready: utterance sent, waiting for the reply');
}
