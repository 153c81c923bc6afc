/**
 * Re-authentication at once (issue 12 §4) and the refused-send line (§3), driven by the manual
 * clock and the scripted connection: a refused token is refreshed without waiting out the backoff
 * an outage built, bounded only by refreshMinIntervalMs; fresh credentials refused again back off;
 * one refusal is one log line.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectionSchema } from '../../src/config/schema.js';
import { ManualClock } from '../../src/core/clock.js';
import { seededRandom } from '../../src/core/random.js';
import type { CredentialSource, Credentials } from '../../src/session/credentials.js';
import { SessionSupervisor } from '../../src/session/supervisor.js';
import { captureLogger, type LogLine } from '../fakes/capture-logger.js';
import { type FakeConnection, fakeConnector } from '../fakes/fake-connection.js';

/** Every refresh hands out a new token, as an OTA endpoint does (a new timestamp, or a new key). */
class OtaLikeCredentials implements CredentialSource {
  readonly refreshes: { reason: string; at: number }[] = [];
  #creds: Credentials = { url: 'ws://x/xiaozhi/v1/', token: 'tok-0' };
  constructor(private readonly clock: ManualClock) {}
  current(): Credentials {
    return this.#creds;
  }
  async refresh(reason: string): Promise<Credentials> {
    this.refreshes.push({ reason, at: this.clock.now() });
    this.#creds = { url: this.#creds.url, token: `tok-${this.refreshes.length}` };
    return this.#creds;
  }
}

function setup(overrides: Record<string, unknown> = {}) {
  const clock = new ManualClock(1000);
  const fc = fakeConnector();
  const { log, lines } = captureLogger();
  const creds = new OtaLikeCredentials(clock);
  const config = connectionSchema.parse(overrides);
  const sup = new SessionSupervisor({
    connector: fc.connector,
    credentials: creds,
    identity: { deviceId: 'aa:bb:cc:dd:ee:ff', clientId: '11111111-2222-4333-8444-555555555555' },
    config,
    clock,
    random: seededRandom(3),
    log,
  });
  return { clock, fc, sup, creds, lines, config };
}
type Setup = ReturnType<typeof setup>;

/** Lets the credential source's promise settle (it resolves in a microtask, no time passes). */
const flush = () => new Promise<void>((r) => setImmediate(r));

/** Advances time while the peer answers every ping. */
function live(s: Setup, c: FakeConnection, ms: number): void {
  for (let t = 0; t < ms; t += 500) {
    s.clock.advance(Math.min(500, ms - t));
    c.emit('pong');
  }
}

function readyUp(s: Setup, sid = 'sid-1'): FakeConnection {
  const c = s.fc.last();
  c.serverOpen();
  c.serverHello(sid);
  assert.equal(s.sup.state, 'ready');
  return c;
}

/** xinnan's in-band refusal (protocol.md §2.5): upgrade, hello, `认证失败`, close 1000. */
function refuse(c: FakeConnection): void {
  c.serverOpen();
  c.serverText('认证失败');
  c.serverClose(1000);
}

/** A settled session, then the server goes away: `failures` refused connects (ECONNREFUSED). */
function outage(s: Setup, failures: number): void {
  s.sup.start();
  const c = readyUp(s);
  live(s, c, 60_000);
  c.serverClose(1001); // the server stops: a routine close of a settled session
  s.clock.advance(s.clock.msToNext());
  for (let i = 0; i < failures; i++) {
    const dead = s.fc.last();
    dead.emit('error', new Error('connect ECONNREFUSED 127.0.0.1:8000'));
    dead.serverClose(1006);
    assert.equal(s.sup.state, 'backoff');
    s.clock.advance(s.clock.msToNext());
  }
}

const mentions = (lines: readonly LogLine[], text: string) =>
  lines.filter((l) => JSON.stringify(l).includes(text));

