/**
 * Paces one reply's Opus packets like xinnan (protocol.md §4.2): the first `prebuffer` packets at
 * once, then one per frame, then a tail wait for the device to play out its buffer before `tts
 * stop`. The firmware's decode queue holds only 40 packets, so real-time pacing is not optional.
 * Times are measured from the start, so timer lateness does not accumulate.
 */
import type { Clock, TimerHandle } from '../core/clock.js';

export interface PlayerOptions {
  readonly frameMs: number;
  /** xinnan: 5. */
  readonly prebufferPackets: number;
  /** Wait after the last packet before `done` (xinnan: (5 + 2) × 60 ms). */
  readonly tailMs: number;
}

export interface PlayerHooks {
  send(packet: Buffer): void;
  /** Every packet sent and the tail waited: time for `tts stop`. */
  done(): void;
  /** Only with a limit: that many packets went out and the player stopped (a fault switch). */
  limitReached?(): void;
}

export class TtsPlayer {
  #timer: TimerHandle | undefined;
  #active = false;

  constructor(
    private readonly clock: Clock,
    private readonly options: PlayerOptions,
  ) {}

  get active(): boolean {
    return this.#active;
  }

  /** Starts sending; `limit` stops after that many packets without calling `done`. */
  play(packets: readonly Buffer[], hooks: PlayerHooks, limit = Number.POSITIVE_INFINITY): void {
    this.cancel();
    this.#active = true;
    const start = this.clock.now();
    const { frameMs, prebufferPackets, tailMs } = this.options;
    let next = 0;
    const step = (): void => {
      this.#timer = undefined;
      while (this.#active && next < packets.length && next < limit) {
        const due = start + Math.max(0, next - prebufferPackets + 1) * frameMs;
        const wait = due - this.clock.now();
        if (wait > 0) {
          this.#timer = this.clock.setTimeout(step, wait);
          return;
        }
        const packet = packets[next++];
        if (packet) hooks.send(packet);
      }
      if (!this.#active) return; // cancelled from inside `send` (the socket closed)
      if (next < packets.length) {
        this.#active = false;
        hooks.limitReached?.();
        return;
      }
      this.#timer = this.clock.setTimeout(() => {
        this.#timer = undefined;
        this.#active = false;
        hooks.done();
      }, tailMs);
    };
    step();
  }

  /** Stops at once (abort, barge-in, close); neither hook is called. */
  cancel(): void {
    this.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#active = false;
  }
}
