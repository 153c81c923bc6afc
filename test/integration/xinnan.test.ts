/**
 * Issue 12 ("Against a real xiaozhi server"): the behaviours the xinnan server showed, against the
 * dev-server's xinnan-like semantics (src/devserver/: `listen stop` recognises what it has in every
 * mode; the no-voice timer with its farewell and its close right after `tts stop`), with the real
 * daemon composition and the real `ws` client (harness.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TurnTimeline } from '../../src/conversation/conversation.js';
import { seededRandom } from '../../src/core/random.js';
import { type Rig, rigPerTest } from './harness.js';

const open = rigPerTest();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('§1 20 cancels at random points of an utterance: no reply reaches the speaker, idle, the next click works', async (t) => {
  // xinnan's 700 ms of silence ends an utterance, and its recognition takes a while (asrDelayMs):
  // half the cancels land while the user speaks, half after the server's VAD has ended the
  // utterance and while it recognises it — there its answer comes whatever the device says.
  const r = await open({ server: { vadSilenceMs: 700, asrDelayMs: 1000 } });
  const random = seededRandom(12);
  const server = { listenStops: 0, aborts: 0, utterances: 0, ttsStarts: 0 };
  r.server.on('listen', (e) => {
    if (e.state === 'stop') server.listenStops++;
  });
  r.server.on('abort', () => server.aborts++);
  r.server.on('utterance', () => server.utterances++);
  r.server.on('tts-start', () => server.ttsStarts++);
  const streams0 = r.sink.streams;
  const bytes0 = r.sink.bytes;
  const at: string[] = [];
  for (let i = 0; i < 20; i++) {
    await r.until('idle and ready', () => r.link === 'ready' && r.daemon.conversation.state === 'idle');
    const utterances = server.utterances;
    r.daemon.input('click');
    await r.until('listening', () => r.daemon.conversation.state === 'listening', 2000);
    if (i % 2 === 0) {
      const wait = Math.round(random() * 1300);
      at.push(`+${wait}`);
      await sleep(wait);
    } else {
      await r.until('the server ended the utterance', () => server.utterances > utterances, 5000);
      // Within the recognition's 1000 ms, with room for a slow, busy CPU (npm run test:stress).
      const wait = Math.round(random() * 500);
      at.push(`vad+${wait}`);
      await sleep(wait);
    }
    assert.equal(
      r.daemon.conversation.state,
      'listening',
      `cancel ${i} (${at.at(-1)} ms) lands while listening`,
    );
    // Both cancel gestures of toggle mode: a click and a double click while listening.
    r.daemon.input(i % 4 < 2 ? 'click' : 'doubleClick');
    assert.equal(r.daemon.conversation.state, 'idle', `cancel ${i}: idle at once`);
    // Whatever the server still answers comes within its recognition time.
    await sleep(i % 2 === 0 ? 150 : 1100);
  }
  // The last cancel's answer, if the server recognised in time, may still be on its way on a busy
  // CPU (a fixed 500 ms here once missed it under test:stress): wait, bounded, for every reply the
  // server started to have its abort. A reply that is never refused still fails the asserts below.
  const settle = Date.now() + 3000;
  while (server.aborts < 20 + server.ttsStarts && Date.now() < settle) await sleep(50);
  await sleep(300);
  const refused = r.logs.filter((l) => /answers a cancelled utterance/.test(l.msg)).length;
  t.diagnostic(
    `cancels at ${at.join(', ')} ms; the server saw ${server.aborts} aborts, ${server.listenStops} listen stops, ` +
      `ended ${server.utterances} utterances and started ${server.ttsStarts} replies; the device refused ${refused} ` +
      `stt/tts start; replies played ${r.sink.streams - streams0}`,
  );
  assert.equal(r.sink.streams - streams0, 0, 'no reply reached the speaker');
  assert.equal(r.sink.bytes - bytes0, 0, 'not one sample');
  assert.equal(server.listenStops, 0, 'a cancel never sends listen stop (xinnan answers it)');
  assert.ok(
    server.ttsStarts >= 10,
    `the server did answer the cancels that raced its recognition (${server.ttsStarts})`,
  );
  assert.ok(
    server.aborts >= 20 + server.ttsStarts,
    'every cancel, and every late tts start, answered with abort',
  );
  assert.equal(r.daemon.conversation.state, 'idle');
  await r.fullTurn();
});

// ------------------------------------------------------------------ §2 the no-voice timer

/** xinnan's timer, short: 1.5 s without voice or TTS, backstop 60 s later (not reached here). */
const NO_VOICE = { noVoiceCloseMs: 1500, noVoiceCheckMs: 200 } as const;

