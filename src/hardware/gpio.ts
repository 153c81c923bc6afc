/**
 * The button and LED lines over the legacy sysfs GPIO ABI, through onoff (design.md §3.5). The
 * only file that imports onoff.
 *
 * Config names BCM numbers (GPIO17 = pin 11 on every Pi). sysfs wants the kernel's global number:
 * the chip's `base` plus the BCM number. Kernels ≥ 6.6 moved the bases (GPIO17 is 529 on a Pi 4,
 * 588 on a Pi 5 with 6.6 before 6.6.47; the Pi 5 chip order changed again in 6.6.47), older ones
 * used base 0. So the base is read from `/sys/class/gpio/gpiochip*\/{label,base,ngpio}` at every
 * start, never hard-coded. A missing sysfs, an unknown chip, a line past the chip or a busy line is
 * a startup fault naming the line and the fix; main.ts exits 78 on it (no restart loop under
 * systemd, and never a silent fallback to simulated hardware).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Gpio } from 'onoff';
import type { Logger } from 'pino';
import type { GpioConfig, LedRole } from '../config/schema.js';
import { describeError, ErrorCode, errnoCode, type Fault, fault } from '../core/errors.js';

/** Where the kernel's sysfs GPIO lives; onoff hard-codes the same path. */
export const SYSFS_GPIO = '/sys/class/gpio';

/** The chips whose line numbers are the BCM numbers on Raspberry Pi boards (Pi 0–3, Pi 4, Pi 5). */
export const PI_CHIP_LABELS: readonly string[] = ['pinctrl-bcm2835', 'pinctrl-bcm2711', 'pinctrl-rp1'];

export interface GpioChip {
  /** The directory name, e.g. gpiochip512. */
  readonly name: string;
  readonly label: string;
  readonly base: number;
  readonly ngpio: number;
}

export type GpioResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly fault: Fault };

const gpioFault = (message: string): { ok: false; fault: Fault } => ({
  ok: false,
  fault: fault(ErrorCode.Gpio, message),
});

/** Every chip of a sysfs GPIO tree (`root` is a parameter so unit tests read fake trees). */
export function listChips(root: string = SYSFS_GPIO): GpioResult<GpioChip[]> {
  let names: string[];
  try {
    names = readdirSync(root).filter((n) => n.startsWith('gpiochip'));
  } catch (err) {
    return gpioFault(
      `no sysfs GPIO at ${root} (${errnoCode(err) ?? describeError(err)}): this kernel lacks CONFIG_GPIO_SYSFS; ` +
        'Raspberry Pi OS kernels have it. Without GPIO, "hardware": "simulated" runs the button and LEDs in a terminal',
    );
  }
  const chips: GpioChip[] = [];
  for (const name of names) {
    try {
      const read = (f: string) => readFileSync(join(root, name, f), 'utf8').trim();
      const base = Number.parseInt(read('base'), 10);
      const ngpio = Number.parseInt(read('ngpio'), 10);
      if (!Number.isInteger(base) || !Number.isInteger(ngpio)) continue; // not a chip directory
      chips.push({ name, label: read('label'), base, ngpio });
    } catch (err) {
      return gpioFault(`cannot read ${join(root, name)}: ${describeError(err)}`);
    }
  }
  return { ok: true, value: chips.sort((a, b) => a.base - b.base) };
}

/** The chip the BCM numbers belong to: the configured label, else the Raspberry Pi ones. */
export function resolveChip(root: string = SYSFS_GPIO, label?: string): GpioResult<GpioChip> {
  const listed = listChips(root);
  if (!listed.ok) return listed;
  const wanted = label === undefined ? PI_CHIP_LABELS : [label];
  const matches = listed.value.filter((c) => wanted.includes(c.label));
  const first = matches[0];
  if (!first) {
    const found = listed.value.map((c) => `${c.label} (${c.name})`).join(', ') || 'none';
    return gpioFault(
      `no GPIO chip labelled ${wanted.join(' or ')} under ${root}; chips found: ${found}. ` +
        'On a board other than a Raspberry Pi, set gpio.chipLabel to the chip of the header pins',
    );
  }
  if (matches.length > 1) {
    return gpioFault(
      `${matches.length} GPIO chips labelled ${first.label} under ${root} (${matches.map((c) => c.name).join(', ')}): cannot tell which one has the header pins`,
    );
  }
  return { ok: true, value: first };
}

