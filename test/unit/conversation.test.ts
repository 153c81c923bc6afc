import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { OpusDecoder, OpusEncoder } from '../../src/audio/opus.js';
import { conversationSchema } from '../../src/config/schema.js';
import { Conversation, PENDING_FRAMES, type TurnTimeline } from '../../src/conversation/conversation.js';
import type { ConversationState } from '../../src/conversation/conversation-state.js';
import { ManualClock } from '../../src/core/clock.js';
import { ErrorCode, fault } from '../../src/core/errors.js';
import type { LinkState } from '../../src/session/session-port.js';
import { captureLogger } from '../fakes/capture-logger.js';
import { FakeSource, MemorySink, toneFrame } from '../fakes/fake-audio.js';
import { FakeSession } from '../fakes/fake-session.js';

const WARN = 40;
const INFO = 30;

// The downlink: real Opus packets (Opus decodes at any rate, protocol.md §4.3).
const packetEncoder = new OpusEncoder({ complexity: 5 });
const PACKET = packetEncoder.encode(toneFrame(6000, 300));
after(() => packetEncoder.delete());

interface Options {
  readonly mode?: 'toggle' | 'push-to-talk';
  readonly link?: LinkState;
}

function setup(options: Options = {}) {
  const clock = new ManualClock(1000);
  const session = new FakeSession();
  session.state = options.link ?? 'ready';
  const source = new FakeSource();
  const sink = new MemorySink();
  const encoder = new OpusEncoder({ complexity: 5 });
  const decoder = new OpusDecoder(24000);
  const config = conversationSchema.parse({ buttonMode: options.mode ?? 'toggle' });
  const { log, lines } = captureLogger();
  const conv = new Conversation({ session, source, sink, encoder, decoder, clock, config, log });
  const transitions: string[] = [];
  conv.on('state', (to, from) => transitions.push(`${from}→${to}`));
  const turns: TurnTimeline[] = [];
  conv.on('turn', (t) => turns.push(t));
  conv.start();
  const check = (state?: ConversationState): void => {
    conv.assertInvariants();
    if (state) assert.equal(conv.state, state);
    // Open iff speaking, except during a reply's play-out (assertInvariants ties the two).
    assert.equal(sink.open, conv.playbackOpen, 'the sink is open iff the conversation says so');
    if (conv.state !== 'listening' && conv.state !== 'connecting')
      assert.equal(source.running, false, 'mic off');
  };
  const done = (): void => {
    conv.stop();
    encoder.delete();
    decoder.delete();
  };
  return { clock, session, source, sink, config, conv, lines, transitions, turns, check, done };
}

type Harness = ReturnType<typeof setup>;

function warnings(h: Harness) {
  return h.lines.filter((l) => l.level >= WARN);
}

/** Click, speak `frames` frames, get stt + tts start: the device is speaking. */
function toSpeaking(h: Harness, frames = 3): void {
  h.conv.input(h.config.buttonMode === 'toggle' ? 'click' : 'press');
  for (let i = 0; i < frames; i++) h.source.emitFrame();
  if (h.config.buttonMode === 'push-to-talk') h.conv.input('release');
  h.session.stt('hello');
  h.session.tts('start');
  h.check('speaking');
}

test('start: ready link → idle, other links → offline, on-demand rest → idle', () => {
  const cases: [LinkState, ConversationState][] = [
    ['ready', 'idle'],
    ['idle', 'idle'],
    ['offline', 'offline'],
    ['backoff', 'offline'],
    ['connecting', 'offline'],
  ];
  for (const [link, state] of cases) {
    const h = setup({ link });
    h.check(state);
    h.done();
  }
});

test('toggle: click starts listening (auto), frames go out as Opus, a second click cancels (abort, never listen stop)', () => {
  const h = setup();
  h.conv.input('click');
  h.check('listening');
  assert.deepEqual(h.session.sentKinds(), ['listen start auto']);
  assert.equal(h.source.running, true);
  for (let i = 0; i < 5; i++) h.source.emitFrame();
  assert.equal(h.session.audio.length, 5);
  assert.ok(
    h.session.audio.every((p) => p.length > 0 && p.length < 1920),
    'Opus packets, not PCM',
  );
  h.conv.input('click');
  h.check('idle');
  assert.deepEqual(h.session.sentKinds(), ['listen start auto', 'abort']);
  assert.equal(h.source.running, false);
  assert.equal(h.turns.length, 1);
  assert.equal(h.turns[0]?.outcome, 'cancelled');
  assert.equal(h.turns[0]?.framesSent, 5);
  assert.ok(
    h.lines.some((l) => /click while listening: cancelled/.test(l.msg ?? '')),
    'the log says it was cancelled',
  );
  h.done();
});

