/**
 * The wake word: one more input of the same turn machine, never a second one (issue 14
 * "Behaviour"; protocol.md §6.3, the "Wake word" row of the button table). Per state:
 * - idle, offline: a turn like a press (gestures.ts begin: connect now, a stale session renewed,
 *   a reply's tail cut), opened with the wake word's audio and `listen detect` (opening.ts).
 *   Listening starts at the detection, not when the server answers.
 * - connecting with a pending turn: that turn goes on; like a second press, connect now.
 * - listening: ignored. The person is already heard, and the firmware does not even listen for it
 *   there: entering listening it calls EnableWakeWordDetection(false) [FW main/application.cc ·
 *   SetDeviceState, kDeviceStateListening; HandleStateChangedEvent in later versions]; only a build
 *   with "wake word in listening" acts on it (protocol.md §6.3 table).
 * - speaking: the daemon pauses the detector (no echo cancellation: the device's own voice must not
 *   wake it), as the firmware keeps only an AEC front end's wake word on while speaking (same place,
 *   kDeviceStateSpeaking: EnableWakeWordDetection(IsAfeWakeWord())). A detection still in flight
 *   then is dropped here. With `wakeWord.duringSpeech` it is the firmware's barge-in: `abort` with
 *   `reason: wake_word_detected`, then listening (protocol.md §11.11) [FW main/application.cc ·
 *   HandleWakeWordDetectedEvent].
 * - activating: what a press does there, skip the wait (§6.3). error: as a press.
 */
import { FRAME_BYTES, FRAME_MS } from '../audio/audio-port.js';
import type { ClientMessage } from '../protocol/messages.js';
import { begin, interrupt, skipActivation } from './gestures.js';
import type { TurnContext } from './turn-context.js';
import type { Turn } from './turn-timeline.js';

/** What the conversation needs of a detection (wakeword/detector.ts WakeDetection has it). */
export interface WakeCall {
  /** Sent as the `listen detect` text: the server greets when it is one of its wake words (§5.1). */
  readonly phrase: string;
  /** 16 kHz mono S16_LE up to the detection (~1.5 s). */
  readonly audio: Buffer;
}

export interface WakeOptions {
  /** `wakeWord.duringSpeech`: a wake word while speaking barges in (off: ignored). */
  readonly duringSpeech: boolean;
}

/** The firmware's barge-in by wake word (protocol.md §5.1 `abort` row; xinnan ignores the reason). */
export const ABORT_WAKE: ClientMessage = { type: 'abort', reason: 'wake_word_detected' };

/**
 * At most 2 s of wake audio go out (33 × 60 ms): the detector hands ~1.5 s; anything longer keeps
 * its newest part, which holds the wake word (design.md §5.11: every buffer bounded).
 */
export const WAKE_AUDIO_FRAMES = Math.floor(2000 / FRAME_MS);

export function handleWake(ctx: TurnContext, call: WakeCall, options: WakeOptions): void {
  const { log, session } = ctx.d;
  switch (ctx.state) {
    case 'error':
      // As a press: the wake word skips the rest of the error display, then counts at rest.
      ctx.recover('wake word during the error display');
      handleWake(ctx, call, options);
      return;
    case 'activating':
      skipActivation(ctx, 'wake');
      return;
    case 'idle':
    case 'offline':
      begin(ctx, wakeTurn(ctx, call));
      return;
    case 'connecting':
      if (!ctx.turn) {
        // Reconnecting after a long press, nobody waiting: the wake word starts the turn.
        begin(ctx, wakeTurn(ctx, call));
        return;
      }
      log.debug(`wake word while connecting for a ${ctx.turn.trigger} turn: that turn goes on`);
      session.connectNow('wake word');
      return;
    case 'listening':
      log.debug('wake word while listening: ignored (the person is already heard)');
      return;
    case 'speaking': {
      if (!options.duringSpeech) {
        log.debug('wake word while speaking: ignored (wakeWord.duringSpeech is off)');
        return;
      }
      if (ctx.current().playingOut) {
        // As a press: the reply is complete, nothing to abort; its tail is silenced.
        ctx.playbackAbort();
        ctx.endTurn('reply');
        ctx.openTurn(ctx.newTurn('wake', 'auto'), 'wake word while the reply plays out: listening again');
        return;
      }
      interrupt(
        ctx,
        'wake',
        'auto',
        'barge-in',
        'wake word while speaking: abort, listening again',
        ABORT_WAKE,
      );
      return;
    }
  }
}

/**
 * A wake word's turn: auto mode whatever the button's mode (nobody releases a wake word; the
 * firmware listens in auto mode without AEC, [FW main/application.cc · OnWakeWordDetected]),
 * opened with the wake word's own audio as Opus packets (opening.ts).
 */
function wakeTurn(ctx: TurnContext, call: WakeCall): Turn {
  const turn = ctx.newTurn('wake', 'auto');
  turn.wakeOpening = { phrase: call.phrase, packets: encodeWakeAudio(ctx, call.audio) };
  return turn;
}

/**
 * 60 ms frames, aligned to the end of the audio: the detection is at its end, and what falls off
 * the front (a partial frame, or audio past the bound) is the oldest. Through the wake word's own
 * encoder at complexity 0 (daemon.ts), as the firmware: it encodes the wake word's PCM with a
 * separate encoder set to `SetComplexity(0); // 0 is the fastest` [FW afe_wake_word.cc ·
 * AfeWakeWord::EncodeWakeWordData]. The time this takes lies between the detection and
 * `listen detect`: 25 frames took 33–293 ms at the uplink's complexity 5 on the CI machine and
 * 6–21 ms at 0, so at 5 a slow board would spend most of the 300 ms latency goal here.
 */
function encodeWakeAudio(ctx: TurnContext, pcm: Buffer): Buffer[] {
  if (pcm.length % 2 !== 0) {
    // Not S16 samples: a detector bug. The wake word still counts; only its audio stays home.
    ctx.d.log.error(
      { bytes: pcm.length },
      `wake audio of ${pcm.length} bytes is not 16-bit samples: sending listen detect without it`,
    );
    return [];
  }
  const frames = Math.min(Math.floor(pcm.length / FRAME_BYTES), WAKE_AUDIO_FRAMES);
  const start = pcm.length - frames * FRAME_BYTES;
  const encoder = ctx.d.wakeWord?.encoder ?? ctx.d.encoder;
  const packets: Buffer[] = [];
  for (let i = 0; i < frames; i++) {
    const at = start + i * FRAME_BYTES;
    packets.push(encoder.encode(pcm.subarray(at, at + FRAME_BYTES)));
  }
  return packets;
}
