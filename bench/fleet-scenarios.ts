/**
 * The two fleet scenarios of `npm run bench:fleet` (issue "Proof at scale"):
 *  - restart: the server is stopped, stays down for a set time, comes back on the same port;
 *    how fast is every device back, and how hard do the attempts hit the new server;
 *  - auth rejection: the server is up but refuses every device's token for a while; how often does
 *    each device ask its credential source (the OTA endpoint, in production) for a new one.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { type Fleet, type FleetServer, sleep, waitUntil } from './fleet-sim.js';
import { peakRate, perMinute, type RateFigures, rateFigures } from './fleet-stats.js';
import { percentile } from './stats.js';

export interface LoopDelay {
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** Event-loop delay while `run` runs: how much the one process carrying the fleet lagged. */
async function withLoopDelay<T>(run: () => Promise<T>): Promise<{ value: T; loop: LoopDelay }> {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  try {
    const value = await run();
    return { value, loop: { p99Ms: h.percentile(99) / 1e6, maxMs: h.max / 1e6 } };
  } finally {
    h.disable();
  }
}

/** Brings a fleet up and waits until every device is ready. */
export async function connectAll(fleet: Fleet): Promise<void> {
  const t0 = fleet.clock.now();
  fleet.start();
  await fleet.allReadySince(t0, 30_000 + fleet.devices.length * 20, 'every device ready at start');
}

/**
 * The outage's first seconds, from the first device seeing its close: where a fleet closed at once
 * makes its first attempts. 2.5 s puts the border half-way between the naive fleet's lockstep
 * retries (1, 2, 3 s after its close), so it never cuts the baseline's burst in two, even when a
 * loaded loop smears that burst by a few hundred ms.
 */
export const OUTAGE_FIRST_MS = 2500;

/** What a server sees of one phase: attempts, and their peak rates through 1 s and 100 ms windows. */
export interface PhaseRates {
  readonly attempts: number;
  /** attempts/s through the busiest 1 s window inside the phase. */
  readonly peak1s: number;
  /** attempts/s through the busiest 100 ms window inside the phase. */
  readonly peak100ms: number;
}

/**
 * The phases of a restart, by the time of the attempt: the outage's first seconds (from the stop),
 * the rest of the outage, after the restart (from the new server listening), and all of them at
 * once (windows across the phases' borders too).
 */
export interface RestartPhases {
  readonly outageFirst: PhaseRates;
  readonly outageRest: PhaseRates;
  readonly after: PhaseRates;
  readonly whole: PhaseRates;
}

function phaseRates(times: readonly number[]): PhaseRates {
  return { attempts: times.length, peak1s: peakRate(times, 1000), peak100ms: peakRate(times, 100) };
}

export interface RestartResult extends RateFigures {
  readonly kind: string;
  readonly devices: number;
  /** From the old server closed to the new one listening. */
  readonly downMs: number;
  /** Devices back in `ready` after the restart (all of them, or the scenario throws). */
  readonly reconnected: number;
  /** From the new server listening to the last device ready. */
  readonly toAllReadyMs: number;
  readonly readyP50Ms: number;
  readonly readyP90Ms: number;
  /** Attempts per device from the stop to the restart (all refused). */
  readonly outageAttemptsPerDevice: number;
  /** Highest rate of those refused attempts through a 1 s window, attempts/s. */
  readonly outagePeak1s: number;
  /** Attempts per device after the restart (1.0: every first attempt succeeded). */
  readonly afterAttemptsPerDevice: number;
  /** Connection attempts beyond one per device before the stop (should be 0: a fresh backoff). */
  readonly startRetries: number;
  /** From the stop to the first and the last device seeing its session end. */
  readonly closeSeenMs: { readonly first: number; readonly last: number };
  readonly phases: RestartPhases;
  readonly loop: LoopDelay;
}

/**
 * Connects the fleet, stops the server, keeps it down `downMs`, starts it on the same port and
 * waits (bounded) until every device is ready again. The caller stops the fleet.
 */