test('a refusal after a long outage: the refresh starts at once and the next attempt follows it at once', async () => {
  const s = setup();
  outage(s, 8); // the backoff ceiling is at its 30 s cap by now
  const attemptsBefore = s.fc.conns.length;
  const t = s.clock.now();
  refuse(s.fc.last()); // the server is back, with a new auth_key
  assert.equal(s.creds.refreshes.length, 1, 'refresh started at the refusal, no timer in between');
  assert.equal(s.creds.refreshes[0]?.at, t);
  assert.equal(s.sup.state, 'connecting');
  await flush();
  assert.equal(s.fc.conns.length, attemptsBefore + 1, 'the next attempt right after the refresh');
  assert.equal(s.clock.now(), t, 'no time passed: no backoff delay on top');
  const c = s.fc.last();
  assert.equal(c.request.headers.Authorization, 'Bearer tok-1', 'with the fresh token');
  readyUp(s, 'sid-2');
});

test('HTTP 401 on the upgrade is refreshed at once the same way', async () => {
  const s = setup();
  outage(s, 6);
  const c = s.fc.last();
  c.emit('rejected', 401);
  c.serverClose(1006);
  assert.equal(s.creds.refreshes.length, 1);
  await flush();
  assert.equal(s.fc.last().request.headers.Authorization, 'Bearer tok-1');
  readyUp(s);
});

test('a refusal within refreshMinIntervalMs of the last refresh waits exactly until that floor', async () => {
  const s = setup();
  s.sup.start();
  readyUp(s);
  const refreshedAt = s.clock.now();
  s.sup.reconnectFresh('long press');
  s.fc.conns[0]?.serverClose(1000);
  await flush();
  assert.equal(s.creds.refreshes.length, 1);
  const c = readyUp(s, 'sid-2');
  live(s, c, 4000);
  c.serverClose(1000); // a routine close after 4 s
  s.clock.advance(s.clock.msToNext());
  refuse(s.fc.last());
  const floor = refreshedAt + s.config.refreshMinIntervalMs;
  assert.equal(s.sup.state, 'backoff');
  assert.equal(s.clock.msToNext(), floor - s.clock.now(), 'the wait is the floor, not more');
  const conns = s.fc.conns.length;
  s.clock.advance(s.clock.msToNext() - 1);
  assert.equal(s.creds.refreshes.length, 1, 'not before the floor');
  s.clock.advance(1);
  assert.equal(s.creds.refreshes.length, 2);
  assert.equal(s.creds.refreshes[1]?.at, floor);
  await flush();
  assert.equal(s.fc.conns.length, conns + 1, 'and the attempt right after it');
  assert.equal(s.clock.now(), floor);
});

test('fresh credentials refused again: backed off, every wait at least the floor and bounded', async () => {
  const s = setup();
  outage(s, 8);
  refuse(s.fc.last());
  await flush();
  const waits: number[] = [];
  for (let i = 0; i < 25; i++) {
    refuse(s.fc.last()); // the token OTA just handed out is refused too
    assert.equal(s.sup.state, 'backoff', `refusal ${i + 2} is backed off`);
    waits.push(s.clock.msToNext());
    s.clock.advance(s.clock.msToNext());
    await flush();
  }
  const { refreshMinIntervalMs: floor, backoffCapMs: cap } = s.config;
  assert.ok(
    waits.every((w) => w > 0 && w <= Math.max(cap, floor)),
    `every wait in (0, ${Math.max(cap, floor)}]: ${waits.join(', ')}`,
  );
  const at = s.creds.refreshes.map((r) => r.at);
  const gaps = at.slice(1).map((t, i) => t - (at[i] ?? 0));
  assert.ok(
    gaps.every((g) => g >= floor),
    `refreshes at most once per ${floor} ms: ${gaps.join(', ')}`,
  );
  assert.ok(
    waits.some((w) => w > floor),
    `the backoff (cap ${cap} ms) draws past the floor too: ${waits.join(', ')}`,
  );
  // A session that works ends the streak: the next refusal is a stale token again, refreshed at once
  // (the floor allows it: the last refresh was ≥ 10 s ago).
  readyUp(s, 'sid-ok');
  const c = s.fc.last();
  live(s, c, 60_000);
  c.serverClose(1001);
  s.clock.advance(s.clock.msToNext());
  const n = s.creds.refreshes.length;
  refuse(s.fc.last());
  assert.equal(s.creds.refreshes.length, n + 1, 'refreshed at once after a ready session');
});

