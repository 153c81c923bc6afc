import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectionSchema } from '../../src/config/schema.js';
import { ManualClock } from '../../src/core/clock.js';
import { seededRandom } from '../../src/core/random.js';
import type { CredentialSource, Credentials } from '../../src/session/credentials.js';
import type { LinkLoss } from '../../src/session/session-port.js';
import { SessionSupervisor } from '../../src/session/supervisor.js';
import { captureLogger } from '../fakes/capture-logger.js';
import { type FakeConnection, fakeConnector } from '../fakes/fake-connection.js';

class TestCredentials implements CredentialSource {
  refreshes: string[] = [];
  next: Credentials | undefined;
  constructor(public creds: Credentials) {}
  current(): Credentials {
    return this.creds;
  }
  async refresh(reason: string): Promise<Credentials> {
    this.refreshes.push(reason);
    if (this.next) this.creds = this.next;
    return this.creds;
  }
}

function setup(overrides: Record<string, unknown> = {}) {
  const clock = new ManualClock(1000);
  const fc = fakeConnector();
  const { log, lines } = captureLogger();
  const creds = new TestCredentials({ url: 'ws://x/xiaozhi/v1/', token: 'tok' });
  const sup = new SessionSupervisor({
    connector: fc.connector,
    credentials: creds,
    identity: { deviceId: 'aa:bb:cc:dd:ee:ff', clientId: '11111111-2222-4333-8444-555555555555' },
    config: connectionSchema.parse(overrides),
    clock,
    random: seededRandom(1),
    log,
  });
  const losses: LinkLoss[] = [];
  sup.on('lost', (l) => losses.push(l));
  return { clock, fc, sup, creds, lines, losses };
}

const flush = () => new Promise<void>((r) => setImmediate(r));

/** Advances time while the peer answers every ping. */
function live(s: ReturnType<typeof setup>, c: FakeConnection, ms: number) {
  for (let t = 0; t < ms; t += 500) {
    s.clock.advance(Math.min(500, ms - t));
    c.emit('pong');
  }
}

function readyUp(s: ReturnType<typeof setup>, sid = 'sid-1') {
  const c = s.fc.last();
  c.serverOpen();
  c.serverHello(sid);
  assert.equal(s.sup.state, 'ready');
  return c;
}

test('headers, hello first, session_id echoed', () => {
  const s = setup();
  s.sup.start();
  const c = s.fc.last();
  assert.deepEqual(c.request.headers, {
    'Protocol-Version': '1',
    'Device-Id': 'aa:bb:cc:dd:ee:ff',
    'Client-Id': '11111111-2222-4333-8444-555555555555',
    Authorization: 'Bearer tok',
  });
  assert.equal(c.request.maxPayloadBytes, 1024 * 1024);
  c.serverOpen();
  assert.equal(s.sup.state, 'handshaking');
  assert.equal(
    s.sup.send({ type: 'listen', state: 'start', mode: 'auto' }),
    false,
    'nothing but hello before the server hello',
  );
  assert.deepEqual(c.texts, [
    {
      type: 'hello',
      version: 1,
      features: {},
      transport: 'websocket',
      audio_params: { format: 'opus', sample_rate: 16000, channels: 1, frame_duration: 60 },
    },
  ]);
  c.serverText({ type: 'hello', transport: 'udp' });
  assert.equal(s.sup.state, 'handshaking', 'a hello of another transport is ignored');
  c.serverHello('S-42');
  assert.equal(s.sup.state, 'ready');
  assert.equal(s.sup.send({ type: 'listen', state: 'start', mode: 'auto' }), true);
  assert.deepEqual(c.texts.at(-1), { session_id: 'S-42', type: 'listen', state: 'start', mode: 'auto' });
});

test('empty token: no Authorization header', () => {
  const s = setup();
  s.creds.creds = { url: 'ws://x/', token: '' };
  s.sup.start();
  assert.equal('Authorization' in s.fc.last().request.headers, false);
});

test('seed bug: close 1005 right after hello, send at that instant → false, no throw, reconnect', async () => {
  const s = setup();
  s.sup.start();
  const c = readyUp(s);
  c.state = 'closing'; // the close frame arrived; ws reports CLOSING until the handshake ends
  assert.equal(s.sup.send({ type: 'listen', state: 'start', mode: 'auto' }), false);
  c.serverClose(1005);
  assert.equal(s.losses.length, 1);
  assert.equal(s.sup.state, 'backoff', 'a session that dies at its hello is backed off, not hammered');
  s.clock.advance(s.clock.msToNext());
  assert.equal(s.fc.conns.length, 2);
  readyUp(s, 'sid-2');
  await flush();
});

test('hello timeout → fault → backoff → new connection object', () => {
  const s = setup();
  s.sup.start();
  const c = s.fc.last();
  c.serverOpen();
  live(s, c, 9999);
  assert.equal(s.sup.state, 'handshaking');
  s.clock.advance(1);
  assert.ok(c.terminated, 'terminate(), not close()');
  assert.equal(s.sup.state, 'backoff');
  assert.match(s.sup.detail, /no server hello/);
  s.clock.advance(500);
  assert.equal(s.fc.conns.length, 2);
  assert.notEqual(s.fc.last(), c);
});

