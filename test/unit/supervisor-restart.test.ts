/**
 * The restart schedule through the real supervisor (core/backoff.ts, issue 13 §6): a fleet closed
 * at once by a routine close spreads its first attempts over routineReconnectMs, refusals during a
 * short outage keep that period instead of growing an exponential, and a press still connects at
 * once. ManualClock, fake connections; the test plays the server.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectionSchema } from '../../src/config/schema.js';
import { ManualClock } from '../../src/core/clock.js';
import { seededRandom } from '../../src/core/random.js';
import type { CredentialSource, Credentials } from '../../src/session/credentials.js';
import { SessionSupervisor } from '../../src/session/supervisor.js';
import { captureLogger } from '../fakes/capture-logger.js';
import { type FakeConnection, fakeConnector } from '../fakes/fake-connection.js';

const PERIOD = connectionSchema.parse({}).routineReconnectMs;
const WINDOW = connectionSchema.parse({}).restartRetryForMs;

class FixedCredentials implements CredentialSource {
  readonly #c: Credentials = { url: 'ws://x/xiaozhi/v1/', token: 'tok' };
  current(): Credentials {
    return this.#c;
  }
  async refresh(): Promise<Credentials> {
    return this.#c;
  }
}

interface Device {
  readonly sup: SessionSupervisor;
  readonly fc: ReturnType<typeof fakeConnector>;
  /** clock.now() of every connect call. */
  readonly attempts: number[];
  /** clock.now() of every entry into ready. */
  readonly ready: number[];
}

/**
 * N supervisors on one ManualClock (shipped connection config, pings far apart so no pong has to
 * be played), each with its own seeded random, and a server that is up or down: `pump()` answers
 * every connection not answered yet, a hello when up, a refusal (ECONNREFUSED, no upgrade) when down.
 */
function fleet(n: number, overrides: Record<string, unknown> = {}) {
  const clock = new ManualClock(0);
  const { log, lines } = captureLogger('info');
  const config = connectionSchema.parse({ pingIntervalMs: 120_000, pongTimeoutMs: 120_000, ...overrides });
  const devices: Device[] = [];
  for (let i = 0; i < n; i++) {
    const fc = fakeConnector();
    const attempts: number[] = [];
    const ready: number[] = [];
    const sup = new SessionSupervisor({
      connector: (req) => {
        attempts.push(clock.now());
        return fc.connector(req);
      },
      credentials: new FixedCredentials(),
      identity: { deviceId: `02:00:00:00:00:${(i & 0xff).toString(16).padStart(2, '0')}`, clientId: `c${i}` },
      config,
      clock,
      random: seededRandom(i + 1),
      log,
    });
    sup.on('state', (to) => {
      if (to === 'ready') ready.push(clock.now());
    });
    devices.push({ sup, fc, attempts, ready });
  }
  const answered = new Set<FakeConnection>();
  let up = true;
  const pump = (): void => {
    for (const d of devices) {
      for (const c of d.fc.conns) {
        if (answered.has(c)) continue;
        answered.add(c);
        if (up) {
          c.serverOpen();
          c.serverHello();
        } else {
          c.emit(
            'error',
            Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8000'), { code: 'ECONNREFUSED' }),
          );
          c.serverClose(1006);
        }
      }
    }
  };
  /** Advances `ms` in 10 ms steps, answering connections as they come. */
  const run = (ms: number): void => {
    for (let t = 0; t < ms; t += 10) {
      clock.advance(Math.min(10, ms - t));
      pump();
    }
  };
  const server = {
    set up(v: boolean) {
      up = v;
    },
  };
  /** Stops the server: every ready session closed 1001, as the dev-server and ws servers do. */
  const stop = (): void => {
    up = false;
    for (const d of devices) d.fc.last().serverClose(1001, 'server stopping');
  };
  return { clock, devices, pump, run, server, stop, lines, config };
}

