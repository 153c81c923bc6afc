/**
 * What the button (GPIO or its simulated twin) reports, already debounced (design.md §3.3, §3.5).
 * - `click`: a short press and release; the gesture of `toggle` mode.
 * - `press` / `release`: the edges of a hold; the gestures of `push-to-talk` mode.
 * - `longPress`: held ≥ 3 s; reconnect now with fresh credentials.
 * The conversation decides what each means in its current state; the button never does.
 */
export type InputEvent = 'click' | 'press' | 'release' | 'longPress';

export const INPUT_EVENTS: readonly InputEvent[] = ['click', 'press', 'release', 'longPress'];
