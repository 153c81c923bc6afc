/**
 * "Proof at scale", part 2, in `npm test`: 50 real SessionSupervisors (real `ws` client, own
 * identities, seeded random per device so CI runs repeat) against one dev-server that is stopped
 * and started again on the same port; the same fleet simulation as `npm run bench:fleet`.
 *
 * Down time 5 s with the shipped policy: after ~5 s of refused attempts the devices' ceilings have
 * reached 4–16 s, so their first attempts after the restart spread over well more than 5 s (a
 * Monte Carlo of the policy puts the 50-device spread above 6 s in 999 of 1000 runs; the seeds
 * here give ~15 s). Every device is back within one backoff delay (< 30 s cap), so the test
 * stays under a minute even in its worst case.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { authScenario, GOOD_KEY, restartScenario } from '../../bench/fleet-scenarios.js';
import { Fleet, type FleetKind, FleetServer, type TokenIssuer } from '../../bench/fleet-sim.js';
import { signToken } from '../../src/devserver/index.js';

const DEVICES = 50;
const DOWN_MS = 5000;

const goodTokens: TokenIssuer = (clientId, deviceId) =>
  signToken(GOOD_KEY, clientId, deviceId, Math.floor(Date.now() / 1000));

async function withServer(run: (server: FleetServer) => Promise<void>): Promise<void> {
  const server = await FleetServer.start({ auth: { key: GOOD_KEY } });
  try {
    await run(server);
  } finally {
    await server.stop();
  }
}

async function withFleet<T>(fleet: Fleet, run: (f: Fleet) => Promise<T>): Promise<T> {
  try {
    return await run(fleet);
  } finally {
    await fleet.stop();
    assert.equal(
      fleet.count((d) => d.supervisor.state !== 'stopped'),
      0,
      'every supervisor stopped',
    );
  }
}

test(`fleet: ${DEVICES} devices, server down ${DOWN_MS / 1000} s: all back, jittered attempts spread, naive bursts`, {
  timeout: 60_000,
}, async (t) => {
  await withServer(async (server) => {
    const fleet = (kind: FleetKind, firstId: number): Fleet =>
      new Fleet({ kind, devices: DEVICES, url: server.url, firstId, seed: 1, issuer: goodTokens });
    const j = await withFleet(fleet('jittered', 1), (f) => restartScenario(server, f, DOWN_MS));
    const n = await withFleet(fleet('naive', 1 + DEVICES), (f) => restartScenario(server, f, DOWN_MS));
    t.diagnostic(
      `jittered: 100 % ready in ${j.toAllReadyMs.toFixed(0)} ms, attempts spread ${j.spreadMs.toFixed(0)} ms, ` +
        `peak ${j.peak1s}/s (100 ms: ${j.peak100ms}/s); naive: ${n.toAllReadyMs.toFixed(0)} ms, ` +
        `spread ${n.spreadMs.toFixed(0)} ms, peak ${n.peak1s}/s (100 ms: ${n.peak100ms}/s)`,
    );
    assert.equal(j.reconnected, DEVICES, 'every jittered device reconnected');
    assert.equal(n.reconnected, DEVICES, 'every naive device reconnected');
    assert.equal(j.startRetries, 0, 'the jittered fleet started from a fresh backoff');
    assert.ok(j.spreadMs >= 5000, `jittered attempts after the restart spread over ${j.spreadMs} ms (≥ 5 s)`);
    assert.ok(n.peak1s > j.peak1s, `naive peak ${n.peak1s}/s > jittered peak ${j.peak1s}/s`);
    assert.ok(n.peak100ms > j.peak100ms, `naive 100 ms peak ${n.peak100ms}/s > jittered ${j.peak100ms}/s`);
    assert.ok(j.toAllReadyMs < 30_000 + 5000, `every jittered device back within one capped delay`);
  });
});

test('fleet: auth refused for a while: refreshes bounded per device, all back once tokens are valid', {
  timeout: 30_000,
}, async (t) => {
  await withServer(async (server) => {
    // Shorter ceilings and refresh floor through ConnectionConfig (the policy is the same; the bench
    // runs the shipped ones: 500 ms → 30 s, a refresh at most every 10 s).
    const capMs = 500;
    const floorMs = 600;
    const rejectMs = 3000;
    const fleet = new Fleet({
      kind: 'jittered',
      devices: DEVICES,
      url: server.url,
      seed: 2,
      issuer: goodTokens,
      connection: { backoffBaseMs: 50, backoffCapMs: capMs, refreshMinIntervalMs: floorMs },
    });
    const a = await withFleet(fleet, (f) => authScenario(server, f, rejectMs));
    t.diagnostic(
      `refreshes/device/min ${a.meanOverall.toFixed(0)} (floor ${floorMs} ms), refused/device ${a.rejectedPerDevice.toFixed(1)}, ` +
        `100 % ready ${a.toAllReadyMs.toFixed(0)} ms after valid tokens`,
    );
    assert.equal(a.refreshStorms, 0, 'never more refreshes than refused attempts');
    assert.ok(a.rejectedPerDevice >= 3, 'the devices kept trying while refused');
    // A hard bound, not an average: no device refreshes more than once per floor, whatever the
    // jitter drew (session/supervisor.ts refreshMinIntervalMs).
    const hardPerMinute = 60_000 / floorMs;
    for (const worst of a.maxPerMinute) assert.ok(worst <= hardPerMinute + 1, `worst device ${worst}/min`);
    assert.equal(a.reconnected, DEVICES, 'every device ready again');
    assert.ok(a.toAllReadyMs < floorMs + capMs + 3000, `all ready ${a.toAllReadyMs} ms after the fix`);
  });
});