/** The kernel's sysfs number of a BCM line: base + offset, checked against the chip's size. */
export function sysfsNumber(chip: GpioChip, bcm: number, what: string): GpioResult<number> {
  if (bcm >= chip.ngpio) {
    return gpioFault(
      `${what} is GPIO${bcm}, but ${chip.label} has lines 0–${chip.ngpio - 1}: fix the line number in the config`,
    );
  }
  return { ok: true, value: chip.base + bcm };
}

/** One exported line as this adapter uses it; onoff's Gpio fits, unit tests pass fakes. */
export interface GpioLine {
  readSync(): 0 | 1;
  writeSync(value: 0 | 1): void;
  watch(callback: (err: Error | null | undefined, value: 0 | 1) => void): void;
  unwatchAll(): void;
  unexport(): void;
}

export type LineOpener = (
  sysfs: number,
  direction: 'in' | 'high' | 'low',
  edge: 'none' | 'both',
  options: { activeLow: boolean },
) => GpioLine;

// onoff's debounce uses real timers; ours (hardware/button.ts) runs on the injected clock.
const onoffOpener: LineOpener = (sysfs, direction, edge, options) =>
  new Gpio(sysfs, direction, edge, { activeLow: options.activeLow, debounceTimeout: 0 });

export interface GpioBoardDeps {
  readonly config: GpioConfig;
  readonly log: Logger;
  /** The sysfs GPIO directory to read chips from (tests: a fake tree). */
  readonly root?: string;
  readonly open?: LineOpener;
  /**
   * BCM line that powers LEDs on the board (the ReSpeaker 4-Mic's APA102 ring: GPIO5), driven high
   * from open to close, as Seeed's gpiozero `LED(5).on()` does.
   */
  readonly powerLine?: number;
}

interface Opened {
  readonly what: string;
  readonly sysfs: number;
  readonly line: GpioLine;
  readonly led?: LedRole;
  /** An output (an LED or the LED power): written low before it is unexported. */
  readonly output: boolean;
}

export type BoardState = 'closed' | 'open' | 'failed';

/** The optional input lines beside the talk button (issue 15 §3), by their config key. */
export const CONTROL_LINES = ['mute', 'volumeUp', 'volumeDown'] as const;
export type ControlLine = (typeof CONTROL_LINES)[number];

/** A control line's logical level (true = active), first as read at export (`initial`), then per edge. */
export type ControlListener = (line: ControlLine, active: boolean, initial: boolean) => void;

/**
 * The configured lines, exported and configured, or none: `open()` either exports them all or
 * unexports what it had and reports the first failure. `close()` turns the LEDs off and unexports
 * every line; it is synchronous, so main.ts can also run it from an 'exit' handler after a crash.
 */
export class GpioBoard {
  readonly #d: GpioBoardDeps;
  readonly #open: LineOpener;
  #state: BoardState = 'closed';
  #lines: Opened[] = [];
  #button: Opened | undefined;
  readonly #ledFailed = new Set<LedRole>();

  constructor(deps: GpioBoardDeps) {
    this.#d = deps;
    this.#open = deps.open ?? onoffOpener;
  }

  get state(): BoardState {
    return this.#state;
  }

  /** Sysfs numbers by role, for the log and `doctor`. */
  get lines(): ReadonlyArray<{ readonly what: string; readonly sysfs: number }> {
    return this.#lines.map(({ what, sysfs }) => ({ what, sysfs }));
  }

