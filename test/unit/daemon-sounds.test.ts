/**
 * The prompt sounds wired to the conversation, the link and the daemon (sounds/daemon-sounds.ts):
 * which earcon plays on which event, that an earcon never delays a press, that nothing plays over
 * a reply, the activation code through Daemon.setActivation, and the uplink gate armed with the
 * listening chime. The real Conversation, PromptScheduler, SinkPromptOutput and pack; the link is
 * the FakeSession, the speaker a recording sink, time a ManualClock.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { after, before, test } from 'node:test';
import type { SourceStartOptions } from '../../src/audio/audio-port.js';
import { OpusDecoder, OpusEncoder } from '../../src/audio/opus.js';
import { configSchema, conversationSchema, soundsSchema } from '../../src/config/schema.js';
import { Conversation } from '../../src/conversation/conversation.js';
import { ManualClock } from '../../src/core/clock.js';
import { seededRandom } from '../../src/core/random.js';
import { Daemon, type DaemonEvents } from '../../src/daemon.js';
import type { ClipName } from '../../src/sounds/clips.js';
import { DaemonSounds, loadDaemonSounds } from '../../src/sounds/daemon-sounds.js';
import type { Prompt } from '../../src/sounds/prompt-scheduler.js';
import { DEFAULT_SOUND_PACK, type SoundBank } from '../../src/sounds/sound-bank.js';
import { GatedSource } from '../../src/sounds/uplink-gate.js';
import { captureLogger } from '../fakes/capture-logger.js';
import { FakeSource, MemorySink, toneFrame } from '../fakes/fake-audio.js';
import { FakeSession } from '../fakes/fake-session.js';

let bank: SoundBank;
let uplinkChime: Buffer;
before(async () => {
  ({ bank, uplinkChime } = await loadDaemonSounds(DEFAULT_SOUND_PACK, 24000));
});

const packetEncoder = new OpusEncoder({ complexity: 5 });
const PACKET = packetEncoder.encode(toneFrame(6000, 300));
after(() => packetEncoder.delete());

/** A speaker that also keeps each stream's PCM, so a test reads back which clip it was. */
class RecordingSink extends MemorySink {
  readonly streams: Buffer[][] = [];
  override begin(rate: number): void {
    super.begin(rate);
    this.streams.push([]);
  }
  override write(pcm: Buffer): void {
    super.write(pcm);
    this.streams[this.streams.length - 1]?.push(pcm);
  }
  /** The clip names of the streams, in order ('reply' for anything that is no clip). */
  clips(): string[] {
    return this.streams.map((parts) => {
      const pcm = Buffer.concat(parts);
      for (const [name, clip] of bank.clips) if (clip.pcm.equals(pcm)) return name;
      return 'reply';
    });
  }
}

/** A mic like PrerollSource: start() hands over the buffered frame at once, inside the call. */
class PrerollFake extends FakeSource {
  override start(options?: SourceStartOptions): void {
    super.start(options);
    if (options?.preroll !== false) this.emitFrame(toneFrame(3000, 200));
  }
}

/** Conversation + DaemonSounds on a FakeSession: the press-side wiring without a network. */
function setup(
  o: { link?: 'ready' | 'backoff' | 'idle'; enabled?: boolean; mode?: 'toggle' | 'push-to-talk' } = {},
) {
  const clock = new ManualClock(1000);
  const session = new FakeSession();
  session.state = o.link ?? 'ready';
  const mic = new PrerollFake();
  const { log, lines } = captureLogger();
  const source = new GatedSource(mic, uplinkChime, log);
  const sink = new RecordingSink();
  const encoder = new OpusEncoder({ complexity: 5 });
  const decoder = new OpusDecoder(24000);
  const conv = new Conversation({
    session,
    source,
    sink,
    encoder,
    decoder,
    clock,
    config: conversationSchema.parse({ buttonMode: o.mode ?? 'toggle', checkInvariants: true }),
    log,
  });
  const daemon = new EventEmitter<DaemonEvents>();
  const sounds = new DaemonSounds({
    config: soundsSchema.parse({ enabled: o.enabled ?? true, language: 'en' }),
    bank,
    sink,
    uplink: source,
    clock,
    log,
  });
  const order: string[] = [];
  session.onSend = (m) => order.push(m.type === 'listen' ? `listen ${m.state}` : m.type);
  const sentAudio = session.sendAudio.bind(session);
  session.sendAudio = (opus) => {
    order.push('frame');
    return sentAudio(opus);
  };
  const played: Prompt[] = [];
  sounds.on('prompt', (p) => {
    played.push(p);
    order.push(`play ${p.kind === 'earcon' ? p.earcon : p.code}`);
  });
  conv.start();
  sounds.start({ conversation: conv, link: session, daemon });
  const done = (): void => {
    sounds.stop();
    conv.stop();
    encoder.delete();
    decoder.delete();
  };
  return { clock, session, mic, source, sink, conv, daemon, sounds, played, order, lines, done };
}

