/**
 * The daemon's side of the wake word (issue 14): it subscribes on start and unsubscribes on stop,
 * pauses the detector while the conversation speaks (unless wakeWord.duringSpeech), logs each
 * detection at info, and a detection goes on the real supervisor's socket in the firmware's order
 * (protocol.md §11.10). The real Daemon with a scripted connection and a manual clock.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { OpusEncoder } from '../../src/audio/opus.js';
import { configSchema } from '../../src/config/schema.js';
import { ManualClock } from '../../src/core/clock.js';
import { seededRandom } from '../../src/core/random.js';
import { Daemon } from '../../src/daemon.js';
import type { CredentialSource, Credentials } from '../../src/session/credentials.js';
import { captureLogger } from '../fakes/capture-logger.js';
import { FakeSource, MemorySink, toneFrame } from '../fakes/fake-audio.js';
import { type FakeConnection, fakeConnector } from '../fakes/fake-connection.js';
import { detection, FakeWakeWord } from '../fakes/fake-wake-word.js';

const INFO = 30;

class Creds implements CredentialSource {
  constructor(readonly creds: Credentials) {}
  current(): Credentials {
    return this.creds;
  }
  async refresh(): Promise<Credentials> {
    return this.creds;
  }
}

interface Options {
  readonly duringSpeech?: boolean;
  readonly mode?: 'persistent' | 'on-demand';
  readonly buttonMode?: 'toggle' | 'push-to-talk';
  readonly muted?: boolean;
}

/** The privacy mute as the daemon sees it (audio/controls.ts PrivacyControl), held in memory. */
class MemoryMute extends EventEmitter<{ change: [muted: boolean, reason: string] }> {
  constructor(public muted: boolean) {
    super();
  }
  async set(muted: boolean, reason: string): Promise<void> {
    if (muted === this.muted) return;
    this.muted = muted;
    this.emit('change', muted, reason);
  }
  toggle(reason: string): Promise<void> {
    return this.set(!this.muted, reason);
  }
}

async function setup(o: Options = {}) {
  const clock = new ManualClock(1000);
  const fc = fakeConnector();
  const source = new FakeSource();
  const sink = new MemorySink();
  const wake = new FakeWakeWord();
  const { log, lines } = captureLogger('debug');
  const identity = { deviceId: 'aa:bb:cc:dd:ee:ff', clientId: '11111111-2222-4333-8444-555555555555' };
  const config = configSchema.parse({
    server: { websocketUrl: 'ws://127.0.0.1:1/xiaozhi/v1/' },
    hardware: 'simulated',
    identity,
    connection: { mode: o.mode ?? 'persistent' },
    conversation: { buttonMode: o.buttonMode ?? 'toggle' },
    wakeWord: { duringSpeech: o.duringSpeech ?? false },
  });
  const daemon = new Daemon({
    config,
    identity,
    credentials: new Creds({ url: 'ws://127.0.0.1:1/xiaozhi/v1/', token: '' }),
    connector: fc.connector,
    source,
    sink,
    leds: { render: () => undefined },
    clock,
    random: seededRandom(3),
    log,
    wakeWord: wake,
    ...(o.muted === undefined ? {} : { privacy: new MemoryMute(o.muted) }),
  });
  await daemon.start();
  return { clock, fc, source, sink, wake, daemon, lines };
}

type Harness = Awaited<ReturnType<typeof setup>>;

/** Stops the daemon; the scripted server answers its close (the grace timer runs on the manual clock). */
async function stop(h: Harness): Promise<void> {
  const stopping = h.daemon.stop();
  for (const c of h.fc.conns) c.serverClose(1000, 'shutdown');
  await stopping;
}

/** The server side of the handshake: open, hello. */
function serve(c: FakeConnection): void {
  c.serverOpen();
  c.serverHello('sid-9');
}

/** What the client put on the socket: `audio` for a binary frame, else `type[/state]`. */
function wire(c: FakeConnection): string[] {
  return c.sent.map((d) => {
    if (typeof d !== 'string') return 'audio';
    const m = JSON.parse(d) as { type: string; state?: string };
    return m.state === undefined ? m.type : `${m.type} ${m.state}`;
  });
}

const OPENING = [...Array<string>(25).fill('audio'), 'listen detect', 'listen start'];

test('persistent: a detection sends wake audio, listen detect (phrase, session id), listen start; logged at info', async () => {
  const h = await setup();
  assert.equal(h.wake.listenerCount('detection'), 1, 'subscribed on start');
  const c = h.fc.last();
  serve(c);
  assert.equal(h.daemon.conversation.state, 'idle');
  c.sent.length = 0;
  h.wake.fire(detection({ phrase: '你好小智', model: 'nihao_xiaozhi', score: 0.87 }));
  assert.equal(h.daemon.conversation.state, 'listening');
  assert.deepEqual(
    wire(c),
    OPENING.filter((x) => x !== 'hello'),
  );
  const detect = c.texts.find((m) => m.state === 'detect');
  assert.deepEqual(detect, { session_id: 'sid-9', type: 'listen', state: 'detect', text: '你好小智' });
  const line = h.lines.find((l) => l.component === 'wakeword' && l.level === INFO);
  assert.ok(line, 'one info line per detection');
  assert.equal(line.phrase, '你好小智');
  assert.equal(line.model, 'nihao_xiaozhi');
  assert.equal(line.score, 0.87);
  assert.equal(line.conversation, 'idle');
  await stop(h);
  assert.equal(h.wake.listenerCount('detection'), 0, 'unsubscribed on stop');
});

