import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OpusDecoder, OpusEncoder } from '../../src/audio/opus.js';
import { conversationSchema } from '../../src/config/schema.js';
import { Conversation } from '../../src/conversation/conversation.js';
import { CONVERSATION_STATES, type ConversationState } from '../../src/conversation/conversation-state.js';
import { ManualClock } from '../../src/core/clock.js';
import { describeError, ErrorCode, fault } from '../../src/core/errors.js';
import { seededRandom } from '../../src/core/random.js';
import { INPUT_EVENTS } from '../../src/hardware/input.js';
import type { LinkState } from '../../src/session/session-port.js';
import { captureLogger } from '../fakes/capture-logger.js';
import { FakeSource, MemorySink, toneFrame } from '../fakes/fake-audio.js';
import { FakeSession } from '../fakes/fake-session.js';

const STEPS = 10_000;
const DOWN_STATES: readonly LinkState[] = [
  'offline',
  'connecting',
  'handshaking',
  'closing',
  'backoff',
  'idle',
];

// The third run adds wake words (wake.ts, with wakeWord.duringSpeech on: every state acts on them);
// the first two draw exactly the sequences they always did (a weight of 0 changes no choice).
for (const [mode, seed, wake] of [
  ['toggle', 20240501, false],
  ['push-to-talk', 777, false],
  ['toggle', 4242, true],
] as const) {
  test(`button spam (${mode}${wake ? ', wake words' : ''}): ${STEPS} random steps of input, server events and time keep every invariant`, () => {
    const random = seededRandom(seed);
    const pick = <T>(xs: readonly T[]): T => {
      const x = xs[Math.floor(random() * xs.length)];
      if (x === undefined) throw new Error('empty list');
      return x;
    };
    const clock = new ManualClock(0);
    const session = new FakeSession();
    session.state = 'ready';
    const source = new FakeSource();
    const sink = new MemorySink();
    const encoder = new OpusEncoder({ complexity: 0 });
    const decoder = new OpusDecoder(16000);
    const packet = encoder.encode(toneFrame());
    const config = conversationSchema.parse({
      buttonMode: mode,
      listenDeadlineMs: 3000,
      replyDeadlineMs: 2000,
      speakingDeadlineMs: 1500,
      errorDisplayMs: 500,
      // The daemon's own check after every event too (the soak's setting).
      checkInvariants: true,
    });
    const { log, lines } = captureLogger('info');
    const conv = new Conversation({
      session,
      source,
      sink,
      encoder,
      decoder,
      clock,
      config,
      log,
      wakeWord: { duringSpeech: true },
    });
    const wakePcm = Buffer.concat(Array.from({ length: 25 }, () => toneFrame()));

    let last: ConversationState = conv.state;
    const visited = new Set<ConversationState>();
    let turns = 0;
    conv.on('state', (to, from) => {
      assert.equal(from, last, 'state events form one chain');
      last = to;
      visited.add(to);
    });
    let wakeTurns = 0;
    conv.on('turn', (t) => {
      turns++;
      if (t.trigger === 'wake') wakeTurns++;
    });
    conv.start();

    const steps: Record<string, () => void> = {
      input: () => conv.input(pick(INPUT_EVENTS)),
      frame: () => source.emitFrame(),
      strayFrame: () => source.emitStrayFrame(),
      tick: () => clock.advance(Math.floor(random() * 400)),
      longWait: () => clock.advance(Math.floor(random() * 4000)),
      ready: () => {
        if (session.state !== 'ready') session.becomeReady();
      },
      lose: () => {
        if (session.state === 'ready') session.lose('server closed 1005', random() < 0.5, pick(DOWN_STATES));
      },
      linkState: () => session.setState(pick(DOWN_STATES)),
      stt: () => {
        if (session.state === 'ready') session.stt('words');
      },
      ttsStart: () => {
        if (session.state === 'ready') session.tts('start');
      },
      ttsStop: () => {
        if (session.state === 'ready') session.tts('stop');
      },
      sentence: () => {
        if (session.state === 'ready') session.tts('sentence_start', 'a sentence');
      },
      audio: () => {
        if (session.state === 'ready') session.serverAudio(random() < 0.9 ? packet : Buffer.alloc(0));
      },
      sendFails: () => {
        session.sendResult = random() < 0.5;
      },
      uplinkCongested: () => {
        session.sendAudioResult = random() < 0.7;
      },
      lossDuringSend: () => {
        session.onSend = () => {
          session.onSend = undefined;
          if (session.state === 'ready') session.lose('send failed: EPIPE', false);
        };
      },
      micFault: () => source.fail(fault(ErrorCode.AudioSource, 'arecord exited 1')),
      speakerFault: () => sink.fail(fault(ErrorCode.AudioSink, 'aplay exited 1')),
      drained: () => sink.drain(),
      activation: () => conv.setActivating(random() < 0.5 ? '123456' : undefined),
      wake: () => conv.wake({ phrase: 'alexa', audio: wakePcm }),
    };
    // Inputs dominate; server events and time come next; faults and odd things are rare.
    const weights: [string, number][] = [
      ['input', 40],
      ['frame', 8],
      ['strayFrame', 1],
      ['tick', 10],
      ['longWait', 3],
      ['ready', 6],
      ['lose', 2],
      ['linkState', 1],
      ['stt', 5],
      ['ttsStart', 6],
      ['ttsStop', 5],
      ['sentence', 1],
      ['audio', 8],
      ['sendFails', 1],
      ['uplinkCongested', 1],
      ['lossDuringSend', 1],
      ['micFault', 0.5],
      ['speakerFault', 0.5],
      ['drained', 4],
      ['activation', 0.3],
      ['wake', wake ? 10 : 0],
    ];
    const total = weights.reduce((s, [, w]) => s + w, 0);
    const choose = (): string => {
      let x = random() * total;
      for (const [name, w] of weights) {
        x -= w;
        if (x < 0) return name;
      }
      return 'input';
    };

    const history: string[] = [];
    for (let i = 0; i < STEPS; i++) {
      const name = choose();
      const step = steps[name];
      assert.ok(step, name);
      history.push(`${name}@${conv.state}/${session.state}`);
      if (history.length > 20) history.shift();
      try {
        step();
        conv.assertInvariants();
        // Open iff speaking, except during a reply's play-out (assertInvariants ties the two).
        assert.equal(sink.open, conv.playbackOpen, 'the speaker is open iff the conversation says so');
        assert.equal(source.running, conv.sourceRunning, 'the mic runs iff the conversation says so');
        if (conv.state !== 'listening' && conv.state !== 'connecting') assert.equal(source.running, false);
        assert.ok(clock.pending <= 1, `${clock.pending} timers pending: at most the current deadline`);
        assert.equal(sink.writesWhileClosed, 0, 'nothing written to a closed speaker');
      } catch (err) {
        // Rethrown with the trail of steps that led here, so a failing seed can be replayed by eye.
        throw new Error(`step ${i}: ${describeError(err)}\n  after: ${history.join(' → ')}`, { cause: err });
      }
    }

    for (const s of CONVERSATION_STATES)
      assert.ok(visited.has(s), `state ${s} visited (saw ${[...visited]})`);
    assert.ok(turns > 100, `${turns} turns completed or ended`);
    if (wake) assert.ok(wakeTurns > 50, `${wakeTurns} wake-word turns`);
    assert.deepEqual(
      lines.filter((l) => l.code === ErrorCode.Invariant).map((l) => l.msg),
      [],
      'the in-daemon check found nothing either',
    );
    conv.stop();
    assert.equal(clock.pending, 0, 'stop() clears every timer');
    assert.equal(source.running, false);
    assert.equal(sink.open, false);
    encoder.delete();
    decoder.delete();
  });
}
