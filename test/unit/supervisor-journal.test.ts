/**
 * The link's operator records (issue 13 §2): LinkUp / LinkDown on the moves to and from ready,
 * with the cause and its E_* code, and ReconnectFailing once per outage after N attempts or T ms.
 * ManualClock: no sleeps.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectionSchema } from '../../src/config/schema.js';
import { ManualClock } from '../../src/core/clock.js';
import { ErrorCode } from '../../src/core/errors.js';
import { seededRandom } from '../../src/core/random.js';
import { SessionSupervisor } from '../../src/session/supervisor.js';
import { MessageId } from '../../src/system/message-ids.js';
import { captureLogger, type LogLine } from '../fakes/capture-logger.js';
import { type FakeConnection, fakeConnector } from '../fakes/fake-connection.js';

function setup(overrides: Record<string, unknown> = {}) {
  const clock = new ManualClock(1000);
  const fc = fakeConnector();
  const { log, lines } = captureLogger();
  const sup = new SessionSupervisor({
    connector: fc.connector,
    credentials: {
      current: () => ({ url: 'ws://x/xiaozhi/v1/?token=secret', token: 'tok' }),
      refresh: async () => ({ url: 'ws://x/xiaozhi/v1/?token=secret', token: 'tok' }),
    },
    identity: { deviceId: 'aa:bb:cc:dd:ee:ff', clientId: '11111111-2222-4333-8444-555555555555' },
    config: connectionSchema.parse(overrides),
    clock,
    random: seededRandom(7),
    log,
  });
  const withId = (id: string): LogLine[] => lines.filter((l) => l.message_id === id);
  return { clock, fc, sup, lines, withId };
}

type Rig = ReturnType<typeof setup>;

function readyUp(s: Rig, sid = 'sid-1'): FakeConnection {
  const c = s.fc.last();
  c.serverOpen();
  c.serverHello(sid);
  assert.equal(s.sup.state, 'ready');
  return c;
}

/** The current attempt is refused at TCP level; then the retry timer fires. */
function refuse(s: Rig): void {
  const c = s.fc.last();
  c.emit('error', Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:8000'), { code: 'ECONNREFUSED' }));
  c.serverClose(1006);
  assert.equal(s.sup.state, 'backoff');
}

function retry(s: Rig): void {
  s.clock.advance(s.clock.msToNext());
}

test('LinkUp on → ready; LinkDown on ready → backoff with the cause, its code and how long it was up', () => {
  const s = setup();
  s.sup.start();
  readyUp(s);
  const up = s.withId(MessageId.LinkUp);
  assert.equal(up.length, 1);
  assert.equal(up[0]?.link_to, 'ready');
  assert.equal(up[0]?.outage_ms, undefined, 'the first ready ends no outage');
  s.clock.advance(4_000);
  s.fc.last().emit('pong');
  s.fc.last().serverClose(1006);
  const down = s.withId(MessageId.LinkDown);
  assert.equal(down.length, 1);
  assert.equal(down[0]?.link_from, 'ready');
  assert.equal(down[0]?.link_to, 'backoff');
  assert.equal(down[0]?.code, ErrorCode.ConnectionLost);
  assert.equal(down[0]?.reason, 'connection lost (1006)');
  assert.equal(down[0]?.session_ms, 4_000);
  // The failed attempt's own line names its code too (journalctl SPEAKERD_CODE=E_CONNECTION_LOST).
  const failed = s.lines.find((l) => l.msg === 'connection failed; backing off');
  assert.equal(failed?.code, ErrorCode.ConnectionLost);
  // Back after 3 s and two refused attempts: LinkUp says how long the link was out.
  s.clock.advance(s.clock.msToNext());
  refuse(s);
  retry(s);
  refuse(s);
  const outAt = 5_000; // the clock time (ManualClock starts at 1000) the link left ready
  const backAt = s.clock.now() + 3_000;
  s.clock.advance(3_000);
  readyUp(s, 'sid-2');
  const up2 = s.withId(MessageId.LinkUp).at(-1);
  assert.equal(up2?.outage_ms, backAt - outAt);
  assert.equal(up2?.failed_attempts, 2);
  // A heartbeat timeout is its own code.
  s.clock.advance(20_000);
  const hb = s.withId(MessageId.LinkDown).at(-1);
  assert.equal(hb?.code, ErrorCode.HeartbeatTimeout);
  assert.match(String(hb?.reason), /heartbeat timeout/);
});

test('a routine close is a LinkDown without an error code; a stop is one too', () => {
  const s = setup();
  s.sup.start();
  const c = readyUp(s);
  s.clock.advance(4_000); // past authFailureWindowMs: not a short session
  c.serverClose(1001);
  const down = s.withId(MessageId.LinkDown).at(-1);
  assert.equal(down?.code, undefined);
  assert.equal(down?.reason, 'server closed 1001');
  const routine = s.lines.find((l) => l.msg === 'server ended the session; reconnecting');
  assert.equal(routine?.close_code, 1001, 'a close code is close_code, never `code` (E_* only)');
  assert.equal(routine?.code, undefined);
  retry(s);
  readyUp(s);
  void s.sup.stop();
  assert.equal(s.withId(MessageId.LinkDown).at(-1)?.link_to, 'stopped');
});

test('ReconnectFailing: once after N failed attempts, with the count, the cause and the redacted URL', () => {
  const s = setup({ reconnectFailingAfterAttempts: 4, reconnectFailingAfterMs: 0 });
  s.sup.start();
  for (let i = 1; i <= 3; i++) {
    refuse(s);
    retry(s);
  }
  assert.equal(s.withId(MessageId.ReconnectFailing).length, 0, 'not after 3');
  refuse(s);
  const said = s.withId(MessageId.ReconnectFailing);
  assert.equal(said.length, 1, 'after the 4th');
  assert.equal(said[0]?.failed_attempts, 4);
  assert.equal(said[0]?.code, ErrorCode.ConnectFailed);
  assert.match(String(said[0]?.cause), /ECONNREFUSED/);
  assert.equal(said[0]?.level, 40, 'a warning');
  assert.doesNotMatch(JSON.stringify(said[0]), /secret/, 'the URL without its token');
  for (let i = 0; i < 20; i++) {
    retry(s);
    refuse(s);
  }
  assert.equal(s.withId(MessageId.ReconnectFailing).length, 1, 'once per outage');
  // A ready link in between: the next outage is said again.
  retry(s);
  readyUp(s).serverClose(1006);
  for (let i = 0; i < 4; i++) {
    retry(s);
    refuse(s);
  }
  assert.equal(s.withId(MessageId.ReconnectFailing).length, 2);
});

test('a device that never had a link: LinkUp after ReconnectFailing says how long it failed', () => {
  const s = setup({ reconnectFailingAfterAttempts: 3, reconnectFailingAfterMs: 0 });
  s.sup.start();
  const first = s.clock.now();
  for (let i = 0; i < 3; i++) {
    refuse(s);
    retry(s);
  }
  assert.equal(s.withId(MessageId.ReconnectFailing).length, 1);
  readyUp(s);
  const up = s.withId(MessageId.LinkUp)[0];
  assert.equal(up?.outage_ms, s.clock.now() - first);
  assert.equal(up?.failed_attempts, 3);
});

test('ReconnectFailing: after T ms of failing attempts, whichever comes first', () => {
  const s = setup({ reconnectFailingAfterAttempts: 0, reconnectFailingAfterMs: 60_000 });
  s.sup.start();
  const first = s.clock.now();
  let n = 0;
  let previousFailure = 0;
  for (;;) {
    // Each attempt hangs until the handshake times out: ws's handshakeTimeout, then 1006.
    s.clock.advance(10_000);
    refuse(s);
    n++;
    assert.ok(n < 100, 'said at last');
    if (s.withId(MessageId.ReconnectFailing).length > 0) break;
    previousFailure = s.clock.now() - first;
    retry(s);
  }
  const said = s.withId(MessageId.ReconnectFailing)[0];
  const forMs = Number(said?.failing_for_ms);
  assert.ok(forMs >= 60_000, `said once the attempts had failed for 60 s: ${forMs}`);
  assert.equal(forMs, s.clock.now() - first);
  assert.ok(previousFailure < 60_000, `not said at the failure before, ${previousFailure} ms in`);
  assert.equal(said?.failed_attempts, n);
});

const flush = () => new Promise<void>((r) => setImmediate(r));

test('ReconnectFailing counts refused tokens too; defaults are documented in the schema', async () => {
  const defaults = connectionSchema.parse({});
  assert.equal(defaults.reconnectFailingAfterAttempts, 8);
  assert.equal(defaults.reconnectFailingAfterMs, 60_000);
  const s = setup({ reconnectFailingAfterAttempts: 2, reconnectFailingAfterMs: 0, refreshMinIntervalMs: 0 });
  s.sup.start();
  for (let i = 0; i < 2; i++) {
    const c = s.fc.last();
    c.serverOpen();
    c.serverText('认证失败');
    c.serverClose(1000);
    // The refresh (a promise) runs, then the next attempt opens: now or after the backoff.
    await flush();
    if (s.fc.last() === c) s.clock.advance(s.clock.msToNext());
    await flush();
    assert.notEqual(s.fc.last(), c, 'a new attempt');
  }
  const said = s.withId(MessageId.ReconnectFailing);
  assert.equal(said.length, 1);
  assert.equal(said[0]?.code, ErrorCode.AuthRejected);
});
