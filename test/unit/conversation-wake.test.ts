/**
 * The wake word as one more input of the conversation (wake.ts, issue 14 "Behaviour"): what goes on
 * the wire and in what order (protocol.md §5.1, §11.10), per state, with the invariants checked
 * after every step.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OpusDecoder, OpusEncoder } from '../../src/audio/opus.js';
import { conversationSchema } from '../../src/config/schema.js';
import { Conversation, type TurnTimeline } from '../../src/conversation/conversation.js';
import type { ConversationState } from '../../src/conversation/conversation-state.js';
import { WAKE_AUDIO_FRAMES } from '../../src/conversation/wake.js';
import { ManualClock } from '../../src/core/clock.js';
import type { LinkState } from '../../src/session/session-port.js';
import { captureLogger } from '../fakes/capture-logger.js';
import { FakeSource, MemorySink } from '../fakes/fake-audio.js';
import { FakeSession } from '../fakes/fake-session.js';
import { detection, wakeAudio } from '../fakes/fake-wake-word.js';

const ERROR = 50;

interface Options {
  readonly link?: LinkState;
  readonly duringSpeech?: boolean;
  readonly mode?: 'toggle' | 'push-to-talk';
}

function setup(o: Options = {}) {
  const clock = new ManualClock(1000);
  const session = new FakeSession();
  session.state = o.link ?? 'ready';
  const source = new FakeSource();
  const sink = new MemorySink();
  const encoder = new OpusEncoder({ complexity: 5 });
  const decoder = new OpusDecoder(24000);
  const config = conversationSchema.parse({ buttonMode: o.mode ?? 'toggle' });
  const { log, lines } = captureLogger();
  const conv = new Conversation({
    session,
    source,
    sink,
    encoder,
    decoder,
    clock,
    config,
    log,
    wakeWord: { duringSpeech: o.duringSpeech ?? false },
  });
  const turns: TurnTimeline[] = [];
  conv.on('turn', (t) => turns.push(t));
  conv.start();
  const check = (state: ConversationState): void => {
    conv.assertInvariants();
    assert.equal(conv.state, state);
  };
  const done = (): void => {
    conv.stop();
    encoder.delete();
    decoder.delete();
  };
  return { clock, session, source, sink, conv, lines, turns, check, done };
}

type Harness = ReturnType<typeof setup>;

/** 1.5 s of wake audio in 60 ms frames. */
const WAKE_PACKETS = 25;
const OPENING = [...Array<string>(WAKE_PACKETS).fill('audio'), 'listen detect', 'listen start auto'];

function toSpeaking(h: Harness): void {
  h.conv.input('click');
  for (let i = 0; i < 3; i++) h.source.emitFrame();
  h.session.stt('hello');
  h.session.tts('start');
  h.check('speaking');
  h.session.clearSent();
}

test('idle and connected: wake audio as Opus, then listen detect with the phrase, then listen start (auto); listening at once', () => {
  const h = setup();
  h.check('idle');
  h.conv.wake(detection({ phrase: '你好小智' }));
  h.check('listening');
  assert.deepEqual(h.session.wire, OPENING);
  assert.ok(
    h.session.audio.every((p) => p.length > 0 && p.length < 1920),
    'Opus packets, not PCM',
  );
  const detect = h.session.sent.find((m) => m.type === 'listen' && m.state === 'detect');
  assert.deepEqual(detect, { type: 'listen', state: 'detect', text: '你好小智' });
  // The wake audio already ends at the detection: the pre-roll would repeat its last syllables.
  assert.deepEqual(h.source.prerolls, [false]);
  assert.equal(h.source.running, true);
  h.source.emitFrame();
  h.check('listening');
  assert.equal(h.session.wire.at(-1), 'audio', 'what is said after the wake word streams');
  h.done();
});

