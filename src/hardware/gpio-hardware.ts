/**
 * The real button and LEDs of a device (design.md §3.5): the GPIO lines (gpio.ts), the gestures
 * read from the button's edges (button.ts) and the indicator drawn on the LEDs, opened and closed
 * as one. The LEDs are GPIO lines (leds.ts) or, with `leds.type: "apa102"`, a chain of APA102 RGB
 * LEDs on an SPI device (spi.ts, ring.ts) with an optional GPIO line powering them. main.ts
 * chooses this or the simulated twins (simulated.ts).
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { ConversationConfig, GpioConfig, LedsConfig } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import { describeError, ErrorCode, fault } from '../core/errors.js';
import { type Apa102Settings, apa102Settings } from './apa102.js';
import { ButtonGestures } from './button.js';
import { type ControlEvent, DebouncedLine, describeControl } from './controls.js';
import { type ControlLine, GpioBoard, type GpioResult, type LineOpener } from './gpio.js';
import type { Indicator } from './indicator.js';
import type { InputEvent } from './input.js';
import { GpioLeds } from './leds.js';
import { Apa102Ring } from './ring.js';
import { openSpi, type SpiBus, type SpiOpener } from './spi.js';

export interface GpioHardwareDeps {
  readonly gpio: GpioConfig;
  /** Which LEDs draw the indicator; default: the GPIO LEDs of `gpio.leds`. */
  readonly leds?: LedsConfig;
  readonly buttonMode: ConversationConfig['buttonMode'];
  readonly clock: Clock;
  readonly log: Logger;
  /** Tests: a fake sysfs tree for the chips and a fake line opener. */
  readonly root?: string;
  readonly open?: LineOpener;
  /** Tests: a fake spidev opener (default: spi-device). */
  readonly openSpi?: SpiOpener;
}

export interface GpioHardwareEvents {
  input: [event: InputEvent];
  /** The mute switch or button and the volume buttons (controls.ts). */
  control: [event: ControlEvent];
}

export class GpioHardware extends EventEmitter<GpioHardwareEvents> {
  readonly board: GpioBoard;
  readonly #button: ButtonGestures;
  /** The configured control lines' debouncers (gpio.mute, gpio.volumeUp, gpio.volumeDown). */
  readonly #controls = new Map<ControlLine, DebouncedLine>();
  readonly #d: GpioHardwareDeps;
  /** The GPIO LEDs, or undefined when an APA102 chain draws the indicator. */
  readonly #gpioLeds: GpioLeds | undefined;
  /** The APA102 settings (or why they cannot be had), undefined for GPIO LEDs. */
  readonly #apa102: Apa102Settings | string | undefined;
  #spi: SpiBus | undefined;
  #ring: Apa102Ring | undefined;

