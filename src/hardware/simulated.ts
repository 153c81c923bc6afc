/**
 * Simulated twins of the button and the LEDs for `--sim` (design.md §3.5, §5.5): keys from a
 * terminal (or any stream) become button gestures, indicators become one printed line each.
 * Chosen explicitly by main.ts, never a silent fallback on a device.
 */
import { EventEmitter } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { type Indicator, type IndicatorColor, sameIndicator } from './indicator.js';
import type { InputEvent } from './input.js';

/** stdin, or any Readable in tests; raw mode (one key at a time) is used when it is a TTY. */
export interface KeyInput extends Readable {
  readonly isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
}

/** stdout, or any Writable in tests; colour only when it is a TTY. */
export interface TextOutput extends Writable {
  readonly isTTY?: boolean;
}

export const SIM_BUTTON_HELP =
  'button: Enter = click, p = press, r = release, l = long press, d = double click';

// A Map, not an object literal: a typed "constructor" must not find Object.prototype's.
const WORDS: ReadonlyMap<string, InputEvent> = new Map<string, InputEvent>([
  ['', 'click'],
  ['c', 'click'],
  ['click', 'click'],
  ['p', 'press'],
  ['press', 'press'],
  ['r', 'release'],
  ['release', 'release'],
  ['l', 'longPress'],
  ['long', 'longPress'],
  ['longpress', 'longPress'],
  ['d', 'doubleClick'],
  ['double', 'doubleClick'],
]);

/** Line mode: one line is one gesture (an empty line, i.e. Enter, is a click). */
export function lineToInput(line: string): InputEvent | undefined {
  return WORDS.get(line.trim().toLowerCase());
}

/** Raw mode: one key is one gesture. */
export function keyToInput(key: string): InputEvent | undefined {
  if (key === '\r' || key === '\n') return 'click';
  return key.length === 1 ? WORDS.get(key.toLowerCase()) : undefined;
}

// Ctrl-C and Ctrl-D: in raw mode the terminal no longer turns them into SIGINT/EOF for us.
const INTERRUPT_KEYS = new Set(['\u0003', '\u0004']);
/** A typed line longer than this is nonsense; dropped rather than buffered (design.md §5.11). */
const MAX_LINE = 256;

export interface SimulatedButtonEvents {
  input: [event: InputEvent];
  /** Ctrl-C / Ctrl-D in raw mode. Without a listener the process gets SIGINT, as in a cooked terminal. */
  interrupt: [];
}

export class SimulatedButton extends EventEmitter<SimulatedButtonEvents> {
  readonly #decoder = new StringDecoder('utf8');
  #line = '';
  #raw = false;
  #open = false;
  readonly #onData = (chunk: Buffer | string): void => {
    const text = typeof chunk === 'string' ? chunk : this.#decoder.write(chunk);
    if (this.#raw) this.#keys(text);
    else this.#lines(text);
  };

  constructor(private readonly keys: KeyInput) {
    super();
  }

  get raw(): boolean {
    return this.#raw;
  }

  /** Starts reading keys (raw mode on a TTY). Idempotent. */
  start(): void {
    if (this.#open) return;
    this.#open = true;
    if (this.keys.isTTY === true && this.keys.setRawMode) {
      this.keys.setRawMode(true);
      this.#raw = true;
    }
    this.keys.on('data', this.#onData);
    this.keys.resume();
  }

  /** Stops reading and gives the terminal back its normal mode. Idempotent. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.keys.off('data', this.#onData);
    if (this.#raw) {
      this.keys.setRawMode?.(false);
      this.#raw = false;
    }
    // Paused, stdin no longer keeps the process alive.
    this.keys.pause();
  }

  #keys(text: string): void {
    // A terminal sends an escape sequence (arrows, F-keys) as one chunk: none of it is a gesture.
    if (text.startsWith('\u001b')) return;
    for (const key of text) {
      if (INTERRUPT_KEYS.has(key)) {
        if (this.listenerCount('interrupt') > 0) this.emit('interrupt');
        else process.kill(process.pid, 'SIGINT');
        continue;
      }
      const event = keyToInput(key);
      if (event) this.emit('input', event);
    }
  }

  #lines(text: string): void {
    const parts = (this.#line + text).split('\n');
    this.#line = (parts.pop() ?? '').slice(0, MAX_LINE);
    for (const line of parts) {
      const event = lineToInput(line);
      if (event) this.emit('input', event);
    }
  }
}

const ANSI: Readonly<Record<IndicatorColor, string>> = {
  off: '\u001b[2m',
  red: '\u001b[31m',
  green: '\u001b[32m',
  blue: '\u001b[34m',
  amber: '\u001b[33m',
};
const ANSI_RESET = '\u001b[0m';

/** `[LED] ● blue steady  (connecting)`; `[LED] ○ off  (idle)` when dark. */
export function formatIndicatorLine(indicator: Indicator, colour: boolean): string {
  const dark = indicator.color === 'off' || indicator.pattern === 'off';
  const lamp = dark ? '○ off' : `● ${indicator.color} ${indicator.pattern}`;
  const shown = colour ? `${ANSI[dark ? 'off' : indicator.color]}${lamp}${ANSI_RESET}` : lamp;
  return `[LED] ${shown}  (${indicator.name})`;
}

/** The LEDs drawn as text: one line per change, no timers (the blink is named, not animated). */
export class TerminalLeds {
  #last: Indicator | undefined;

  constructor(private readonly out: TextOutput) {}

  render(indicator: Indicator): void {
    if (sameIndicator(this.#last, indicator)) return;
    this.#last = indicator;
    this.out.write(`${formatIndicatorLine(indicator, this.out.isTTY === true)}\n`);
  }
}
