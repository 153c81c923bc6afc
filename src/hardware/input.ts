/**
 * What the button (GPIO or its simulated twin) reports, already debounced (design.md §3.3, §3.5).
 * - `click`: a short press and release; the gesture of `toggle` mode.
 * - `press` / `release`: the edges of a hold; the gestures of `push-to-talk` mode.
 * - `longPress`: held ≥ 3 s; reconnect now with fresh credentials (skips activation).
 * - `doubleClick`: two clicks in a short window (only when `gpio.button.doubleClickMs` > 0): stop —
 *   abort the reply and go back to idle, the one thing a single click cannot say while speaking.
 * The conversation decides what each means in its current state; the button never does.
 */
export type InputEvent = 'click' | 'press' | 'release' | 'longPress' | 'doubleClick';

export const INPUT_EVENTS: readonly InputEvent[] = ['click', 'press', 'release', 'longPress', 'doubleClick'];
