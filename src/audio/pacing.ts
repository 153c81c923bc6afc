/**
 * The audio of one TTS stream on its way to aplay: our bounded queue of what has not been handed
 * over yet, and the estimate of when what has been will have played (`playsUntil`) — the timing
 * model described at the top of playback.ts. Split from it as plain arithmetic on an injected
 * `now`: no timers, no child, no events; `AplaySink` owns those and asks this queue what to hand
 * over and when to ask again.
 */

export class PacedQueue {
  readonly bytesPerMs: number;
  readonly #maxQueueMs: number;
  readonly #maxBufferedMs: number;
  readonly #queue: Buffer[] = [];
  #queued = 0;
  /** An odd trailing byte (half a sample) waiting for the next write. */
  #carry: Buffer | undefined;
  #handed = 0;
  /** Clock time at which everything handed over will have been played (estimate). */
  #playsUntil = 0;
  /** Bytes of this stream dropped because the queue was full. */
  #dropped = 0;

  /**
   * @param maxQueueMs most audio ever handed over ahead of the estimated play position
   * @param maxBufferedMs bound of the queue; beyond it the oldest audio is dropped
   */
  constructor(sampleRate: number, maxQueueMs: number, maxBufferedMs: number) {
    this.bytesPerMs = (sampleRate * 2) / 1000;
    this.#maxQueueMs = maxQueueMs;
    this.#maxBufferedMs = maxBufferedMs;
  }

  /** Bytes waiting in the queue. */
  get queued(): number {
    return this.#queued;
  }

  /** Bytes handed over so far. */
  get handed(): number {
    return this.#handed;
  }

  get dropped(): number {
    return this.#dropped;
  }

  /** Estimated audio in front of the speaker (handed over, not yet played) at `now`, ms. */
  aheadMs(now: number): number {
    return Math.max(0, this.#playsUntil - now);
  }

  /** Whole samples in `ms` of audio. */
  bytes(ms: number): number {
    return Math.floor((ms * this.bytesPerMs) / 2) * 2;
  }

  /** Whole samples of `pcm` after any byte carried over; an odd last byte waits for the next call. */
  align(pcm: Buffer): Buffer {
    let data = pcm;
    if (this.#carry) {
      data = Buffer.concat([this.#carry, data]);
      this.#carry = undefined;
    }
    if (data.length % 2 === 1) {
      // Keep sample alignment: splitting for pacing must never cut a sample in two.
      this.#carry = Buffer.from(data.subarray(data.length - 1));
      data = data.subarray(0, data.length - 1);
    }
    return data;
  }

  /** Queues whole samples; beyond the bound the oldest audio is dropped. Returns the bytes dropped. */
  push(data: Buffer): number {
    const bound = Math.max(this.bytes(this.#maxBufferedMs), data.length);
    let dropped = 0;
    while (this.#queued + data.length > bound) {
      const head = this.#queue.shift();
      if (!head) break;
      this.#queued -= head.length;
      dropped += head.length;
    }
    this.#dropped += dropped;
    this.#queue.push(data);
    this.#queued += data.length;
    return dropped;
  }

  /** The next piece the pacing allows at `now`, counted as handed over; undefined when none fits. */
  take(now: number): Buffer | undefined {
    const maxAhead = this.bytes(this.#maxQueueMs);
    const halfWindow = this.bytes(this.#maxQueueMs / 2);
    const aheadBytes = Math.max(0, this.#playsUntil - now) * this.bytesPerMs;
    const room = Math.floor((maxAhead - aheadBytes) / 2) * 2;
    const head = this.#queue[0];
    // Whole packets (or half the window, if a write was bigger): a few writes per packet, not
    // a trickle of 2-byte writes each time the clock has moved a little.
    if (!head || room < Math.max(2, Math.min(head.length, halfWindow))) return undefined;
    const piece = head.length <= room ? head : head.subarray(0, room);
    if (piece === head) this.#queue.shift();
    else this.#queue[0] = head.subarray(room);
    this.#queued -= piece.length;
    this.#handed += piece.length;
    this.#playsUntil = Math.max(this.#playsUntil, now) + piece.length / this.bytesPerMs;
    return piece;
  }

  /** How long after `now` to call `take` again: when the next piece fits. */
  wakeInMs(now: number): number {
    // Wake when there is room for the next piece (as in `take`).
    const head = this.#queue[0];
    const halfWindow = this.bytes(this.#maxQueueMs / 2);
    const granuleMs = Math.min(head?.length ?? 0, halfWindow) / this.bytesPerMs;
    const aheadMs = Math.max(0, this.#playsUntil - now);
    return Math.max(1, Math.ceil(aheadMs - (this.#maxQueueMs - granuleMs)));
  }

  /** Drops everything not yet handed over (the stream is being killed). */
  clear(): void {
    this.#queue.length = 0;
    this.#queued = 0;
  }
}
