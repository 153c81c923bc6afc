import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { Heartbeat } from '../../src/core/heartbeat.js';

function setup() {
  const clock = new ManualClock();
  const events: string[] = [];
  let deadAt: number | undefined;
  const hb = new Heartbeat(
    clock,
    5000,
    4000,
    () => events.push(`ping@${clock.now()}`),
    () => {
      deadAt = clock.now();
    },
  );
  return { clock, hb, events, deadAt: () => deadAt };
}

test('pings every interval while the peer answers', () => {
  const { clock, hb, events, deadAt } = setup();
  hb.start();
  for (let i = 0; i < 10; i++) {
    clock.advance(5000);
    clock.advance(10);
    hb.alive();
  }
  assert.equal(events.length, 10);
  assert.equal(deadAt(), undefined);
  hb.stop();
  assert.equal(clock.pending, 0);
});

test('a silent peer is declared dead at interval + timeout', () => {
  const { clock, hb, deadAt } = setup();
  hb.start();
  clock.advance(8999);
  assert.equal(deadAt(), undefined);
  clock.advance(1);
  assert.equal(deadAt(), 9000);
  assert.equal(clock.pending, 0, 'no timers left after death');
});

test('peer dies right after a pong: detected within interval + timeout of the last life', () => {
  const { clock, hb, deadAt } = setup();
  hb.start();
  clock.advance(5000);
  clock.advance(20);
  hb.alive(); // last life at 5020
  clock.advance(20_000);
  const at = deadAt();
  assert.ok(at !== undefined && at - 5020 <= 9000, `dead at ${at}`);
});

test('any inbound frame counts as life, also without pongs', () => {
  const { clock, hb, deadAt } = setup();
  hb.start();
  for (let t = 0; t < 60_000; t += 1000) {
    clock.advance(1000);
    hb.alive();
  }
  assert.equal(deadAt(), undefined);
});

test('stop cancels everything; start after stop is a no-op until stopped state', () => {
  const { clock, hb, deadAt } = setup();
  hb.start();
  clock.advance(5000);
  hb.stop();
  clock.advance(60_000);
  assert.equal(deadAt(), undefined);
  assert.equal(clock.pending, 0);
});
