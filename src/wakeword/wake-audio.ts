/**
 * The wake word's own audio (protocol.md §11 item 10: the firmware built with
 * CONFIG_SEND_WAKE_WORD_DATA sends the buffered wake-word audio before `listen detect`): the last
 * ~1.5 s of PCM up to the end of the frame that fired, kept in a fixed ring of samples.
 */

/** 1.5 s of 16 kHz: long enough for a two- or three-syllable phrase said slowly. */
export const WAKE_AUDIO_SAMPLES = 24_000;

/** A fixed ring of s16 samples: the oldest are overwritten, memory never passes the bound. */
export class SampleRing {
  readonly #ring: Int16Array;
  /** Where the next sample goes. */
  #at = 0;
  /** Samples held (≤ capacity). */
  #size = 0;

  constructor(readonly capacity: number = WAKE_AUDIO_SAMPLES) {
    if (!Number.isInteger(capacity) || capacity <= 0) throw new RangeError(`invalid capacity ${capacity}`);
    this.#ring = new Int16Array(capacity);
  }

  get size(): number {
    return this.#size;
  }

  push(pcm: Int16Array): void {
    // Only the last `capacity` samples of a long chunk can survive.
    const src = pcm.length > this.capacity ? pcm.subarray(pcm.length - this.capacity) : pcm;
    const first = Math.min(src.length, this.capacity - this.#at);
    this.#ring.set(src.subarray(0, first), this.#at);
    this.#ring.set(src.subarray(first), 0);
    this.#at = (this.#at + src.length) % this.capacity;
    this.#size = Math.min(this.capacity, this.#size + src.length);
  }

  /** The samples held, oldest first, as a new array (its buffer can be transferred). */
  snapshot(): Int16Array<ArrayBuffer> {
    const out = new Int16Array(this.#size);
    const start = (this.#at - this.#size + this.capacity) % this.capacity;
    const first = Math.min(this.#size, this.capacity - start);
    out.set(this.#ring.subarray(start, start + first), 0);
    out.set(this.#ring.subarray(0, this.#size - first), first);
    return out;
  }
}