export async function restartScenario(
  server: FleetServer,
  fleet: Fleet,
  downMs: number,
): Promise<RestartResult> {
  await connectAll(fleet);
  const n = fleet.devices.length;
  const startRetries = fleet.allAttempts().length - n;
  // Settled sessions, as on any day a server is restarted: past authFailureWindowMs the 1001 is a
  // routine close, not "closed right after hello" (supervisor.ts #afterEnd: backed off as a fault).
  await sleep(fleet.config.authFailureWindowMs + 500);
  const { value, loop } = await withLoopDelay(async () => {
    const stopAt = fleet.clock.now();
    await server.stop();
    // Every device has seen its session end before the clock of the outage starts.
    await waitUntil(
      'every device out of ready',
      () => fleet.count((d) => d.supervisor.state === 'ready') === 0,
      10_000,
      () => fleet.describe(),
    );
    const downAt = fleet.clock.now();
    await sleep(downMs);
    await server.restart();
    const upAt = fleet.clock.now();
    await fleet.allReadySince(upAt, fleet.recoveryBoundMs(), 'every device ready after the restart');
    return { stopAt, downAt, upAt };
  });
  const { stopAt, downAt, upAt } = value;
  const all = fleet.allAttempts();
  const outage = all.filter((t) => t >= stopAt && t < upAt);
  const after = all.filter((t) => t >= upAt);
  const seen = fleet.devices.map((d) => d.lost.find((t) => t >= stopAt) ?? Number.NaN);
  const restAt = Math.min(Math.min(...seen) + OUTAGE_FIRST_MS, upAt);
  const phases: RestartPhases = {
    outageFirst: phaseRates(outage.filter((t) => t < restAt)),
    outageRest: phaseRates(outage.filter((t) => t >= restAt)),
    after: phaseRates(after),
    whole: phaseRates(all.filter((t) => t >= stopAt)),
  };
  const readyAfter = fleet.devices.map((d) => (d.firstReadyAfter(upAt) ?? Number.NaN) - upAt);
  return {
    kind: fleet.kind,
    devices: n,
    downMs: upAt - downAt,
    reconnected: fleet.count((d) => d.firstReadyAfter(upAt) !== undefined),
    toAllReadyMs: Math.max(...readyAfter),
    readyP50Ms: percentile(readyAfter, 50),
    readyP90Ms: percentile(readyAfter, 90),
    ...rateFigures(after, upAt),
    outageAttemptsPerDevice: outage.length / n,
    outagePeak1s: rateFigures(outage, stopAt).peak1s,
    afterAttemptsPerDevice: after.length / n,
    startRetries,
    closeSeenMs: {
      first: Math.min(...seen) - stopAt,
      last: Math.max(...seen) - stopAt,
    },
    phases,
    loop,
  };
}

export interface AuthResult {
  readonly devices: number;
  readonly rejectMs: number;
  /** Credential refreshes per device per minute of the rejection: fleet mean, minute by minute. */
  readonly meanPerMinute: number[];
  /** The same, the device with the most refreshes in that minute. */
  readonly maxPerMinute: number[];
  /** Refreshes per device per minute over the whole rejection. */
  readonly meanOverall: number;
  /** Attempts the server refused per device during the rejection. */
  readonly rejectedPerDevice: number;
  /** Devices that refreshed more often than they were refused (a refresh storm: must be 0). */
  readonly refreshStorms: number;
  /** From the fix (the OTA issues valid tokens again) to the last device ready. */
  readonly toAllReadyMs: number;
  readonly reconnected: number;
  readonly loop: LoopDelay;
}

/** The HMAC key of the fleet's tokens, and the one the server rotates to. */
export const GOOD_KEY = 'fleet-key-1';
const ROTATED_KEY = 'fleet-key-2';

/**
 * The server rotates its token key (as xinnan does when restarted with a random `auth_key`,
 * protocol.md §2.5) and ends every session; every reconnect is refused (`认证失败` + close). For
 * `rejectMs` every refresh hands back the same stale token; then the "OTA" issues tokens of the new
 * key and the scenario waits (bounded) until every device is ready. The server must run with auth.
 */
export async function authScenario(server: FleetServer, fleet: Fleet, rejectMs: number): Promise<AuthResult> {
  await connectAll(fleet);
  const n = fleet.devices.length;
  await sleep(200);
  const { value, loop } = await withLoopDelay(async () => {
    const from = fleet.clock.now();
    fleet.issuer = undefined;
    server.server.setAuthKey(ROTATED_KEY);
    server.server.closeAll(1000);
    await sleep(rejectMs);
    const fixAt = fleet.clock.now();
    const dev = server.server;
    fleet.issuer = (clientId, deviceId) => dev.issueToken(clientId, deviceId);
    await fleet.allReadySince(fixAt, fleet.recoveryBoundMs(), 'every device ready after the fix');
    return { from, fixAt };
  });
  const { from, fixAt } = value;
  const minutes = fleet.devices.map((d) => perMinute(d.refreshes, from, fixAt));
  const columns = minutes[0]?.length ?? 0;
  const meanPerMinute: number[] = [];
  const maxPerMinute: number[] = [];
  for (let m = 0; m < columns; m++) {
    const col = minutes.map((row) => row[m] ?? 0);
    meanPerMinute.push(col.reduce((a, b) => a + b, 0) / n);
    maxPerMinute.push(Math.max(...col));
  }
  const inWindow = (t: number): boolean => t >= from && t < fixAt;
  let refreshes = 0;
  let rejected = 0;
  let storms = 0;
  for (const d of fleet.devices) {
    const r = d.refreshes.filter(inWindow).length;
    // An attempt in the window that did not become ready was refused.
    const a = d.attempts.filter(inWindow).length;
    refreshes += r;
    rejected += a;
    if (r > a) storms++;
  }
  const readyAfter = fleet.devices.map((d) => (d.firstReadyAfter(fixAt) ?? Number.NaN) - fixAt);
  return {
    devices: n,
    rejectMs: fixAt - from,
    meanPerMinute,
    maxPerMinute,
    meanOverall: (refreshes / n) * (60_000 / (fixAt - from)),
    rejectedPerDevice: rejected / n,
    refreshStorms: storms,
    toAllReadyMs: Math.max(...readyAfter),
    reconnected: fleet.count((d) => d.firstReadyAfter(fixAt) !== undefined),
    loop,
  };
}
