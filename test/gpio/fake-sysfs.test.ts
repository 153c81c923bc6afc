/**
 * Smoke test of the fake sysfs GPIO rig (test/fakes/gpio) with the REAL onoff and its epoll addon:
 * chips, export errors, active-low outputs and inputs, interrupts driven through `level`, a bounced
 * press against onoff's debounce. Needs the private mount namespace; run it as FAKE_GPIO_RUN_HINT
 * says. Outside the rig every test fails with that hint instead of being skipped.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type BinaryValue, Gpio } from 'onoff';
import {
  exportedLines,
  FAKE_DEFAULTS,
  FAKE_GPIO_RUN_HINT,
  GPIO_ROOT,
  insideFakeGpio,
  pressBounced,
  readAttr,
  readLevel,
  setLevel,
} from '../fakes/gpio-rig.js';
import { pollUntil } from '../fakes/poll.js';

/** How long an interrupt may take to reach a watch() callback (measured: 1–2 ms). */
const EDGE_MS = 2000;
/** How long to wait to be sure that no (further) callback comes. */
const QUIET_MS = 150;
/** The debounce of the bounce test: far longer than any gap inside a bounce train, even under load. */
const BOUNCE_DEBOUNCE_MS = 100;

before(() => {
  if (!insideFakeGpio()) throw new Error(`/sys/class/gpio is not fakegpiofs: ${FAKE_GPIO_RUN_HINT}`);
});

interface Chip {
  readonly base: number;
  readonly ngpio: number;
  readonly label: string;
}

function expectedChips(): Chip[] {
  return (process.env.FAKEGPIO_CHIPS ?? FAKE_DEFAULTS.chips).split(',').map((spec) => {
    const [base, ngpio, ...label] = spec.split(':');
    return { base: Number(base), ngpio: Number(ngpio), label: label.join(':') };
  });
}

/** sysfs line of a BCM number: the first chip plays the SoC's pinctrl, as on a Pi. */
function bcm(n: number): number {
  const first = expectedChips()[0];
  if (!first) throw new Error('FAKEGPIO_CHIPS lists no chip');
  return first.base + n;
}

/** A watch() callback that records values and errors, and a bounded wait for the n-th value. */
function recorder(what: string) {
  const values: BinaryValue[] = [];
  const errors: unknown[] = [];
  return {
    values,
    errors,
    callback: (err: Error | null | undefined, value: BinaryValue) => {
      if (err) errors.push(err);
      else values.push(value);
    },
    waitFor: (count: number) =>
      pollUntil(
        `${what}: ${count} watch() callbacks`,
        () => values.length >= count,
        EDGE_MS,
        () => JSON.stringify({ values, errors: errors.map(String) }),
      ),
  };
}

test('chips: gpiochipN directories with label, base and ngpio', async () => {
  const names = (await readdir(GPIO_ROOT)).filter((n) => n.startsWith('gpiochip')).sort();
  const chips: Chip[] = [];
  for (const name of names) {
    const read = async (f: string) => (await readFile(`${GPIO_ROOT}/${name}/${f}`, 'utf8')).trim();
    chips.push({
      base: Number(await read('base')),
      ngpio: Number(await read('ngpio')),
      label: await read('label'),
    });
    assert.equal(name, `gpiochip${await read('base')}`);
  }
  assert.deepEqual(chips, expectedChips());
  await assert.rejects(writeFile(`${GPIO_ROOT}/${names[0]}/label`, 'x'), { code: 'EACCES' });
});

test('an active-low output: value is logical, level is what the LED gets', async () => {
  const line = bcm(17);
  // 'high' is the RAW level (gpio-sysfs direction_store): an active-low LED starts off.
  const led = new Gpio(line, 'high', 'none', { activeLow: true });
  try {
    assert.equal(await readAttr(line, 'direction'), 'out');
    assert.equal(await readAttr(line, 'active_low'), '1');
    assert.equal(await readLevel(line), 1);
    assert.equal(led.readSync(), 0);
    led.writeSync(1);
    assert.equal(await readLevel(line), 0, 'logical 1 on an active-low line drives the pin low');
    assert.equal(await readAttr(line, 'value'), '1');
    led.writeSync(0);
    assert.equal(await readLevel(line), 1);
    led.setActiveLow(false);
    assert.equal(await readLevel(line), 1, 'active_low never moves the pin');
    assert.equal(led.readSync(), 1);
    await assert.rejects(setLevel(line, 0), /EPERM/, 'the outside world cannot override an output');
    // 'out' is raw low too, so an active-low LED exported as 'out' lights up at once.
    led.setActiveLow(true);
    led.setDirection('out');
    assert.equal(await readLevel(line), 0);
    assert.equal(led.readSync(), 1);
  } finally {
    led.unexport();
  }
});

