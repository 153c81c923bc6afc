/**
 * Stale sessions (issue 12 §2): xinnan's no-voice timer (close_connection_no_voice_time, 120 s,
 * protocol.md §8.1 row 3) answers a press made after it ran out with a farewell and a close. The
 * supervisor sees a session as stale after connection.staleSessionMs with no downlink TTS audio
 * since it opened, and renews it at rest (persistent), leaves it for the press to renew
 * (reconnect-on-press), or closes it at rest (on-demand).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectionSchema } from '../../src/config/schema.js';
import { ManualClock } from '../../src/core/clock.js';
import { seededRandom } from '../../src/core/random.js';
import type { LinkLoss, LinkState } from '../../src/session/session-port.js';
import { SessionSupervisor } from '../../src/session/supervisor.js';
import { captureLogger } from '../fakes/capture-logger.js';
import { fakeConnector } from '../fakes/fake-connection.js';

const STALE_MS = 100_000;

function setup(overrides: Record<string, unknown> = {}) {
  const clock = new ManualClock(1000);
  const fc = fakeConnector();
  const { log, lines } = captureLogger();
  let atRest = true;
  const sup = new SessionSupervisor({
    connector: fc.connector,
    credentials: {
      current: () => ({ url: 'ws://x/xiaozhi/v1/', token: '' }),
      refresh: async () => ({ url: 'ws://x/xiaozhi/v1/', token: '' }),
    },
    identity: { deviceId: 'aa:bb:cc:dd:ee:ff', clientId: '11111111-2222-4333-8444-555555555555' },
    config: connectionSchema.parse(overrides),
    clock,
    random: seededRandom(1),
    log,
    atRest: () => atRest,
  });
  const losses: LinkLoss[] = [];
  sup.on('lost', (l) => losses.push(l));
  const states: LinkState[] = [];
  sup.on('state', (to) => states.push(to));
  /** Advances time in 500 ms steps while the current peer answers every ping. */
  const live = (ms: number): void => {
    for (let t = 0; t < ms; t += 500) {
      clock.advance(Math.min(500, ms - t));
      fc.last().emit('pong');
    }
  };
  const readyUp = (sid: string): void => {
    const c = fc.last();
    c.serverOpen();
    c.serverHello(sid);
  };
  const setAtRest = (v: boolean): void => {
    atRest = v;
  };
  return { clock, fc, sup, lines, losses, states, live, readyUp, setAtRest };
}

test('persistent: renewed at rest once staleSessionMs passes with no TTS audio; no loss reported, the link stays at rest', () => {
  const s = setup();
  s.sup.start();
  s.readyUp('sid-1');
  s.live(STALE_MS - 500);
  assert.equal(s.sup.state, 'ready');
  assert.equal(s.sup.stale, false);
  s.live(500);
  assert.equal(s.sup.state, 'renewing');
  const old = s.fc.conns[0];
  assert.deepEqual(old?.closedWith, { code: 1000, reason: 'session renewal' });
  old?.serverClose(1000);
  assert.equal(s.fc.conns.length, 2, 'a fresh attempt at once, no backoff');
  s.fc.last().serverOpen();
  assert.equal(s.sup.state, 'renewing', 'the fresh handshake is still the renewal');
  s.fc.last().serverHello('sid-2');
  assert.equal(s.sup.state, 'ready');
  assert.equal(s.sup.sessionId, 'sid-2');
  assert.deepEqual(s.losses, [], 'nothing was under way: no loss');
  assert.deepEqual(s.states, ['connecting', 'handshaking', 'ready', 'renewing', 'ready']);
  assert.equal(s.sup.stats.renewals, 1);
  // …and the fresh session's own clock starts at its attempt.
  s.live(STALE_MS - 500);
  assert.equal(s.sup.state, 'ready');
  s.live(500);
  assert.equal(s.sup.state, 'renewing');
});

test('downlink TTS audio keeps a session fresh; text and pongs do not', () => {
  const s = setup();
  s.sup.start();
  s.readyUp('sid-1');
  s.live(60_000);
  s.fc.last().emit('frame', Buffer.from([0xf8, 0xff, 0xfe]), true); // one Opus packet
  s.fc.last().serverText({ type: 'tts', state: 'stop' });
  s.live(STALE_MS - 500);
  assert.equal(s.sup.state, 'ready', 'counted from the audio packet, not from the attempt');
  assert.equal(s.sup.stale, false);
  s.live(500);
  assert.equal(s.sup.state, 'renewing');
});

test('never under a turn: a stale session waits until the device is at rest', () => {
  const s = setup();
  s.sup.start();
  s.readyUp('sid-1');
  s.setAtRest(false);
  s.live(STALE_MS + 5_000);
  assert.equal(s.sup.state, 'ready');
  assert.equal(s.sup.stale, true);
  s.setAtRest(true);
  s.live(1_000);
  assert.equal(s.sup.state, 'renewing', 'within a second of coming to rest');
});

test('reconnect-on-press: no renewal at rest; stale says so, and renew() replaces it', () => {
  const s = setup({ staleSessionPolicy: 'reconnect-on-press' });
  s.sup.start();
  s.readyUp('sid-1');
  s.live(STALE_MS * 2);
  assert.equal(s.sup.state, 'ready');
  assert.equal(s.fc.conns.length, 1);
  assert.equal(s.sup.stale, true);
  s.sup.renew('click on a stale session');
  assert.equal(s.sup.state, 'renewing');
  s.fc.conns[0]?.serverClose(1000);
  s.readyUp('sid-2');
  assert.equal(s.sup.state, 'ready');
  assert.equal(s.sup.stale, false);
  assert.ok(s.lines.some((l) => /renewing: click on a stale session/.test(l.msg ?? '')));
});

test('on-demand: a stale session is closed at rest, the link goes idle, the next press connects fresh', () => {
  const s = setup({ mode: 'on-demand' });
  s.sup.start();
  assert.equal(s.sup.state, 'idle');
  s.sup.connectNow('button');
  s.readyUp('sid-1');
  s.live(STALE_MS);
  assert.equal(s.sup.state, 'renewing');
  s.fc.conns[0]?.serverClose(1000);
  assert.equal(s.sup.state, 'idle');
  assert.equal(s.fc.conns.length, 1, 'no connection until a press wants one');
  assert.deepEqual(s.losses, []);
  s.sup.connectNow('button');
  assert.equal(s.fc.conns.length, 2);
});

test('a renewal whose fresh attempt fails takes the usual way to backoff', () => {
  const s = setup();
  s.sup.start();
  s.readyUp('sid-1');
  s.sup.renew('test');
  s.fc.conns[0]?.serverClose(1000);
  s.fc.last().serverClose(1006); // refused before the upgrade
  assert.equal(s.sup.state, 'backoff');
});

test('staleSessionMs 0 turns it off', () => {
  const s = setup({ staleSessionMs: 0 });
  s.sup.start();
  s.readyUp('sid-1');
  s.live(STALE_MS * 3);
  assert.equal(s.sup.state, 'ready');
  assert.equal(s.sup.stale, false);
  assert.equal(s.fc.conns.length, 1);
});