  constructor(d: GpioHardwareDeps) {
    super();
    this.#d = d;
    const log = d.log;
    this.#apa102 = d.leds?.type === 'apa102' ? apa102Settings(d.leds) : undefined;
    const power = typeof this.#apa102 === 'object' ? this.#apa102.powerLine : undefined;
    this.board = new GpioBoard({
      // One LED backend at a time: with an APA102 chain the GPIO LED lines stay unexported.
      config: this.#apa102 === undefined ? d.gpio : { ...d.gpio, leds: [] },
      log,
      ...(d.root === undefined ? {} : { root: d.root }),
      ...(d.open === undefined ? {} : { open: d.open }),
      ...(power === undefined ? {} : { powerLine: power }),
    });
    const { debounceMs, longPressMs, doubleClickMs } = d.gpio.button;
    this.#button = new ButtonGestures(
      d.clock,
      // Push-to-talk holds the button to talk: a long hold there is not a reconnect.
      { debounceMs, longPressMs, doubleClickMs, longPress: d.buttonMode !== 'push-to-talk' },
      log.child({ part: 'button' }),
    );
    this.#button.on('input', (event) => {
      log.debug({ input: event }, `button: ${event}`);
      this.emit('input', event);
    });
    this.#gpioLeds = this.#apa102 === undefined ? new GpioLeds(this.board, d.clock) : undefined;
    for (const name of ['mute', 'volumeUp', 'volumeDown'] as const) {
      const c = d.gpio[name];
      if (c === undefined) continue;
      const line = new DebouncedLine(d.clock, c.debounceMs, log.child({ part: name }), name);
      line.on('level', (active, atStart) => {
        const event = controlEvent(name, active, atStart, d.gpio.mute);
        if (event === undefined) return;
        log.debug({ control: event }, describeControl(event));
        this.emit('control', event);
      });
      this.#controls.set(name, line);
    }
  }

  /**
   * The mute switch's position (true = muted) as read since open, or undefined without a mute
   * switch: the composition root applies it before the daemon starts ("a switch wins").
   */
  get muteSwitch(): boolean | undefined {
    const state = this.#controls.get('mute')?.state;
    if (state === undefined || state === 'unknown') return undefined;
    const position = controlEvent('mute', state === 'active', true, this.#d.gpio.mute);
    return position?.kind === 'muteSwitch' ? position.muted : undefined;
  }

  /**
   * Opens the LEDs' SPI device first (on a fresh Pi the likeliest fault, and it sends nothing),
   * then exports every line or none (see GpioBoard.open). The LEDs start dark.
   */
  open(): GpioResult<void> {
    const settings = this.#apa102;
    if (typeof settings === 'string') return { ok: false, fault: fault(ErrorCode.Gpio, settings) };
    if (settings !== undefined && this.#spi === undefined) {
      const spi = openSpi(settings, this.#d.openSpi);
      if (!spi.ok) return spi;
      this.#spi = spi.value;
    }
    const opened = this.board.open(
      (pressed) => this.#button.edge(pressed),
      (name, active, initial) => {
        const line = this.#controls.get(name);
        if (initial) line?.initial(active);
        else line?.edge(active);
      },
    );
    if (!opened.ok) {
      this.#closeSpi();
      return opened;
    }
    if (settings !== undefined && this.#spi !== undefined && this.#ring === undefined) {
      this.#ring = new Apa102Ring(this.#spi, this.#d.clock, settings, this.#d.log.child({ part: 'ring' }));
      // Dark at once: APA102s keep whatever a previous program (or a crash) left lit.
      this.#ring.off();
      const power = settings.powerLine === undefined ? 'no power line' : `power on GPIO${settings.powerLine}`;
      this.#d.log.info(
        { leds: { ...settings } },
        `APA102 LEDs: ${settings.count} on ${settings.device} at ${settings.speedHz / 1e6} MHz, brightness ${settings.brightness}/31, ` +
          `order ${settings.colorOrder}, ${power}, ≤ ${settings.maxFps} fps (${settings.from})`,
      );
    }
    return opened;
  }

  render(indicator: Indicator): void {
    if (this.#ring) this.#ring.render(indicator);
    else this.#gpioLeds?.render(indicator);
  }

  /**
   * Gestures and animations stopped, LEDs off (a dark frame before the SPI device closes and
   * before their power line drops), lines unexported. Synchronous and idempotent.
   */
  close(): void {
    this.#button.stop();
    for (const line of this.#controls.values()) line.stop();
    this.#gpioLeds?.off();
    this.#ring?.close();
    this.#ring = undefined;
    this.#closeSpi();
    this.board.close();
  }

  #closeSpi(): void {
    const spi = this.#spi;
    this.#spi = undefined;
    if (!spi) return;
    try {
      spi.close();
    } catch (err) {
      this.#d.log.warn(
        { code: ErrorCode.Gpio, err: describeError(err) },
        `${spi.device}: cannot close: ${describeError(err)}`,
      );
    }
  }
}

/**
 * A control line's settled level as an event: a switch reports its position (start included), a
 * button its presses (a settled release is nothing; a button held at start is no press).
 */
export function controlEvent(
  name: ControlLine,
  active: boolean,
  atStart: boolean,
  mute: GpioConfig['mute'],
): ControlEvent | undefined {
  if (name === 'mute' && mute?.kind === 'switch') {
    return { kind: 'muteSwitch', muted: active === (mute.mutedWhen === 'active'), atStart };
  }
  if (!active || atStart) return undefined;
  return name === 'mute' ? { kind: 'muteToggle' } : { kind: name };
}