test('one refusal, one log line: an error with the server text, the code and the cause', async () => {
  const s = setup();
  outage(s, 3);
  const from = s.lines.length;
  refuse(s.fc.last());
  await flush();
  refuse(s.fc.last()); // refused again: backed off, still one line
  const lines = s.lines.slice(from);
  const about = mentions(lines, '认证失败');
  assert.equal(about.length, 2, `one line per refusal: ${JSON.stringify(about)}`);
  for (const l of about) {
    assert.equal(l.level, 50);
    assert.equal(l.code, 'E_AUTH_REJECTED');
    assert.equal(l.said, '认证失败');
    assert.match(String(l.cause), /server said "认证失败" and closed 1000/);
    assert.match(l.msg, /^server refused our credentials/);
  }
  assert.match(about[0]?.msg ?? '', /refreshing them now/);
  assert.match(about[1]?.msg ?? '', /again after a refresh/);
  assert.deepEqual(
    lines.filter((l) => l.level >= 40 && l.level < 50),
    [],
    'no warning besides: the frame was not logged as ignored as well',
  );
  assert.equal(
    lines.filter((l) => l.level >= 50).length,
    2,
    'and no second error (E_AUTH_REJECTED once per refusal)',
  );
});

test('pre-hello text not followed by an auth close is logged once: before a hello, before a hello timeout', () => {
  const s = setup();
  s.sup.start();
  let c = s.fc.last();
  c.serverOpen();
  c.serverText('welcome, stranger');
  c.serverHello();
  assert.equal(s.sup.state, 'ready', 'a chatty server that then says hello is fine');
  let seen = mentions(s.lines, 'welcome, stranger');
  assert.equal(seen.length, 1);
  assert.equal(seen[0]?.level, 40);
  c.terminate();
  s.clock.advance(s.clock.msToNext());
  c = s.fc.last();
  c.serverOpen();
  c.serverText('busy, try later');
  live(s, c, s.config.helloTimeoutMs);
  assert.equal(s.sup.state, 'backoff', 'a hello timeout is a fault, not a refused token');
  seen = mentions(s.lines, 'busy, try later');
  assert.equal(seen.length, 1, `logged once: ${JSON.stringify(seen)}`);
  assert.equal(s.creds.refreshes.length, 0);
});

test('a send refused while the link says ready names the socket state that refused it (§3)', () => {
  const s = setup();
  s.sup.start();
  const c = readyUp(s);
  c.state = 'closing'; // the server's close frame arrived; ws reports CLOSING until the TCP close
  assert.equal(s.sup.send({ type: 'listen', state: 'start', mode: 'auto' }), false);
  const refused = s.lines.filter((l) => l.msg.startsWith('send refused'));
  assert.equal(refused.length, 1);
  assert.equal(refused[0]?.link, 'ready');
  assert.equal(refused[0]?.socket, 'closing');
  assert.equal(refused[0]?.type, 'listen');
  assert.match(refused[0]?.msg ?? '', /the server is closing the connection/);
  // Audio: the first refused frame of a run says why; the next ones are only counted.
  for (let i = 0; i < 5; i++) assert.equal(s.sup.sendAudio(Buffer.alloc(10)), false);
  const audio = s.lines.filter((l) => l.msg.startsWith('audio refused'));
  assert.equal(audio.length, 1, JSON.stringify(audio));
  assert.equal(audio[0]?.socket, 'closing');
  assert.match(audio[0]?.msg ?? '', /the server is closing the connection/);
  assert.equal(s.sup.stats.audioDropped, 5);
  c.serverClose(1000);
  assert.equal(s.sup.send({ type: 'abort' }), false);
  const last = s.lines.filter((l) => l.msg.startsWith('send refused')).at(-1);
  assert.equal(last?.link, 'backoff');
  assert.match(last?.msg ?? '', /link backoff/);
});

test('a send refused during our own close says so', () => {
  const s = setup();
  s.sup.start();
  readyUp(s);
  s.sup.reconnectFresh('long press');
  assert.equal(s.sup.send({ type: 'abort' }), false);
  const line = s.lines.filter((l) => l.msg.startsWith('send refused')).at(-1);
  assert.equal(line?.link, 'closing');
});