test('toggle: a full turn, auto mode listens again after tts stop; timeline offsets are exact', () => {
  const h = setup();
  h.conv.input('click'); // t = 1000
  h.clock.advance(60);
  h.source.emitFrame(); // first frame +60
  h.clock.advance(1000);
  h.session.stt('turn on the light'); // +1060
  h.check('listening');
  assert.equal(h.source.running, false, 'uplink closed once the server has the utterance');
  h.clock.advance(100);
  h.session.tts('start'); // +1160
  h.check('speaking');
  assert.equal(h.sink.rate, 24000, 'played at the decoder rate');
  h.session.tts('sentence_start', 'OK.');
  h.clock.advance(50);
  h.session.serverAudio(PACKET); // +1210
  h.session.serverAudio(PACKET);
  assert.equal(h.sink.writes, 2);
  assert.equal(h.sink.totalBytes, 2 * 1440 * 2, '60 ms at 24 kHz per packet');
  assert.ok(h.sink.rms > 1000, `decoded audio is not silence (rms ${h.sink.rms})`);
  h.clock.advance(2000);
  h.session.tts('stop'); // +3210
  // The speaker still plays its tail: no listen start, mic off, until it has (protocol.md §6.1).
  h.check('speaking');
  assert.deepEqual(h.sink.calls, ['begin', 'write', 'write', 'end']);
  assert.deepEqual(h.session.sentKinds(), ['listen start auto']);
  assert.equal(h.source.running, false, 'the mic does not hear the tail');
  h.session.serverAudio(PACKET);
  assert.equal(h.sink.writes, 2, 'audio after tts stop is not played');
  h.clock.advance(120);
  h.sink.drain(); // +3330
  h.check('listening');
  assert.deepEqual(h.session.sentKinds(), ['listen start auto', 'listen start auto']);
  assert.equal(h.source.running, true, 'mic back on (protocol.md §11.9)');
  assert.deepEqual(
    h.source.prerolls,
    [true, false],
    'the follow-up does not send the pre-roll (our own voice)',
  );
  assert.equal(h.turns.length, 1);
  const t = h.turns[0];
  assert.ok(t);
  assert.equal(t.outcome, 'reply');
  assert.equal(t.trigger, 'click');
  assert.deepEqual(t.milestones, {
    firstFrameSent: 60,
    stt: 1060,
    ttsStart: 1160,
    firstAudio: 1210,
    ttsStop: 3210,
    playedOut: 3330,
  });
  assert.equal(t.packetsPlayed, 2);
  const turnLines = h.lines.filter((l) => l.msg.startsWith('turn '));
  assert.equal(turnLines.length, 1, 'one line per turn');
  assert.equal(turnLines[0]?.level, INFO);
  assert.match(
    turnLines[0]?.msg ?? '',
    /^turn click\/auto → reply: first frame \+60, stt \+1060, tts start \+1160, first audio \+1210, tts stop \+3210, played out \+3330/,
  );
  assert.deepEqual(h.transitions, [
    'offline→idle',
    'idle→listening',
    'listening→speaking',
    'speaking→listening',
  ]);
  h.done();
});

test('push-to-talk: press → listen manual, release → listen stop and wait, tts stop → idle', () => {
  const h = setup({ mode: 'push-to-talk' });
  h.conv.input('click'); // means nothing in push-to-talk mode
  h.check('idle');
  h.conv.input('press');
  h.check('listening');
  assert.equal(h.source.running, true);
  h.source.emitFrame();
  h.conv.input('press'); // held already: nothing new
  h.conv.input('release');
  h.check('listening');
  assert.equal(h.source.running, false, 'waiting for the reply with the mic off');
  assert.deepEqual(h.session.sentKinds(), ['listen start manual', 'listen stop']);
  h.conv.input('release'); // a second release ends nothing
  h.session.tts('start');
  h.check('speaking');
  h.session.serverAudio(PACKET);
  h.session.tts('stop');
  h.check('idle');
  assert.deepEqual(
    h.session.sentKinds(),
    ['listen start manual', 'listen stop'],
    'manual mode does not listen again',
  );
  assert.equal(h.turns[0]?.outcome, 'reply');
  assert.ok(h.turns[0]?.milestones.released !== undefined);
  h.done();
});

test('push-to-talk: a release with no prior press is ignored', () => {
  const h = setup({ mode: 'push-to-talk' });
  h.conv.input('release');
  h.check('idle');
  assert.deepEqual(h.session.sentKinds(), []);
  h.done();
});

test('toggle: click while speaking aborts, flushes playback at once, and listens again', () => {
  const h = setup();
  toSpeaking(h);
  h.session.serverAudio(PACKET);
  h.conv.input('click');
  h.check('listening');
  assert.deepEqual(h.session.sentKinds(), ['listen start auto', 'abort', 'listen start auto']);
  assert.deepEqual(h.sink.calls, ['begin', 'write', 'abort']);
  assert.equal(h.source.running, true);
  assert.equal(h.turns.at(-1)?.outcome, 'barge-in');
  // The server's tts stop answering the abort, and its leftover audio, change nothing.
  h.session.serverAudio(PACKET);
  h.session.tts('stop');
  h.check('listening');
  assert.equal(h.sink.writes, 1);
  assert.equal(h.conv.discardedPackets, 1);
  h.done();
});

