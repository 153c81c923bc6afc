/**
 * Draws an indicator on a chain of APA102 RGB LEDs (design.md §3.5): the look per indicator comes
 * from RING_LOOKS (indicator.ts), the pictures from the pure `ringPicture`, the bytes from the pure
 * encoder (apa102.ts); this class only decides when to send a frame. It renders, it never decides
 * (design.md §5.6).
 *
 * Time: every picture is a function of the time since the indicator began, read from the injected
 * clock, so a frame drawn late shows the right phase and tests step through frames with a
 * ManualClock. A still picture (off, steady) arms no timer. A moving one arms exactly one, at the
 * picture's next change but never sooner than 1000/maxFps ms after the last frame; a new indicator,
 * `off()` and `close()` cancel it first. A frame equal to the last one sent is not sent.
 */
import type { ColorOrder } from '../config/schema.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import { describeError, ErrorCode } from '../core/errors.js';
import type { Logger } from '../system/logger.js';
import { encodeFrameInto, frameBytes } from './apa102.js';
import {
  BLINK_PHASE_MS,
  type Indicator,
  type Rgb,
  RING_LOOKS,
  type RingLook,
  sameIndicator,
} from './indicator.js';

/** Where frames go: the SPI device (spi.ts), or a recorder / a null bus in tests and the bench. */
export interface FrameBus {
  write(frame: Buffer): void;
}

/** One full rise and fall of `breathe` (a calm breath: about 15 per minute would be 4 s; 2 s reads as "now"). */
export const BREATHE_PERIOD_MS = 2_000;
/** The dimmest point of a breath, as a fraction of full: never dark, so it cannot read as "off". */
export const BREATHE_FLOOR = 0.15;
/** How long the spinner's segment stays on one LED (the firmware's scroll: 100 ms, circular_strip.cc). */
export const SPIN_STEP_MS = 100;
/**
 * Added to every wait. Node's timers count from the event loop's cached time (libuv's uv_now, whole
 * milliseconds, taken when the loop turn began), so a timer can fire up to about a millisecond
 * before the clock says its delay has passed; measured here without this margin, a spinner woke
 * early on about half its steps (43 wake-ups for 30 frames in 3 s; 29 with it). One millisecond late is invisible; an early wake still draws
 * nothing and re-arms for the rest.
 */
export const WAKE_MARGIN_MS = 1;

export interface RingPicture {
  readonly pixels: readonly Rgb[];
  /**
   * Elapsed time (ms since the indicator began) from which the picture may look different, or
   * undefined when it never will (still). `breathe` changes continuously: its next change is now,
   * and the frame rate cap decides.
   */
  readonly nextMs: number | undefined;
}

const DARK: Rgb = Object.freeze({ r: 0, g: 0, b: 0 });

function scaled(c: Rgb, f: number): Rgb {
  return { r: Math.round(c.r * f), g: Math.round(c.g * f), b: Math.round(c.b * f) };
}

/** How many LEDs the spinner lights: a quarter of the ring, at least one (3 of the 4-Mic's 12, as the firmware). */
export function spinSegment(count: number): number {
  return Math.max(1, Math.floor(count / 4));
}

/** The ring's picture `elapsedMs` after `look` began. Pure. */
export function ringPicture(look: RingLook, count: number, elapsedMs: number): RingPicture {
  const t = Math.max(0, elapsedMs);
  const all = (c: Rgb): Rgb[] => Array.from({ length: count }, () => c);
  switch (look.motion) {
    case 'off':
      return { pixels: all(DARK), nextMs: undefined };
    case 'steady':
      return { pixels: all(look.rgb), nextMs: undefined };
    case 'slow-blink':
    case 'fast-blink': {
      // The GPIO LEDs' phases (indicator.ts), lit first: both backends blink in step.
      const phase = BLINK_PHASE_MS[look.motion];
      const n = Math.floor(t / phase);
      return { pixels: all(n % 2 === 0 ? look.rgb : DARK), nextMs: (n + 1) * phase };
    }
    case 'breathe': {
      // A raised cosine from the floor up to full and back, starting at the floor.
      const wave = (1 - Math.cos((2 * Math.PI * t) / BREATHE_PERIOD_MS)) / 2;
      return { pixels: all(scaled(look.rgb, BREATHE_FLOOR + (1 - BREATHE_FLOOR) * wave)), nextMs: t };
    }
    case 'spin': {
      const step = Math.floor(t / SPIN_STEP_MS);
      const lit = spinSegment(count);
      const head = step % count;
      const pixels = all(DARK);
      for (let j = 0; j < lit; j++) pixels[(head + j) % count] = look.rgb;
      return { pixels, nextMs: (step + 1) * SPIN_STEP_MS };
    }
  }
}

export interface RingOptions {
  readonly count: number;
  readonly brightness: number;
  readonly colorOrder: ColorOrder;
  readonly maxFps: number;
}

