/**
 * The server's side of a turn (protocol.md §5.2): stt closes the uplink, tts start/stop bracket
 * the reply, binary Opus between them is decoded and played; everything else is only logged.
 */
import type { ServerMessage } from '../protocol/messages.js';
import { ABORT, type TurnContext } from './turn-context.js';

export function handleMessage(ctx: TurnContext, message: ServerMessage): void {
  const { log } = ctx.d;
  switch (message.type) {
    case 'stt':
      onStt(ctx, message.text);
      return;
    case 'tts':
      if (message.state === 'start') onTtsStart(ctx);
      else if (message.state === 'stop') onTtsStop(ctx);
      else log.debug({ text: message.text }, 'tts sentence_start');
      return;
    case 'llm':
      log.debug({ emotion: message.emotion }, 'llm emotion');
      return;
    default:
      // mcp has its own handler; system/alert/custom/iot/goodbye/pong are not acted on (protocol.md §5.2).
      log.debug(`${message.type} message: not handled by the conversation`);
  }
}

/**
 * The protocol has no turn ids, so a reply to an earlier utterance can cross our new `listen start`
 * on the wire (e.g. the `listen stop` of the turn a press just cancelled, which the server still
 * recognises). Taking it would hijack the user's fresh turn: it is dropped, and its audio and
 * `tts stop` then fall outside speaking and are dropped too (protocol.md §4.2). Two cases are
 * certain:
 * - the turn has not sent a single audio frame nor a `listen detect`, so nothing of it can have
 *   been recognised or answered;
 * - a manual (push-to-talk) turn whose uplink is still open: in manual mode the server recognises
 *   only at our `listen stop` (protocol.md §5.1), so while the button is held nothing it says is
 *   about this turn. (Without this the pre-roll, sent at the press, defeats the first case and a
 *   late `stt` closes the mic under the user's finger; found by the soak.)
 * An auto-mode turn has no such certainty (the server's VAD ends it), and takes what comes.
 */
function isStale(ctx: TurnContext, what: string): boolean {
  const turn = ctx.turn;
  if (turn === undefined) return false;
  // A wake word's `listen detect` is answered by itself (xinnan: a greeting, or the phrase as a
  // question; protocol.md §5.1), so after it the reply is this turn's even without audio.
  if (turn.framesSent === 0 && !turn.reached('detect')) {
    ctx.d.log.debug(`${what} before this turn sent any audio: a reply to an earlier utterance, ignored`);
    return true;
  }
  if (turn.mode === 'manual' && !turn.awaitingReply) {
    ctx.d.log.debug(
      `${what} while the button is held (manual mode): a reply to an earlier utterance, ignored`,
    );
    return true;
  }
  return false;
}

/**
 * After a cancel nothing that answers the cancelled utterance may reach the speaker (reply-gate.ts).
 * Only idle, error and offline can see such an answer: every path that leaves them for listening
 * sends `listen start`, which opens the gate.
 */
function refused(ctx: TurnContext, what: string): boolean {
  if (ctx.gate.state !== 'refusing') return false;
  ctx.gate.refused++;
  ctx.d.log.info(
    { refused: what, cancel: ctx.gate.why },
    `${what} answers a cancelled utterance (${ctx.gate.why}): refused`,
  );
  return true;
}

function onStt(ctx: TurnContext, text: string): void {
  // The user's words stay at debug: a fleet journal is no place for what people say at home.
  ctx.d.log.debug({ stt: text }, 'stt');
  if (refused(ctx, 'stt')) return;
  const turn = ctx.turn;
  if (ctx.state !== 'listening' || !turn || isStale(ctx, 'stt')) return;
  turn.mark('stt', ctx.now());
  // The server has the utterance: close the uplink, wait for tts start (protocol.md §5.2, §11.9).
  ctx.micStop();
  turn.awaitingReply = true;
  ctx.enter('listening', 'stt: waiting for the reply');
}

function onTtsStart(ctx: TurnContext): void {
  if (ctx.state === 'speaking' && ctx.turn?.playingOut) {
    // The server began something new while our tail plays: it did not hear us yet (auto mode
    // listens after the tail), so this is no answer of ours; its audio falls outside a reply too.
    ctx.d.log.debug('tts start while the reply plays out: ignored');
    return;
  }
  if (ctx.state === 'speaking') {
    // A new stream inside the reply: fresh decoder state (protocol.md §11.8), fresh deadline.
    ctx.d.decoder.reset();
    ctx.enter('speaking', 'tts start while speaking');
    return;
  }
  if (refused(ctx, 'tts start')) {
    // The server is about to speak an answer nobody wants: stop it at the source too. Its `tts
    // stop` and audio then fall outside speaking and are dropped (protocol.md §4.2).
    ctx.send(ABORT, 'abort');
    return;
  }
  let turn = ctx.turn;
  if (ctx.state === 'idle') {
    // Speech the server starts by itself (no utterance of ours open): the firmware plays it too. One
    // that answers a cancelled utterance never gets here (refused above).
    turn = ctx.newTurn('server', ctx.d.config.buttonMode === 'push-to-talk' ? 'manual' : 'auto');
    ctx.turn = turn;
  } else if (ctx.state !== 'listening' || !turn) {
    ctx.d.log.debug(`tts start ignored in ${ctx.state}`);
    return;
  } else if (isStale(ctx, 'tts start')) {
    return;
  }
  turn.mark('ttsStart', ctx.now());
  // Mic off while speaking (protocol.md §11.9).
  ctx.micStop();
  ctx.playbackBegin();
  ctx.enter('speaking', 'tts start');
}

function onTtsStop(ctx: TurnContext): void {
  const turn = ctx.turn;
  const replying =
    (ctx.state === 'speaking' && turn?.playingOut === false) ||
    (ctx.state === 'listening' && turn?.awaitingReply === true);
  if (!turn || !replying) {
    // E.g. the server's answer to our abort (protocol.md §5.1) arriving after we listen again.
    ctx.d.log.debug(`tts stop ignored in ${ctx.state}`);
    return;
  }
  turn.mark('ttsStop', ctx.now());
  // Auto mode listens again and says so to the server (protocol.md §11.9), once the speaker has
  // played out what it holds; manual goes idle at once (§11.12) and the tail plays by itself.
  if (turn.followUp && ctx.state === 'speaking') {
    ctx.playOut(turn);
    return;
  }
  ctx.playbackEnd();
  ctx.endTurn('reply');
  if (turn.followUp) ctx.openFollowUp('tts stop: listening again (auto)');
  else ctx.enter('idle', 'tts stop');
}

export function handleAudio(ctx: TurnContext, packet: Buffer): void {
  const turn = ctx.turn;
  if (ctx.state !== 'speaking' || !turn || turn.playingOut) {
    // Only audio between tts start and tts stop is played (protocol.md §4.2, §11.8).
    ctx.discardedPackets++;
    ctx.d.log.trace(`downlink packet discarded in ${ctx.state}`);
    return;
  }
  // Any packet shows the reply is alive: the speaking deadline starts over.
  ctx.arm('speaking');
  const pcm = ctx.d.decoder.decode(packet);
  if (!Buffer.isBuffer(pcm)) {
    turn.packetsUndecodable++;
    if (turn.packetsUndecodable === 1) {
      ctx.d.log.warn(
        { code: pcm.code },
        `undecodable downlink packet skipped (${pcm.message}); more are counted`,
      );
    }
    return;
  }
  turn.packetsPlayed++;
  turn.mark('firstAudio', ctx.now());
  ctx.d.sink.write(pcm);
}
