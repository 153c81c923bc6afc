/**
 * Button gestures from raw edges (design.md §3.5, protocol.md §6.3): pure logic driven by the
 * level the adapter reads on each edge and an injected clock, so a bounce train, a 2.9 s hold and
 * a double click are unit tests with a manual clock, not a Pi on a desk.
 *
 * - Debounce by settling (debounce.ts): a level counts once it has held `debounceMs` without
 *   another edge. The cost is `debounceMs` of latency on each edge, which the pre-roll covers
 *   (audio/preroll.ts).
 * - Every settled press emits `press`, every settled release `release` (push-to-talk uses them).
 * - A release before `longPressMs` is a `click` (toggle mode). With `doubleClickMs` > 0 the click
 *   waits that long for a second one, which makes a `doubleClick` instead of two clicks.
 * - Held `longPressMs` emits `longPress` once, while still held; its release is not a click.
 *   Off in push-to-talk mode, where holding the button is how one talks.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../core/clock.js';
import { SettledLevel } from './debounce.js';
import type { InputEvent } from './input.js';

export interface ButtonTiming {
  readonly debounceMs: number;
  readonly longPressMs: number;
  /** 0 = no double click: a click is emitted at its release. */
  readonly doubleClickMs: number;
  /** false in push-to-talk mode (a long hold is talking, not a reconnect). */
  readonly longPress: boolean;
}

/**
 * up: released, nothing pending · down: held, under the long-press time · held: the long press
 * fired, waiting for the release · clickPending: a click waits for a possible second one ·
 * secondDown: held again within the double-click window.
 */
export type ButtonState = 'up' | 'down' | 'held' | 'clickPending' | 'secondDown';

export interface ButtonEvents {
  input: [event: InputEvent];
}

export class ButtonGestures extends EventEmitter<ButtonEvents> {
  #state: ButtonState = 'up';
  /** The settled level (true = pressed): what the gestures are made of. */
  readonly #level: SettledLevel;
  #longTimer: TimerHandle | undefined;
  #doubleTimer: TimerHandle | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly timing: ButtonTiming,
    private readonly log: Logger,
  ) {
    super();
    // A press counts its long-press time from its first edge, not from the end of its debounce.
    this.#level = new SettledLevel(clock, timing.debounceMs, (pressed, edgeAt) =>
      pressed ? this.#pressed(edgeAt) : this.#released(),
    );
  }

  get state(): ButtonState {
    return this.#state;
  }

  /**
   * One edge as read by the adapter: `pressed` is the logical level (active-low already applied).
   * Levels equal to the last one are harmless (an interrupt can report a level twice).
   */
  edge(pressed: boolean): void {
    this.#level.edge(pressed);
  }

  /** Forgets everything and cancels every timer (the adapter stops reading the line). Idempotent. */
  stop(): void {
    for (const t of [this.#longTimer, this.#doubleTimer]) this.clock.clearTimeout(t);
    this.#longTimer = this.#doubleTimer = undefined;
    this.#level.reset(false);
    this.#transition('up', 'stopped');
  }

  #pressed(at: number): void {
    const second = this.#state === 'clickPending';
    this.#transition(second ? 'secondDown' : 'down', 'pressed');
    this.#emit('press');
    if (this.timing.longPress) {
      // Counted from the first edge of the press, not from the end of its debounce.
      const left = Math.max(0, this.timing.longPressMs - (this.clock.now() - at));
      this.#longTimer = this.clock.setTimeout(() => this.#long(), left);
    }
  }

  #long(): void {
    this.#longTimer = undefined;
    if (this.#state === 'secondDown') {
      // The first click of a would-be double click stands on its own; this hold is a long press.
      this.#cancelDouble();
      this.#emit('click');
    }
    this.#transition('held', `held ${this.timing.longPressMs} ms`);
    this.#emit('longPress');
  }

  #released(): void {
    this.clock.clearTimeout(this.#longTimer);
    this.#longTimer = undefined;
    const was = this.#state;
    this.#emit('release');
    if (was === 'held') {
      this.#transition('up', 'released after a long press');
      return;
    }
    if (was === 'secondDown') {
      this.#cancelDouble();
      this.#transition('up', 'second click');
      this.#emit('doubleClick');
      return;
    }
    if (this.timing.doubleClickMs === 0) {
      this.#transition('up', 'click');
      this.#emit('click');
      return;
    }
    this.#transition('clickPending', 'click; waiting for a second one');
    this.#doubleTimer = this.clock.setTimeout(() => {
      this.#doubleTimer = undefined;
      // Still in the window's first half-gesture: the click is single. A second press that is
      // still held when the window ends is decided at its release (double) or long press.
      if (this.#state !== 'clickPending') return;
      this.#transition('up', 'no second click');
      this.#emit('click');
    }, this.timing.doubleClickMs);
  }

  #cancelDouble(): void {
    this.clock.clearTimeout(this.#doubleTimer);
    this.#doubleTimer = undefined;
  }

  #emit(event: InputEvent): void {
    this.emit('input', event);
  }

  /** Button micro-states log at debug: the conversation logs what a gesture did at info. */
  #transition(to: ButtonState, reason: string): void {
    if (this.#state === to) return;
    this.log.debug({ button_from: this.#state, button_to: to }, `button ${this.#state} → ${to}: ${reason}`);
    this.#state = to;
  }
}
