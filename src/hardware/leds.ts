/**
 * Draws an indicator on GPIO LEDs (design.md §3.5): one RGB LED or up to three mono LEDs, by
 * configured role. It renders, it never decides (design.md §5.6): the indicator comes from the
 * pure map in indicator.ts. Blinks run on the injected clock; a new indicator cancels the old
 * blink first, so no timer outlives its state.
 */
import type { LedRole } from '../config/schema.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import { BLINK_PHASE_MS, type Indicator, type IndicatorColor, sameIndicator } from './indicator.js';

/** The lines the driver writes (GpioBoard; a recorder in tests). */
export interface LedLines {
  readonly ledRoles: readonly LedRole[];
  setLed(role: LedRole, on: boolean): void;
}

/**
 * Which roles light for a colour: its own channel (amber: red and green together, which a mono
 * red or green LED shows as its own colour), and a mono `status` LED for every colour.
 */
export function rolesFor(color: IndicatorColor): ReadonlySet<LedRole> {
  if (color === 'off') return new Set();
  if (color === 'amber') return new Set<LedRole>(['red', 'green', 'status']);
  return new Set<LedRole>([color, 'status']);
}

export class GpioLeds {
  #indicator: Indicator | undefined;
  #blink: TimerHandle | undefined;
  /** The level last written per role, so a render writes only the lines that change. */
  readonly #levels = new Map<LedRole, boolean>();

  constructor(
    private readonly lines: LedLines,
    private readonly clock: Clock,
  ) {}

  /** Shows `indicator` from now on. The same indicator again changes nothing (a blink keeps its phase). */
  render(indicator: Indicator): void {
    if (sameIndicator(this.#indicator, indicator)) return;
    this.#indicator = indicator;
    this.#stopBlink();
    switch (indicator.pattern) {
      case 'off':
        this.#draw(new Set());
        return;
      case 'steady':
        this.#draw(rolesFor(indicator.color));
        return;
      case 'slow-blink':
      case 'fast-blink':
        this.#blinkPhase(rolesFor(indicator.color), BLINK_PHASE_MS[indicator.pattern], true);
        return;
    }
  }

  /** Dark, timers cancelled (shutdown: the GPIO board then unexports the lines). Idempotent. */
  off(): void {
    this.#stopBlink();
    this.#indicator = undefined;
    this.#draw(new Set());
  }

  /** Whether a blink timer is armed (tests: no timer leaks across state changes). */
  get blinking(): boolean {
    return this.#blink !== undefined;
  }

  #blinkPhase(lit: ReadonlySet<LedRole>, phaseMs: number, on: boolean): void {
    this.#draw(on ? lit : new Set());
    this.#blink = this.clock.setTimeout(() => {
      this.#blink = undefined;
      this.#blinkPhase(lit, phaseMs, !on);
    }, phaseMs);
  }

  #stopBlink(): void {
    this.clock.clearTimeout(this.#blink);
    this.#blink = undefined;
  }

  #draw(lit: ReadonlySet<LedRole>): void {
    for (const role of this.lines.ledRoles) {
      const on = lit.has(role);
      if (this.#levels.get(role) === on) continue;
      this.#levels.set(role, on);
      this.lines.setLed(role, on);
    }
  }
}
