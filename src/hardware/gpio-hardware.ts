/**
 * The real button and LEDs of a device (design.md §3.5): the GPIO lines (gpio.ts), the gestures
 * read from the button's edges (button.ts) and the indicator drawn on the LEDs (leds.ts), opened
 * and closed as one. main.ts chooses this or the simulated twins (simulated.ts).
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { ConversationConfig, GpioConfig } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import { ButtonGestures } from './button.js';
import { GpioBoard, type GpioResult, type LineOpener } from './gpio.js';
import type { Indicator } from './indicator.js';
import type { InputEvent } from './input.js';
import { GpioLeds } from './leds.js';

export interface GpioHardwareDeps {
  readonly gpio: GpioConfig;
  readonly buttonMode: ConversationConfig['buttonMode'];
  readonly clock: Clock;
  readonly log: Logger;
  /** Tests: a fake sysfs tree for the chips and a fake line opener. */
  readonly root?: string;
  readonly open?: LineOpener;
}

export class GpioHardware extends EventEmitter<{ input: [event: InputEvent] }> {
  readonly board: GpioBoard;
  readonly #button: ButtonGestures;
  readonly #leds: GpioLeds;

  constructor(d: GpioHardwareDeps) {
    super();
    const log = d.log;
    this.board = new GpioBoard({
      config: d.gpio,
      log,
      ...(d.root === undefined ? {} : { root: d.root }),
      ...(d.open === undefined ? {} : { open: d.open }),
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
    this.#leds = new GpioLeds(this.board, d.clock);
  }

  /** Exports every line or none (see GpioBoard.open); the LEDs start dark. */
  open(): GpioResult<void> {
    return this.board.open((pressed) => this.#button.edge(pressed));
  }

  render(indicator: Indicator): void {
    this.#leds.render(indicator);
  }

  /** Gestures and blinks stopped, LEDs off, lines unexported. Synchronous and idempotent. */
  close(): void {
    this.#button.stop();
    this.#leds.off();
    this.board.close();
  }
}
