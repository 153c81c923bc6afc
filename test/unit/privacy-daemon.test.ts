/**
 * The daemon with the privacy mute and the volume buttons (issue 15 §3), on a scripted connection
 * (the test plays the server), a manual clock, the real pre-roll over a fake capture and the real
 * PrivacyMute and Volume in a temporary state directory: nothing encoded or sent while muted, a
 * listening turn ended with an abort, the pre-roll emptied, presses refused with `mutedInput`, a
 * long press and a double click still working, auto mode not listening again after a reply, the
 * LEDs and STATUS, and the volume buttons' steps, clamps, events and persistence.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { type ContinuousCapture, PrerollSource } from '../../src/audio/preroll.js';
import { PrivacyMute } from '../../src/audio/privacy.js';
import { VOLUME_FILE, Volume } from '../../src/audio/volume.js';
import { configSchema } from '../../src/config/schema.js';
import { ManualClock } from '../../src/core/clock.js';
import type { Fault } from '../../src/core/errors.js';
import { seededRandom } from '../../src/core/random.js';
import { Daemon } from '../../src/daemon.js';
import type { Indicator } from '../../src/hardware/indicator.js';
import type { InputEvent } from '../../src/hardware/input.js';
import { captureLogger } from '../fakes/capture-logger.js';
import { MemorySink, toneFrame } from '../fakes/fake-audio.js';
import { type FakeConnection, fakeConnector } from '../fakes/fake-connection.js';

class FakeCapture
  extends EventEmitter<{ frame: [pcm: Buffer]; fault: [fault: Fault] }>
  implements ContinuousCapture
{
  starts = 0;
  start(): void {
    this.starts++;
  }
  async stop(): Promise<void> {
    this.starts = 0;
  }
  /** One 60 ms frame from the mic, which runs all the time. */
  frame(): void {
    this.emit('frame', toneFrame());
  }
}

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const flush = () => new Promise<void>((r) => setImmediate(r));

interface Setup {
  readonly mode?: 'toggle' | 'push-to-talk';
  readonly startMuted?: boolean;
  readonly volume?: number;
}

async function setup(o: Setup = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'speakerd-privacy-'));
  dirs.push(dir);
  const clock = new ManualClock(1000);
  const fc = fakeConnector();
  const { log, lines } = captureLogger('debug');
  const config = configSchema.parse({
    server: { websocketUrl: 'ws://x/xiaozhi/v1/' },
    stateDir: dir,
    audio: { prerollMs: 300, volumeStep: 10, defaultVolume: o.volume ?? 60 },
    conversation: { buttonMode: o.mode ?? 'toggle', checkInvariants: true },
    gpio: { mute: { line: 5, kind: 'button' }, volumeUp: { line: 6 }, volumeDown: { line: 13 } },
  });
  const capture = new FakeCapture();
  const source = new PrerollSource(capture, { name: 'alsa:test', prerollMs: 300 });
  source.open();
  const sink = new MemorySink();
  const privacy = new PrivacyMute({ stateDir: dir, log });
  await privacy.load();
  if (o.startMuted) await privacy.set(true, 'switch position at start');
  const volume = new Volume({ stateDir: dir, defaultLevel: config.audio.defaultVolume, log, clock });
  await volume.load();
  const leds: Indicator[] = [];
  const daemon = new Daemon({
    config,
    identity: { deviceId: 'aa:bb:cc:dd:ee:ff', clientId: '11111111-2222-4333-8444-555555555555' },
    credentials: {
      current: () => ({ url: 'ws://x/xiaozhi/v1/', token: '' }),
      refresh: async () => ({ url: 'ws://x/xiaozhi/v1/', token: '' }),
    },
    connector: fc.connector,
    source,
    sink,
    leds: { render: (i) => leds.push(i) },
    clock,
    random: seededRandom(3),
    log,
    privacy,
    volume,
  });
  const events: string[] = [];
  const mutedInputs: InputEvent[] = [];
  daemon.on('mute', (m, why) => events.push(`mute ${m} ${why}`));
  daemon.on('volume', (l, why) => events.push(`volume ${l} ${why}`));
  daemon.on('mutedInput', (e) => mutedInputs.push(e));
  await daemon.start();
  const conn = fc.last();
  conn.serverOpen();
  conn.serverHello('sid-1');
  await flush();
  assert.equal(daemon.conversation.state, 'idle');
  const texts = (c: FakeConnection = conn) => c.texts.map((t) => `${t.type}${t.state ? ` ${t.state}` : ''}`);
  const audioSent = (c: FakeConnection = conn) => c.sent.filter((d) => Buffer.isBuffer(d)).length;
  return {
    clock,
    fc,
    conn,
    lines,
    capture,
    source,
    sink,
    privacy,
    volume,
    daemon,
    leds,
    events,
    mutedInputs,
    texts,
    audioSent,
    dir,
  };
}

