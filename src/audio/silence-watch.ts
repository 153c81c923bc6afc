/**
 * Tells a muted microphone from a quiet room (design.md §3.5, the `muted` indicator): a real mic
 * never delivers exact digital zeros for long, even in silence (its noise floor moves the lowest
 * bits), while a hardware mute switch or an ALSA capture switch turned off delivers nothing else.
 * Counted in frames, not clock time: it follows the audio the mic actually delivered.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { MessageId } from '../system/message-ids.js';
import { FRAME_BYTES, FRAME_MS } from './audio-port.js';

/** Exact zeros this long = muted (the same 2 s as the capture stall: audio/capture.ts STALL_MS). */
export const MUTED_AFTER_MS = 2_000;
const MUTED_AFTER_FRAMES = Math.ceil(MUTED_AFTER_MS / FRAME_MS);
const ZERO_FRAME = Buffer.alloc(FRAME_BYTES);

export type SilenceState = 'sound' | 'muted';

export interface SilenceWatchEvents {
  muted: [];
  unmuted: [];
}

export class DigitalSilenceWatch extends EventEmitter<SilenceWatchEvents> {
  #state: SilenceState = 'sound';
  #zeroFrames = 0;

  constructor(private readonly log: Logger) {
    super();
  }

  get state(): SilenceState {
    return this.#state;
  }

  /** One captured frame (FRAME_BYTES of S16_LE). */
  push(frame: Buffer): void {
    // memcmp against a zero frame: 1,920 bytes 16–17 times a second costs nothing.
    const zero = frame.length === FRAME_BYTES ? frame.equals(ZERO_FRAME) : frame.every((b) => b === 0);
    if (!zero) {
      this.#zeroFrames = 0;
      this.#transition('sound', 'audio again');
      return;
    }
    if (++this.#zeroFrames >= MUTED_AFTER_FRAMES)
      this.#transition(
        'muted',
        `only digital zeros for ${this.#zeroFrames * FRAME_MS} ms (mute switch or capture switch off?)`,
      );
  }

  #transition(to: SilenceState, reason: string): void {
    if (this.#state === to) return;
    const from = this.#state;
    this.#state = to;
    const line = { mic_from: from, mic_to: to, reason };
    if (to === 'muted') this.log.warn({ message_id: MessageId.MicMuted, ...line }, `mic muted: ${reason}`);
    else this.log.info(line, `mic unmuted: ${reason}`);
    this.emit(to === 'muted' ? 'muted' : 'unmuted');
  }
}
