import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Clock, ManualClock, type TimerHandle } from '../../src/core/clock.js';
import {
  type CheckResult,
  type DelayHistogram,
  eventLoopCheck,
  type HealthCheck,
  micCheck,
  progressCheck,
  REMIND_MS,
  type Wait,
  Watchdog,
} from '../../src/system/watchdog.js';
import { captureLogger, type LogLine } from '../fakes/capture-logger.js';

const INTERVAL = 15_000;
const WARN = 40;
const INFO = 30;

/** Records WATCHDOG=1 with the clock time it was sent. */
class RecordingNotifier {
  readonly pings: number[] = [];
  constructor(private readonly clock: Clock) {}
  watchdog(): void {
    this.pings.push(this.clock.now());
  }
}

/** A check the test flips by hand. */
class Switch implements HealthCheck {
  result: CheckResult = { ok: true };
  calls = 0;
  constructor(readonly name: string) {}
  check(): CheckResult {
    this.calls++;
    return this.result;
  }
  fail(reason: string): void {
    this.result = { ok: false, reason };
  }
  pass(): void {
    this.result = { ok: true };
  }
}

function rig(checks: HealthCheck[], remindMs?: number) {
  const clock = new ManualClock(1_000);
  const notifier = new RecordingNotifier(clock);
  const { log, lines } = captureLogger();
  const dog = new Watchdog({
    clock,
    intervalMs: INTERVAL,
    checks,
    notifier,
    log,
    ...(remindMs === undefined ? {} : { remindMs }),
  });
  const warns = (): LogLine[] => lines.filter((l) => l.level === WARN);
  return { clock, notifier, lines, dog, warns };
}

test('pings at start and every interval while all checks pass; stop() leaves no timer', () => {
  const mic = new Switch('mic');
  const { clock, notifier, dog } = rig([mic]);
  dog.start();
  dog.start();
  assert.equal(dog.state, 'healthy');
  assert.equal(clock.pending, 1, 'a second start() is a no-op');
  clock.advance(3 * INTERVAL);
  assert.deepEqual(notifier.pings, [1_000, 16_000, 31_000, 46_000]);
  assert.equal(dog.pings, 4);
  dog.stop();
  dog.stop();
  assert.equal(dog.state, 'stopped');
  assert.equal(clock.pending, 0);
  clock.advance(10 * INTERVAL);
  assert.equal(notifier.pings.length, 4);
});

test('a failing check withholds pings, is logged once with its reason first, and pings resume on recovery', () => {
  const mic = new Switch('mic');
  const loop = new Switch('event-loop');
  const { clock, notifier, dog, lines, warns } = rig([loop, mic]);
  dog.start();
  clock.advance(INTERVAL);
  assert.equal(notifier.pings.length, 2);

  mic.fail('no frames for 2400 ms');
  clock.advance(INTERVAL);
  assert.equal(notifier.pings.length, 2, 'no ping in the evaluation that found the failure');
  assert.equal(dog.state, 'failing');
  const w = warns();
  assert.equal(w.length, 1, 'logged in that same evaluation, before systemd can act');
  assert.match(w[0]?.msg ?? '', /mic: no frames for 2400 ms/);
  assert.deepEqual(w[0]?.failing, { mic: 'no frames for 2400 ms' });
  assert.equal(w[0]?.last_ping_ms_ago, INTERVAL);

  mic.fail('no frames for 17400 ms'); // the reason text changes, the failure is the same
  clock.advance(INTERVAL);
  assert.equal(notifier.pings.length, 2);
  assert.equal(warns().length, 1, 'not logged again every interval');

  mic.pass();
  clock.advance(INTERVAL);
  assert.equal(notifier.pings.length, 3);
  assert.equal(dog.state, 'healthy');
  const back = lines.filter(
    (l) => l.level === INFO && l.watchdog_to === 'healthy' && l.watchdog_from === 'failing',
  );
  assert.equal(back.length, 1);
  assert.match(back[0]?.msg ?? '', /mic recovered/);
  dog.stop();
  assert.equal(clock.pending, 0);
});

