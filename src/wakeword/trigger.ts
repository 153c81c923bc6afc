/**
 * When a score trace fires (issue 14): one definition, used frame by frame by the daemon's worker
 * and over a whole trace by `speakerd wakeword score` (score.ts `detections()`), so the daemon
 * fires exactly where the command reports a detection for the same audio.
 *
 * A frame fires when its score reaches the threshold after a frame below it (one utterance is one
 * detection however long it stays high), and not within `refractoryMs` of the previous detection.
 * On the reference clips this gives exactly openWakeWord's `events_debounced_1s`.
 */
import { FRAME_SAMPLES, SAMPLE_RATE } from './features.js';

export const FRAME_MS = (FRAME_SAMPLES * 1000) / SAMPLE_RATE;

export class Trigger {
  /** The previous frame was at or above the threshold. */
  #above = false;
  #last = Number.NEGATIVE_INFINITY;
  #frame = 0;

  constructor(
    readonly threshold: number,
    readonly refractoryMs: number,
  ) {
    if (!(threshold > 0 && threshold <= 1)) throw new RangeError(`threshold ${threshold} is not in (0, 1]`);
    if (!(refractoryMs >= 0)) throw new RangeError(`refractoryMs ${refractoryMs} is not ≥ 0`);
  }

  /** The next frame's score; true when this frame is a detection. */
  push(score: number): boolean {
    const k = this.#frame++;
    const hit = score >= this.threshold;
    const fires = hit && !this.#above && (k - this.#last) * FRAME_MS >= this.refractoryMs;
    if (fires) this.#last = k;
    this.#above = hit;
    return fires;
  }
}
