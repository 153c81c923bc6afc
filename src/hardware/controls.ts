/**
 * The mute switch or button and the volume buttons (issue 15 §3; config gpio.mute, gpio.volumeUp,
 * gpio.volumeDown): their lines' edges debounced into control events. Pure logic on an injected
 * clock, like the talk button's gestures (button.ts), whose debounce it copies: a level counts once
 * it has held `debounceMs` without another edge, so a contact's bounce train and an EMI spike are
 * swallowed at the cost of `debounceMs` of latency.
 *
 * Unlike the talk button these lines have no gestures: a switch has a position, a button a press.
 * A switch's position is known from the start (read when the line is exported: "a switch wins over
 * anything else", so the device must know it before it starts listening); a button held while the
 * daemon starts is no press.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../core/clock.js';

/** What the controls report; the daemon decides what each does (daemon.ts `control`). */
export type ControlEvent =
  /** The mute switch's settled position; `atStart` for the level read when the line was exported. */
  | { readonly kind: 'muteSwitch'; readonly muted: boolean; readonly atStart: boolean }
  /** A press of the mute button: toggle. */
  | { readonly kind: 'muteToggle' }
  | { readonly kind: 'volumeUp' }
  | { readonly kind: 'volumeDown' };

export function describeControl(e: ControlEvent): string {
  return e.kind === 'muteSwitch' ? `mute switch ${e.muted ? 'on' : 'off'}` : e.kind;
}

/** unknown: not read yet · active / inactive: the settled logical level (active-low already applied). */
export type LineLevelState = 'unknown' | 'active' | 'inactive';

export interface DebouncedLineEvents {
  /** A new settled level; `atStart` for the first read. */
  level: [active: boolean, atStart: boolean];
}

/** One input line's settled level (button.ts's debounce by settling, without the gestures). */
export class DebouncedLine extends EventEmitter<DebouncedLineEvents> {
  #state: LineLevelState = 'unknown';
  /** The last level read, settled or not. */
  #raw = false;
  #timer: TimerHandle | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly debounceMs: number,
    private readonly log: Logger,
    private readonly what: string,
  ) {
    super();
  }

  get state(): LineLevelState {
    return this.#state;
  }

  /** The level read when the line was exported: settled at once (nothing to debounce against yet). */
  initial(active: boolean): void {
    this.#raw = active;
    this.#settle(true);
  }

  /** One edge as the adapter read it (logical level). A repeat of the last level is harmless. */
  edge(active: boolean): void {
    if (this.#state === 'unknown') {
      this.initial(active);
      return;
    }
    if (active === this.#raw) return;
    this.#raw = active;
    this.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (active === (this.#state === 'active')) return; // bounced back to the settled level
    if (this.debounceMs === 0) {
      this.#settle(false);
      return;
    }
    this.#timer = this.clock.setTimeout(() => {
      this.#timer = undefined;
      this.#settle(false);
    }, this.debounceMs);
  }

  /** Cancels the pending settle (the adapter stops reading the line). Idempotent. */
  stop(): void {
    this.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #settle(atStart: boolean): void {
    const to: LineLevelState = this.#raw ? 'active' : 'inactive';
    if (to === this.#state) return;
    this.log.debug({ line: this.what, from: this.#state, to }, `${this.what} ${this.#state} → ${to}`);
    this.#state = to;
    this.emit('level', this.#raw, atStart);
  }
}
