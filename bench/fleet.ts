/**
 * `npm run bench:fleet` (issue "Proof at scale", part 2): N real SessionSupervisors in one process,
 * each with its own identity and the real `ws` client, against one dev-server (token auth on).
 *  1. restart: the server stops (every session closed 1001), stays down `--down-ms`, comes back on
 *     the same port. Time to 100 % ready and the attempt rate the new server sees, for the shipped
 *     policy (full jitter 500 ms → 30 s) and, in the same run, a naive fixed 1 s reconnect without
 *     jitter (the same supervisor with base = cap = 1 s and a constant random; see fleet-sim.ts).
 *  2. auth rejection: the server refuses every token for `--auth-reject-ms`; credential refreshes
 *     (OTA calls in production) per device per minute, then the time to 100 % ready once valid
 *     tokens are issued again.
 * Prints a compact report (or `--json`) and exits 0: a bench reports, it does not fail a run.
 *
 *   node dist/bench/fleet.js [--devices 500] [--down-ms 5000] [--auth-reject-ms 120000]
 *                            [--seed N] [--only restart,auth] [--json]
 */
import { arch, cpus, platform } from 'node:os';
import { parseArgs } from 'node:util';
import { describeError } from '../src/core/errors.js';
import { signToken } from '../src/devserver/index.js';
import {
  type AuthResult,
  authScenario,
  GOOD_KEY,
  type RestartResult,
  restartScenario,
} from './fleet-scenarios.js';
import { Fleet, type FleetKind, FleetServer, type TokenIssuer } from './fleet-sim.js';

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** Tokens of the server's key, as its OTA endpoint issues them (protocol.md §2.5). */
const goodTokens: TokenIssuer = (clientId, deviceId) =>
  signToken(GOOD_KEY, clientId, deviceId, Math.floor(Date.now() / 1000));

interface Options {
  readonly devices: number;
  readonly downMs: number;
  readonly authRejectMs: number;
  readonly seed: number | undefined;
  readonly only: ReadonlySet<string>;
  readonly json: boolean;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      devices: { type: 'string', default: '500' },
      'down-ms': { type: 'string', default: '5000' },
      // Two minutes: the first is the backoff ramp (ceilings 0.5 → 30 s), the second the steady state.
      'auth-reject-ms': { type: 'string', default: '120000' },
      seed: { type: 'string' },
      only: { type: 'string', default: 'restart,auth' },
      json: { type: 'boolean', default: false },
    },
  });
  const int = (name: string, text: string, min: number, max: number): number => {
    const v = Number(text);
    if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`--${name} must be ${min}…${max}`);
    return v;
  };
  return {
    devices: int('devices', values.devices, 1, 60_000),
    downMs: int('down-ms', values['down-ms'], 0, 600_000),
    authRejectMs: int('auth-reject-ms', values['auth-reject-ms'], 1000, 3_600_000),
    seed: values.seed === undefined ? undefined : int('seed', values.seed, 0, 2 ** 31),
    only: new Set(values.only.split(',')),
    json: values.json,
  };
}

function machine(): Record<string, string | number> {
  return {
    node: process.version,
    platform: `${platform()} ${arch()}`,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? '?',
  };
}

const s = (ms: number): string => (ms / 1000).toFixed(2);
const f1 = (x: number): string => x.toFixed(1);
const ratio = (a: number, b: number): string => (b > 0 ? `${(a / b).toFixed(2)}×` : '—');

function restartTable(j: RestartResult, n: RestartResult): void {
  const row = (what: string, a: string, b: string, r = ''): void =>
    out(`  ${what.padEnd(44)}${a.padStart(12)}${b.padStart(12)}${r.padStart(16)}`);
  row('', 'jittered', 'naive 1 s', 'naive/jittered');
  row('reconnected', `${j.reconnected}/${j.devices}`, `${n.reconnected}/${n.devices}`);
  row(
    'time to 100 % ready after the restart [s]',
    s(j.toAllReadyMs),
    s(n.toAllReadyMs),
    ratio(n.toAllReadyMs, j.toAllReadyMs),
  );
  row(
    '  ready p50 / p90 [s]',
    `${s(j.readyP50Ms)}/${s(j.readyP90Ms)}`,
    `${s(n.readyP50Ms)}/${s(n.readyP90Ms)}`,
  );
  row('first → last attempt after the restart [s]', s(j.spreadMs), s(n.spreadMs));
  row('peak attempts/s, 1 s window', f1(j.peak1s), f1(n.peak1s), ratio(n.peak1s, j.peak1s));
  row('peak attempts/s, 100 ms window', f1(j.peak100ms), f1(n.peak100ms), ratio(n.peak100ms, j.peak100ms));
  row('p99 attempts/s, 1 s window', f1(j.p99_1s), f1(n.p99_1s), ratio(n.p99_1s, j.p99_1s));
  row('p99 attempts/s, 100 ms window', f1(j.p99_100ms), f1(n.p99_100ms), ratio(n.p99_100ms, j.p99_100ms));
  row(
    'attempts per device after the restart',
    j.afterAttemptsPerDevice.toFixed(2),
    n.afterAttemptsPerDevice.toFixed(2),
  );
  row(
    'attempts per device during the outage',
    j.outageAttemptsPerDevice.toFixed(2),
    n.outageAttemptsPerDevice.toFixed(2),
    ratio(n.outageAttemptsPerDevice, j.outageAttemptsPerDevice),
  );
  row(
    'peak attempts/s during the outage, 1 s',
    f1(j.outagePeak1s),
    f1(n.outagePeak1s),
    ratio(n.outagePeak1s, j.outagePeak1s),
  );
  row('down time measured [s]', s(j.downMs), s(n.downMs));
  row(
    'event-loop delay p99 / max [ms]',
    `${f1(j.loop.p99Ms)}/${f1(j.loop.maxMs)}`,
    `${f1(n.loop.p99Ms)}/${f1(n.loop.maxMs)}`,
  );
  if (j.startRetries + n.startRetries > 0)
    out(`  (retries while the fleet first connected: jittered ${j.startRetries}, naive ${n.startRetries})`);
  out('  rates: attempts counted through a sliding window, sampled every 10 ms from the restart until the');
  out('  window passed the last attempt; peak = max, p99 = 99th percentile of those samples.');
}

