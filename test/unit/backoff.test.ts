import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff } from '../../src/core/backoff.js';
import { seededRandom } from '../../src/core/random.js';

const policy = { baseMs: 500, capMs: 30_000 };
/** The shipped reconnect schedule (connection.routineReconnectMs, restartRetryForMs). */
const shipped = { ...policy, spreadMs: 5300, refusedForMs: 60_000 };

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

test('after a routine close: a phase in [0, spread), not counted as a failure', () => {
  const draws: number[] = [];
  for (let dev = 0; dev < 1000; dev++) {
    const b = new Backoff(shipped, seededRandom(dev + 1));
    const d = b.afterRoutineClose(0);
    assert.ok(d >= 0 && d < 5300, `${d}`);
    assert.equal(b.attempt, 0);
    draws.push(d);
  }
  // Uniform: every tenth of the window holds about a tenth of the fleet.
  for (let k = 0; k < 10; k++) {
    const n = draws.filter((d) => d >= k * 530 && d < (k + 1) * 530).length;
    assert.ok(n > 70 && n < 130, `tenth ${k}: ${n}`);
  }
});

test('refusals in a run keep the period exactly, for refusedForMs, then the exponential takes over', () => {
  const b = new Backoff(shipped, seededRandom(3));
  let t = b.afterRoutineClose(0);
  const delays: number[] = [];
  while (t < 60_000) {
    const d = b.afterRefusal(t);
    delays.push(d);
    t += d;
  }
  assert.ok(
    delays.every((d) => d === 5300),
    `${delays}`,
  );
  assert.equal(b.attempt, delays.length, 'every refusal counts');
  // Past the window: full jitter under the ceiling the count reached (the cap by now).
  const later = Array.from({ length: 20 }, () => {
    const d = b.afterRefusal(t);
    t += d;
    return d;
  });
  assert.ok(later.every((d) => d < 30_000));
  assert.ok(Math.max(...later) > 10_000, `grown past the period: ${later}`);
});

test('a run that did not start with a routine close draws its phase at its first refusal', () => {
  const b = new Backoff(shipped, seededRandom(5));
  const lost = b.next(); // a session lost by a fault: the exponential's first step
  assert.ok(lost < 500);
  const phases = new Set<number>();
  for (let i = 0; i < 3; i++) {
    const phase = b.afterRefusal(1000 * i);
    assert.ok(phase < 5300);
    phases.add(phase);
    assert.equal(b.afterRefusal(1000 * i + phase), 5300, 'then the period');
    b.next(); // a fault that is not a refusal (the server answered): the run is over
  }
  assert.equal(phases.size, 3, 'each new run draws a new phase');
  b.connected();
  assert.ok(b.afterRefusal(10_000) < 5300, 'after a ready session too');
});

test('the period is never below the base; refusedForMs 0 is the exponential alone', () => {
  const zero = new Backoff({ ...policy, spreadMs: 0, refusedForMs: 60_000 }, seededRandom(1));
  assert.equal(zero.afterRoutineClose(0), 0);
  zero.afterRefusal(0);
  assert.equal(zero.afterRefusal(1), 500, 'a 0 spread must not hammer a refusing server');
  const off = new Backoff({ ...shipped, refusedForMs: 0 }, () => 0.999);
  off.afterRoutineClose(0);
  assert.deepEqual(
    [off.afterRefusal(0), off.afterRefusal(1), off.afterRefusal(2)],
    [499, 999, 1998],
    'full jitter under a doubling ceiling, as before the restart schedule',
  );
  assert.throws(() => new Backoff({ ...policy, spreadMs: -1 }, Math.random), RangeError);
});
