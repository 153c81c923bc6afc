import type { Random } from './random.js';

export interface BackoffPolicy {
  /** First ceiling, ms (design.md §3.2: 500). */
  readonly baseMs: number;
  /** Largest ceiling, ms (30 000). */
  readonly capMs: number;
}

/**
 * Exponential backoff with full jitter: the n-th delay is uniform in [0, min(cap, base·2^n)).
 * Full jitter spreads a fleet out after a server restart so devices do not come back in the same
 * second. It never gives up: the attempt counter saturates instead of overflowing.
 */
export class Backoff {
  #attempt = 0;

  constructor(
    private readonly policy: BackoffPolicy,
    private readonly random: Random,
  ) {
    if (!(policy.baseMs > 0) || !(policy.capMs >= policy.baseMs)) {
      throw new RangeError(`invalid backoff policy base=${policy.baseMs} cap=${policy.capMs}`);
    }
  }

  /** Failures since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** Ceiling for the next delay. */
  ceiling(): number {
    // 2^40 is far past any cap; clamping the exponent keeps the arithmetic finite forever.
    const exp = Math.min(this.#attempt, 40);
    return Math.min(this.policy.capMs, this.policy.baseMs * 2 ** exp);
  }

  /** Delay before the next attempt; advances the attempt counter. */
  next(): number {
    const delay = Math.floor(this.random() * this.ceiling());
    if (this.#attempt < Number.MAX_SAFE_INTEGER) this.#attempt++;
    return delay;
  }

  reset(): void {
    this.#attempt = 0;
  }
}
