/**
 * What opens a turn on the wire. For the button: `listen start`. For the wake word, as the firmware
 * with `CONFIG_SEND_WAKE_WORD_DATA` (protocol.md §5.1 "Message sequences", §11.10): the wake word's own
 * audio as Opus packets, then `listen detect` with its phrase, then `listen start`
 * ([FW main/application.cc · OnWakeWordDetected]: PopWakeWordPacket → SendAudio, SendWakeWordDetected,
 * SetListeningMode). The same path serves a turn started at once and one kept while connecting
 * (gestures.ts begin, startPendingTurn), so both send the same sequence.
 */
import type { ClientMessage } from '../protocol/messages.js';
import { listenStart, type TurnContext } from './turn-context.js';
import type { Turn } from './turn-timeline.js';

/** A guarded send: TurnContext.send, or sendOrFail where a failure must end the turn. */
export type Send = (message: ClientMessage, what: string) => boolean;

export function listenDetect(phrase: string): ClientMessage {
  return { type: 'listen', state: 'detect', text: phrase };
}

/**
 * Sends the turn's opening. True when `listen start` went out. False when a step was not sent, or
 * an event reported during a send moved the state (the caller tells the two apart by `ctx.epoch`,
 * as after any send). A wake opening is kept until the whole sequence went out: sent again on the
 * next session, it is complete there.
 */
export function sendOpening(ctx: TurnContext, turn: Turn, send: Send): boolean {
  const opening = turn.wakeOpening;
  if (opening) {
    const epoch = ctx.epoch;
    for (const packet of opening.packets) {
      // Counted as the turn's frames: a reply to the detect is then no stale reply (replies.ts).
      ctx.sendPacket(turn, packet);
      if (epoch !== ctx.epoch) return false;
    }
    if (!send(listenDetect(opening.phrase), 'listen detect')) return false;
    turn.mark('detect', ctx.now());
  }
  if (!send(listenStart(turn.mode), 'listen start')) return false;
  turn.wakeOpening = undefined;
  return true;
}