const earcons = (played: readonly Prompt[]): string[] =>
  played.map((p) => (p.kind === 'earcon' ? p.earcon : `code ${p.code}`));

test('a click: listen start and the pre-roll go out first, the listening chime on the next tick, the gate armed with it', () => {
  const h = setup();
  h.conv.input('click');
  // Inside the press: the listen start and the pre-roll frame, and no sound yet.
  assert.deepEqual(h.order, ['listen start', 'frame']);
  assert.equal(h.sink.begins, 0, 'the earcon is not started inside the press');
  assert.equal(h.source.gateState, 'idle');
  h.clock.advance(0);
  assert.deepEqual(h.order, ['listen start', 'frame', 'play listening']);
  assert.deepEqual(h.sink.clips(), ['earcon-listening' satisfies ClipName]);
  assert.equal(h.sink.rate, 24000);
  assert.equal(h.source.gateState, 'searching', 'armed as the chime went to the speaker');
  h.done();
});

test('the listening chime is for a person: a click and a barge-in chime, auto mode listening again does not', () => {
  const h = setup();
  h.conv.input('click');
  h.clock.advance(0);
  h.sink.drain();
  for (let i = 0; i < 3; i++) h.mic.emitFrame();
  h.session.stt('hello');
  h.session.tts('start');
  h.session.serverAudio(PACKET);
  h.session.tts('stop');
  h.clock.advance(0);
  // The reply's tail plays out; then auto mode listens again, without a chime.
  h.sink.drain();
  h.clock.advance(0);
  assert.equal(h.conv.state, 'listening');
  assert.deepEqual(earcons(h.played), ['listening']);
  // A reply again, and a click during it: a barge-in, listening again at once, with the chime.
  for (let i = 0; i < 3; i++) h.mic.emitFrame();
  h.session.stt('more');
  h.session.tts('start');
  h.session.serverAudio(PACKET);
  h.conv.input('click');
  h.clock.advance(0);
  assert.equal(h.conv.state, 'listening');
  assert.deepEqual(earcons(h.played), ['listening', 'listening']);
  assert.deepEqual(h.sink.clips(), ['earcon-listening', 'reply', 'reply', 'earcon-listening']);
  h.done();
});

test('push-to-talk: the press chimes, a press while waiting for the reply (a new turn in listening) chimes again', () => {
  const h = setup({ mode: 'push-to-talk' });
  h.conv.input('press');
  h.clock.advance(0);
  h.sink.drain();
  h.mic.emitFrame();
  h.conv.input('release');
  assert.equal(h.conv.state, 'listening');
  h.conv.input('press');
  h.clock.advance(0);
  assert.deepEqual(earcons(h.played), ['listening', 'listening']);
  h.done();
});

test('a press with the link down: link-down at once; the held turn chimes listening when the link comes, no reconnected', () => {
  const h = setup({ link: 'backoff' });
  h.conv.input('click');
  assert.equal(h.conv.state, 'connecting');
  h.clock.advance(0);
  assert.deepEqual(earcons(h.played), ['link-down']);
  h.sink.drain();
  h.session.becomeReady();
  h.clock.advance(0);
  assert.equal(h.conv.state, 'listening');
  assert.deepEqual(earcons(h.played), ['link-down', 'listening']);
  h.done();
});

