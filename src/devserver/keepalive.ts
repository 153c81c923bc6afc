/**
 * The two per-connection timers of a xiaozhi server (protocol.md §8): WebSocket pings with a pong
 * deadline (xinnan's library keepalive: every 20 s, 20 s to answer, §8.4), and the inactivity
 * close (§8.1 rows 3–4). Both run on the injected Clock so `stop()` can prove nothing is left.
 */
import type { Clock, TimerHandle } from '../core/clock.js';

export class PingKeepalive {
  #tick: TimerHandle | undefined;
  #deadline: TimerHandle | undefined;
  #running = false;

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
    private readonly ping: () => void,
    private readonly onDead: () => void,
  ) {}

  start(): void {
    if (this.#running || this.intervalMs <= 0) return;
    this.#running = true;
    this.#schedule();
  }

  /** The peer answered a ping. */
  pong(): void {
    this.clock.clearTimeout(this.#deadline);
    this.#deadline = undefined;
  }

  stop(): void {
    this.#running = false;
    this.clock.clearTimeout(this.#tick);
    this.clock.clearTimeout(this.#deadline);
    this.#tick = undefined;
    this.#deadline = undefined;
  }

  #schedule(): void {
    this.#tick = this.clock.setTimeout(() => {
      this.#tick = undefined;
      if (!this.#running) return;
      this.ping();
      // One deadline at a time: a later ping must not push back an unanswered earlier one.
      this.#deadline ??= this.clock.setTimeout(() => {
        this.#deadline = undefined;
        if (!this.#running) return;
        this.stop();
        this.onDead();
      }, this.timeoutMs);
      this.#schedule();
    }, this.intervalMs);
  }
}

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
