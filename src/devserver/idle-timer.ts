/**
 * The inactivity close of a xiaozhi server (protocol.md §8.1 rows 3–4), on the injected Clock so
 * `stop()` can prove nothing is left. (The ping keepalive is core/heartbeat.ts, shared with the
 * client.)
 */
import type { Clock, TimerHandle } from '../core/clock.js';

/**
 * Fires once after `idleMs` without `touch()`. One timer re-armed lazily: a touch only records the
 * time, so 16 TTS packets a second do not churn timers.
 */
export class IdleTimer {
  #timer: TimerHandle | undefined;
  #last = 0;

  constructor(
    private readonly clock: Clock,
    private readonly idleMs: number | undefined,
    private readonly onIdle: (idleForMs: number) => void,
  ) {}

  start(): void {
    if (this.idleMs === undefined || this.#timer) return;
    this.#last = this.clock.now();
    this.#arm(this.idleMs);
  }

  touch(): void {
    this.#last = this.clock.now();
  }

  stop(): void {
    this.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    this.#timer = this.clock.setTimeout(() => {
      this.#timer = undefined;
      const idleMs = this.idleMs ?? 0;
      const idleFor = this.clock.now() - this.#last;
      if (idleFor >= idleMs) this.onIdle(idleFor);
      else this.#arm(idleMs - idleFor);
    }, ms);
  }
}
