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
import type { Clock } from '../core/clock.js';
import { SettledLevel } from './debounce.js';

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

/** One input line's settled level (debounce.ts), known from its first read, without gestures. */
export class DebouncedLine extends EventEmitter<DebouncedLineEvents> {
  #state: LineLevelState = 'unknown';
  readonly #level: SettledLevel;

  constructor(
    clock: Clock,
    debounceMs: number,
    private readonly log: Logger,
    private readonly what: string,
  ) {
    super();
    this.#level = new SettledLevel(clock, debounceMs, (active) => this.#settle(active, false));
  }

  get state(): LineLevelState {
    return this.#state;
  }

  /** The level read when the line was exported: settled at once (nothing to debounce against yet). */
  initial(active: boolean): void {
    this.#level.reset(active);
    this.#settle(active, true);
  }

  /** One edge as the adapter read it (logical level). A repeat of the last level is harmless. */
  edge(active: boolean): void {
    if (this.#state === 'unknown') {
      this.initial(active);
      return;
    }
    this.#level.edge(active);
  }

  /** Cancels the pending settle (the adapter stops reading the line). Idempotent. */
  stop(): void {
    this.#level.cancel();
  }

  #settle(active: boolean, atStart: boolean): void {
    const to: LineLevelState = active ? 'active' : 'inactive';
    if (to === this.#state) return;
    this.log.debug({ line: this.what, from: this.#state, to }, `${this.what} ${this.#state} → ${to}`);
    this.#state = to;
    this.emit('level', active, atStart);
  }
}