/** dark: nothing lit, no timer; still: a picture that does not change; moving: a timer armed; closed: done. */
export type RingState = 'dark' | 'still' | 'moving' | 'closed';

export class Apa102Ring {
  #state: RingState = 'dark';
  #indicator: Indicator | undefined;
  #look: RingLook = RING_LOOKS.off;
  #since = 0;
  /** Elapsed time the armed timer is for; a wake before it draws nothing. */
  #dueMs = 0;
  #timer: TimerHandle | undefined;
  /** The last frame sent and the one being built: two buffers swapped, no allocation per frame. */
  #sent: Buffer;
  #next: Buffer;
  #failing = false;
  #frames = 0;
  readonly #minFrameMs: number;

  constructor(
    private readonly bus: FrameBus,
    private readonly clock: Clock,
    private readonly options: RingOptions,
    private readonly log: Logger,
  ) {
    // Nothing sent yet: the first frame goes out whatever it shows (the LEDs may hold anything).
    this.#sent = Buffer.alloc(frameBytes(options.count), 0xff);
    this.#next = Buffer.alloc(frameBytes(options.count));
    // Whole milliseconds, rounded up: fractions would add up to one frame too many a second.
    this.#minFrameMs = Math.ceil(1000 / options.maxFps);
  }

  get state(): RingState {
    return this.#state;
  }

  /** Frames actually sent to the bus (tests, bench). */
  get frames(): number {
    return this.#frames;
  }

  /** Shows `indicator` from now on. The same indicator again changes nothing (an animation keeps its phase). */
  render(indicator: Indicator): void {
    if (this.#state === 'closed' || sameIndicator(this.#indicator, indicator)) return;
    this.#indicator = indicator;
    this.#cancel();
    this.#look = RING_LOOKS[indicator.name];
    this.#since = this.clock.now();
    this.#dueMs = 0;
    this.#draw();
  }

  /** Dark, timer cancelled. Idempotent; the ring can show an indicator again afterwards. */
  off(): void {
    if (this.#state === 'closed') return;
    this.#cancel();
    this.#indicator = undefined;
    this.#look = RING_LOOKS.off;
    this.#since = this.clock.now();
    this.#dueMs = 0;
    this.#draw();
  }

  /** Dark (a frame is sent even if the ring already looked dark: the LEDs may hold anything), then nothing more. */
  close(): void {
    if (this.#state === 'closed') return;
    this.#cancel();
    this.#indicator = undefined;
    this.#look = RING_LOOKS.off;
    this.#forgetSent();
    this.#dueMs = 0;
    this.#draw();
    this.#transition('closed');
  }

  #draw(): void {
    this.#timer = undefined;
    const elapsed = this.clock.now() - this.#since;
    if (elapsed < this.#dueMs) {
      // Woken before the time asked for (see WAKE_MARGIN_MS): the picture has not changed yet,
      // and waiting out the frame-rate cap from here would show the next step a frame late.
      this.#arm(this.#dueMs - elapsed);
      return;
    }
    const picture = ringPicture(this.#look, this.options.count, elapsed);
    encodeFrameInto(this.#next, picture.pixels, this.options.brightness, this.options.colorOrder);
    if (!this.#next.equals(this.#sent)) this.#send();
    if (picture.nextMs === undefined) {
      this.#transition(this.#look.motion === 'off' ? 'dark' : 'still');
      return;
    }
    // The next change, but never sooner than the frame-rate cap allows after this frame.
    this.#dueMs = Math.max(picture.nextMs, elapsed + this.#minFrameMs);
    this.#arm(this.#dueMs - elapsed);
    this.#transition('moving');
  }

  #arm(ms: number): void {
    this.#timer = this.clock.setTimeout(() => this.#draw(), Math.ceil(ms) + WAKE_MARGIN_MS);
  }

  #send(): void {
    try {
      this.bus.write(this.#next);
      [this.#sent, this.#next] = [this.#next, this.#sent];
      this.#frames++;
      if (this.#failing) {
        this.#failing = false;
        this.log.info('LED ring writes again');
      }
    } catch (err) {
      // LEDs render, they never decide: a failing bus must not take the daemon down. Said once
      // per run of failures; the next frame tries again.
      if (this.#failing) return;
      this.#failing = true;
      this.log.error(
        { code: ErrorCode.LedWrite, err: describeError(err) },
        `LED ring cannot be written: ${describeError(err)}`,
      );
    }
  }

  /**
   * Makes the next frame differ from "the last sent" whatever it is: 0xFF bytes cannot occur in a
   * frame (its start frame is zeros), so the next one goes out even if it is dark.
   */
  #forgetSent(): void {
    this.#sent.fill(0xff);
  }

  #cancel(): void {
    this.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #transition(to: RingState): void {
    if (this.#state === to) return;
    const from = this.#state;
    this.#state = to;
    this.log.debug(
      { from, to, indicator: this.#indicator?.name ?? 'off', motion: this.#look.motion },
      `ring ${from} → ${to}`,
    );
  }
}
