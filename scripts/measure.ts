/**
 * `npm run measure`: the link numbers the README reports, with the shipped connection defaults,
 * real `ws` against the dev-server through the fault proxy (bench/link.ts; never asserted in tests).
 *  - dead-peer detection: 10 devices, each blackholed at its own phase; vs pingIntervalMs + pongTimeoutMs.
 *  - server restart → ready: 20 devices, the server down 1 s; vs the reconnect policy's model.
 *  - re-auth: 10 devices, the server down 2 s, back with a new auth key; OTA refresh → ready
 *    (bench/reauth.ts; issue 12 §4: median ≤ 1.5 s after the server listens).
 * `npm run bench` runs this same script as a child (`--json`) for its DEAD-PEER, RESTART and REAUTH parts.
 *
 *   node dist/scripts/measure.js [--only dead-peer,restart,reauth] [--reauth-down-ms 2000] [--json]
 *                                [--dead-peer-devices 10] [--restart-devices 20] [--reauth-devices 10]
 * (fewer devices: the bench's short form, `npm run bench -- --short`.)
 */
import { parseArgs } from 'node:util';
import { type DeadPeerResult, measureDeadPeer, measureRestart, type RestartResult } from '../bench/link.js';
import { measureReauth, type ReauthResult } from '../bench/reauth.js';
import { describeError } from '../src/core/errors.js';

const s = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
const list = (xs: readonly number[]): string =>
  [...xs]
    .sort((a, b) => a - b)
    .map((x) => (x / 1000).toFixed(2))
    .join(' ');

function printDeadPeer(r: DeadPeerResult): void {
  console.log(
    `dead-peer detection (ping ${s(r.pingIntervalMs)}, pong timeout ${s(r.pongTimeoutMs)}), ${r.runs} runs [s]: ${list(r.timesMs)}`,
  );
  console.log(
    `  median ${s(r.medianMs)} (expected at a random phase ${s(r.expectedMedianMs)}), max ${s(r.maxMs)} (bound ${s(r.boundMs)}: ${(r.maxMs / r.boundMs).toFixed(2)}× of it)`,
  );
}

function printRestart(r: RestartResult): void {
  console.log(`server restart (${s(r.downMs)} down) → ready, ${r.devices} devices [s]: ${list(r.timesMs)}`);
  console.log(
    `  median ${s(r.medianMs)}, max ${s(r.maxMs)}; measured outage (close → listening) ${s(r.outageMs)}`,
  );
  console.log(
    `  policy model (routine ≤ ${s(r.routineReconnectMs)}, then every ${s(r.routineReconnectMs)} while refused; faults: full jitter ${s(r.backoffBaseMs)}…${s(r.backoffCapMs)}): p50 ${s(r.model.p50Ms)}, p95 ${s(r.model.p95Ms)}, p99 ${s(r.model.p99Ms)};`,
  );
  console.log(
    `  the slowest of ${r.model.devices}: median ${s(r.model.maxP50Ms)}, p99 ${s(r.model.maxP99Ms)} → measured median ${(r.medianMs / r.model.p50Ms).toFixed(2)}× model, max ${(r.maxMs / r.model.maxP50Ms).toFixed(2)}× model`,
  );
}

function printReauth(r: ReauthResult): void {
  const runs = r.runs;
  console.log(
    `server restart with a new auth key (${s(r.downMs)} down) → ready, ${runs.length} devices [s]: ${list(runs.map((x) => x.readyMs))}`,
  );
  console.log(
    `  median ${s(r.medianMs)}, max ${s(r.maxMs)}; of it: listening → 认证失败 median ${s(r.discoveryMedianMs)} (the restart policy's wait: model p50 ${s(r.model.p50Ms)} for the measured outage ${s(r.outageMs)}),`,
  );
  console.log(
    `  认证失败 → ready (OTA refresh + handshake) median ${s(r.reauthMedianMs)}, max ${s(r.reauthMaxMs)}; E_AUTH_REJECTED lines per device ${runs.map((x) => x.refusals).join(' ')}`,
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string', default: 'dead-peer,restart,reauth' },
      json: { type: 'boolean', default: false },
      'reauth-down-ms': { type: 'string', default: '2000' },
      'dead-peer-devices': { type: 'string', default: '10' },
      'restart-devices': { type: 'string', default: '20' },
      'reauth-devices': { type: 'string', default: '10' },
    },
  });
  const only = new Set(values.only.split(','));
  const count = (name: string, v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`--${name} must be a whole number ≥ 1, got ${v}`);
    return n;
  };
  const deadPeerDevices = count('dead-peer-devices', values['dead-peer-devices']);
  const restartDevices = count('restart-devices', values['restart-devices']);
  const deadPeer = only.has('dead-peer') ? await measureDeadPeer(deadPeerDevices) : undefined;
  if (deadPeer && !values.json) printDeadPeer(deadPeer);
  const restart = only.has('restart') ? await measureRestart(restartDevices, 1000) : undefined;
  if (restart && !values.json) printRestart(restart);
  const reauth = only.has('reauth')
    ? await measureReauth({
        runs: count('reauth-devices', values['reauth-devices']),
        downMs: Number(values['reauth-down-ms']),
      })
    : undefined;
  if (reauth && !values.json) printReauth(reauth);
  // One line for the bench: {"deadPeer": …, "restart": …, "reauth": …}.
  if (values.json) process.stdout.write(`${JSON.stringify({ deadPeer, restart, reauth })}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`measure: ${describeError(err)}\n`);
    process.exit(1);
  },
);