test('a full wake turn: the reply to the detect is taken, the timeline says wake, auto listens again', () => {
  const h = setup();
  h.conv.wake(detection());
  h.clock.advance(300);
  h.session.stt('嘿，你好呀'); // xinnan answers a wake-word detect with its greeting (protocol.md §5.1)
  h.check('listening');
  h.clock.advance(100);
  h.session.tts('start');
  h.check('speaking');
  h.clock.advance(900);
  h.session.tts('stop');
  h.sink.drain();
  h.check('listening');
  assert.equal(h.turns.length, 1);
  const t = h.turns[0];
  assert.equal(t?.trigger, 'wake');
  assert.equal(t?.mode, 'auto');
  assert.equal(t?.outcome, 'reply');
  assert.equal(t?.framesSent, WAKE_PACKETS);
  assert.deepEqual(t?.milestones, {
    firstFrameSent: 0,
    detect: 0,
    stt: 300,
    ttsStart: 400,
    ttsStop: 1300,
    playedOut: 1300,
  });
  assert.equal(h.session.sentKinds().at(-1), 'listen start auto', 'auto mode listens again after the reply');
  h.done();
});

test('offline: the wake word connects now; on ready the opening goes out whole, then what was said meanwhile', () => {
  const h = setup({ link: 'backoff' });
  h.check('offline');
  h.conv.wake(detection());
  h.check('connecting');
  assert.deepEqual(h.session.connectNowCalls, ['wake word']);
  assert.deepEqual(h.session.wire, [], 'nothing before the hello');
  assert.deepEqual(h.source.prerolls, [false]);
  for (let i = 0; i < 3; i++) h.source.emitFrame();
  h.check('connecting');
  h.clock.advance(700);
  h.session.becomeReady();
  h.check('listening');
  assert.deepEqual(h.session.wire, [...OPENING, 'audio', 'audio', 'audio']);
  h.conv.input('click'); // cancel: the turn ends and reports
  assert.equal(h.turns[0]?.trigger, 'wake');
  assert.equal(h.turns[0]?.milestones.connected, 700);
  assert.equal(h.turns[0]?.framesSent, WAKE_PACKETS + 3);
  h.done();
});

test('on-demand at rest (link idle): the wake word opens the connection', () => {
  const h = setup({ link: 'idle' });
  h.check('idle');
  h.conv.wake(detection());
  h.check('connecting');
  assert.deepEqual(h.session.connectNowCalls, ['wake word']);
  assert.equal(h.session.state, 'connecting');
  h.session.becomeReady();
  h.check('listening');
  assert.deepEqual(h.session.wire, OPENING);
  h.done();
});

test('a stale session is renewed first, as for a press; the opening goes on the fresh one', () => {
  const h = setup();
  h.session.staleWhenReady = true;
  h.conv.wake(detection());
  h.check('connecting');
  assert.equal(h.session.renewCalls.length, 1);
  assert.deepEqual(h.session.wire, []);
  h.session.becomeReady('sid-2');
  h.check('listening');
  assert.deepEqual(h.session.wire, OPENING);
  h.done();
});

test('the link dies under the opening: the turn waits, and the next session gets the whole opening again', () => {
  const h = setup();
  h.session.sendResult = false; // the seed bug: messages fail on a socket already closed
  h.conv.wake(detection());
  h.check('connecting');
  assert.equal(h.session.refused.length, 1, 'listen detect was refused');
  h.session.clearSent();
  h.session.sendResult = true;
  h.session.becomeReady('sid-2');
  h.check('listening');
  assert.deepEqual(h.session.wire, OPENING);
  h.done();
});

test('connecting with a pending press: the wake word adds nothing but a connect-now', () => {
  const h = setup({ link: 'backoff' });
  h.conv.input('click');
  h.check('connecting');
  h.conv.wake(detection());
  h.check('connecting');
  assert.deepEqual(h.session.connectNowCalls, ['button', 'wake word']);
  h.session.becomeReady();
  h.check('listening');
  assert.deepEqual(h.session.wire, ['listen start auto'], "the press's turn, no detect");
  h.done();
});

test('listening: ignored, nothing sent (the firmware does not listen for it there)', () => {
  const h = setup();
  h.conv.input('click');
  h.session.clearSent();
  h.conv.wake(detection());
  h.check('listening');
  assert.deepEqual(h.session.wire, []);
  assert.equal(h.turns.length, 0, 'the turn goes on');
  h.done();
});