test('a reply that crosses a new listen start (no audio sent yet in this turn) is not taken for its reply', () => {
  const h = setup();
  h.conv.input('click');
  h.conv.input('click'); // listen stop: the server may still answer what it had
  h.conv.input('click'); // a new turn, before that answer arrives
  h.session.stt('the old utterance');
  h.session.tts('start');
  h.session.serverAudio(PACKET);
  h.session.tts('stop');
  h.check('listening');
  assert.equal(h.source.running, true, 'the new turn still hears the user');
  assert.equal(h.sink.begins, 0, 'the stale reply is not played');
  // Once this turn's audio went out, the server's answers are this turn's.
  h.source.emitFrame();
  h.session.stt('the new utterance');
  h.session.tts('start');
  h.check('speaking');
  h.done();
});

test('push-to-talk: a late stt/tts of the cancelled turn does not close the mic under the held button', () => {
  const h = setup({ mode: 'push-to-talk' });
  h.conv.input('press');
  h.source.emitFrame();
  h.conv.input('release'); // listen stop: the server recognises the first utterance
  h.conv.input('press'); // 1 ms later the user presses again: a new turn, pre-roll out at once
  h.source.emitFrame();
  h.check('listening');
  // The answer to the first utterance arrives while the button is held.
  h.session.stt('the old utterance');
  h.session.tts('start');
  h.session.serverAudio(PACKET);
  h.session.tts('stop');
  h.check('listening');
  assert.equal(h.source.running, true, 'the mic stays open while the button is held');
  assert.equal(h.sink.begins, 0, 'the stale reply is not played');
  h.source.emitFrame();
  const sentBefore = h.session.audio.length;
  h.source.emitFrame();
  assert.equal(h.session.audio.length, sentBefore + 1, 'the uplink still carries the user');
  // The release asks for this turn's recognition; what comes after is this turn's reply.
  h.conv.input('release');
  h.session.stt('the new utterance');
  h.session.tts('start');
  h.check('speaking');
  h.session.serverAudio(PACKET);
  h.session.tts('stop');
  h.check('idle');
  assert.equal(h.sink.begins, 1);
  assert.equal(h.turns.at(-1)?.outcome, 'reply');
  h.done();
});

test('push-to-talk: press while speaking aborts, flushes, listens manual', () => {
  const h = setup({ mode: 'push-to-talk' });
  toSpeaking(h);
  h.conv.input('press');
  h.check('listening');
  assert.deepEqual(h.session.sentKinds().slice(-2), ['abort', 'listen start manual']);
  assert.equal(h.sink.calls.at(-1), 'abort');
  h.done();
});

test('listen deadline fires at exactly listenDeadlineMs, shows error for errorDisplayMs, then idle', () => {
  const h = setup();
  h.conv.input('click');
  h.clock.advance(h.config.listenDeadlineMs - 1);
  h.check('listening');
  h.clock.advance(1);
  h.check('error');
  assert.equal(h.source.running, false);
  assert.deepEqual(
    h.session.sentKinds(),
    ['listen start auto', 'abort'],
    'a stop path: abort, never listen stop',
  );
  const w = warnings(h);
  assert.equal(w.length, 1);
  assert.equal(w[0]?.code, ErrorCode.ListenDeadline);
  assert.match(w[0]?.msg ?? '', /listen deadline/);
  h.clock.advance(h.config.errorDisplayMs - 1);
  h.check('error');
  h.clock.advance(1);
  h.check('idle');
  assert.equal(h.turns[0]?.outcome, 'deadline');
  assert.equal(h.clock.pending, 0);
  h.done();
});

test('reply deadline after release fires at exactly replyDeadlineMs', () => {
  const h = setup({ mode: 'push-to-talk' });
  h.conv.input('press');
  h.clock.advance(5000);
  h.conv.input('release');
  h.clock.advance(h.config.replyDeadlineMs - 1);
  h.check('listening');
  h.clock.advance(1);
  h.check('error');
  assert.equal(warnings(h)[0]?.code, ErrorCode.ReplyDeadline);
  assert.equal(h.session.sentKinds().at(-1), 'abort');
  h.clock.advance(h.config.errorDisplayMs);
  h.check('idle');
  h.done();
});

test('stt turns the listen deadline into the reply deadline', () => {
  const h = setup();
  h.conv.input('click');
  h.source.emitFrame();
  h.clock.advance(20_000);
  h.session.stt('hi');
  h.clock.advance(h.config.replyDeadlineMs - 1);
  h.check('listening');
  h.clock.advance(1);
  h.check('error');
  assert.equal(warnings(h)[0]?.code, ErrorCode.ReplyDeadline);
  h.done();
});

