/**
 * Debounce by settling (design.md §3.5), the one rule every input line follows (the talk button's
 * gestures in button.ts, the mute and volume lines in controls.ts): a level counts once it has held
 * `debounceMs` without another edge. A contact bounces for a few ms on press and on release; an EMI
 * spike is shorter than the window. The cost is `debounceMs` of latency on each edge. Pure logic on
 * an injected clock.
 */
import type { Clock, TimerHandle } from '../core/clock.js';

/** A level held `debounceMs`: `active`, and when the edge that began it came (clock time). */
export type SettledListener = (active: boolean, edgeAt: number) => void;

export class SettledLevel {
  /** The last level read, settled or not. */
  #raw = false;
  /** The level that counts. */
  #settled = false;
  #timer: TimerHandle | undefined;
  /** When the last raw edge came: a settled level began then. */
  #lastEdgeAt = 0;

  constructor(
    private readonly clock: Clock,
    private readonly debounceMs: number,
    private readonly onSettled: SettledListener,
  ) {}

  /**
   * One edge as the adapter read it (logical level, active-low already applied). A repeat of the
   * last level is harmless (an interrupt can report a level twice).
   */
  edge(active: boolean): void {
    if (active === this.#raw) return;
    this.#raw = active;
    this.#lastEdgeAt = this.clock.now();
    this.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (active === this.#settled) return; // a bounce back to the settled level: nothing to confirm
    if (this.debounceMs === 0) {
      this.#settle();
      return;
    }
    this.#timer = this.clock.setTimeout(() => {
      this.#timer = undefined;
      this.#settle();
    }, this.debounceMs);
  }

  /** Cancels a pending settle: the level read last never counts. Idempotent. */
  cancel(): void {
    this.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Takes `active` as read and settled, with no event (a start level; a stop). Cancels a pending settle. */
  reset(active: boolean): void {
    this.cancel();
    this.#raw = this.#settled = active;
  }

  #settle(): void {
    if (this.#raw === this.#settled) return;
    this.#settled = this.#raw;
    this.onSettled(this.#settled, this.#lastEdgeAt);
  }
}