test('an input with edge both: watch() sees the edges written through level', async () => {
  const line = bcm(27);
  const btn = new Gpio(line, 'in', 'both');
  const rec = recorder('edge both');
  btn.watch(rec.callback);
  try {
    assert.throws(() => btn.writeSync(1), { code: 'EPERM' }, 'value of an input is read-only');
    await setLevel(line, 1);
    await rec.waitFor(1);
    await setLevel(line, 0);
    await rec.waitFor(2);
    await setLevel(line, 1);
    await rec.waitFor(3);
    await setLevel(line, 1); // no change, no edge
    await sleep(QUIET_MS);
    assert.deepEqual(rec.values, [1, 0, 1]);
    assert.deepEqual(rec.errors, []);
    assert.equal(await readAttr(line, 'edge'), 'both');
  } finally {
    btn.unexport();
  }
});

test('an active-low input: value and edges are inverted, flipping active_low raises nothing', async () => {
  const line = bcm(22);
  const btn = new Gpio(line, 'in', 'rising', { activeLow: true });
  const rec = recorder('active-low rising');
  btn.watch(rec.callback);
  try {
    assert.equal(await readLevel(line), 0);
    assert.equal(btn.readSync(), 1);
    await setLevel(line, 1); // logical 1 → 0: a falling edge, not armed
    await sleep(QUIET_MS);
    assert.deepEqual(rec.values, []);
    assert.equal(await readAttr(line, 'value'), '0');
    await setLevel(line, 0); // logical 0 → 1: rising
    await rec.waitFor(1);
    btn.setActiveLow(false); // logical 1 → 0 without an event (the kernel only re-arms the IRQ)
    await sleep(QUIET_MS);
    assert.equal(btn.readSync(), 0);
    assert.deepEqual(rec.values, [1]);
    assert.deepEqual(rec.errors, []);
  } finally {
    btn.unexport();
  }
});

test('a bounced press and release reach a debounced watch() once each', async () => {
  const line = bcm(23);
  // The pull-up: the level survives unexport, so the button is idle (high) before the real export.
  const setup = new Gpio(line, 'in');
  await setLevel(line, 1);
  setup.unexport();
  // onoff's debounce is lodash's trailing debounce: each edge restarts the timeout and the level is
  // read once it ran out. A bounce train only counts as one edge while every gap between its writes
  // is shorter than the timeout; the writes are 1–2 ms apart, but each is a FUSE round trip, and on
  // a loaded CPU (test:stress) one took over 20 ms and onoff read a level from inside the train.
  // 100 ms keeps the train one edge with a wide margin and is still a plausible switch debounce.
  const btn = new Gpio(line, 'in', 'both', { activeLow: true, debounceTimeout: BOUNCE_DEBOUNCE_MS });
  const rec = recorder('debounced');
  btn.watch(rec.callback);
  try {
    assert.equal(btn.readSync(), 0, 'idle');
    const press = await pressBounced(line, { to: 0, bounces: 3, spacingMs: 1 });
    assert.deepEqual(press.written, [0, 1, 0, 1, 0, 1, 0]);
    await rec.waitFor(1);
    await pressBounced(line, { to: 1, bounces: 2, spacingMs: 2 });
    await rec.waitFor(2);
    await sleep(BOUNCE_DEBOUNCE_MS + QUIET_MS);
    assert.deepEqual(rec.values, [1, 0]);
    assert.deepEqual(rec.errors, []);
    await assert.rejects(pressBounced(line, { to: 1, bounces: 1, spacingMs: 1 }), /already at level 1/);
  } finally {
    btn.unexport();
  }
});

test('export errors: a driver-held line is EBUSY, so is an exported one; no chip is EINVAL', async () => {
  const busy = Number((process.env.FAKEGPIO_BUSY ?? FAKE_DEFAULTS.busy.join(',')).split(',')[0]);
  assert.throws(() => new Gpio(busy, 'out'), { code: 'EBUSY' });
  const line = bcm(5);
  const led = new Gpio(line, 'low');
  try {
    await assert.rejects(writeFile(`${GPIO_ROOT}/export`, String(line)), { code: 'EBUSY' });
  } finally {
    led.unexport();
  }
  const end = Math.max(...expectedChips().map((c) => c.base + c.ngpio));
  assert.throws(() => new Gpio(end, 'in'), { code: 'EINVAL' });
  assert.throws(() => new Gpio(bcm(0) - 1, 'in'), { code: 'EINVAL' });
  await assert.rejects(writeFile(`${GPIO_ROOT}/unexport`, String(line)), { code: 'EINVAL' });
});

test('unexport removes the gpioN directory', async () => {
  const line = bcm(6);
  const led = new Gpio(line, 'out');
  assert.ok((await exportedLines()).includes(line));
  led.unexport();
  assert.ok(!(await exportedLines()).includes(line));
  assert.equal(existsSync(`${GPIO_ROOT}/gpio${line}`), false);
});

test('every line is unexported at the end', async () => {
  assert.deepEqual(await exportedLines(), []);
});