test('speaking deadline restarts on every packet and fires at exactly speakingDeadlineMs', () => {
  const h = setup();
  toSpeaking(h);
  h.clock.advance(h.config.speakingDeadlineMs - 1000);
  h.session.serverAudio(PACKET);
  h.clock.advance(h.config.speakingDeadlineMs - 1);
  h.check('speaking');
  h.clock.advance(1);
  h.check('error');
  assert.equal(warnings(h)[0]?.code, ErrorCode.SpeakingDeadline);
  assert.equal(h.sink.calls.at(-1), 'abort');
  assert.equal(h.session.sentKinds().at(-1), 'abort');
  // The link went down meanwhile: the error ends in offline, not idle.
  h.session.lose();
  h.clock.advance(h.config.errorDisplayMs);
  h.check('offline');
  h.done();
});

/** Toggle mode, a reply heard and its tts stop received: the speaker plays out the tail. */
function toPlayOut(h: Harness): void {
  toSpeaking(h);
  h.session.serverAudio(PACKET);
  h.session.tts('stop');
  h.check('speaking');
  assert.equal(h.sink.open, false, 'the stream is ended, its tail plays');
}

test('play-out: tts start, audio and tts stop meanwhile change nothing; a late drained after a click neither', () => {
  const h = setup();
  toPlayOut(h);
  h.session.tts('start');
  h.session.serverAudio(PACKET);
  h.session.tts('stop');
  h.check('speaking');
  assert.equal(h.sink.begins, 1);
  assert.equal(h.sink.writes, 1);
  h.conv.input('click');
  h.check('listening');
  h.sink.drain(); // the aborted tail's, if a sink reported one: not ours any more
  h.check('listening');
  assert.equal(h.turns.length, 1);
  h.done();
});

test('play-out: a click silences the tail and listens at once (with the pre-roll), no abort sent', () => {
  const h = setup();
  toPlayOut(h);
  h.conv.input('click');
  h.check('listening');
  assert.equal(h.sink.calls.at(-1), 'abort');
  assert.deepEqual(h.session.sentKinds(), ['listen start auto', 'listen start auto']);
  assert.deepEqual(h.source.prerolls, [true, true], 'a click catches what was said with it');
  assert.equal(h.turns[0]?.outcome, 'reply');
  assert.equal(h.turns.at(-1)?.trigger, 'click');
  h.done();
});

test('play-out: a double click stops quietly; a loss ends it offline but the tail plays to its end; the reply still counts as one', () => {
  const h = setup();
  toPlayOut(h);
  h.conv.input('doubleClick');
  h.check('idle');
  assert.deepEqual(h.session.sentKinds(), ['listen start auto'], 'nothing under way on the server to abort');
  assert.equal(h.turns.at(-1)?.outcome, 'reply');
  const g = setup();
  toPlayOut(g);
  g.session.lose('server closed 1000', true);
  g.check('offline');
  assert.equal(g.sink.calls.at(-1), 'end', 'a complete reply is not cut by the close (issue §3)');
  assert.equal(g.turns.at(-1)?.outcome, 'reply');
  g.sink.drain();
  g.check('offline');
  assert.deepEqual(g.session.refused, [], 'no follow-up turn is attempted on the lost link');
  assert.equal(g.turns.length, 1, 'no phantom turn');
  assert.ok(g.lines.some((l) => l.msg === 'the reply played out (offline)'));
  h.done();
  g.done();
});

test('play-out: a speaker fault, or no drained within the speaking deadline, still listens again', () => {
  const h = setup();
  toPlayOut(h);
  h.sink.fail(fault(ErrorCode.AudioSink, 'aplay exited 1'));
  h.check('listening');
  assert.deepEqual(h.source.prerolls, [true, false]);
  h.done();
  const g = setup();
  toPlayOut(g);
  g.clock.advance(g.config.speakingDeadlineMs - 1);
  g.check('speaking');
  g.clock.advance(1);
  g.check('listening');
  assert.equal(g.sink.calls.at(-1), 'abort', 'the overdue tail is silenced');
  const w = warnings(g);
  assert.equal(w.length, 1);
  assert.equal(w[0]?.code, ErrorCode.AudioSink);
  assert.equal(g.turns[0]?.outcome, 'reply');
  g.done();
});

test('auto mode: nobody speaks after the reply → back to idle quietly, no error', () => {
  const h = setup();
  toSpeaking(h);
  h.session.tts('stop');
  h.sink.drain();
  h.check('listening');
  h.clock.advance(h.config.listenDeadlineMs);
  h.check('idle');
  assert.equal(warnings(h).length, 0);
  assert.equal(h.turns.at(-1)?.outcome, 'no-follow-up');
  assert.equal(
    h.session.sentKinds().at(-1),
    'abort',
    'xinnan would recognise the room noise of a listen stop',
  );
  h.done();
});

test('lost connection while listening stops the mic at once; routine loss is info, shows offline', () => {
  const h = setup();
  h.conv.input('click');
  h.source.emitFrame();
  h.session.lose('server closed 1005', true);
  h.check('offline');
  assert.equal(h.source.running, false);
  assert.equal(h.turns[0]?.outcome, 'lost');
  assert.equal(warnings(h).length, 0, 'a routine close is not an error');
  assert.ok(h.transitions.includes('listening→offline'));
  h.session.becomeReady();
  h.check('idle');
  h.done();
});