/** Most events in any 1 s window (half-open, anywhere on the time line). */
function busiestSecond(times: readonly number[]): number {
  const s = [...times].sort((a, b) => a - b);
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < s.length; hi++) {
    while ((s[lo] ?? 0) <= (s[hi] ?? 0) - 1000) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

function settled(f: ReturnType<typeof fleet>): void {
  for (const d of f.devices) d.sup.start();
  f.run(10_000); // past authFailureWindowMs: a settled session, its close is routine
  for (const d of f.devices) assert.equal(d.sup.state, 'ready');
}

test('a fleet closed at once (1001): first attempts spread uniformly over routineReconnectMs, no second holds a quarter', () => {
  const N = 200;
  const f = fleet(N);
  settled(f);
  const t0 = f.clock.now();
  f.server.up = true; // a rolling deploy that is back at once: what matters is when they come
  for (const d of f.devices) d.fc.last().serverClose(1001, 'going away');
  assert.ok(f.devices.every((d) => d.sup.state === 'backoff'));
  f.run(PERIOD + 100);
  const first = f.devices.map((d) => (d.attempts.find((t) => t > t0) ?? Number.NaN) - t0);
  assert.ok(
    first.every((t) => t >= 0 && t < PERIOD + 10),
    `all within ${PERIOD} ms: ${Math.max(...first)}`,
  );
  // Before: every device within 1 s (routineReconnectMs 1000), the whole fleet in one second.
  const busiest = busiestSecond(first);
  assert.ok(busiest <= N / 4, `busiest second ${busiest} of ${N}`);
  assert.ok(
    Math.max(...first) > 0.9 * PERIOD && Math.min(...first) < 0.1 * PERIOD,
    'the whole window is used',
  );
  assert.ok(f.devices.every((d) => d.sup.state === 'ready'));
  // Quietly: a routine close is not a warning.
  assert.equal(f.lines.filter((l) => l.level >= 40).length, 0);
});

test('a 5 s outage: refusals keep the period, nothing grows; all back within the period of the return', () => {
  const N = 200;
  const f = fleet(N);
  settled(f);
  const t0 = f.clock.now();
  f.stop();
  f.run(5000);
  const upAt = f.clock.now();
  // Every device's delays after a refusal were exactly the period: no exponential built up.
  for (const d of f.devices) {
    const gaps = d.attempts.filter((t) => t > t0).map((t, i, a) => t - (a[i - 1] ?? t));
    for (const g of gaps.slice(1)) assert.ok(Math.abs(g - PERIOD) <= 10, `gap ${g}`);
  }
  const outage = f.devices.flatMap((d) => d.attempts.filter((t) => t > t0));
  assert.ok(busiestSecond(outage) <= N / 4, `busiest second of the outage ${busiestSecond(outage)}`);
  f.server.up = true;
  f.run(PERIOD + 100);
  const back = f.devices
    .map((d) => (d.ready.find((t) => t >= upAt) ?? Number.NaN) - upAt)
    .sort((a, b) => a - b);
  assert.ok(
    back.every((t) => t <= PERIOD + 10),
    `all back within the period: ${back.at(-1)}`,
  );
  const p90 = back[Math.floor(0.9 * N) - 1] ?? Number.NaN;
  assert.ok(p90 <= 0.95 * PERIOD, `p90 ${p90}`);
  const after = f.devices.flatMap((d) => d.attempts.filter((t) => t >= upAt));
  assert.equal(after.length, N, 'one attempt each after the return');
  assert.ok(busiestSecond(after) <= N / 4, `busiest second after the return ${busiestSecond(after)}`);
});

test('a long outage: the period holds for restartRetryForMs, then the exponential takes over up to its cap', () => {
  const f = fleet(1);
  settled(f);
  const d = f.devices[0];
  assert.ok(d);
  const t0 = f.clock.now();
  f.stop();
  f.run(WINDOW + 5 * 60_000);
  const gaps = d.attempts.filter((t) => t > t0).map((t, i, a) => t - (a[i - 1] ?? t));
  const inWindow = gaps.slice(1, Math.floor(WINDOW / PERIOD) - 1);
  assert.ok(inWindow.length >= 9);
  for (const g of inWindow) assert.ok(Math.abs(g - PERIOD) <= 10, `gap in the window ${g}`);
  const later = gaps.slice(Math.ceil(WINDOW / PERIOD) + 1);
  assert.ok(later.length > 5);
  assert.ok(
    later.every((g) => g <= 30_000 + 10),
    'capped',
  );
  assert.ok(Math.max(...later) > 2 * PERIOD, `grown: ${later}`);
  // The server answers again: ready at the next attempt, and the run is over (a later refusal
  // draws a new phase rather than the period).
  f.server.up = true;
  f.run(30_100);
  assert.equal(d.sup.state, 'ready');
});

test('a press while offline connects at once: during the spread after a routine close, and between refusals', () => {
  const f = fleet(1);
  settled(f);
  const d = f.devices[0];
  assert.ok(d);
  f.stop();
  assert.equal(d.sup.state, 'backoff');
  const before = d.attempts.length;
  f.run(10); // a moment into the spread (the draw: up to the period)
  assert.equal(d.sup.state, 'backoff');
  d.sup.connectNow('button');
  assert.equal(d.attempts.length, before + 1, 'the press does not wait for the spread');
  f.pump(); // refused: the server is still down
  assert.equal(d.sup.state, 'backoff');
  assert.equal(f.clock.msToNext(), PERIOD, 'the refusal keeps the period, no exponential step');
  f.run(600); // more than backoffBaseMs since the last attempt
  d.sup.connectNow('button');
  assert.equal(d.attempts.length, before + 2, 'a second press connects at once too');
  f.server.up = true;
  f.pump();
  assert.equal(d.sup.state, 'ready');
});

test('a session lost by a fault keeps the exponential first step; a refusal after it draws the phase', () => {
  const f = fleet(1);
  settled(f);
  const d = f.devices[0];
  assert.ok(d);
  f.server.up = false;
  d.fc.last().serverClose(1006); // the server crashed: no close frame
  const first = f.clock.msToNext();
  assert.ok(first < 500, `exponential: ${first}`);
  f.clock.advance(first);
  f.pump(); // refused: the first refusal of a run
  const phase = f.clock.msToNext();
  assert.ok(phase < PERIOD, `phase ${phase}`);
  f.clock.advance(phase);
  f.pump();
  assert.equal(f.clock.msToNext(), PERIOD, 'then the period');
});
