import type { Random } from './random.js';

export interface BackoffPolicy {
  /** First ceiling, ms (design.md §3.2: 500). */
  readonly baseMs: number;
  /** Largest ceiling, ms (30 000). */
  readonly capMs: number;
  /**
   * The restart schedule's period, ms (connection.routineReconnectMs): the first attempt after a
   * routine close is drawn uniform in [0, this), and while a restarting server refuses, attempts
   * come this far apart. At least baseMs is used for the period (a 0 here must not hammer).
   * Default 0, with refusedForMs 0: the exponential alone (mic restarts, OTA polling).
   */
  readonly spreadMs?: number;
  /**
   * How long refusals in a row keep that period before the exponential takes over, ms
   * (connection.restartRetryForMs); 0 (the default): the exponential from the first refusal.
   */
  readonly refusedForMs?: number;
}

/**
 * The reconnect schedule (design.md §3.2). Two regimes:
 *
 * - Exponential backoff with full jitter for faults: the n-th delay is uniform in
 *   [0, min(cap, base·2^n)). It never gives up: the attempt counter saturates instead of overflowing.
 *
 * - The restart schedule, for what a server restart looks like from a fleet: every device's session
 *   ends at the same moment (a routine close: 1001 on stop, 1012), then every attempt is refused at
 *   once (nothing listens yet) until the new process listens. What that server needs is a flat,
 *   bounded arrival rate, and what the devices need is to be back soon after it listens. A fleet of
 *   N devices each retrying every P ms with a uniformly drawn phase meets the server at exactly N/P
 *   attempts per second, during the outage and after it, and every device is back within P of the
 *   server's return (p90 at 0.9·P). So: the phase is drawn once, uniform in [0, P), when the run
 *   starts (afterRoutineClose, or the first refusal of a run that did not start with a routine
 *   close), and every refusal after it waits exactly P. No jitter per retry, on purpose: the phases
 *   are already uniform, and a fresh full-jitter draw per retry turns them into the residual of a
 *   renewal process, which has twice the mean rate at its front (density 2/C after a draw in
 *   [0, C)): to stay under the same peak rate a full-jitter ceiling must be about twice P, and the
 *   fleet is back twice as late. Refused attempts take milliseconds, so nothing in a run pulls two
 *   devices' phases together. After refusedForMs of refusals the outage is not a restart any more;
 *   the exponential takes over (its counter kept counting), until a session is ready again.
 */
export class Backoff {
  #attempt = 0;
  /** The current run of refusals: when its phase was drawn. Undefined outside a run. */
  #run: { readonly since: number } | undefined;
  readonly #spreadMs: number;
  readonly #refusedForMs: number;

  constructor(
    private readonly policy: BackoffPolicy,
    private readonly random: Random,
  ) {
    if (!(policy.baseMs > 0) || !(policy.capMs >= policy.baseMs)) {
      throw new RangeError(`invalid backoff policy base=${policy.baseMs} cap=${policy.capMs}`);
    }
    this.#spreadMs = policy.spreadMs ?? 0;
    this.#refusedForMs = policy.refusedForMs ?? 0;
    if (!(this.#spreadMs >= 0) || !(this.#refusedForMs >= 0)) {
      throw new RangeError(
        `invalid restart schedule spread=${this.#spreadMs} refusedFor=${this.#refusedForMs}`,
      );
    }
  }

  /** Failures since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** Ceiling for the next exponential delay. */
  ceiling(): number {
    // 2^40 is far past any cap; clamping the exponent keeps the arithmetic finite forever.
    const exp = Math.min(this.#attempt, 40);
    return Math.min(this.policy.capMs, this.policy.baseMs * 2 ** exp);
  }

  /** The restart schedule's period: spreadMs, and never below the base. */
  get periodMs(): number {
    return Math.max(this.#spreadMs, this.policy.baseMs);
  }

  /**
   * Delay after a fault that is not a refusal (a lost session, a timeout, an error after the
   * upgrade, a refused token): the exponential. It ends a run of refusals: the server answered.
   */
  next(): number {
    this.#run = undefined;
    return this.#exponential();
  }

  /**
   * Delay before the first attempt after a routine close (the server ended the session on purpose).
   * For one device that is nothing (a press connects at once); for a fleet it is the moment the
   * whole fleet was closed together: the phase of a run, uniform in [0, spreadMs). Not a failure:
   * the counter does not move.
   */
  afterRoutineClose(now: number): number {
    this.#run = { since: now };
    return Math.floor(this.random() * this.#spreadMs);
  }

  /**
   * Delay after an attempt the server's side turned down at once, before any upgrade (nothing
   * listening, a proxy's 502/503: link-policy.ts `refused`). In a run younger than refusedForMs:
   * the period, or the phase if this refusal starts the run; past it, the exponential.
   */
  afterRefusal(now: number): number {
    const run = this.#run;
    if (this.#refusedForMs === 0) return this.next();
    if (run === undefined) {
      this.#run = { since: now };
      this.#count();
      return Math.floor(this.random() * this.periodMs);
    }
    if (now - run.since < this.#refusedForMs) {
      this.#count();
      return this.periodMs;
    }
    return this.#exponential();
  }

  /** A session became ready: a run of refusals is over (the counter waits for reset()). */
  connected(): void {
    this.#run = undefined;
  }

  reset(): void {
    this.#attempt = 0;
    this.#run = undefined;
  }

  #exponential(): number {
    const delay = Math.floor(this.random() * this.ceiling());
    this.#count();
    return delay;
  }

  #count(): void {
    if (this.#attempt < Number.MAX_SAFE_INTEGER) this.#attempt++;
  }
}
