import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { type GpioConfig, gpioSchema } from '../../src/config/schema.js';
import { ErrorCode } from '../../src/core/errors.js';
import {
  GpioBoard,
  type GpioLine,
  type LineOpener,
  resolveChip,
  sysfsNumber,
} from '../../src/hardware/gpio.js';
import { captureLogger } from '../fakes/capture-logger.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

type Chip = readonly [base: number, ngpio: number, label: string];

/** A fake /sys/class/gpio with the given chips (plus export/unexport, as sysfs has). */
function tree(chips: readonly Chip[]): string {
  const root = mkdtempSync(join(tmpdir(), 'speakerd-sysfs-'));
  dirs.push(root);
  writeFileSync(join(root, 'export'), '');
  writeFileSync(join(root, 'unexport'), '');
  for (const [base, ngpio, label] of chips) {
    const dir = join(root, `gpiochip${base}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'base'), `${base}\n`);
    writeFileSync(join(dir, 'ngpio'), `${ngpio}\n`);
    writeFileSync(join(dir, 'label'), `${label}\n`);
  }
  return root;
}

// Chip layouts as the kernels lay them out (see hardware.md, "Kernel 6.6 GPIO numbers").
const BOARDS: ReadonlyArray<{ name: string; chips: readonly Chip[]; gpio17: number }> = [
  {
    name: 'Pi 3, kernel < 6.6 (fixed base 0)',
    chips: [
      [0, 54, 'pinctrl-bcm2835'],
      [504, 8, 'raspberrypi-exp-gpio'],
    ],
    gpio17: 17,
  },
  {
    name: 'Pi 3, kernel ≥ 6.6 (dynamic bases from 512)',
    chips: [
      [512, 54, 'pinctrl-bcm2835'],
      [566, 8, 'raspberrypi-exp-gpio'],
    ],
    gpio17: 529,
  },
  {
    name: 'Pi 4, kernel ≥ 6.6',
    chips: [
      [512, 58, 'pinctrl-bcm2711'],
      [570, 8, 'raspberrypi-exp-gpio'],
    ],
    gpio17: 529,
  },
  {
    name: 'Pi 5, kernel 6.6 before 6.6.47 (four brcmstb chips first, RP1 last)',
    chips: [
      [512, 32, 'gpio-brcmstb@107d508500'],
      [544, 4, 'gpio-brcmstb@107d508520'],
      [548, 17, 'gpio-brcmstb@107d517c00'],
      [565, 6, 'gpio-brcmstb@107d517c20'],
      [571, 54, 'pinctrl-rp1'],
    ],
    gpio17: 588,
  },
  {
    // 6.6.47 registers the RP1 chip first (its character device became gpiochip0), so its
    // sysfs base moves to the front of the dynamic range.
    name: 'Pi 5, kernel ≥ 6.6.47 (RP1 first)',
    chips: [
      [512, 54, 'pinctrl-rp1'],
      [566, 32, 'gpio-brcmstb@107d508500'],
      [598, 4, 'gpio-brcmstb@107d508520'],
      [602, 17, 'gpio-brcmstb@107d517c00'],
      [619, 6, 'gpio-brcmstb@107d517c20'],
    ],
    gpio17: 529,
  },
];

for (const board of BOARDS) {
  test(`chip base: ${board.name} → GPIO17 is sysfs ${board.gpio17}`, () => {
    const chip = resolveChip(tree(board.chips));
    assert.ok(chip.ok, chip.ok ? '' : chip.fault.message);
    const n = sysfsNumber(chip.value, 17, 'gpio.button.line');
    assert.deepEqual(n, { ok: true, value: board.gpio17 });
  });
}

test('no sysfs GPIO: a fault naming the kernel option and the simulated alternative', () => {
  const r = resolveChip(join(tmpdir(), 'speakerd-no-such-dir', 'gpio'));
  assert.ok(!r.ok);
  assert.equal(r.fault.code, ErrorCode.Gpio);
  assert.match(r.fault.message, /no sysfs GPIO at .*ENOENT.*CONFIG_GPIO_SYSFS.*"simulated"/);
});

test('no Raspberry Pi chip: the fault lists what was found and names gpio.chipLabel', () => {
  const root = tree([[0, 32, '300b000.pinctrl']]);
  const r = resolveChip(root);
  assert.ok(!r.ok);
  assert.match(r.fault.message, /no GPIO chip labelled pinctrl-bcm2835 or pinctrl-bcm2711 or pinctrl-rp1/);
  assert.match(r.fault.message, /300b000\.pinctrl \(gpiochip0\).*gpio\.chipLabel/);
  // Another SBC: name its chip in the config.
  const other = resolveChip(root, '300b000.pinctrl');
  assert.ok(other.ok);
  assert.equal(other.value.base, 0);
});

test('two chips with the same label are ambiguous, not a guess', () => {
  const r = resolveChip(
    tree([
      [512, 54, 'pinctrl-bcm2835'],
      [600, 54, 'pinctrl-bcm2835'],
    ]),
  );
  assert.ok(!r.ok);
  assert.match(r.fault.message, /2 GPIO chips labelled pinctrl-bcm2835/);
});

test('a line past the chip names the config field', () => {
  const chip = { name: 'gpiochip571', label: 'pinctrl-rp1', base: 571, ngpio: 54 };
  const r = sysfsNumber(chip, 55, 'gpio.leds[1].line');
  assert.ok(!r.ok);
  assert.match(r.fault.message, /gpio\.leds\[1\]\.line is GPIO55, but pinctrl-rp1 has lines 0–53/);
  assert.deepEqual(sysfsNumber(chip, 53, 'x'), { ok: true, value: 624 });
});

class FakeLine implements GpioLine {
  readonly writes: Array<0 | 1> = [];
  value: 0 | 1 = 0;
  watcher: ((err: Error | null | undefined, value: 0 | 1) => void) | undefined;
  unexported = false;
  failWrites = false;

  constructor(
    readonly sysfs: number,
    readonly direction: string,
    readonly edge: string,
    readonly activeLow: boolean,
  ) {}

  readSync(): 0 | 1 {
    return this.value;
  }
  writeSync(value: 0 | 1): void {
    if (this.failWrites) throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
    this.writes.push(value);
    this.value = value;
  }
  watch(callback: (err: Error | null | undefined, value: 0 | 1) => void): void {
    this.watcher = callback;
  }
  unwatchAll(): void {
    this.watcher = undefined;
  }
  unexport(): void {
    this.unexported = true;
  }
}

/** Tests of the lines only: the button level is not looked at. */
const ignoreButton = (_pressed: boolean): void => undefined;

function board(config: Partial<GpioConfig> = {}, fail?: { sysfs: number; code: string }) {
  const root = tree([
    [512, 58, 'pinctrl-bcm2711'],
    [570, 8, 'raspberrypi-exp-gpio'],
  ]);
  const lines: FakeLine[] = [];
  const open: LineOpener = (sysfs, direction, edge, options) => {
    if (fail?.sysfs === sysfs)
      throw Object.assign(new Error(`${fail.code}: write /sys/class/gpio/export`), { code: fail.code });
    const line = new FakeLine(sysfs, direction, edge, options.activeLow);
    lines.push(line);
    return line;
  };
  const { log, lines: logged } = captureLogger();
  const cfg = gpioSchema.parse(config);
  return { board: new GpioBoard({ config: cfg, log, root, open }), lines, logged };
}

test('open exports the button (input, both edges, active-low) and the LEDs (outputs, off)', () => {
  const h = board({
    leds: [
      { line: 22, role: 'red', activeLow: false },
      { line: 23, role: 'green', activeLow: true },
    ],
  });
  const levels: boolean[] = [];
  const r = h.board.open((pressed) => levels.push(pressed));
  assert.ok(r.ok);
  assert.equal(h.board.state, 'open');
  assert.deepEqual(
    h.lines.map((l) => [l.sysfs, l.direction, l.edge, l.activeLow]),
    [
      [529, 'in', 'both', true],
      [534, 'low', 'none', false],
      // An active-low LED starts at the raw high level: dark from the first instant.
      [535, 'high', 'none', true],
    ],
  );
  assert.deepEqual(levels, [false], 'the button level is read once at open');
  h.lines[0]?.watcher?.(null, 1);
  h.lines[0]?.watcher?.(null, 0);
  assert.deepEqual(levels, [false, true, false]);
  h.board.setLed('green', true);
  assert.deepEqual(h.lines[2]?.writes, [1]);
  h.board.close();
  assert.ok(h.lines.every((l) => l.unexported));
  assert.deepEqual(h.lines[2]?.writes, [1, 0], 'LEDs off before unexport');
  assert.equal(h.lines[0]?.watcher, undefined);
  h.board.close(); // idempotent
  assert.equal(h.lines.length, 3);
});

test('a busy line: a fault naming the line and the fix, and nothing left exported', () => {
  const h = board({}, { sysfs: 535, code: 'EBUSY' });
  const r = h.board.open(ignoreButton);
  assert.ok(!r.ok);
  assert.equal(r.fault.code, ErrorCode.Gpio);
  assert.match(r.fault.message, /led green on GPIO23 \(sysfs 535\): EBUSY.*in use.*pinctrl get/);
  assert.equal(h.board.state, 'failed');
  assert.equal(h.lines.length, 2);
  assert.ok(
    h.lines.every((l) => l.unexported),
    'the lines opened before the failure are unexported',
  );
  assert.deepEqual(h.lines[1]?.writes, [0], 'and the LED that was opened is off');
});

test('no permission: the fault names the gpio group', () => {
  const h = board({}, { sysfs: 529, code: 'EACCES' });
  const r = h.board.open(ignoreButton);
  assert.ok(!r.ok);
  assert.match(r.fault.message, /button on GPIO17 \(sysfs 529\): EACCES.*gpio group/);
});

test('a broken LED line is logged once and skipped; the daemon goes on', () => {
  const h = board();
  assert.ok(h.board.open(ignoreButton).ok);
  const red = h.lines[1];
  assert.ok(red);
  red.failWrites = true;
  h.board.setLed('red', true);
  h.board.setLed('red', false);
  h.board.setLed('red', true);
  const errors = h.logged.filter((l) => l.level === 50);
  assert.equal(errors.length, 1);
  assert.match(errors[0]?.msg ?? '', /LED red \(sysfs 534\) cannot be written: EIO/);
  red.failWrites = false;
  h.board.setLed('red', true);
  assert.deepEqual(red.writes, [1]);
  assert.ok(h.logged.some((l) => /LED red writes again/.test(l.msg)));
  h.board.close();
});

test('no LEDs configured: only the button is exported', () => {
  const h = board({ leds: [] });
  assert.ok(h.board.open(ignoreButton).ok);
  assert.deepEqual(
    h.lines.map((l) => l.sysfs),
    [529],
  );
  assert.deepEqual(h.board.ledRoles, []);
  h.board.close();
});

test('the config rejects a line used twice and a role given twice', () => {
  const r = gpioSchema.safeParse({
    leds: [
      { line: 17, role: 'red' },
      { line: 22, role: 'red' },
    ],
  });
  assert.ok(!r.success);
  const messages = r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  assert.deepEqual(messages, [
    'leds.0.line: GPIO17 is already button.line',
    'leds.1.role: role "red" is given twice',
  ]);
});