test('an outage a person noticed: reconnected when the link is back; one nobody noticed stays silent', () => {
  const h = setup({ link: 'backoff' });
  h.conv.input('click');
  h.clock.advance(0);
  h.sink.drain();
  // The person gives up on the held turn (double click); the link comes back later.
  h.conv.input('doubleClick');
  assert.equal(h.conv.state, 'offline');
  h.session.setState('connecting');
  h.session.becomeReady();
  h.clock.advance(0);
  assert.deepEqual(earcons(h.played), ['link-down', 'reconnected']);
  h.sink.drain();
  // Lost and back with nobody pressing: nothing to say.
  h.session.lose();
  h.session.becomeReady();
  h.clock.advance(0);
  assert.deepEqual(earcons(h.played), ['link-down', 'reconnected']);
  // An attempt under way is no outage for the press: no link-down while connecting.
  h.session.lose('server closed 1005', true, 'connecting');
  h.conv.input('click');
  h.clock.advance(0);
  assert.deepEqual(earcons(h.played), ['link-down', 'reconnected']);
  h.done();
});

test('on-demand: a press at rest connects without a chime; the attempt failing under the held turn chimes link-down, once', () => {
  const h = setup({ link: 'idle' });
  h.conv.input('click');
  assert.equal(h.conv.state, 'connecting');
  assert.equal(h.session.state, 'connecting');
  h.clock.advance(0);
  assert.deepEqual(earcons(h.played), []);
  h.session.setState('backoff', 'connect ECONNREFUSED');
  h.clock.advance(0);
  assert.deepEqual(earcons(h.played), ['link-down']);
  h.sink.drain();
  // The next attempt fails too: the person has been told.
  h.session.setState('connecting');
  h.session.setState('backoff', 'connect ECONNREFUSED');
  h.clock.advance(0);
  assert.deepEqual(earcons(h.played), ['link-down']);
  // It comes: the held turn starts with its chime.
  h.session.setState('connecting');
  h.session.becomeReady();
  h.clock.advance(0);
  assert.deepEqual(earcons(h.played), ['link-down', 'listening']);
  h.done();
});

test('an error (a deadline) chimes error', () => {
  const h = setup();
  h.conv.input('click');
  h.clock.advance(0);
  h.sink.drain();
  h.clock.advance(30_000);
  assert.equal(h.conv.state, 'error');
  h.clock.advance(0);
  assert.deepEqual(earcons(h.played), ['listening', 'error']);
  h.done();
});

test('nothing over a reply, its tail included: a volume change waits while current, is dropped when stale', () => {
  const h = setup();
  h.conv.input('click');
  h.clock.advance(0);
  h.sink.drain();
  h.mic.emitFrame();
  h.session.stt('x');
  h.session.tts('start');
  h.session.serverAudio(PACKET);
  h.daemon.emit('volume', 60, 'button');
  h.clock.advance(0);
  assert.deepEqual(earcons(h.played), ['listening'], 'held while the reply streams');
  h.session.tts('stop');
  h.clock.advance(100);
  assert.deepEqual(earcons(h.played), ['listening'], 'held while the tail plays out');
  h.sink.drain();
  h.clock.advance(0);
  assert.deepEqual(
    earcons(h.played),
    ['listening', 'volume'],
    'played once the speaker is free, still current',
  );
  h.sink.drain();
  // Again, but the reply outlasts the earcon's currency (500 ms): dropped.
  h.mic.emitFrame();
  h.session.stt('y');
  h.session.tts('start');
  h.session.serverAudio(PACKET);
  h.daemon.emit('mute', true, 'switch');
  h.clock.advance(600);
  h.session.tts('stop');
  h.sink.drain();
  h.clock.advance(0);
  assert.deepEqual(earcons(h.played), ['listening', 'volume']);
  h.done();
});

test('mute, volume and a press while muted: mute-on, mute-off, volume, and mute-on for the press', () => {
  const h = setup();
  for (const emit of [
    () => h.daemon.emit('mute', true, 'switch'),
    () => h.daemon.emit('mutedInput', 'click'),
    () => h.daemon.emit('volume', 40, 'button'),
    () => h.daemon.emit('mute', false, 'switch'),
  ]) {
    emit();
    h.clock.advance(0);
    h.sink.drain();
  }
  assert.deepEqual(earcons(h.played), ['mute-on', 'mute-on', 'volume', 'mute-off']);
  assert.deepEqual(h.sink.clips(), ['earcon-mute-on', 'earcon-mute-on', 'earcon-volume', 'earcon-mute-off']);
  h.done();
});

test('sounds.enabled false: no prompt ever reaches the speaker', () => {
  const h = setup({ enabled: false });
  h.conv.input('click');
  h.daemon.emit('volume', 40, 'button');
  h.clock.advance(1000);
  assert.equal(h.sink.begins, 0);
  assert.deepEqual(h.played, []);
  h.done();
});