test('while failing: one line per check that joins or leaves, and a bounded reminder', () => {
  const mic = new Switch('mic');
  const progress = new Switch('progress');
  const { clock, notifier, dog, lines, warns } = rig([mic, progress], 2 * INTERVAL);
  dog.start();
  mic.fail('mic backoff: arecord exited with code 1');
  clock.advance(INTERVAL);
  assert.equal(warns().length, 1);
  progress.fail('link connecting for 70000 ms, past its 10000 ms deadline');
  clock.advance(INTERVAL);
  assert.equal(warns().length, 2);
  assert.match(warns()[1]?.msg ?? '', /progress: link connecting/);
  mic.pass();
  clock.advance(INTERVAL);
  assert.ok(lines.some((l) => l.level === INFO && /mic passes again/.test(l.msg)));
  assert.equal(dog.state, 'failing', 'progress still fails');
  assert.equal(warns().length, 2);
  clock.advance(INTERVAL);
  assert.equal(warns().length, 3, 'reminder after remindMs');
  assert.match(warns()[2]?.msg ?? '', /still failing: progress/);
  clock.advance(INTERVAL);
  assert.equal(warns().length, 3);
  assert.equal(notifier.pings.length, 1, 'only the ping at start');
  assert.ok(REMIND_MS >= INTERVAL, 'the default reminder is no chattier than the pings');
  dog.stop();
});

test('a check that throws counts as failing, with the error as its reason', () => {
  const bad: HealthCheck = {
    name: 'progress',
    check: () => {
      throw new Error('wait reader broke');
    },
  };
  const { notifier, dog, warns } = rig([bad]);
  dog.start();
  assert.equal(notifier.pings.length, 0);
  assert.match(warns()[0]?.msg ?? '', /progress: check threw: wait reader broke/);
  dog.stop();
});

/** A histogram whose samples (in ms) the test sets. */
class FakeHistogram implements DelayHistogram {
  p99Ms = 20;
  maxMs = 20;
  resets = 0;
  enabled = false;
  get max(): number {
    return this.maxMs * 1e6;
  }
  percentile(p: number): number {
    assert.equal(p, 99);
    return this.p99Ms * 1e6;
  }
  reset(): void {
    this.resets++;
  }
  enable(): void {
    this.enabled = true;
  }
  disable(): void {
    this.enabled = false;
  }
}

test('eventLoopCheck: p99 and max lateness against their bounds, the histogram reset each evaluation', () => {
  const h = new FakeHistogram();
  // Readings are tick-to-tick times: the 100 ms sampling period is not lateness.
  const check = eventLoopCheck({ maxDelayMs: 500, maxStallMs: 5_000, histogram: h, resolutionMs: 100 });
  const { clock, notifier, dog, warns } = rig([check]);
  dog.start();
  assert.ok(h.enabled, 'sampling starts with the watchdog');
  h.p99Ms = 600; // 500 ms late: at the bound, not past it
  h.maxMs = 650;
  assert.deepEqual(check.check(clock.now()), { ok: true });
  h.p99Ms = 900;
  h.maxMs = 1000;
  clock.advance(INTERVAL);
  assert.match(warns()[0]?.msg ?? '', /event-loop: event loop delay p99 800 ms > 500 ms \(max 900 ms\)/);
  h.p99Ms = 125;
  h.maxMs = 7_100;
  assert.deepEqual(check.check(clock.now()), { ok: false, reason: 'event loop stalled 7000 ms > 5000 ms' });
  h.maxMs = 130;
  clock.advance(INTERVAL);
  assert.equal(dog.state, 'healthy');
  assert.equal(notifier.pings.length, 2);
  assert.equal(h.resets, 1 + 5, 'once at start, once per evaluation');
  dog.stop();
  assert.ok(!h.enabled, 'and stops with it');
});

test('eventLoopCheck on the real histogram: an idle loop passes', async () => {
  const check = eventLoopCheck({ maxDelayMs: 500 });
  check.start?.();
  // A few periods of the default 100 ms sampling, so the window is not empty.
  await new Promise((r) => setTimeout(r, 350));
  assert.deepEqual(check.check(0), { ok: true });
  check.stop?.();
});