test('lost connection while speaking aborts playback at once', () => {
  const h = setup();
  toSpeaking(h);
  h.session.serverAudio(PACKET);
  h.session.lose('heartbeat timeout', false);
  h.check('offline');
  assert.equal(h.sink.calls.at(-1), 'abort');
  assert.equal(h.clock.pending, 0, 'no deadline left armed');
  h.done();
});

test('the link leaving ready without a lost event also ends the turn', () => {
  const h = setup();
  toSpeaking(h);
  h.session.setState('backoff', 'terminated');
  h.check('offline');
  h.done();
});

test('seed bug: listen start refused → the press waits like one made offline, and its turn runs once the link is back', () => {
  const h = setup();
  h.session.sendResult = false; // closed right after hello, the supervisor has not noticed yet
  h.conv.input('click');
  h.check('connecting');
  assert.equal(h.source.running, true, 'what is said meanwhile is kept');
  assert.equal(h.turns.length, 0, 'the press is not given up');
  // The supervisor notices, reconnects, says hello again: the same press becomes the turn.
  h.session.sendResult = true;
  h.session.lose('server closed 1005', true);
  h.check('connecting');
  h.source.emitFrame();
  h.session.becomeReady('sid-2');
  h.check('listening');
  h.session.stt('hello');
  h.session.tts('start');
  h.session.serverAudio(PACKET);
  h.session.tts('stop');
  h.sink.drain();
  h.check('listening');
  // The refused one, then the one on the new session.
  assert.deepEqual(h.session.sentKinds(), ['listen start auto', 'listen start auto']);
  assert.equal(h.turns.at(-1)?.outcome, 'reply');
  assert.ok((h.turns.at(-1)?.framesSent ?? 0) >= 1, 'the frame said while reconnecting went out');
  h.done();
});

test('a loss reported during the listen start send leaves a consistent offline', () => {
  const h = setup();
  h.session.onSend = (m) => {
    if (m.type === 'listen') {
      h.session.onSend = undefined;
      h.session.lose('send failed: EPIPE', false);
    }
  };
  h.conv.input('click');
  h.check('offline');
  assert.equal(h.turns.length, 1);
  h.done();
});

test('click while offline connects now; the turn starts on ready and the audio said meanwhile follows', () => {
  const h = setup({ link: 'backoff' });
  h.check('offline');
  h.conv.input('click');
  h.check('connecting');
  assert.deepEqual(h.session.connectNowCalls, ['button']);
  assert.equal(h.source.running, true);
  for (let i = 0; i < 4; i++) h.source.emitFrame();
  assert.equal(h.session.audio.length, 0, 'nothing goes out before ready');
  h.clock.advance(300);
  h.session.becomeReady();
  h.check('listening');
  assert.deepEqual(h.session.sentKinds(), ['listen start auto']);
  assert.equal(h.session.audio.length, 4, 'held frames sent right after listen start');
  h.source.emitFrame();
  assert.equal(h.session.audio.length, 5);
  h.conv.input('click');
  assert.equal(h.turns[0]?.milestones.connected, 300);
  assert.equal(h.turns[0]?.milestones.firstFrameSent, 300);
  h.done();
});

test('the audio held while connecting is bounded (≤ 1 s), oldest dropped first', () => {
  const h = setup({ link: 'offline' });
  h.conv.input('click');
  const frames = [];
  for (let i = 0; i < 30; i++) {
    const f = toneFrame(1000 + i * 100);
    frames.push(f);
    h.source.emitFrame(f);
  }
  h.session.becomeReady();
  assert.equal(h.session.audio.length, PENDING_FRAMES);
  assert.ok(PENDING_FRAMES * 60 <= 1000);
  h.conv.input('click');
  assert.equal(h.turns[0]?.framesOverflowed, 30 - PENDING_FRAMES);
  h.done();
});

test('push-to-talk while offline: released before ready → start, audio, stop, then wait for the reply', () => {
  const h = setup({ mode: 'push-to-talk', link: 'idle' });
  h.check('idle');
  h.conv.input('press');
  h.check('connecting');
  h.source.emitFrame();
  h.source.emitFrame();
  h.conv.input('release');
  h.check('connecting');
  assert.equal(h.source.running, false);
  h.session.becomeReady();
  h.check('listening');
  assert.deepEqual(h.session.sentKinds(), ['listen start manual', 'listen stop']);
  assert.equal(h.session.audio.length, 2);
  h.clock.advance(h.config.replyDeadlineMs);
  h.check('error');
  assert.equal(warnings(h)[0]?.code, ErrorCode.ReplyDeadline);
  h.done();
});

