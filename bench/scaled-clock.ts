/**
 * Real time, sped up: `now()` runs `speedup` times faster than the wall clock and a timer of `ms`
 * fires after `ms / speedup` real milliseconds. The memory bench runs a thousand complete turns
 * against the real `ws` and dev-server this way; every timer of the daemon (mic pacing, deadlines,
 * heartbeat, backoff) still runs, just compressed. A ManualClock would not do: sockets do not wait
 * for it.
 */
import type { Clock, TimerHandle } from '../src/core/clock.js';

export class ScaledClock implements Clock {
  readonly #timers = new Map<number, NodeJS.Timeout>();
  readonly #t0 = performance.now();
  #next = 1;

  constructor(readonly speedup: number) {
    if (!(speedup >= 1)) throw new RangeError(`speedup must be ≥ 1, got ${speedup}`);
  }

  now(): number {
    return (performance.now() - this.#t0) * this.speedup;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.#next++;
    const t = setTimeout(() => {
      this.#timers.delete(id);
      fn();
    }, Math.max(0, ms) / this.speedup);
    this.#timers.set(id, t);
    return { id };
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (!handle) return;
    const t = this.#timers.get(handle.id);
    if (t) {
      clearTimeout(t);
      this.#timers.delete(handle.id);
    }
  }

  get pending(): number {
    return this.#timers.size;
  }
}
