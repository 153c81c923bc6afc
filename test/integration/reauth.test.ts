/**
 * Re-authentication at once (issue 12 §4), against the real dev-server with token auth and OTA,
 * the real daemon composition with the real OTA credential source (bench/reauth.ts, the `reauth`
 * part of `npm run bench` with 10 devices): the server restarts with a NEW auth key after an
 * outage that grew the device's backoff; the device hears `认证失败`, refreshes from OTA and is
 * ready again. The bound asserted is the re-authentication itself, refusal → ready (one OTA
 * request and one handshake: tens of ms on loopback); before the fix the device waited out its
 * backoff there (a full-jitter delay from a ceiling of seconds). The time from the server
 * listening to the refusal is the restart policy's own wait (bench `restart`), random by design,
 * so it is reported, not asserted.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { measureReauth } from '../../bench/reauth.js';

/** Refusal → ready: generous against a loaded CI machine, far below any backoff delay it replaced. */
const REAUTH_BOUND_MS = 500;

test('server restarted with a new auth key → 认证失败 → OTA refresh at once → ready (3 devices)', {
  timeout: 60_000,
}, async (t) => {
  // Shipped defaults except a shorter settle window (authFailureWindowMs), so the test is short.
  const r = await measureReauth({ runs: 3, downMs: 2000, connection: { authFailureWindowMs: 300 } });
  const s = (ms: number) => (ms / 1000).toFixed(2);
  t.diagnostic(
    `ready after listening [s]: ${r.runs.map((x) => s(x.readyMs)).join(' ')}; discovery ${r.runs.map((x) => s(x.discoveryMs)).join(' ')}; ` +
      `refusal → ready ${r.runs.map((x) => s(x.reauthMs)).join(' ')} (outage ${s(r.outageMs)} s)`,
  );
  for (const run of r.runs) {
    assert.equal(run.refusals, 1, 'one refusal, one E_AUTH_REJECTED line');
    assert.equal(run.refreshes, 1, 'one OTA refresh');
    assert.ok(run.tokenChanged, 'the device connects with the token OTA issued under the new key');
    assert.ok(run.discoveryMs >= 0, `the refusal came after the server listened (${run.discoveryMs} ms)`);
    assert.ok(
      run.reauthMs <= REAUTH_BOUND_MS,
      `refusal → ready ${run.reauthMs} ms ≤ ${REAUTH_BOUND_MS} ms: no backoff wait before the refresh`,
    );
  }
});