test('a pending press is dropped when the connection does not come within the listen deadline', () => {
  const h = setup({ link: 'backoff' });
  h.conv.input('click');
  h.clock.advance(h.config.listenDeadlineMs - 1);
  h.check('connecting');
  h.clock.advance(1);
  h.check('error');
  assert.equal(warnings(h)[0]?.code, ErrorCode.ConnectFailed);
  assert.equal(h.turns[0]?.outcome, 'connect-timeout');
  h.clock.advance(h.config.errorDisplayMs);
  h.check('offline');
  // A late ready finds nothing pending: idle, no stray listen start.
  h.session.becomeReady();
  h.check('idle');
  assert.deepEqual(h.session.sentKinds(), []);
  h.done();
});

test('long press: reconnect with fresh credentials from any state, mic and speaker off, then idle on ready', () => {
  const h = setup();
  toSpeaking(h);
  h.conv.input('longPress');
  h.check('connecting');
  assert.deepEqual(h.session.reconnectFreshCalls, ['long press']);
  assert.equal(h.sink.calls.at(-1), 'abort');
  assert.equal(h.turns.at(-1)?.outcome, 'reconnect');
  h.session.lose('server closed 1000', true, 'connecting'); // the old connection's end: changes nothing
  h.check('connecting');
  h.session.becomeReady();
  h.check('idle');
  h.done();
});

test('long press whose reconnect does not come: offline after the deadline, quietly', () => {
  const h = setup();
  h.conv.input('longPress');
  h.session.setState('backoff');
  h.clock.advance(h.config.listenDeadlineMs);
  h.check('offline');
  assert.equal(warnings(h).length, 0);
  h.done();
});

test('a click during the error display skips it and starts a turn', () => {
  const h = setup();
  h.conv.input('click');
  h.clock.advance(h.config.listenDeadlineMs);
  h.check('error');
  h.conv.input('click');
  h.check('listening');
  assert.equal(h.session.sentKinds().at(-1), 'listen start auto');
  h.done();
});

test('activating: shown until done; a click skips it', () => {
  const h = setup();
  h.conv.setActivating('123456');
  h.check('activating');
  assert.equal(h.conv.activationCode, '123456');
  h.conv.setActivating(undefined);
  h.check('idle');
  h.conv.setActivating('654321');
  h.conv.input('click');
  h.check('idle');
  assert.deepEqual(h.session.sentKinds(), []);
  h.done();
});

test('an undecodable packet is skipped and warned once per turn, never thrown', () => {
  const h = setup();
  toSpeaking(h);
  h.session.serverAudio(Buffer.alloc(0));
  h.session.serverAudio(Buffer.alloc(5000, 1));
  h.session.serverAudio(PACKET);
  h.check('speaking');
  const w = warnings(h);
  assert.equal(w.length, 1);
  assert.equal(w[0]?.code, ErrorCode.OpusDecode);
  h.session.tts('stop');
  h.sink.drain();
  assert.equal(h.turns[0]?.packetsUndecodable, 2);
  assert.equal(h.turns[0]?.packetsPlayed, 1);
  h.done();
});

test('audio outside speaking is discarded', () => {
  const h = setup();
  h.session.serverAudio(PACKET);
  h.conv.input('click');
  h.session.serverAudio(PACKET);
  assert.equal(h.sink.writes, 0);
  assert.equal(h.conv.discardedPackets, 2);
  h.done();
});

test('a refused uplink frame is counted, not an error', () => {
  const h = setup();
  h.conv.input('click');
  h.session.sendAudioResult = false;
  h.source.emitFrame();
  h.source.emitFrame();
  h.check('listening');
  h.conv.input('click');
  assert.equal(h.turns[0]?.framesRefused, 2);
  assert.equal(warnings(h).length, 0);
  h.done();
});

test('tts start while idle plays the reply and returns to idle, even in auto mode', () => {
  const h = setup();
  h.session.tts('start');
  h.check('speaking');
  h.session.serverAudio(PACKET);
  h.session.tts('stop');
  h.check('idle');
  assert.deepEqual(h.session.sentKinds(), []);
  assert.equal(h.turns[0]?.trigger, 'server');
  h.done();
});

test('a mic fault while listening ends the turn in error; in idle it is only logged', () => {
  const h = setup();
  h.source.fail(fault(ErrorCode.AudioSource, 'arecord exited 1'));
  h.check('idle');
  h.conv.input('click');
  h.source.fail(fault(ErrorCode.AudioSource, 'arecord exited 1'));
  h.check('error');
  assert.equal(h.session.sentKinds().at(-1), 'abort');
  assert.equal(h.turns[0]?.outcome, 'fault');
  h.clock.advance(h.config.errorDisplayMs);
  h.check('idle');
  h.done();
});

test('a speaker fault while speaking aborts the reply', () => {
  const h = setup();
  toSpeaking(h);
  h.sink.fail(fault(ErrorCode.AudioSink, 'aplay exited 1'));
  h.check('error');
  assert.equal(h.session.sentKinds().at(-1), 'abort');
  h.done();
});

