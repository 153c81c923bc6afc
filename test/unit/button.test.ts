import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { ButtonGestures, type ButtonTiming } from '../../src/hardware/button.js';
import type { InputEvent } from '../../src/hardware/input.js';
import { captureLogger } from '../fakes/capture-logger.js';

const DEFAULTS: ButtonTiming = { debounceMs: 30, longPressMs: 3_000, doubleClickMs: 0, longPress: true };

/** A button on a manual clock; `at(t, level)` moves to absolute time t (ms) and reports an edge there. */
function rig(timing: Partial<ButtonTiming> = {}) {
  const clock = new ManualClock(0);
  const button = new ButtonGestures(clock, { ...DEFAULTS, ...timing }, captureLogger().log);
  const events: Array<[number, InputEvent]> = [];
  button.on('input', (e) => events.push([clock.now(), e]));
  const to = (t: number) => {
    assert.ok(t >= clock.now(), `time goes forward: ${t} < ${clock.now()}`);
    clock.advance(t - clock.now());
  };
  return {
    clock,
    button,
    events,
    names: () => events.map(([, e]) => e),
    at(t: number, pressed: boolean) {
      to(t);
      button.edge(pressed);
    },
    /** A contact bouncing: `flips` alternating edges (an even number) `spacing` ms apart, then `level`. */
    bounce(t: number, level: boolean, flips = 6, spacing = 2) {
      for (let i = 0; i < flips; i++) this.at(t + i * spacing, i % 2 === 0 ? level : !level);
      this.at(t + flips * spacing, level);
    },
    to,
  };
}

test('a bounce train on press and on release is one press, one release, one click', () => {
  const h = rig();
  h.bounce(1_000, true);
  h.to(1_100);
  assert.deepEqual(h.names(), ['press']);
  // Settled 30 ms after the last bounce, not at the first edge.
  assert.equal(h.events[0]?.[0], 1_000 + 6 * 2 + 30);
  h.bounce(1_400, false);
  h.to(2_000);
  assert.deepEqual(h.names(), ['press', 'release', 'click']);
  assert.equal(h.clock.pending, 0);
});

test('a spike shorter than the debounce window is nothing', () => {
  const h = rig();
  h.at(100, true);
  h.at(110, false); // 10 ms < 30 ms
  h.at(500, true);
  h.at(501, false);
  h.to(5_000);
  assert.deepEqual(h.names(), []);
  assert.equal(h.button.state, 'up');
});

test('held 2.9 s is a click; held 3.1 s is a long press, fired while held, and no click', () => {
  const short = rig();
  short.at(0, true);
  short.at(2_900, false);
  short.to(4_000);
  assert.deepEqual(short.names(), ['press', 'release', 'click']);

  const long = rig();
  long.at(0, true);
  long.to(3_000);
  // 3 s after the first edge of the press, not 3 s after its debounce.
  assert.deepEqual(long.events, [
    [30, 'press'],
    [3_000, 'longPress'],
  ]);
  long.at(3_100, false);
  long.to(4_000);
  assert.deepEqual(long.names(), ['press', 'longPress', 'release']);
  assert.equal(long.clock.pending, 0);
});

test('a bounce during a long hold neither ends the hold nor makes a click', () => {
  const h = rig();
  h.bounce(0, true);
  h.at(1_500, false); // a 10 ms glitch mid-hold
  h.at(1_510, true);
  h.to(3_200);
  h.bounce(3_500, false);
  h.to(4_000);
  assert.deepEqual(h.names(), ['press', 'longPress', 'release']);
});

test('a click right after a long press is an ordinary click', () => {
  const h = rig();
  h.at(0, true);
  h.at(3_500, false);
  h.at(3_700, true);
  h.at(3_900, false);
  h.to(4_500);
  assert.deepEqual(h.names(), ['press', 'longPress', 'release', 'press', 'release', 'click']);
});

test('push-to-talk: a long hold is talking, never a long press', () => {
  const h = rig({ longPress: false });
  h.at(0, true);
  h.to(10_000);
  assert.deepEqual(h.names(), ['press']);
  assert.equal(h.clock.pending, 0, 'no long-press timer armed');
  h.at(10_000, false);
  h.to(10_100);
  assert.deepEqual(h.names().slice(0, 2), ['press', 'release']);
});

test('double click: two clicks inside the window are one doubleClick; a lone click waits the window', () => {
  const h = rig({ doubleClickMs: 300 });
  h.at(0, true);
  h.at(100, false);
  h.at(200, true);
  h.at(280, false);
  h.to(2_000);
  assert.deepEqual(h.names(), ['press', 'release', 'press', 'release', 'doubleClick']);

  const single = rig({ doubleClickMs: 300 });
  single.at(0, true);
  single.at(100, false);
  single.to(129);
  assert.deepEqual(single.names(), ['press']);
  single.to(130 + 299);
  assert.deepEqual(single.names(), ['press', 'release'], 'the click waits for a possible second one');
  single.to(130 + 300);
  assert.deepEqual(single.names(), ['press', 'release', 'click']);

  const apart = rig({ doubleClickMs: 300 });
  apart.at(0, true);
  apart.at(100, false);
  apart.at(1_000, true);
  apart.at(1_100, false);
  apart.to(2_000);
  assert.deepEqual(apart.names(), ['press', 'release', 'click', 'press', 'release', 'click']);
});

test('double click window: a second press held to a long press makes the first a click, then a long press', () => {
  const h = rig({ doubleClickMs: 300 });
  h.at(0, true);
  h.at(100, false);
  h.at(200, true);
  h.to(3_300);
  h.at(3_300, false);
  h.to(4_000);
  assert.deepEqual(h.names(), ['press', 'release', 'press', 'click', 'longPress', 'release']);
});

test('debounce 0 reports every settled edge at once', () => {
  const h = rig({ debounceMs: 0 });
  h.at(10, true);
  h.at(20, false);
  assert.deepEqual(h.events, [
    [10, 'press'],
    [20, 'release'],
    [20, 'click'],
  ]);
});

test('a repeated level (an interrupt reporting twice) is harmless', () => {
  const h = rig();
  h.at(0, true);
  h.at(10, true);
  h.at(20, true);
  h.to(100);
  assert.deepEqual(h.names(), ['press']);
});

test('stop() cancels every timer and forgets the press', () => {
  const h = rig({ doubleClickMs: 300 });
  h.at(0, true);
  h.to(100);
  h.button.stop();
  assert.equal(h.clock.pending, 0);
  assert.equal(h.button.state, 'up');
  h.to(10_000);
  assert.deepEqual(h.names(), ['press']);
  // After a stop the next press starts from scratch.
  h.at(10_000, true);
  h.to(10_100);
  assert.deepEqual(h.names(), ['press', 'press']);
});

test('a random edge storm never emits an unpaired release nor leaves a timer behind', () => {
  let seed = 7;
  const rnd = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const h = rig({ doubleClickMs: 250 });
  let t = 0;
  let level = false;
  for (let i = 0; i < 2_000; i++) {
    t += Math.floor(rnd() * (rnd() < 0.7 ? 20 : 4_000));
    level = !level;
    h.at(t, level);
  }
  h.at(t + 1, false);
  h.to(t + 10_000);
  let down = 0;
  for (const e of h.names()) {
    if (e === 'press') down++;
    if (e === 'release') down--;
    assert.ok(down === 0 || down === 1, 'press and release alternate');
  }
  assert.equal(down, 0);
  assert.equal(h.clock.pending, 0);
  assert.equal(h.button.state, 'up');
});
