import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff } from '../../src/core/backoff.js';
import { seededRandom } from '../../src/core/random.js';

const policy = { baseMs: 500, capMs: 30_000 };

test('delays stay within [0, min(cap, base·2^n)) and grow', () => {
  const b = new Backoff(policy, seededRandom(42));
  for (let n = 0; n < 20; n++) {
    const ceiling = Math.min(30_000, 500 * 2 ** n);
    assert.equal(b.ceiling(), ceiling);
    const d = b.next();
    assert.ok(d >= 0 && d < ceiling, `attempt ${n}: ${d} not in [0, ${ceiling})`);
  }
});

test('the cap holds and it never gives up (10 000 attempts, finite delays)', () => {
  const b = new Backoff(policy, seededRandom(7));
  let max = 0;
  for (let n = 0; n < 10_000; n++) {
    const d = b.next();
    assert.ok(Number.isFinite(d));
    max = Math.max(max, d);
  }
  assert.ok(max < 30_000);
  assert.ok(max > 25_000, 'full jitter reaches near the cap over many draws');
  assert.equal(b.attempt, 10_000);
});

test('full jitter spreads a fleet: 1000 devices at attempt 6 are not synchronized', () => {
  const delays: number[] = [];
  for (let dev = 0; dev < 1000; dev++) {
    const b = new Backoff(policy, seededRandom(dev + 1));
    for (let i = 0; i < 6; i++) b.next();
    delays.push(b.next());
  }
  const perSecond = new Map<number, number>();
  for (const d of delays) perSecond.set(Math.floor(d / 1000), (perSecond.get(Math.floor(d / 1000)) ?? 0) + 1);
  const busiest = Math.max(...perSecond.values());
  assert.ok(busiest < 100, `at most ~1/30 of the fleet per second, got ${busiest}`);
});

test('reset starts over at the base', () => {
  const b = new Backoff(policy, () => 0.999);
  for (let i = 0; i < 8; i++) b.next();
  b.reset();
  assert.equal(b.attempt, 0);
  assert.ok(b.next() < 500);
});

test('invalid policies are programmer errors', () => {
  assert.throws(() => new Backoff({ baseMs: 0, capMs: 10 }, Math.random), RangeError);
  assert.throws(() => new Backoff({ baseMs: 100, capMs: 10 }, Math.random), RangeError);
});