test('stop() is idempotent, silences everything, clears every timer and unsubscribes', () => {
  const h = setup();
  h.conv.input('click');
  h.conv.stop();
  h.conv.stop();
  assert.equal(h.source.running, false);
  assert.equal(h.clock.pending, 0);
  assert.equal(h.turns[0]?.outcome, 'stopped');
  const sent = h.session.sent.length;
  h.session.becomeReady();
  h.session.tts('start');
  h.conv.input('click');
  assert.equal(h.session.sent.length, sent);
  assert.equal(h.sink.open, false);
  h.conv.assertInvariants();
  h.done();
});

test('double click while speaking: stop — abort, speaker flushed, back to idle (not listening again)', () => {
  const h = setup();
  toSpeaking(h);
  h.session.clearSent();
  h.conv.input('doubleClick');
  h.check('idle');
  assert.deepEqual(h.session.sentKinds(), ['abort']);
  assert.equal(h.sink.calls.at(-1), 'abort');
  assert.equal(h.source.running, false);
  assert.equal(h.turns.at(-1)?.outcome, 'cancelled');
  h.done();
});

test('double click while listening: abort (never listen stop), idle; at rest it means nothing', () => {
  const h = setup();
  h.conv.input('doubleClick');
  h.check('idle');
  assert.deepEqual(h.session.sentKinds(), []);
  h.conv.input('click');
  h.check('listening');
  h.conv.input('doubleClick');
  h.check('idle');
  assert.deepEqual(h.session.sentKinds(), ['listen start auto', 'abort']);
  assert.equal(h.source.running, false);
  h.done();
});

// ------------------------------------------------------------------ cancel means silence (issue 12 §1)

/** What xinnan does with an utterance it was told to recognise: stt, tts start, audio, tts stop. */
function serverAnswers(h: Harness): void {
  h.session.stt('what the user half said');
  h.session.tts('start');
  h.session.serverAudio(PACKET);
  h.session.serverAudio(PACKET);
  h.session.tts('stop');
}

test('cancel: every stop path sends abort, never listen stop, and refuses the answer that still comes', () => {
  const paths: Array<[string, (h: Harness) => void]> = [
    [
      'click while listening',
      (h) => {
        h.conv.input('click');
        h.source.emitFrame();
        h.conv.input('click');
      },
    ],
    [
      'click while waiting for the reply',
      (h) => {
        h.conv.input('click');
        h.source.emitFrame();
        h.session.stt('hello');
        h.conv.input('click');
      },
    ],
    [
      'double click while listening',
      (h) => {
        h.conv.input('click');
        h.source.emitFrame();
        h.conv.input('doubleClick');
      },
    ],
    [
      'double click while waiting for the reply',
      (h) => {
        h.conv.input('click');
        h.source.emitFrame();
        h.session.stt('hello');
        h.conv.input('doubleClick');
      },
    ],
    [
      'listen deadline',
      (h) => {
        h.conv.input('click');
        h.source.emitFrame();
        h.clock.advance(h.config.listenDeadlineMs);
      },
    ],
    [
      'mic fault',
      (h) => {
        h.conv.input('click');
        h.source.emitFrame();
        h.source.fail(fault(ErrorCode.AudioSource, 'arecord exited 1'));
      },
    ],
    [
      'no follow-up speech',
      (h) => {
        toSpeaking(h);
        h.session.tts('stop');
        h.sink.drain();
        h.source.emitFrame();
        h.clock.advance(h.config.listenDeadlineMs);
      },
    ],
  ];
  for (const [name, cancel] of paths) {
    const h = setup();
    cancel(h);
    const begins = h.sink.begins;
    const writes = h.sink.writes;
    const sentBefore = h.session.sentKinds();
    assert.ok(!sentBefore.includes('listen stop'), `${name}: no listen stop`);
    assert.equal(sentBefore.at(-1), 'abort', `${name}: abort sent`);
    serverAnswers(h);
    assert.equal(h.sink.begins, begins, `${name}: the answer never reaches the speaker`);
    assert.equal(h.sink.writes, writes, `${name}: not one sample of it is written`);
    assert.ok(h.conv.state === 'idle' || h.conv.state === 'error', `${name}: at rest (${h.conv.state})`);
    assert.deepEqual(
      h.session.sentKinds().slice(sentBefore.length),
      ['abort'],
      `${name}: the late tts start is answered with abort`,
    );
    h.conv.assertInvariants();
    // The next click works and its reply plays.
    h.clock.advance(h.config.errorDisplayMs);
    h.conv.input('click');
    h.check('listening');
    h.source.emitFrame();
    h.session.stt('hello again');
    h.session.tts('start');
    h.check('speaking');
    h.session.serverAudio(PACKET);
    assert.equal(h.sink.begins, begins + 1, `${name}: the next turn's reply plays`);
    h.done();
  }
});

