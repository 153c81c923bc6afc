/**
 * `npm run bench:fleet` (issue "Proof at scale", part 2): N real SessionSupervisors in one process,
 * each with its own identity and the real `ws` client, against one dev-server (token auth on).
 *  1. restart: the server stops (every session closed 1001), stays down `--down-ms`, comes back on
 *     the same port. Three fleets in the same run, one after the other: naive (a fixed 1 s reconnect
 *     without jitter: the same supervisor with base = cap = 1 s and a constant random), before (the
 *     policy before issue 13 §6, as config: routine reconnect within 1 s, full jitter 0.5 → 30 s
 *     from the first refusal) and shipped (the restart schedule, core/backoff.ts); see fleet-sim.ts.
 *     Peak attempt rates (1 s and 100 ms windows) per phase (the outage's first seconds, the rest
 *     of it, after the restart), time to 100 % ready and p90 after the restart, checked against
 *     issue 13 §6's goals (GOALS): shipped ≤ ¼ of naive in every phase, all ready ≤ 10 s, p90 ≤ 5 s.
 *  2. auth rejection: the server refuses every token for `--auth-reject-ms`; credential refreshes
 *     (OTA calls in production) per device per minute, then the time to 100 % ready once valid
 *     tokens are issued again.
 * Prints a compact report (or `--json`) with every goal PASS or FAIL; exits 1 when a goal is missed
 * or a scenario could not finish, 0 otherwise.
 *
 *   node dist/bench/fleet.js [--devices 500] [--down-ms 5000] [--auth-reject-ms 120000]
 *                            [--seed N] [--only restart,auth] [--json]
 */
