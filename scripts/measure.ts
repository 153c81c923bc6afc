/**
 * `npm run measure`: the link numbers the README reports, with the shipped connection defaults,
 * real `ws` against the dev-server through the fault proxy (bench/link.ts; never asserted in tests).
 *  - dead-peer detection: 10 devices, each blackholed at its own phase; vs pingIntervalMs + pongTimeoutMs.
 *  - server restart → ready: 20 devices, the server down 1 s; vs the reconnect policy's model.
 * `npm run bench` runs this same script as a child (`--json`) for its DEAD-PEER and RESTART parts.
 *
 *   node dist/scripts/measure.js [--only dead-peer,restart] [--json]
 *                                [--dead-peer-devices 10] [--restart-devices 20]
 * (fewer devices: the bench's short form, `npm run bench -- --short`.)
 */
import { parseArgs } from 'node:util';
import { type DeadPeerResult, measureDeadPeer, measureRestart, type RestartResult } from '../bench/link.js';
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
    `  policy model (routine ≤ ${s(r.routineReconnectMs)}, then full jitter ${s(r.backoffBaseMs)}…${s(r.backoffCapMs)}): p50 ${s(r.model.p50Ms)}, p95 ${s(r.model.p95Ms)}, p99 ${s(r.model.p99Ms)};`,
  );
  console.log(
    `  the slowest of ${r.model.devices}: median ${s(r.model.maxP50Ms)}, p99 ${s(r.model.maxP99Ms)} → measured median ${(r.medianMs / r.model.p50Ms).toFixed(2)}× model, max ${(r.maxMs / r.model.maxP50Ms).toFixed(2)}× model`,
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string', default: 'dead-peer,restart' },
      json: { type: 'boolean', default: false },
      'dead-peer-devices': { type: 'string', default: '10' },
      'restart-devices': { type: 'string', default: '20' },
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
  // One line for the bench: {"deadPeer": …, "restart": …}.
  if (values.json) process.stdout.write(`${JSON.stringify({ deadPeer, restart })}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`measure: ${describeError(err)}\n`);
    process.exit(1);
  },
);
