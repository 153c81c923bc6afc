/**
 * Real time, sped up: `now()` runs `speedup` times faster than the wall clock and a timer of `ms`
 * fires after `ms / speedup` real milliseconds. The memory bench runs a thousand complete turns
 * against the real `ws` and dev-server this way; every timer of the daemon (mic pacing, deadlines,
 * heartbeat, backoff) still runs, just compressed. A ManualClock would not do: sockets do not wait
 * for it.
 */
import { type Clock, SystemClock, type TimerHandle } from '../src/core/clock.js';

export class ScaledClock implements Clock {
  /** The real timers; this class only compresses the time they are asked for. */
  readonly #real = new SystemClock();
  readonly #t0 = performance.now();

  constructor(readonly speedup: number) {
    if (!(speedup >= 1)) throw new RangeError(`speedup must be ≥ 1, got ${speedup}`);
  }

  now(): number {
    return (performance.now() - this.#t0) * this.speedup;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.#real.setTimeout(fn, Math.max(0, ms) / this.speedup);
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    this.#real.clearTimeout(handle);
  }

  get pending(): number {
    return this.#real.pending;
  }
}