test('muting while listening: the turn ends with an abort, the pre-roll is dropped, nothing more is sent', async () => {
  const s = await setup();
  for (let i = 0; i < 3; i++) s.capture.frame();
  assert.equal(s.source.buffered, 3, 'the pre-roll fills while idle');
  s.daemon.input('click');
  assert.equal(s.daemon.conversation.state, 'listening');
  s.capture.frame();
  const sentBefore = s.audioSent();
  assert.equal(sentBefore, 4, 'pre-roll and live frame went out');

  s.daemon.control({ kind: 'muteToggle' });
  assert.equal(s.daemon.muted, true);
  assert.equal(s.daemon.conversation.state, 'idle', 'the listening turn ended');
  assert.equal(s.daemon.conversation.sourceRunning, false, 'mic off');
  assert.deepEqual(s.texts().slice(-1), ['abort'], 'ended like a cancel');
  assert.equal(s.source.state, 'muted');
  for (let i = 0; i < 10; i++) s.capture.frame();
  assert.equal(s.source.buffered, 0, 'the pre-roll stays empty while muted');
  assert.equal(s.audioSent(), sentBefore, 'nothing sent after the mute');
  assert.deepEqual(s.events, ['mute true button']);
  s.daemon.conversation.assertInvariants();

  await flush();
  assert.equal(s.daemon.indicator?.name, 'privacy');
  assert.equal(s.leds.at(-1)?.color, 'amber');
  assert.match(s.daemon.status, /^online · idle · muted \(privacy\)$/);
  await s.privacy.close();
  assert.deepEqual(JSON.parse(readFileSync(s.privacy.file, 'utf8')), { muted: true });
});

test('muted: a click starts no turn and is reported; a double click and a long press still work', async () => {
  const s = await setup();
  s.daemon.control({ kind: 'muteToggle' });
  const textsBefore = s.texts().length;
  s.daemon.input('click');
  s.daemon.input('click');
  assert.deepEqual(s.mutedInputs, ['click', 'click']);
  assert.equal(s.daemon.conversation.state, 'idle');
  assert.equal(s.texts().length, textsBefore, 'no listen start');
  s.capture.frame();
  assert.equal(s.audioSent(), 0);

  // The server speaks by itself; a double click stops it while muted.
  s.conn.serverText({ type: 'tts', state: 'start' });
  assert.equal(s.daemon.conversation.state, 'speaking');
  s.daemon.input('doubleClick');
  assert.equal(s.daemon.conversation.state, 'idle', 'double click stopped the reply');
  // A long press reconnects.
  s.daemon.input('longPress');
  assert.equal(s.daemon.conversation.state, 'connecting');
  assert.equal(s.mutedInputs.length, 2, 'neither was refused');
  s.daemon.conversation.assertInvariants();
});

test('push-to-talk: a press while muted is refused; muting while held ends the turn', async () => {
  const s = await setup({ mode: 'push-to-talk' });
  s.daemon.input('press');
  assert.equal(s.daemon.conversation.state, 'listening');
  s.daemon.control({ kind: 'muteToggle' });
  assert.equal(s.daemon.conversation.state, 'idle');
  s.daemon.input('release');
  assert.equal(s.daemon.conversation.state, 'idle', 'the release of the ended turn does nothing');
  assert.equal(
    s.texts().filter((t) => t === 'listen stop').length,
    0,
    'no listen stop: the server must not answer what it heard',
  );
  s.daemon.input('press');
  assert.deepEqual(s.mutedInputs, ['press']);
  assert.equal(s.daemon.conversation.state, 'idle');
  s.daemon.conversation.assertInvariants();
});