import { arch, cpus, platform } from 'node:os';
import { parseArgs } from 'node:util';
import type { ConnectionConfig } from '../src/config/schema.js';
import { describeError } from '../src/core/errors.js';
import { signToken } from '../src/devserver/index.js';
import {
  type AuthResult,
  authScenario,
  connectAll,
  GOOD_KEY,
  OUTAGE_FIRST_MS,
  type RestartPhases,
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

/** Issue 13 §6, for the shipped policy against the naive fleet of the same run. */
const GOALS = {
  /** Peak attempts/s (1 s and 100 ms windows) in every phase, as a share of the naive fleet's. */
  peakShareOfNaive: 0.25,
  /** After the restart: the last device ready within this (stated for a 5 s outage). */
  allReadyMs: 10_000,
  /** After the restart: 90 % of the devices ready within this. */
  readyP90Ms: 5_000,
} as const;

interface Goal {
  readonly what: string;
  readonly value: string;
  readonly goal: string;
  readonly ok: boolean;
}

const PHASES: ReadonlyArray<{
  readonly key: keyof RestartPhases;
  readonly what: string;
  readonly gated: boolean;
}> = [
  { key: 'outageFirst', what: `outage, first ${OUTAGE_FIRST_MS / 1000} s`, gated: true },
  { key: 'outageRest', what: 'outage, the rest', gated: true },
  { key: 'after', what: 'after the restart', gated: true },
  { key: 'whole', what: 'all (windows across phases)', gated: false },
];

/** The restart report: naive, the policy before §6 and the shipped one, side by side; returns the goals. */
function restartTable(
  n: RestartResult,
  b: RestartResult,
  j: RestartResult,
  cfg: ConnectionConfig,
  emit: (line: string) => void,
): Goal[] {
  const goals: Goal[] = [];
  const row = (what: string, cells: readonly string[]): void =>
    emit(`  ${what.padEnd(46)}${cells.map((c, i) => c.padStart(i < 3 ? 12 : 15)).join('')}`);
  row('', ['naive 1 s', 'before', 'shipped', 'before/naive', 'shipped/naive', '']);
  emit('  peak attempts/s, by phase');
  for (const p of PHASES) {
    for (const [window, pick] of [
      ['1 s', (r: RestartResult) => r.phases[p.key].peak1s],
      ['100 ms', (r: RestartResult) => r.phases[p.key].peak100ms],
    ] as const) {
      const [vn, vb, vj] = [pick(n), pick(b), pick(j)];
      const share = vn > 0 ? vj / vn : vj > 0 ? Number.POSITIVE_INFINITY : 0;
      const ok = share <= GOALS.peakShareOfNaive;
      const verdict = p.gated ? (ok ? 'PASS' : 'FAIL') : '(info)';
      row(`    ${p.what}, ${window} window`, [f1(vn), f1(vb), f1(vj), ratio(vb, vn), ratio(vj, vn), verdict]);
      if (p.gated)
        goals.push({
          what: `peak attempts/s ${p.what}, ${window} window`,
          value: `${f1(vj)} = ${share.toFixed(2)} of naive ${f1(vn)}`,
          goal: `≤ ${GOALS.peakShareOfNaive} of naive`,
          ok,
        });
    }
  }
  row('  attempts per device: outage / after', [
    `${n.outageAttemptsPerDevice.toFixed(1)}/${n.afterAttemptsPerDevice.toFixed(1)}`,
    `${b.outageAttemptsPerDevice.toFixed(1)}/${b.afterAttemptsPerDevice.toFixed(1)}`,
    `${j.outageAttemptsPerDevice.toFixed(1)}/${j.afterAttemptsPerDevice.toFixed(1)}`,
  ]);
  emit('  after the restart');
  const allOk = j.toAllReadyMs <= GOALS.allReadyMs;
  row('    time to 100 % ready [s]', [
    s(n.toAllReadyMs),
    s(b.toAllReadyMs),
    s(j.toAllReadyMs),
    ratio(b.toAllReadyMs, n.toAllReadyMs),
    ratio(j.toAllReadyMs, n.toAllReadyMs),
    allOk ? 'PASS' : 'FAIL',
  ]);
  goals.push({
    what: 'time to 100 % ready after the restart',
    value: `${s(j.toAllReadyMs)} s`,
    goal: `≤ ${s(GOALS.allReadyMs)} s`,
    ok: allOk,
  });
  const p90Ok = j.readyP90Ms <= GOALS.readyP90Ms;
  row('    ready p90 [s]', [
    s(n.readyP90Ms),
    s(b.readyP90Ms),
    s(j.readyP90Ms),
    '',
    '',
    p90Ok ? 'PASS' : 'FAIL',
  ]);
  goals.push({
    what: 'ready p90 after the restart',
    value: `${s(j.readyP90Ms)} s`,
    goal: `≤ ${s(GOALS.readyP90Ms)} s`,
    ok: p90Ok,
  });
  row('    ready p50 [s]', [s(n.readyP50Ms), s(b.readyP50Ms), s(j.readyP50Ms)]);
  row('    first → last attempt [s]', [s(n.spreadMs), s(b.spreadMs), s(j.spreadMs)]);
  row('  reconnected', [
    `${n.reconnected}/${n.devices}`,
    `${b.reconnected}/${b.devices}`,
    `${j.reconnected}/${j.devices}`,
  ]);
  row('  down time measured [s]', [s(n.downMs), s(b.downMs), s(j.downMs)]);
  const seen = (r: RestartResult): string => `${s(r.closeSeenMs.first)}–${s(r.closeSeenMs.last)}`;
  row('  close seen by the devices, after the stop [s]', [seen(n), seen(b), seen(j)]);
  row('  event-loop delay p99/max [ms]', [
    `${f1(n.loop.p99Ms)}/${f1(n.loop.maxMs)}`,
    `${f1(b.loop.p99Ms)}/${f1(b.loop.maxMs)}`,
    `${f1(j.loop.p99Ms)}/${f1(j.loop.maxMs)}`,
  ]);
  const retries = [n, b, j].map((r) => r.startRetries);
  if (retries.some((r) => r > 0)) emit(`  (retries while the fleets first connected: ${retries.join(', ')})`);
  emit(
    `  phases by the time of the attempt: from the stop to ${OUTAGE_FIRST_MS / 1000} s after the first device saw its close,`,
  );
  emit('  the rest of the outage, and from the new server listening; peak = the busiest window anywhere');
  emit('  inside the phase.');
  emit('  naive: fixed 1 s, no jitter. before: routine reconnect within 1 s, then full jitter 0.5 → 30 s');
  emit(
    `  from the first refusal. shipped: a phase over routineReconnectMs (${s(cfg.routineReconnectMs)} s) after the`,
  );
  emit(
    `  routine close, then that period while refused (restartRetryForMs ${s(cfg.restartRetryForMs)} s), core/backoff.ts.`,
  );
  return goals;
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

async function main(): Promise<boolean> {
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
  const goals: Goal[] = [];
  try {
    if (o.only.has('restart')) {
      // One after the other on the same server, each fleet its own Device-Ids.
      const run = (kind: FleetKind, firstId: number): Promise<RestartResult> =>
        withFleet(makeFleet(kind, o, server.url, firstId), (f) => restartScenario(server, f, o.downMs));
      // Not reported: the first fleet in a process pays for the JIT (ws, the supervisor, the
      // server); a lockstep fleet measured cold smears its own burst over that lag.
      const warm = makeFleet(
        'naive',
        { ...o, devices: Math.min(o.devices, 100) },
        server.url,
        1 + 4 * o.devices,
      );
      await withFleet(warm, (f) => connectAll(f));
      const n = await run('naive', 1 + o.devices);
      const b = await run('before', 1 + 2 * o.devices);
      const shippedFleet = makeFleet('shipped', o, server.url, 1);
      const cfg = shippedFleet.config;
      const j = await withFleet(shippedFleet, (f) => restartScenario(server, f, o.downMs));
      result.restart = { downMs: o.downMs, naive: n, before: b, shipped: j };
      if (!o.json) {
        out('');
        out(
          `RESTART  server stopped (sessions closed 1001), down ${s(o.downMs)} s, started again on the same port`,
        );
      }
      // In --json the table is not printed; its goals are the same.
      goals.push(...restartTable(n, b, j, cfg, o.json ? () => undefined : out));
    }
    if (o.only.has('auth')) {
      const fleet = makeFleet('shipped', o, server.url, 1 + 3 * o.devices);
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
  result.goals = goals;
  const missed = goals.filter((g) => !g.ok);
  if (o.json) out(JSON.stringify(result, null, 2));
  else {
    if (goals.length > 0) {
      out('');
      out(
        `GOALS    issue 13 §6 (shipped vs naive, this run): ${goals.length - missed.length}/${goals.length} met`,
      );
      for (const g of goals)
        out(`  ${g.ok ? 'PASS' : 'FAIL'}  ${g.what.padEnd(52)} ${g.value.padEnd(26)} goal ${g.goal}`);
    }
    out(`(${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  return missed.length === 0;
}

main().then(
  (ok) => process.exit(ok ? 0 : 1),
  (err: unknown) => {
    // A scenario that could not finish (a device not back within its bound, a server that did not
    // start) is a goal missed too: the run fails.
    process.stderr.write(`bench:fleet: ${describeError(err)}\n`);
    process.exit(1);
  },
);