/** The real Daemon, offline (no server URL yet, as before OTA answers), with the sounds. */
async function daemonSetup(enabled = true) {
  const clock = new ManualClock(1000);
  const sink = new RecordingSink();
  const { log, lines } = captureLogger();
  const config = configSchema.parse({
    hardware: 'simulated',
    identity: { deviceId: '02:00:00:00:00:07', clientId: '3f1e5a3c-2b1d-4c5e-8f7a-9b0c1d2e3f40' },
    sounds: { enabled, language: 'en' },
  });
  const daemon = new Daemon({
    config,
    identity: { deviceId: '02:00:00:00:00:07', clientId: '3f1e5a3c-2b1d-4c5e-8f7a-9b0c1d2e3f40' },
    credentials: { current: () => ({ url: '', token: '' }), refresh: async () => ({ url: '', token: '' }) },
    connector: () => {
      throw new Error('no connection expected without a URL');
    },
    source: new FakeSource(),
    sink,
    leds: { render: () => undefined },
    clock,
    random: seededRandom(1),
    log,
    sounds: { bank, uplinkChime },
  });
  const played: Prompt[] = [];
  daemon.sounds?.on('prompt', (p) => played.push(p));
  await daemon.start();
  return { clock, sink, daemon, played, lines };
}

test('Daemon.setActivation: the code spoken at once and every 30 s after; activation done cuts it and ends the repeats', async () => {
  const h = await daemonSetup();
  h.daemon.setActivation({ code: '418302', message: 'enter the code' });
  assert.equal(h.daemon.conversation.state, 'activating');
  h.clock.advance(0);
  assert.deepEqual(earcons(h.played), ['code 418302']);
  // The reading is the six digit clips in order, 250 ms apart.
  const reading = Buffer.concat(h.sink.streams[0] ?? []);
  const gap = Buffer.alloc(Math.round(0.25 * 24000) * 2);
  const want = Buffer.concat(
    [...'418302'].flatMap((d, i) => {
      const pcm = bank.get(`digit-en-${d}` as ClipName).pcm;
      return i === 0 ? [pcm] : [gap, pcm];
    }),
  );
  assert.ok(reading.equals(want), 'the digits, in order, in English');
  h.sink.drain();
  h.clock.advance(29_999);
  assert.equal(h.played.length, 1);
  h.clock.advance(1);
  assert.deepEqual(earcons(h.played), ['code 418302', 'code 418302']);
  // Activated while it speaks: cut at once, never again.
  const aborts = h.sink.aborts;
  h.daemon.setActivation(undefined);
  assert.equal(h.sink.aborts, aborts + 1, 'the reading is silenced');
  assert.notEqual(h.daemon.conversation.state, 'activating');
  h.clock.advance(120_000);
  assert.equal(h.played.length, 2);
  await h.daemon.stop();
});

test('a press while activating (it ends the wait, as the firmware): the code once more, then no repeats', async () => {
  const h = await daemonSetup();
  h.daemon.setActivation({ code: '905', message: '' });
  h.clock.advance(0);
  h.sink.drain();
  h.clock.advance(5_000);
  h.daemon.input('click');
  assert.notEqual(h.daemon.conversation.state, 'activating');
  h.clock.advance(0);
  assert.deepEqual(earcons(h.played), ['code 905', 'code 905']);
  h.sink.drain();
  h.clock.advance(120_000);
  assert.deepEqual(earcons(h.played), ['code 905', 'code 905']);
  // Asked again later (a refresh finds the device still not activated): spoken again.
  h.daemon.setActivation({ code: '905', message: '' });
  h.clock.advance(0);
  assert.deepEqual(earcons(h.played), ['code 905', 'code 905', 'code 905']);
  await h.daemon.stop();
});

test('the daemon passes mute/volume events to the sounds; stop silences and unsubscribes', async () => {
  const h = await daemonSetup();
  h.daemon.emit('volume', 70, 'mcp');
  h.clock.advance(0);
  assert.deepEqual(earcons(h.played), ['volume']);
  await h.daemon.stop();
  h.daemon.emit('mute', true, 'switch');
  h.clock.advance(1000);
  assert.deepEqual(earcons(h.played), ['volume']);
});