  /**
   * Exports the button (input, both edges) and the LEDs (outputs, off). `onButton` gets the
   * logical level on every edge: true = pressed (active-low already applied by the kernel).
   */
  open(onButton: (pressed: boolean) => void, onControl?: ControlListener): GpioResult<void> {
    if (this.#state === 'open') return { ok: true, value: undefined };
    const { config, log } = this.#d;
    const chip = resolveChip(this.#d.root, config.chipLabel);
    if (!chip.ok) return this.#fail(chip.fault);
    log.info(
      { chip: chip.value.name, label: chip.value.label, base: chip.value.base, ngpio: chip.value.ngpio },
      `GPIO chip ${chip.value.label}: BCM n is sysfs ${chip.value.base} + n`,
    );
    const button = sysfsNumber(chip.value, config.button.line, 'gpio.button.line');
    if (!button.ok) return this.#fail(button.fault);
    const opened = this.#export('button', button.value, config.button.line, 'in', config.button.activeLow);
    if (!opened.ok) return this.#fail(opened.fault);
    this.#button = opened.value;
    // The controls are inputs wired like the button (to GND with a pull-up, active low by default).
    const controls: { readonly name: ControlLine; readonly line: GpioLine }[] = [];
    for (const name of CONTROL_LINES) {
      const c = config[name];
      if (c === undefined) continue;
      const n = sysfsNumber(chip.value, c.line, `gpio.${name}.line`);
      if (!n.ok) return this.#fail(n.fault);
      const got = this.#export(name, n.value, c.line, 'in', c.activeLow);
      if (!got.ok) return this.#fail(got.fault);
      controls.push({ name, line: got.value.line });
    }
    for (const [i, led] of config.leds.entries()) {
      const n = sysfsNumber(chip.value, led.line, `gpio.leds[${i}].line`);
      if (!n.ok) return this.#fail(n.fault);
      // 'high'/'low' set the raw level (gpio-sysfs direction_store): start at the inactive one,
      // so an active-low LED does not flash on while being configured.
      const dir = led.activeLow ? 'high' : 'low';
      const got = this.#export(`led ${led.role}`, n.value, led.line, dir, led.activeLow, led.role);
      if (!got.ok) return this.#fail(got.fault);
    }
    if (this.#d.powerLine !== undefined) {
      const n = sysfsNumber(chip.value, this.#d.powerLine, 'leds.powerLine');
      if (!n.ok) return this.#fail(n.fault);
      // 'high': exported already driving the LEDs' supply, no glitch through low.
      const got = this.#export('led power', n.value, this.#d.powerLine, 'high', false);
      if (!got.ok) return this.#fail(got.fault);
    }
    try {
      onButton(this.#button.line.readSync() === 1);
      this.#button.line.watch((err, value) => {
        if (err) {
          log.warn({ code: ErrorCode.Gpio, err: describeError(err) }, 'button interrupt failed');
          return;
        }
        onButton(value === 1);
      });
    } catch (err) {
      return this.#fail(fault(ErrorCode.Gpio, `cannot watch the button line: ${describeError(err)}`));
    }
    for (const { name, line } of controls) {
      try {
        onControl?.(name, line.readSync() === 1, true);
        line.watch((err, value) => {
          if (err) {
            log.warn({ code: ErrorCode.Gpio, err: describeError(err) }, `${name} interrupt failed`);
            return;
          }
          onControl?.(name, value === 1, false);
        });
      } catch (err) {
        return this.#fail(fault(ErrorCode.Gpio, `cannot watch the ${name} line: ${describeError(err)}`));
      }
    }
    this.#state = 'open';
    log.info(
      { lines: this.lines },
      `GPIO open: ${this.#lines.map((l) => `${l.what}=${l.sysfs}`).join(', ')}`,
    );
    return { ok: true, value: undefined };
  }

  /** Sets one LED role's line (logical level: true = lit). A failing line is logged once, then skipped. */
  setLed(role: LedRole, on: boolean): void {
    const led = this.#lines.find((l) => l.led === role);
    if (!led || this.#state !== 'open') return;
    try {
      led.line.writeSync(on ? 1 : 0);
      if (this.#ledFailed.delete(role)) this.#d.log.info({ led: role }, `LED ${role} writes again`);
    } catch (err) {
      // LEDs render, they never decide: a broken LED line must not take the daemon down.
      if (this.#ledFailed.has(role)) return;
      this.#ledFailed.add(role);
      this.#d.log.error(
        { code: ErrorCode.LedWrite, led: role, sysfs: led.sysfs, err: describeError(err) },
        `LED ${role} (sysfs ${led.sysfs}) cannot be written: ${describeError(err)}`,
      );
    }
  }

  get ledRoles(): readonly LedRole[] {
    return this.#lines.flatMap((l) => (l.led ? [l.led] : []));
  }

  /** LEDs off, every line unexported. Synchronous and idempotent; every failure is logged. */
  close(): void {
    const lines = this.#lines;
    this.#lines = [];
    this.#button = undefined;
    if (this.#state === 'open') this.#state = 'closed';
    for (const { what, sysfs, line, output } of lines) {
      try {
        if (output) line.writeSync(0);
        else line.unwatchAll();
      } catch (err) {
        this.#d.log.warn(
          { code: ErrorCode.Gpio, line: sysfs, err: describeError(err) },
          `${what}: cannot reset`,
        );
      }
      try {
        line.unexport();
      } catch (err) {
        this.#d.log.warn(
          { code: ErrorCode.Gpio, line: sysfs, err: describeError(err) },
          `${what}: cannot unexport sysfs ${sysfs}: ${describeError(err)}`,
        );
      }
    }
    if (lines.length > 0) this.#d.log.info(`GPIO closed: ${lines.length} lines unexported, LEDs off`);
  }

  #export(
    what: string,
    sysfs: number,
    bcm: number,
    direction: 'in' | 'high' | 'low',
    activeLow: boolean,
    led?: LedRole,
  ): GpioResult<Opened> {
    if (existsSync(join(this.#d.root ?? SYSFS_GPIO, `gpio${sysfs}`))) {
      // onoff takes an exported line over as it is. Usually our own, left by a run that was killed
      // (SIGKILL from the watchdog cannot unexport); possibly another program's: say so.
      this.#d.log.warn(
        { code: ErrorCode.Gpio, line: sysfs },
        `${what} GPIO${bcm} (sysfs ${sysfs}) was already exported (a killed earlier run, or another program): taking it over`,
      );
    }
    try {
      const line = this.#open(sysfs, direction, direction === 'in' ? 'both' : 'none', { activeLow });
      const output = direction !== 'in';
      const opened: Opened = led ? { what, sysfs, line, led, output } : { what, sysfs, line, output };
      this.#lines.push(opened);
      return { ok: true, value: opened };
    } catch (err) {
      return gpioFault(`${what} on GPIO${bcm} (sysfs ${sysfs}): ${exportHint(err)}`);
    }
  }

  /** Startup failed: whatever was exported goes back; the caller reports the fault (main.ts: fatal, exit 78). */
  #fail(f: Fault): GpioResult<void> {
    this.close();
    this.#state = 'failed';
    return { ok: false, fault: f };
  }
}

/** What an export failure means on a Pi, and what fixes it. */
function exportHint(err: unknown): string {
  const code = errnoCode(err);
  const text = describeError(err);
  switch (code) {
    case 'EBUSY':
      return `${text}: the line is in use (a HAT driver or another program holds it; see \`pinctrl get\` or \`gpioinfo\`), pick a free one`;
    case 'EACCES':
    case 'EPERM':
      return `${text}: no permission; the user needs the gpio group (the systemd unit adds it)`;
    case 'EINVAL':
      return `${text}: the kernel has no such line`;
    default:
      return text;
  }
}