test('cancel: the refusal ends with the next listen start or a new session, not before', () => {
  const h = setup();
  h.conv.input('click');
  h.source.emitFrame();
  h.conv.input('click');
  h.session.tts('start');
  h.session.tts('start');
  assert.equal(h.sink.begins, 0);
  assert.deepEqual(h.session.sentKinds(), ['listen start auto', 'abort', 'abort', 'abort']);
  // A new session: nothing of the old one can arrive on it, so server-initiated speech plays again.
  h.session.lose('server closed 1000', true);
  h.session.becomeReady('sid-2');
  h.check('idle');
  h.session.tts('start');
  h.check('speaking');
  assert.equal(h.sink.begins, 1);
  h.done();
});

test('push-to-talk: release is the end of the utterance (listen stop), not a cancel', () => {
  const h = setup({ mode: 'push-to-talk' });
  h.conv.input('press');
  h.source.emitFrame();
  h.conv.input('release');
  assert.deepEqual(h.session.sentKinds(), ['listen start manual', 'listen stop']);
  serverAnswers(h);
  assert.equal(h.sink.begins, 1, 'the answer to a released utterance plays');
  h.done();
});

// ------------------------------------------------------------------ a close after tts stop (issue 12 §3)

test('play-out: the server closing right after tts stop makes no phantom turn and lets the tail play', () => {
  const h = setup();
  toPlayOut(h);
  // xinnan's close frame is in (the socket refuses sends) while the link still says ready.
  h.session.sendResult = false;
  h.sink.drain();
  h.check('offline');
  assert.equal(h.turns.length, 1, 'only the reply: no send-failed turn');
  assert.equal(h.turns[0]?.outcome, 'reply');
  assert.ok(h.lines.some((l) => /the server is closing the session: no follow-up turn/.test(l.msg ?? '')));
  assert.ok(!h.lines.some((l) => /not sent: connection not ready/.test(l.msg ?? '') && l.level >= INFO));
  h.session.lose('server closed 1000', true);
  h.check('offline');
  h.session.sendResult = true;
  h.session.becomeReady('sid-2');
  h.check('idle');
  h.conv.input('click');
  h.check('listening');
  h.done();
});

test('an empty reply (tts stop right after stt) on a closing socket makes no phantom turn either', () => {
  const h = setup();
  h.conv.input('click');
  h.source.emitFrame();
  h.session.stt('bye');
  h.session.sendResult = false;
  h.session.tts('stop');
  h.check('offline');
  assert.deepEqual(
    h.turns.map((t) => t.outcome),
    ['reply'],
  );
  h.done();
});

test('push-to-talk: the tail after tts stop survives a lost link; a press cuts it', () => {
  const h = setup({ mode: 'push-to-talk' });
  toSpeaking(h);
  h.session.serverAudio(PACKET);
  h.session.tts('stop');
  h.check('idle');
  assert.equal(h.sink.calls.at(-1), 'end');
  h.session.lose('server closed 1000', true);
  h.check('offline');
  assert.equal(h.sink.calls.at(-1), 'end', 'not aborted by the loss');
  h.conv.input('press');
  h.check('connecting');
  assert.equal(h.sink.calls.at(-1), 'abort', 'the press silences the tail before the mic opens');
  h.done();
});

test('a loss while the reply still streams (no tts stop yet) cuts it at once', () => {
  const h = setup();
  toSpeaking(h);
  h.session.serverAudio(PACKET);
  h.session.lose('server closed 1006', false);
  h.check('offline');
  assert.equal(h.sink.calls.at(-1), 'abort');
  h.done();
});

// ------------------------------------------------------------------ stale sessions (issue 12 §2)

test('a press on a stale session renews it first and keeps what is said meanwhile', () => {
  const h = setup();
  h.session.staleWhenReady = true;
  h.conv.input('click');
  h.check('connecting');
  assert.deepEqual(h.session.renewCalls, ['click on a stale session']);
  assert.deepEqual(h.session.sentKinds(), [], 'nothing goes out on the stale session');
  h.source.emitFrame();
  h.source.emitFrame();
  h.session.becomeReady('sid-2');
  h.check('listening');
  assert.deepEqual(h.session.sentKinds(), ['listen start auto']);
  assert.equal(h.session.audio.length, 2, 'the audio said during the renewal follows the listen start');
  h.done();
});

test('a renewal at rest keeps the device idle; a press during it waits for the fresh session', () => {
  const h = setup();
  h.session.renew('stale session renewed at rest');
  h.check('idle');
  h.session.becomeReady('sid-2');
  h.check('idle');
  assert.deepEqual(h.transitions, ['offline→idle'], 'no offline blink for a renewal');
  h.session.renew('stale session renewed at rest');
  h.conv.input('click');
  h.check('connecting');
  h.session.becomeReady('sid-3');
  h.check('listening');
  h.done();
});

test('a renewal that fails (backoff) shows offline as any loss does', () => {
  const h = setup();
  h.session.renew('stale');
  h.session.setState('backoff', 'connect ECONNREFUSED');
  h.check('offline');
  h.done();
});