function authReport(a: AuthResult, capMs: number, floorMs: number): void {
  const minutes = a.meanPerMinute
    .map((m, i) => `minute ${i + 1}: mean ${m.toFixed(1)}, max ${(a.maxPerMinute[i] ?? 0).toFixed(0)}`)
    .join(' · ');
  out(`  credential refreshes per device per minute   ${minutes}`);
  out(`  over the whole rejection                     mean ${a.meanOverall.toFixed(1)}/min`);
  out(
    `  refused attempts per device ${a.rejectedPerDevice.toFixed(1)}; devices with more refreshes than refusals: ${a.refreshStorms}`,
  );
  // The mean of max(U(0, cap), floor): what the gap between refreshes tends to once the ceiling is capped.
  const f = Math.min(floorMs, capMs);
  const meanGapMs = (f * f + (capMs * capMs - f * f) / 2) / capMs + Math.max(0, floorMs - capMs);
  out(
    `  policy (session/supervisor.ts #onRefused): the first refusal refreshes at once (bounded by the floor), every`,
  );
  out(
    `  refusal after it one refresh, spaced by max(full-jitter backoff 0.5 → ${capMs / 1000} s, floor ${floorMs / 1000} s): a hard`,
  );
  out(
    `  ${(60_000 / floorMs).toFixed(0)}/min at most; once capped a mean gap of ${(meanGapMs / 1000).toFixed(1)} s = ${(60_000 / meanGapMs).toFixed(1)}/min`,
  );
  out(
    `  valid tokens issued again → 100 % ready: ${s(a.toAllReadyMs)} s (${a.reconnected}/${a.devices}; bound: one backoff delay < ${capMs / 1000} s)`,
  );
  out(`  event-loop delay p99 / max ${f1(a.loop.p99Ms)}/${f1(a.loop.maxMs)} ms`);
}

function makeFleet(kind: FleetKind, o: Options, url: string, firstId: number): Fleet {
  return new Fleet({ kind, devices: o.devices, url, firstId, seed: o.seed, issuer: goodTokens });
}

async function withFleet<T>(fleet: Fleet, run: (f: Fleet) => Promise<T>): Promise<T> {
  try {
    return await run(fleet);
  } finally {
    await fleet.stop();
  }
}

async function main(): Promise<void> {
  const o = parseOptions();
  const m = machine();
  const t0 = performance.now();
  if (!o.json) {
    out(
      `speakerd bench:fleet · node ${m.node} · ${m.platform} · ${m.cpus} CPUs (${m.cpuModel}) · ${new Date().toISOString().slice(0, 16)}Z`,
    );
    out(
      `${o.devices} SessionSupervisors in one process (real ws client, SystemClock, ${o.seed === undefined ? 'Math.random' : `seeded random ${o.seed}+i`} per device)`,
    );
    out('→ one dev-server (token auth on) on 127.0.0.1 in the same process');
  }
  const server = await FleetServer.start({ auth: { key: GOOD_KEY } });
  const result: Record<string, unknown> = { machine: m, devices: o.devices };
  try {
    if (o.only.has('restart')) {
      const j = await withFleet(makeFleet('jittered', o, server.url, 1), (f) =>
        restartScenario(server, f, o.downMs),
      );
      const n = await withFleet(makeFleet('naive', o, server.url, 1 + o.devices), (f) =>
        restartScenario(server, f, o.downMs),
      );
      result.restart = { downMs: o.downMs, jittered: j, naive: n };
      if (!o.json) {
        out('');
        out(
          `RESTART  server stopped (sessions closed 1001), down ${s(o.downMs)} s, started again on the same port`,
        );
        restartTable(j, n);
      }
    }
    if (o.only.has('auth')) {
      const fleet = makeFleet('jittered', o, server.url, 1 + 2 * o.devices);
      const { backoffCapMs: capMs, refreshMinIntervalMs: floorMs } = fleet.config;
      const a = await withFleet(fleet, (f) => authScenario(server, f, o.authRejectMs));
      result.auth = a;
      if (!o.json) {
        out('');
        out(
          `AUTH     server up, token key rotated and sessions closed 1000: every token refused for ${s(o.authRejectMs)} s,`,
        );
        out('         each refresh handing back the same stale token; then refreshes issue valid tokens');
        authReport(a, capMs, floorMs);
      }
    }
  } finally {
    await server.stop();
  }
  if (o.json) out(JSON.stringify(result, null, 2));
  else out(`(${((performance.now() - t0) / 1000).toFixed(0)} s)`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    // A failed scenario (a bound passed) is reported; the bench itself still ends cleanly.
    process.stderr.write(`bench:fleet: ${describeError(err)}\n`);
    process.exit(0);
  },
);