test('on-demand: the detection opens the connection; the opening follows the hello', async () => {
  const h = await setup({ mode: 'on-demand' });
  assert.equal(h.fc.conns.length, 0, 'no connection at rest');
  assert.equal(h.daemon.conversation.state, 'idle');
  h.wake.fire();
  assert.equal(h.daemon.conversation.state, 'connecting');
  for (let i = 0; i < 3; i++) h.source.emitFrame(toneFrame());
  await Promise.resolve();
  assert.equal(h.fc.conns.length, 1, 'the wake word opened a connection');
  const c = h.fc.last();
  serve(c);
  assert.equal(h.daemon.conversation.state, 'listening');
  assert.deepEqual(wire(c), ['hello', ...OPENING, 'audio', 'audio', 'audio']);
  await stop(h);
});

test('the detector is paused exactly while the device speaks, and resumed after', async () => {
  const h = await setup();
  const c = h.fc.last();
  serve(c);
  h.daemon.input('click');
  h.source.emitFrame(toneFrame());
  c.serverText({ type: 'stt', text: 'hi', session_id: 'sid-9' });
  c.serverText({ type: 'tts', state: 'start', session_id: 'sid-9' });
  assert.equal(h.daemon.conversation.state, 'speaking');
  assert.deepEqual(h.wake.calls, ['pause speaking']);
  assert.equal(h.wake.fire(), false, 'a paused detector says nothing');
  // One already on its way when the pause came is dropped by the conversation.
  c.sent.length = 0;
  h.wake.fireInFlight();
  assert.equal(h.daemon.conversation.state, 'speaking');
  assert.deepEqual(wire(c), []);
  c.serverText({ type: 'tts', state: 'stop', session_id: 'sid-9' });
  h.sink.drain(); // the reply played out: listening again (auto)
  assert.equal(h.daemon.conversation.state, 'listening');
  assert.deepEqual(h.wake.calls, ['pause speaking', 'resume speaking']);
  await stop(h);
});

test('duringSpeech: never paused; a wake word while speaking aborts with its reason and listens', async () => {
  const h = await setup({ duringSpeech: true });
  const c = h.fc.last();
  serve(c);
  h.daemon.input('click');
  h.source.emitFrame(toneFrame());
  c.serverText({ type: 'stt', text: 'hi', session_id: 'sid-9' });
  c.serverText({ type: 'tts', state: 'start', session_id: 'sid-9' });
  const enc = new OpusEncoder({ complexity: 0 });
  c.emit('frame', enc.encode(toneFrame()), true);
  enc.delete();
  assert.equal(h.daemon.conversation.state, 'speaking');
  assert.deepEqual(h.wake.calls, []);
  c.sent.length = 0;
  assert.equal(h.wake.fire(), true);
  assert.equal(h.daemon.conversation.state, 'listening');
  assert.deepEqual(c.texts, [
    { session_id: 'sid-9', type: 'abort', reason: 'wake_word_detected' },
    { session_id: 'sid-9', type: 'listen', state: 'start', mode: 'auto' },
  ]);
  assert.ok(h.sink.aborts >= 1, 'the reply was flushed');
  await stop(h);
});

test('a stopped daemon ignores a detection', async () => {
  const h = await setup();
  await stop(h);
  h.wake.fireInFlight();
  assert.equal(h.daemon.conversation.state, 'offline');
  assert.equal(
    h.lines.filter((l) => l.component === 'wakeword' && l.level === INFO).length,
    0,
    'nothing logged as a detection',
  );
});

test('muted (privacy): a detection is logged and starts nothing; unmuted it works again', async () => {
  const h = await setup({ muted: true });
  const c = h.fc.last();
  serve(c);
  c.sent.length = 0;
  h.wake.fire();
  assert.equal(h.daemon.conversation.state, 'idle');
  assert.deepEqual(wire(c), [], 'nothing of the wake word left the device');
  assert.ok(
    h.lines.some((l) => l.component === 'wakeword' && /ignored: the microphone is muted/.test(String(l.msg))),
  );
  h.daemon.control({ kind: 'muteSwitch', muted: false, atStart: false });
  await new Promise((r) => setImmediate(r));
  assert.equal(h.daemon.muted, false);
  h.wake.fire();
  assert.equal(h.daemon.conversation.state, 'listening');
  assert.deepEqual(wire(c), OPENING);
  await stop(h);
});

test("push-to-talk: the detector stays paused while the reply's tail plays at rest", async () => {
  const h = await setup({ buttonMode: 'push-to-talk' });
  const c = h.fc.last();
  serve(c);
  h.daemon.input('press');
  h.source.emitFrame(toneFrame());
  h.daemon.input('release');
  c.serverText({ type: 'stt', text: 'hi', session_id: 'sid-9' });
  c.serverText({ type: 'tts', state: 'start', session_id: 'sid-9' });
  const enc = new OpusEncoder({ complexity: 0 });
  c.emit('frame', enc.encode(toneFrame()), true);
  enc.delete();
  assert.deepEqual(h.wake.calls, ['pause speaking']);
  c.serverText({ type: 'tts', state: 'stop', session_id: 'sid-9' });
  // At rest in push-to-talk mode, but the speaker still plays the reply's tail: still paused.
  assert.equal(h.daemon.conversation.state, 'idle');
  assert.notEqual(h.daemon.conversation.speaker, 'silent');
  assert.deepEqual(h.wake.calls, ['pause speaking']);
  h.sink.drain();
  assert.equal(h.daemon.conversation.speaker, 'silent');
  assert.deepEqual(h.wake.calls, ['pause speaking', 'resume speaking']);
  await stop(h);
});