test('micCheck adapts capture health: frames arriving or not', () => {
  let health: { ok: boolean; reason?: string } = { ok: true };
  const seen: number[] = [];
  const check = micCheck({
    health: (now) => {
      seen.push(now);
      return health;
    },
  });
  assert.equal(check.name, 'mic');
  assert.deepEqual(check.check(5), { ok: true });
  health = { ok: false, reason: 'no frames for 2000 ms' };
  assert.deepEqual(check.check(6), { ok: false, reason: 'no frames for 2000 ms' });
  health = { ok: false };
  assert.deepEqual(check.check(7), { ok: false, reason: 'unhealthy' });
  assert.deepEqual(seen, [5, 6, 7], 'the evaluation time is passed through');
});

/** The same time as `inner`, but its timers can be lost: "a timer that never fires". */
class LossyClock implements Clock {
  lose = false;
  constructor(private readonly inner: ManualClock) {}
  now(): number {
    return this.inner.now();
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.inner.setTimeout(() => {
      if (!this.lose) fn();
    }, ms);
  }
  clearTimeout(handle: TimerHandle | undefined): void {
    this.inner.clearTimeout(handle);
  }
}

test('progressCheck: a probe timer that never fires fails the check; one probe at a time', () => {
  const clock = new ManualClock();
  const lossy = new LossyClock(clock);
  const check = progressCheck({ clock: lossy, timerSlackMs: 5_000, marginMs: 5_000 });
  check.start?.();
  assert.deepEqual(check.check(clock.now()), { ok: true }, 'no earlier probe to judge');
  clock.advance(INTERVAL);
  assert.deepEqual(check.check(clock.now()), { ok: true }, 'the probe fired');
  lossy.lose = true;
  clock.advance(INTERVAL);
  const r = check.check(clock.now());
  assert.ok(!r.ok);
  assert.equal(r.reason, 'a timer armed 15000 ms ago has not fired');
  clock.advance(INTERVAL);
  assert.deepEqual(check.check(clock.now()), {
    ok: false,
    reason: 'a timer armed 30000 ms ago has not fired',
  });
  assert.equal(clock.pending, 0, 'the lost probe was not replaced by a pile of new ones');
  check.stop?.();
  assert.equal(clock.pending, 0);
});

test('progressCheck: a wait past its own deadline plus margin is wedged; unbounded waits never are', () => {
  const clock = new ManualClock();
  let link: Wait | undefined = { what: 'link connecting', since: 0, limitMs: 10_000 };
  const idle: Wait = { what: 'conversation idle', since: 0, limitMs: undefined };
  const check = progressCheck({
    clock,
    timerSlackMs: 5_000,
    waits: [() => link, () => idle, () => undefined],
    marginMs: 5_000,
  });
  check.start?.();
  assert.deepEqual(check.check(15_000), { ok: true }, 'limit + margin not yet passed');
  const r = check.check(15_001);
  assert.ok(!r.ok);
  assert.equal(r.reason, 'link connecting for 15001 ms, past its 10000 ms deadline');
  link = { what: 'link backoff', since: 15_000, limitMs: 30_000 };
  assert.deepEqual(check.check(16_000), { ok: true }, 'a new state restarts the wait');
  link = undefined;
  assert.deepEqual(check.check(1e9), { ok: true });
  check.stop?.();
  assert.equal(clock.pending, 0);
});

test('stop() leaves no timer behind with every check kind, and start() again works', () => {
  const clock = new ManualClock();
  const notifier = new RecordingNotifier(clock);
  const h = new FakeHistogram();
  const dog = new Watchdog({
    clock,
    intervalMs: INTERVAL,
    checks: [
      eventLoopCheck({ maxDelayMs: 500, histogram: h }),
      micCheck({ health: () => ({ ok: true }) }),
      progressCheck({ clock, timerSlackMs: 5_000, marginMs: 5_000 }),
    ],
    notifier,
    log: captureLogger().log,
  });
  dog.start();
  clock.advance(2 * INTERVAL);
  assert.equal(notifier.pings.length, 3);
  assert.ok(clock.pending > 0);
  dog.stop();
  assert.equal(clock.pending, 0, 'watchdog timer and progress probe both cleared');
  assert.ok(!h.enabled);
  dog.start();
  clock.advance(INTERVAL);
  assert.equal(notifier.pings.length, 5, 'restarted: pings at start and after one interval');
  dog.stop();
  assert.equal(clock.pending, 0);
});
