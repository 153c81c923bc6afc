import type { Clock, TimerHandle } from './clock.js';

/**
 * Dead-peer detection (design.md §3.2). A ping every `intervalMs`; any inbound frame or pong
 * counts as life; if none arrives within `timeoutMs` after a ping, `onDead` fires once. A dead
 * peer is therefore found within interval + timeout (9 s by default), where the firmware takes
 * 120 s (protocol.md §8.4). The kernel keeps accepting writes to a half-open TCP socket, so
 * `bufferedAmount` never reveals it: only an answer does.
 */
export class Heartbeat {
  #tick: TimerHandle | undefined;
  #deadline: TimerHandle | undefined;
  #state: 'stopped' | 'running' | 'dead' = 'stopped';

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
    private readonly ping: () => void,
    private readonly onDead: (silentForMs: number) => void,
  ) {}

  #lastLife = 0;

  start(): void {
    if (this.#state !== 'stopped') return;
    this.#state = 'running';
    this.#lastLife = this.clock.now();
    this.#schedule();
  }

  /** Something arrived from the peer. */
  alive(): void {
    if (this.#state !== 'running') return;
    this.#lastLife = this.clock.now();
    this.clock.clearTimeout(this.#deadline);
    this.#deadline = undefined;
  }

  stop(): void {
    this.#state = 'stopped';
    this.clock.clearTimeout(this.#tick);
    this.clock.clearTimeout(this.#deadline);
    this.#tick = undefined;
    this.#deadline = undefined;
  }

  #schedule(): void {
    this.#tick = this.clock.setTimeout(() => {
      if (this.#state !== 'running') return;
      this.ping();
      // One outstanding deadline at a time: a later ping must not push an earlier deadline back.
      this.#deadline ??= this.clock.setTimeout(() => {
        if (this.#state !== 'running') return;
        this.#state = 'dead';
        this.clock.clearTimeout(this.#tick);
        this.onDead(this.clock.now() - this.#lastLife);
      }, this.timeoutMs);
      this.#schedule();
    }, this.intervalMs);
  }
}