test('heartbeat: silent peer terminated within ping interval + pong timeout', () => {
  const s = setup();
  s.sup.start();
  const c = readyUp(s);
  const t0 = s.clock.now();
  s.clock.advance(9000);
  assert.ok(c.terminated);
  assert.ok(s.clock.now() - t0 <= 9000);
  assert.equal(s.losses.length, 1);
  assert.equal(s.losses[0]?.routine, false);
  assert.match(s.losses[0]?.cause ?? '', /heartbeat timeout/);
});

test('routine close 1000 after a real session: quiet reconnect within routineReconnectMs, info log', () => {
  const s = setup();
  s.sup.start();
  const c = readyUp(s);
  live(s, c, 60_000);
  c.serverClose(1000);
  assert.deepEqual(s.losses, [{ cause: 'server closed 1000', routine: true }]);
  assert.equal(s.sup.state, 'backoff');
  assert.ok(
    s.clock.msToNext() < 5300,
    'within routineReconnectMs (the restart schedule: supervisor-restart.test.ts)',
  );
  s.clock.advance(5300);
  assert.equal(s.fc.conns.length, 2);
  const warn = s.lines.filter((l) => l.level >= 40);
  assert.equal(warn.length, 0, `no warnings: ${JSON.stringify(warn)}`);
});

test('on-demand mode: idle at start, connect on press, idle after a routine close', () => {
  const s = setup({ mode: 'on-demand' });
  s.sup.start();
  assert.equal(s.sup.state, 'idle');
  assert.equal(s.fc.conns.length, 0);
  s.sup.connectNow('button');
  const c = readyUp(s);
  live(s, c, 10_000);
  c.serverClose(1005);
  assert.equal(s.sup.state, 'idle');
  s.clock.advance(120_000);
  assert.equal(s.fc.conns.length, 1);
});

test('server down: delays grow, jittered, capped, never give up; a click connects at once', () => {
  // The exponential alone: refusals keep the restart schedule first (supervisor-restart.test.ts).
  const s = setup({ restartRetryForMs: 0 });
  s.sup.start();
  const delays: number[] = [];
  for (let i = 0; i < 30; i++) {
    const c = s.fc.last();
    c.emit('error', new Error('connect ECONNREFUSED 127.0.0.1:9'));
    c.serverClose(1006);
    assert.equal(s.sup.state, 'backoff');
    const d = s.clock.msToNext();
    delays.push(d);
    assert.ok(d < Math.min(30_000, 500 * 2 ** i), `delay ${i}: ${d}`);
    s.clock.advance(d);
  }
  assert.equal(s.fc.conns.length, 31);
  assert.ok(Math.max(...delays.slice(10)) > 5000, 'later delays are long');
  assert.equal(s.sup.detail, 'ws://x/xiaozhi/v1/', 'STATUS names where it connects to');
  const c = s.fc.last();
  c.serverClose(1006);
  assert.equal(s.sup.state, 'backoff');
  s.clock.advance(600);
  const before = s.fc.conns.length;
  s.sup.connectNow('button');
  assert.equal(s.fc.conns.length, before + 1, 'the press does not wait for the timer');
});

test('backoff resets only after a connection stayed ready for 30 s', () => {
  const s = setup({ backoffBaseMs: 1000 });
  s.sup.start();
  for (let i = 0; i < 5; i++) {
    s.fc.last().serverClose(1006);
    s.clock.advance(s.clock.msToNext());
  }
  const c = readyUp(s);
  live(s, c, 31_000);
  c.serverClose(1006);
  const d = s.clock.msToNext();
  assert.ok(d < 1000, `after a reset the ceiling is the base again: ${d}`);
});

test('xinnan auth failure (text 认证失败 + 1000) → credentials refreshed at once, before the next attempt', async () => {
  const s = setup();
  s.creds.next = { url: 'ws://y/', token: 'fresh' };
  s.sup.start();
  const c = s.fc.last();
  c.serverOpen();
  c.serverText('认证失败');
  c.serverClose(1000);
  assert.equal(s.sup.state, 'connecting', 'refreshing: no backoff wait (supervisor-reauth.test.ts)');
  await flush();
  assert.equal(s.creds.refreshes.length, 1);
  const c2 = s.fc.last();
  assert.notEqual(c2, c);
  assert.equal(c2.request.headers.Authorization, 'Bearer fresh');
  assert.equal(c2.request.url, 'ws://y/');
});

test('HTTP 401 on upgrade → refresh; 500 → plain fault', async () => {
  const s = setup();
  s.sup.start();
  let c = s.fc.last();
  c.emit('rejected', 500);
  c.serverClose(1006);
  s.clock.advance(s.clock.msToNext());
  await flush();
  assert.equal(s.creds.refreshes.length, 0);
  c = s.fc.last();
  c.emit('rejected', 401);
  c.serverClose(1006);
  s.clock.advance(s.clock.msToNext());
  await flush();
  assert.equal(s.creds.refreshes.length, 1);
});