test('muted while a reply plays: it plays out, auto mode does not listen again', async () => {
  const s = await setup();
  s.daemon.input('click');
  s.capture.frame();
  s.conn.serverText({ type: 'tts', state: 'start' });
  assert.equal(s.daemon.conversation.state, 'speaking');
  s.daemon.control({ kind: 'muteToggle' });
  assert.equal(s.daemon.conversation.state, 'speaking', 'the reply goes on');
  assert.equal(s.sink.aborts, 0);
  const starts = s.texts().filter((t) => t === 'listen start').length;
  s.conn.serverText({ type: 'tts', state: 'stop' });
  s.sink.drain();
  assert.equal(s.daemon.conversation.state, 'idle', 'no follow-up turn');
  assert.equal(s.texts().filter((t) => t === 'listen start').length, starts, 'no listen start');
  assert.equal(s.daemon.conversation.sourceRunning, false);
  s.daemon.conversation.assertInvariants();

  // Unmuted: the pre-roll fills again and a click is a turn again, with the fresh pre-roll.
  s.daemon.control({ kind: 'muteToggle' });
  assert.deepEqual(s.events, ['mute true button', 'mute false button']);
  assert.equal(s.source.state, 'buffering');
  s.capture.frame();
  s.capture.frame();
  const before = s.audioSent();
  s.daemon.input('click');
  assert.equal(s.daemon.conversation.state, 'listening');
  assert.equal(s.audioSent() - before, 2, 'only what was heard after the unmute');
});

test('muted at start (a switch, or saved): the pre-roll never fills and no event is emitted', async () => {
  const s = await setup({ startMuted: true });
  assert.equal(s.daemon.muted, true);
  s.capture.frame();
  assert.equal(s.source.buffered, 0);
  assert.equal(s.source.state, 'muted');
  assert.deepEqual(s.events, []);
  assert.equal(s.daemon.indicator?.name, 'privacy');
  // The switch moved: the change counts, reason "switch".
  s.daemon.control({ kind: 'muteSwitch', muted: false, atStart: false });
  assert.deepEqual(s.events, ['mute false switch']);
  assert.equal(s.source.state, 'buffering');
});

test('volume buttons: steps of audio.volumeStep, clamped to 0–100, persisted, each press announced', async () => {
  const s = await setup({ volume: 95 });
  s.daemon.control({ kind: 'volumeUp' });
  await s.volume.close();
  assert.equal(s.volume.level, 100);
  s.daemon.control({ kind: 'volumeUp' });
  await s.volume.close();
  assert.equal(s.volume.level, 100, 'clamped');
  for (let i = 0; i < 3; i++) s.daemon.control({ kind: 'volumeDown' });
  await s.volume.close();
  await flush();
  assert.equal(s.volume.level, 70);
  assert.deepEqual(JSON.parse(readFileSync(join(s.dir, VOLUME_FILE), 'utf8')), { level: 70 });
  // The MCP path (main.ts hands set_volume this method) is announced the same way.
  await s.daemon.setVolume(40, 'mcp');
  assert.deepEqual(s.events, [
    'volume 100 button',
    'volume 100 button',
    'volume 90 button',
    'volume 80 button',
    'volume 70 button',
    'volume 40 mcp',
  ]);
  for (let i = 0; i < 6; i++) s.daemon.control({ kind: 'volumeDown' });
  await s.volume.close();
  await flush();
  assert.equal(s.volume.level, 0, 'clamped at 0');
  // Muted or not, the volume buttons work.
  assert.equal(s.daemon.muted, false);
});

test('without a privacy mute the daemon is never muted and a click is a turn', async () => {
  const clock = new ManualClock(1000);
  const fc = fakeConnector();
  const config = configSchema.parse({ server: { websocketUrl: 'ws://x/xiaozhi/v1/' } });
  const source = new PrerollSource(new FakeCapture(), { name: 'alsa:test', prerollMs: 300 });
  source.open();
  const daemon = new Daemon({
    config,
    identity: { deviceId: 'aa:bb:cc:dd:ee:ff', clientId: '11111111-2222-4333-8444-555555555555' },
    credentials: {
      current: () => ({ url: 'ws://x/xiaozhi/v1/', token: '' }),
      refresh: async () => ({ url: 'ws://x/xiaozhi/v1/', token: '' }),
    },
    connector: fc.connector,
    source,
    sink: new MemorySink(),
    leds: { render: () => undefined },
    clock,
    random: seededRandom(3),
    log: captureLogger('warn').log,
  });
  await daemon.start();
  fc.last().serverOpen();
  fc.last().serverHello();
  assert.equal(daemon.muted, false);
  daemon.control({ kind: 'muteToggle' });
  assert.equal(daemon.muted, false, 'a mute event without a mute wired changes nothing');
  daemon.input('click');
  assert.equal(daemon.conversation.state, 'listening');
  const stopped = daemon.stop();
  fc.last().serverClose(1000);
  await stopped;
  assert.equal(daemon.state, 'stopped');
});
