/**
 * The link's two time bounds, measured with the shipped connection defaults against the real
 * dev-server through the fault proxy (test/integration/harness.ts Rig: the real `ws` client and the
 * real supervisor), and set beside what the configured policy promises:
 *  - dead-peer detection: the proxy blackholes a ready connection (half-open TCP); time until the
 *    supervisor leaves `ready`. Bound: pingIntervalMs + pongTimeoutMs (a blackhole right after a
 *    ping's answer waits a whole interval for the next ping, then the pong timeout).
 *  - server restart → ready: the dev-server stops (1001 to every client), comes back on the same
 *    port `downMs` later; time from the new server listening to the device's `ready`. Set against a
 *    model of the policy (the restart schedule: a phase in [0, routineReconnectMs) after the routine
 *    close, then that period while refused) run on the real Backoff class with the measured outage.
 *
 * Imports the test harness, which installs process-wide unhandled-rejection recorders: run it in a
 * process of its own (scripts/measure.ts; the bench starts that as a child).
 */
import { connectionSchema } from '../src/config/schema.js';
import { Backoff } from '../src/core/backoff.js';
import { type Random, systemRandom } from '../src/core/random.js';
import { backoffPolicy } from '../src/session/supervisor.js';
import { Rig } from '../test/integration/harness.js';
import { whenLink } from './device.js';
import { median, percentile } from './stats.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The shipped connection defaults (what a device without a `connection` section runs with). */
export function shippedConnection(): ReturnType<typeof connectionSchema.parse> {
  return connectionSchema.parse({});
}

export interface DeadPeerResult {
  readonly runs: number;
  readonly timesMs: readonly number[];
  readonly medianMs: number;
  readonly maxMs: number;
  readonly pingIntervalMs: number;
  readonly pongTimeoutMs: number;
  /** pingIntervalMs + pongTimeoutMs: no half-open link may go unnoticed longer. */
  readonly boundMs: number;
  /** Median for a blackhole at a uniformly random phase: pongTimeoutMs + pingIntervalMs / 2. */
  readonly expectedMedianMs: number;
}

/**
 * `runs` devices in parallel, each blackholed at its own phase against its ping schedule: phases
 * stratified over one interval (device i somewhere in the i-th tenth of it, at random), so the
 * sample covers the whole range like cable pulls at any moment, and no run sits by construction on
 * the boundary where detection takes exactly the bound.
 */
export async function measureDeadPeer(runs = 10): Promise<DeadPeerResult> {
  const cfg = shippedConnection();
  const step = cfg.pingIntervalMs / runs;
  const one = async (i: number): Promise<number> => {
    const rig = await Rig.create({ productionTimings: true, random: systemRandom });
    try {
      await rig.ready();
      await sleep(1000 + (i + systemRandom()) * step);
      const t0 = performance.now();
      const lost = whenLink(
        rig.daemon.supervisor,
        'dead peer detected',
        (s) => s !== 'ready',
        3 * cfg.pingIntervalMs + 10_000,
      );
      rig.proxy.setMode('blackhole');
      return (await lost) - t0;
    } finally {
      await rig.close();
    }
  };
  const timesMs = await Promise.all(Array.from({ length: runs }, (_, i) => one(i)));
  return {
    runs,
    timesMs,
    medianMs: median(timesMs),
    maxMs: Math.max(...timesMs),
    pingIntervalMs: cfg.pingIntervalMs,
    pongTimeoutMs: cfg.pongTimeoutMs,
    boundMs: cfg.pingIntervalMs + cfg.pongTimeoutMs,
    expectedMedianMs: cfg.pongTimeoutMs + cfg.pingIntervalMs / 2,
  };
}

export interface RestartModel {
  readonly draws: number;
  /** One device's wait: percentiles. */
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  /** The slowest of `devices` devices: its median and p99 (what the measured max compares with). */
  readonly devices: number;
  readonly maxP50Ms: number;
  readonly maxP99Ms: number;
}