test('speaking, duringSpeech off: a detection still in flight is ignored, the reply plays on', () => {
  const h = setup();
  toSpeaking(h);
  h.conv.wake(detection());
  h.check('speaking');
  assert.deepEqual(h.session.wire, []);
  assert.equal(h.sink.aborts, 0);
  h.done();
});

test('speaking, duringSpeech on: abort with reason wake_word_detected, playback flushed, listening (no detect)', () => {
  const h = setup({ duringSpeech: true });
  toSpeaking(h);
  const starts = h.source.starts;
  h.conv.wake(detection());
  h.check('listening');
  assert.deepEqual(h.session.wire, ['abort wake_word_detected', 'listen start auto']);
  assert.equal(h.sink.aborts, 1, 'playback flushed at once (protocol.md §11.11)');
  assert.equal(h.source.starts, starts + 1);
  assert.equal(h.source.prerolls.at(-1), false, "no pre-roll: it holds the device's own voice");
  assert.equal(h.turns.at(-1)?.outcome, 'barge-in');
  h.conv.input('click');
  assert.equal(h.turns.at(-1)?.trigger, 'wake');
  h.done();
});

test('speaking while the reply plays out, duringSpeech on: the tail is cut, nothing to abort, listening', () => {
  const h = setup({ duringSpeech: true });
  toSpeaking(h);
  h.session.tts('stop');
  h.check('speaking'); // playing out
  h.conv.wake(detection());
  h.check('listening');
  assert.deepEqual(h.session.wire, ['listen start auto']);
  assert.equal(h.turns.at(-1)?.outcome, 'reply');
  h.done();
});

test('activating: the wake word skips the wait, as a press does', () => {
  const h = setup();
  h.conv.setActivating('123456');
  h.check('activating');
  h.conv.wake(detection());
  h.check('idle');
  assert.equal(h.conv.activationCode, undefined);
  assert.deepEqual(h.session.wire, []);
  h.done();
});

test('error display: the wake word ends it and starts its turn, as a press does', () => {
  const h = setup();
  h.conv.input('click');
  h.clock.advance(30_000); // listen deadline → error
  h.check('error');
  h.session.clearSent();
  h.conv.wake(detection());
  h.check('listening');
  assert.deepEqual(h.session.wire, OPENING);
  h.done();
});

test('push-to-talk button mode: a wake word still listens in auto mode (nobody releases a wake word)', () => {
  const h = setup({ mode: 'push-to-talk' });
  h.conv.wake(detection());
  h.check('listening');
  assert.equal(h.session.wire.at(-1), 'listen start auto');
  h.done();
});

test('wake audio is bounded and aligned to the detection; bad audio still sends the detect, and its reply counts', () => {
  const long = setup();
  long.conv.wake(detection({ audio: wakeAudio(5000) }));
  assert.equal(long.session.audio.length, WAKE_AUDIO_FRAMES, 'at most 2 s');
  long.done();

  const partial = setup();
  partial.conv.wake(detection({ audio: wakeAudio(1530) })); // 25.5 frames: the oldest half frame goes
  assert.equal(partial.session.audio.length, 25);
  partial.done();

  const odd = setup();
  odd.conv.wake(detection({ audio: Buffer.alloc(1001) }));
  odd.check('listening');
  assert.deepEqual(odd.session.wire, ['listen detect', 'listen start auto']);
  assert.ok(
    odd.lines.some((l) => l.level >= ERROR && /not 16-bit samples/.test(l.msg ?? '')),
    'a clear logged error',
  );
  // No audio went out, but the server answers the detect itself: not a stale reply.
  odd.session.stt('嘿，你好呀');
  odd.session.tts('start');
  odd.check('speaking');
  odd.done();
});

test('before start and after stop the wake word does nothing', () => {
  const h = setup();
  h.conv.stop();
  h.conv.wake(detection());
  assert.equal(h.conv.state, 'offline');
  assert.deepEqual(h.session.wire, []);
  h.done();
});