test('a send that fails on an open socket is a fault', async () => {
  const s = setup();
  s.sup.start();
  const c = readyUp(s);
  c.sendError = new Error('EPIPE');
  assert.equal(s.sup.send({ type: 'abort' }), true);
  await flush();
  assert.ok(c.terminated);
  assert.equal(s.sup.state, 'backoff');
});

test('audio is dropped and counted past the bufferedAmount bound', () => {
  const s = setup();
  s.sup.start();
  const c = readyUp(s);
  assert.equal(s.sup.sendAudio(Buffer.alloc(100)), true);
  c.bufferedAmount = 65 * 1024;
  assert.equal(s.sup.sendAudio(Buffer.alloc(100)), false);
  assert.equal(s.sup.stats.audioDropped, 1);
  assert.equal(s.sup.stats.audioSent, 1);
});

test('long press: close, refresh, reconnect now without backoff', async () => {
  const s = setup();
  s.sup.start();
  const c = readyUp(s);
  s.sup.reconnectFresh('long press');
  assert.equal(s.sup.state, 'closing');
  assert.deepEqual(c.closedWith, { code: 1000, reason: 'reconnect' });
  s.clock.advance(1000); // the peer never answers the close: terminated after the grace
  assert.ok(c.terminated);
  await flush();
  assert.equal(s.creds.refreshes.length, 1);
  assert.equal(s.fc.conns.length, 2);
  assert.equal(s.sup.state, 'connecting');
});

test('malformed frames while ready are ignored and do not change state', () => {
  const s = setup();
  s.sup.start();
  const c = readyUp(s);
  const seen: string[] = [];
  s.sup.on('message', (m) => seen.push(m.type));
  for (const g of ['garbage', '[1]', '{"type":"bogus"}', '{"type":"tts"}', '7', '{}']) c.serverText(g);
  c.serverText({ type: 'stt', text: 'ok' });
  assert.equal(s.sup.state, 'ready');
  assert.deepEqual(seen, ['stt']);
});

test('stop closes with 1000 and leaves no timers', async () => {
  const s = setup();
  s.sup.start();
  const c = readyUp(s);
  const p = s.sup.stop();
  assert.deepEqual(c.closedWith, { code: 1000, reason: 'shutdown' });
  c.serverClose(1000);
  await p;
  assert.equal(s.sup.state, 'stopped');
  assert.equal(s.clock.pending, 0);
  s.sup.connectNow('button');
  assert.equal(s.fc.conns.length, 1, 'stopped is final only for the daemon being shut down');
});

test('a new network address retries a pending backoff at once, and does nothing when ready', () => {
  const s = setup();
  s.sup.start();
  for (let i = 0; i < 8; i++) {
    s.fc.last().serverClose(1006);
    if (i < 7) s.clock.advance(s.clock.msToNext());
  }
  assert.equal(s.sup.state, 'backoff');
  s.clock.advance(600);
  const before = s.fc.conns.length;
  s.sup.networkChanged('address wlan0 192.168.1.7');
  assert.equal(s.fc.conns.length, before + 1);
  readyUp(s);
  s.sup.networkChanged('address eth0 10.0.0.2');
  assert.equal(s.fc.conns.length, before + 1);
});

test('a credential refresh that never answers is bounded; stop during a refresh leaves no timer', async () => {
  const s = setup();
  s.creds.refresh = (reason: string) => {
    s.creds.refreshes.push(reason);
    return new Promise<Credentials>(() => undefined); // an OTA server that never answers
  };
  s.sup.start();
  readyUp(s);
  s.sup.reconnectFresh('long press');
  s.fc.conns[0]?.serverClose(1000);
  assert.equal(s.sup.state, 'connecting');
  assert.equal(s.fc.conns.length, 1, 'waiting for the refresh');
  s.clock.advance(10_000);
  assert.equal(s.fc.conns.length, 2, 'gave up waiting after handshakeTimeoutMs, old credentials');
  s.sup.reconnectFresh('long press again');
  s.fc.last().serverClose(1006);
  await s.sup.stop();
  assert.equal(s.clock.pending, 0);
});

test('a token refused again and again: refreshes (OTA requests) at most once per refreshMinIntervalMs', async () => {
  const s = setup({ backoffBaseMs: 100, backoffCapMs: 200 });
  s.sup.start();
  const refreshAt: number[] = [];
  for (let i = 0; i < 40; i++) {
    const c = s.fc.last();
    c.serverOpen();
    c.serverText('认证失败');
    c.serverClose(1000);
    const before = s.creds.refreshes.length;
    s.clock.advance(s.clock.msToNext());
    await flush();
    if (s.creds.refreshes.length > before) refreshAt.push(s.clock.now());
  }
  assert.ok(refreshAt.length >= 3, `${refreshAt.length} refreshes`);
  const gaps = refreshAt.slice(1).map((t, i) => t - (refreshAt[i] ?? 0));
  assert.ok(
    gaps.every((g) => g >= 10_000),
    `refresh gaps ${gaps.join(', ')} ms (backoff alone would allow ≤ 200 ms)`,
  );
});