/** A refused attempt through the proxy (connect, upstream refused, close): a few ms on loopback. */
const REFUSED_ATTEMPT_MS = 2;

/**
 * What the policy predicts for "server back → next attempt" after an outage of `outageMs` (from
 * the close the device saw to the server listening again): the real Backoff's schedule, as the
 * supervisor drives it: the first attempt after a routine close (1001 from a session older than
 * authFailureWindowMs) at afterRoutineClose(), every refused attempt (the proxy drops the
 * connection at once: link-policy.ts `refused`) followed by afterRefusal(). The handshake itself
 * (TCP, upgrade, hello: ~5 ms on loopback) is not in the model.
 */
export function restartModel(
  cfg: ReturnType<typeof shippedConnection>,
  outageMs: number,
  devices: number,
  draws = 100_000,
  random: Random = systemRandom,
): RestartModel {
  const waits: number[] = [];
  for (let i = 0; i < draws; i++) {
    const backoff = new Backoff(backoffPolicy(cfg), random);
    let t = backoff.afterRoutineClose(0);
    while (t < outageMs) {
      t += REFUSED_ATTEMPT_MS;
      t += backoff.afterRefusal(t);
    }
    waits.push(t - outageMs);
  }
  // The slowest of `devices`: with 20 devices one of them lands past the single-device p95 in
  // most runs, so the max is compared with the distribution of maxima, not with a percentile.
  const maxima: number[] = [];
  for (let j = 0; j < draws / devices; j++) {
    let m = 0;
    for (let k = 0; k < devices; k++) m = Math.max(m, waits[Math.floor(random() * waits.length)] ?? 0);
    maxima.push(m);
  }
  return {
    draws,
    p50Ms: percentile(waits, 50),
    p95Ms: percentile(waits, 95),
    p99Ms: percentile(waits, 99),
    devices,
    maxP50Ms: percentile(maxima, 50),
    maxP99Ms: percentile(maxima, 99),
  };
}

export interface RestartResult {
  readonly devices: number;
  readonly downMs: number;
  readonly timesMs: readonly number[];
  readonly medianMs: number;
  readonly maxMs: number;
  /** Median measured outage: the device's close → the new server listening. */
  readonly outageMs: number;
  readonly model: RestartModel;
  readonly routineReconnectMs: number;
  readonly backoffBaseMs: number;
  readonly backoffCapMs: number;
}

/**
 * `devices` devices, each with its own server, restarted at the same moment. Each link has been
 * ready longer than authFailureWindowMs (a settled session: the 1001 is routine, not "closed right
 * after hello") and starts from a fresh backoff, as after a quiet day.
 */
export async function measureRestart(devices = 20, downMs = 1000): Promise<RestartResult> {
  const cfg = shippedConnection();
  const one = async (): Promise<{ ms: number; outage: number }> => {
    const rig = await Rig.create({ productionTimings: true, random: systemRandom });
    try {
      await rig.ready();
      await sleep(cfg.authFailureWindowMs + 500);
      const lost = whenLink(rig.daemon.supervisor, 'the close seen', (s) => s !== 'ready', 10_000);
      await rig.serverDown();
      const tLost = await lost;
      await sleep(downMs);
      await rig.serverUp();
      const tUp = performance.now();
      const tReady = await whenLink(rig.daemon.supervisor, 'ready again', (s) => s === 'ready', 60_000);
      return { ms: tReady - tUp, outage: tUp - tLost };
    } finally {
      await rig.close();
    }
  };
  const runs = await Promise.all(Array.from({ length: devices }, () => one()));
  const timesMs = runs.map((r) => r.ms);
  const outageMs = median(runs.map((r) => r.outage));
  return {
    devices,
    downMs,
    timesMs,
    medianMs: median(timesMs),
    maxMs: Math.max(...timesMs),
    outageMs,
    model: restartModel(cfg, outageMs, devices),
    routineReconnectMs: cfg.routineReconnectMs,
    backoffBaseMs: cfg.backoffBaseMs,
    backoffCapMs: cfg.backoffCapMs,
  };
}