/**
 * A click, a recognised utterance and its reply, auto mode listening again, a click to end it: like
 * Rig.fullTurn, but from any rest (on-demand rests with no connection).
 */
async function turnFromRest(r: Rig): Promise<void> {
  await r.until('at rest', () => r.daemon.conversation.state === 'idle');
  const outcomes: string[] = [];
  const onTurn = (t: TurnTimeline): void => {
    outcomes.push(`${t.outcome}${t.milestones.stt !== undefined ? '+stt' : ''}`);
  };
  r.daemon.on('turn', onTurn);
  try {
    r.daemon.input('click');
    await r.until('a reply to the recognised words', () => outcomes.includes('reply+stt'), 15_000);
    await r.until('listening again', () => r.daemon.conversation.state === 'listening', 10_000);
    r.daemon.input('click');
    await r.until('idle', () => r.daemon.conversation.state === 'idle');
  } finally {
    r.daemon.off('turn', onTurn);
  }
}

/** Counts the dev-server's farewells and the stt of real answers from now on. */
function watchServer(r: Rig) {
  const seen = { farewells: 0, stts: 0, connections: 0 };
  r.server.on('farewell', () => seen.farewells++);
  r.server.on('utterance', () => seen.stts++);
  r.server.on('connection', () => seen.connections++);
  return seen;
}

test('§2 persistent, idle past the server no-voice timer: the session was renewed, a press gets a real answer', async () => {
  const r = await open({ server: NO_VOICE, connection: { staleSessionMs: 1000 } });
  await r.ready();
  await r.until('idle', () => r.daemon.indicator?.name === 'idle');
  const seen = watchServer(r);
  const leds0 = r.leds.length;
  await sleep(2500);
  assert.ok(
    r.daemon.supervisor.stats.renewals >= 1,
    `renewed at rest (${r.daemon.supervisor.stats.renewals})`,
  );
  assert.equal(r.daemon.indicator?.name, 'idle', 'the person saw nothing of it');
  assert.deepEqual(r.ledNames(leds0), [], 'no LED change through the renewals');
  await r.fullTurn();
  assert.equal(seen.farewells, 0, 'no farewell');
  assert.ok(seen.stts >= 1, 'the utterance was recognised');
});

test('§2 control: without the renewal the same press gets the farewell (the dev-server bites like xinnan)', async () => {
  const r = await open({ server: NO_VOICE, connection: { staleSessionMs: 0 } });
  await r.ready();
  const seen = watchServer(r);
  const closes: number[] = [];
  r.server.on('closed', (e) => closes.push(e.code));
  await sleep(2000);
  r.daemon.input('click');
  await r.until('the farewell', () => seen.farewells === 1, 5000);
  // Seen by the server's event: the device reconnects within ms, quicker than a poll of its link.
  await r.until('the server closed after it', () => closes.includes(1000), 5000);
  assert.equal(seen.stts, 0, 'the words were never recognised');
});

test('§2 reconnect-on-press: no renewal at rest; the press on the stale session reconnects first and gets a real answer', async () => {
  const r = await open({
    server: NO_VOICE,
    connection: { staleSessionMs: 1000, staleSessionPolicy: 'reconnect-on-press' },
  });
  await r.ready();
  const seen = watchServer(r);
  await sleep(1300); // stale, but the server's timer has not run out: the device waits for a press
  assert.equal(r.daemon.supervisor.stats.renewals, 0);
  assert.equal(r.daemon.supervisor.stale, true);
  await r.fullTurn();
  assert.equal(r.daemon.supervisor.stats.renewals, 1, 'the press renewed it');
  assert.equal(seen.farewells, 0);
  assert.ok(seen.stts >= 1);
});

test('§2 on-demand: the socket kept after a turn is closed once stale; a later press connects fresh and gets a real answer', async () => {
  const r = await open({ server: NO_VOICE, connection: { mode: 'on-demand', staleSessionMs: 1000 } });
  const seen = watchServer(r);
  await turnFromRest(r);
  assert.equal(r.link, 'ready', 'on-demand keeps the socket after a turn, like the firmware');
  await r.until('the stale session closed at rest', () => r.link === 'idle', 3000);
  await sleep(1000);
  await turnFromRest(r);
  assert.equal(seen.farewells, 0);
  assert.ok(seen.stts >= 2);
});

test('§2 on-demand control: a press on the kept socket after the timer gets the farewell without the fix', async () => {
  const r = await open({ server: NO_VOICE, connection: { mode: 'on-demand', staleSessionMs: 0 } });
  const seen = watchServer(r);
  await turnFromRest(r);
  await sleep(2000);
  assert.equal(r.link, 'ready');
  r.daemon.input('click');
  await r.until('the farewell', () => seen.farewells === 1, 5000);
});
