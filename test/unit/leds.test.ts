import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LedRole } from '../../src/config/schema.js';
import { ManualClock } from '../../src/core/clock.js';
import { INDICATORS_BY_NAME } from '../../src/hardware/indicator.js';
import { GpioLeds, type LedLines } from '../../src/hardware/leds.js';

class Lines implements LedLines {
  readonly writes: Array<[number, LedRole, boolean]> = [];
  readonly level = new Map<LedRole, boolean>();
  constructor(
    readonly ledRoles: readonly LedRole[],
    private readonly clock: ManualClock,
  ) {}
  setLed(role: LedRole, on: boolean): void {
    this.writes.push([this.clock.now(), role, on]);
    this.level.set(role, on);
  }
  lit(): LedRole[] {
    return this.ledRoles.filter((r) => this.level.get(r) === true);
  }
}

function rig(roles: readonly LedRole[] = ['red', 'green', 'blue']) {
  const clock = new ManualClock(0);
  const lines = new Lines(roles, clock);
  return { clock, lines, leds: new GpioLeds(lines, clock) };
}

test('steady colours light their own channel of an RGB LED', () => {
  const h = rig();
  h.leds.render(INDICATORS_BY_NAME.connecting);
  assert.deepEqual(h.lines.lit(), ['blue']);
  h.leds.render(INDICATORS_BY_NAME.listening);
  assert.deepEqual(h.lines.lit(), ['red']);
  h.leds.render(INDICATORS_BY_NAME.speaking);
  assert.deepEqual(h.lines.lit(), ['green']);
  h.leds.render(INDICATORS_BY_NAME.idle);
  assert.deepEqual(h.lines.lit(), []);
  assert.equal(h.clock.pending, 0, 'steady states need no timer');
});

test('slow blink toggles every 500 ms, fast blink every 100 ms', () => {
  const h = rig();
  h.leds.render(INDICATORS_BY_NAME.offline);
  const blue: boolean[] = [];
  for (let t = 0; t < 2_000; t += 250) {
    blue.push(h.lines.level.get('blue') === true);
    h.clock.advance(250);
  }
  assert.deepEqual(blue, [true, true, false, false, true, true, false, false]);
  h.leds.render(INDICATORS_BY_NAME.error);
  const red: boolean[] = [];
  for (let t = 0; t < 400; t += 50) {
    red.push(h.lines.level.get('red') === true);
    h.clock.advance(50);
  }
  assert.deepEqual(red, [true, true, false, false, true, true, false, false]);
  assert.equal(h.lines.level.get('blue'), false, 'the old blink colour is off');
});

test('a state change stops the blink: no timer leaks, the LED settles to the new state', () => {
  const h = rig();
  h.leds.render(INDICATORS_BY_NAME.activating);
  assert.equal(h.clock.pending, 1);
  h.clock.advance(700); // mid off-phase
  h.leds.render(INDICATORS_BY_NAME.idle);
  assert.equal(h.clock.pending, 0);
  assert.equal(h.leds.blinking, false);
  const before = h.lines.writes.length;
  h.clock.advance(10_000);
  assert.equal(h.lines.writes.length, before, 'nothing writes after the blink stopped');
  // Many changes in a row never pile up timers.
  for (let i = 0; i < 100; i++) {
    h.leds.render(i % 2 ? INDICATORS_BY_NAME.error : INDICATORS_BY_NAME.offline);
    h.clock.advance(37);
  }
  assert.ok(h.clock.pending <= 1);
  h.leds.off();
  assert.equal(h.clock.pending, 0);
  assert.deepEqual(h.lines.lit(), []);
});

test('the same indicator again keeps the blink phase (renders come on every status change)', () => {
  const h = rig();
  h.leds.render(INDICATORS_BY_NAME.offline);
  h.clock.advance(300);
  h.leds.render(INDICATORS_BY_NAME.offline);
  h.clock.advance(250);
  assert.equal(h.lines.level.get('blue'), false, 'toggled at 500 ms as scheduled, not restarted');
});

test('writes only the lines that change', () => {
  const h = rig();
  h.leds.render(INDICATORS_BY_NAME.listening);
  h.leds.render(INDICATORS_BY_NAME.muted); // red blinking: starts lit, nothing to write
  assert.deepEqual(
    h.lines.writes.map(([, r, on]) => `${r}=${on}`),
    ['red=true', 'green=false', 'blue=false'],
  );
});

test('a mono status LED shows every colour with its pattern', () => {
  const h = rig(['status']);
  h.leds.render(INDICATORS_BY_NAME.speaking);
  assert.deepEqual(h.lines.lit(), ['status']);
  h.leds.render(INDICATORS_BY_NAME.idle);
  assert.deepEqual(h.lines.lit(), []);
  h.leds.render(INDICATORS_BY_NAME.error);
  assert.deepEqual(h.lines.lit(), ['status']);
  h.clock.advance(100);
  assert.deepEqual(h.lines.lit(), []);
});

test('two mono LEDs (red and green): blue states leave them dark, the others light theirs', () => {
  const h = rig(['red', 'green']);
  h.leds.render(INDICATORS_BY_NAME.connecting);
  assert.deepEqual(h.lines.lit(), []);
  h.leds.render(INDICATORS_BY_NAME.speaking);
  assert.deepEqual(h.lines.lit(), ['green']);
});
