/**
 * The dev-server's `listen detect` the way xinnan answers it (src/devserver/wake.ts, protocol.md
 * §5.1 row listen/detect, §11 item 10): the greeting turn, the greeting off, a text that is no wake
 * word answered as an utterance, and the `just_woken_up` window that drops the uplink after a
 * greeting — the window tests on a ManualClock, so nothing depends on the machine's speed.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import {
  type DetectAnswer,
  type DevServer,
  GREETING_PROMPT,
  GREETING_REPLY,
  parseDevServerArgs,
  XINNAN_WAKEUP_WORDS,
} from '../../src/devserver/index.js';
import type { TtsStopReason } from '../../src/devserver/types.js';
import { detectAnswer, normalizeWakeText, sttText } from '../../src/devserver/wake.js';
import {
  decode24k,
  opusPackets16k,
  readReply,
  startManualServer,
  startServer,
  stepUntil,
  TestClient,
  voiced,
  withTimeout,
} from './devserver-harness.js';

const VOICED = opusPackets16k(voiced(60))[0] ?? Buffer.alloc(0);
/** One 60 ms uplink frame decoded: 960 samples of 16 kHz s16. */
const FRAME_PCM_BYTES = 960 * 2;

async function frame(server: DevServer, c: TestClient): Promise<void> {
  const heard = once(server, 'audio');
  c.sendBinary(VOICED);
  await withTimeout(heard, 2000, 'the server to decode the frame');
}

function seen(server: DevServer): { detects: DetectAnswer[]; stops: TtsStopReason[] } {
  const s = { detects: [] as DetectAnswer[], stops: [] as TtsStopReason[] };
  server.on('detect', (e) => s.detects.push(e.answer));
  server.on('tts-stop', (e) => s.stops.push(e.reason));
  return s;
}

test('wake words: xinnan matching, punctuation and spaces ignored anywhere, case kept; stt text trimmed at the ends only', () => {
  const xinnan = { wakeupWords: XINNAN_WAKEUP_WORDS, enableGreeting: true };
  assert.equal(XINNAN_WAKEUP_WORDS[0], '你好小智');
  assert.equal(detectAnswer('你好小智', xinnan), 'greeting');
  assert.equal(detectAnswer('你好，小智！', xinnan), 'greeting');
  assert.equal(detectAnswer(' 小爱 同学。', xinnan), 'greeting');
  assert.equal(detectAnswer('你好小智今天天气怎么样', xinnan), 'chat');
  assert.equal(detectAnswer('', xinnan), 'chat');
  assert.equal(detectAnswer('你好小智', { ...xinnan, enableGreeting: false }), 'stt-only');
  const english = { wakeupWords: ['hey jarvis', 'alexa'], enableGreeting: true };
  assert.equal(detectAnswer('hey jarvis', english), 'greeting');
  assert.equal(detectAnswer('heyjarvis.', english), 'greeting');
  assert.equal(detectAnswer('Alexa', english), 'chat', 'xinnan compares case-sensitively');
  assert.equal(normalizeWakeText('a, b!c？ d'), 'abcd');
  assert.equal(sttText('  你好，小智！😀'), '你好，小智');
  assert.equal(sttText('what time is it?'), 'what time is it');
});

test('a wake word (greeting on, the default) → a greeting turn: stt with the prompt, tts start, the greeting sentence, audible audio, tts stop', async (t) => {
  const { server, url } = await startServer(t);
  const s = seen(server);
  const c = new TestClient(url);
  await c.hello();
  c.send({ type: 'listen', state: 'detect', text: '你好小智' });
  const reply = await readReply(c);
  assert.deepEqual(reply.order, ['stt', 'tts:start', 'tts:sentence_start', 'audio', 'tts:stop']);
  assert.equal(reply.stt, GREETING_PROMPT);
  assert.equal(reply.sentence, GREETING_REPLY);
  // About 1 s of chime at 60 ms a packet.
  assert.ok(reply.packets.length >= 15 && reply.packets.length <= 20, `${reply.packets.length} packets`);
  const down = decode24k(reply.packets);
  assert.equal(down.failed, 0);
  assert.ok(down.levelDbfs > -30, `greeting level ${down.levelDbfs} dBFS`);
  assert.deepEqual(s.detects, ['greeting']);
  assert.deepEqual(s.stops, ['done']);
});

test('the firmware order — wake audio, listen detect, listen start — does not cut the greeting', async (t) => {
  const { url } = await startServer(t);
  const c = new TestClient(url);
  await c.hello();
  for (const p of opusPackets16k(voiced(600))) c.sendBinary(p);
  c.send({ type: 'listen', state: 'detect', text: '你好小智' });
  c.send({ type: 'listen', state: 'start', mode: 'auto' });
  const reply = await readReply(c);
  assert.deepEqual(reply.order, ['stt', 'tts:start', 'tts:sentence_start', 'audio', 'tts:stop']);
  assert.ok(reply.packets.length >= 15, `${reply.packets.length} packets: the whole greeting`);
});

test('a text that is no wake word → answered as an utterance (stt, tts start, a sentence, audio, tts stop), and no window follows', async (t) => {
  const { server, url } = await startServer(t);
  const s = seen(server);
  const c = new TestClient(url);
  await c.hello();
  c.send({ type: 'listen', state: 'detect', text: 'what time is it?' });
  const reply = await readReply(c);
  assert.deepEqual(reply.order, ['stt', 'tts:start', 'tts:sentence_start', 'audio', 'tts:stop']);
  assert.equal(reply.stt, 'what time is it');
  assert.equal(reply.sentence, 'you said "what time is it" (dev-server, no LLM)');
  assert.ok(reply.packets.length >= 20, `${reply.packets.length} packets (three notes)`);
  assert.deepEqual(s.detects, ['chat']);
  // Speech right after the answer is heard: only a greeting opens the window.
  const utterance = once(server, 'utterance');
  c.send({ type: 'listen', state: 'start', mode: 'manual' });
  for (const p of opusPackets16k(voiced(300))) c.sendBinary(p);
  c.send({ type: 'listen', state: 'stop' });
  const [u] = await withTimeout(utterance, 2000, 'the utterance');
  assert.equal(u.pcm.length, 5 * FRAME_PCM_BYTES);
});

test('after a greeting, every uplink frame is dropped from the first one for wakeIgnoreMs (2 s), collected audio with it; then audio counts again', async (t) => {
  const { server, clock, lines, url } = await startManualServer(t);
  const s = seen(server);
  const c = new TestClient(url);
  await c.hello();
  const utterances: number[] = [];
  server.on('utterance', (e) => utterances.push(e.pcm.length));
  c.send({ type: 'listen', state: 'detect', text: '你好小智' });
  await frame(server, c); // t = 0: the window starts here
  stepUntil(clock, () => s.stops.length > 0, 'the greeting played out');
  const greetingEnd = clock.now();
  // 17 packets: 5 at once, 12 paced at 60 ms, then the 120 ms tail.
  assert.equal(greetingEnd, 12 * 60 + 120, 'the greeting is over inside the window');
  // The device listens again after tts stop; what it sends inside the window is dropped.
  c.send({ type: 'listen', state: 'start', mode: 'manual' });
  for (let i = 0; i < 5; i++) await frame(server, c);
  clock.advance(2000 - greetingEnd - 1);
  await frame(server, c); // t = 1999: still inside
  clock.advance(1);
  for (let i = 0; i < 10; i++) await frame(server, c);
  const ended = once(server, 'utterance');
  c.send({ type: 'listen', state: 'stop' });
  await withTimeout(ended, 2000, 'the utterance');
  assert.deepEqual(utterances, [10 * FRAME_PCM_BYTES], 'only the frames after the window');
  assert.ok(
    lines.some((l) => l.devserver_wake_ignore_to === 'off' && l.dropped_frames === 7),
    'the window logs what it dropped (1 + 5 + 1 frames)',
  );
});

test('the window starts at the first frame after the detect, not at the detect; greeting off opens none', async (t) => {
  const { server, clock, url } = await startManualServer(t);
  const s = seen(server);
  const c = new TestClient(url);
  await c.hello();
  const utterances: number[] = [];
  server.on('utterance', (e) => utterances.push(e.pcm.length));
  c.send({ type: 'listen', state: 'detect', text: '小爱同学' });
  await withTimeout(once(server, 'tts-start'), 2000, 'the greeting');
  stepUntil(clock, () => s.stops.length > 0, 'the greeting played out');
  clock.advance(5000);
  c.send({ type: 'listen', state: 'start', mode: 'manual' });
  for (let i = 0; i < 3; i++) await frame(server, c); // t = 5000+: dropped, the window starts
  clock.advance(1999);
  await frame(server, c); // dropped
  clock.advance(1);
  for (let i = 0; i < 4; i++) await frame(server, c);
  let ended = once(server, 'utterance');
  c.send({ type: 'listen', state: 'stop' });
  await withTimeout(ended, 2000, 'the utterance');
  assert.deepEqual(utterances, [4 * FRAME_PCM_BYTES]);
  assert.deepEqual(s.detects, ['greeting']);
  c.close();
  await once(server, 'closed');

  const off = await startManualServer(t, { enableGreeting: false });
  const s2 = seen(off.server);
  const c2 = new TestClient(off.url);
  await c2.hello();
  const heard: number[] = [];
  off.server.on('utterance', (e) => heard.push(e.pcm.length));
  c2.send({ type: 'listen', state: 'detect', text: '你好小智' });
  c2.send({ type: 'listen', state: 'start', mode: 'manual' });
  for (let i = 0; i < 3; i++) await frame(off.server, c2);
  ended = once(off.server, 'utterance');
  c2.send({ type: 'listen', state: 'stop' });
  await withTimeout(ended, 2000, 'the utterance');
  assert.deepEqual(heard, [3 * FRAME_PCM_BYTES], 'nothing dropped');
  assert.deepEqual(s2.detects, ['stt-only']);
  assert.deepEqual(s2.stops, ['detect']);
});

test('a second greeting inside the window does not restart it (xinnan: the resume task is still running)', async (t) => {
  const { server, clock, url } = await startManualServer(t, { wakeIgnoreMs: 1000 });
  const s = seen(server);
  const c = new TestClient(url);
  await c.hello();
  const utterances: number[] = [];
  server.on('utterance', (e) => utterances.push(e.pcm.length));
  c.send({ type: 'listen', state: 'detect', text: '你好小智' });
  await frame(server, c); // window 0…1000
  clock.advance(500);
  const second = once(server, 'detect');
  c.send({ type: 'listen', state: 'detect', text: '你好小智' });
  await withTimeout(second, 2000, 'the second detect');
  stepUntil(clock, () => s.stops.length > 0, 'the second greeting played out');
  assert.ok(clock.now() > 1000, 'past the first window');
  c.send({ type: 'listen', state: 'start', mode: 'manual' });
  for (let i = 0; i < 2; i++) await frame(server, c);
  const ended = once(server, 'utterance');
  c.send({ type: 'listen', state: 'stop' });
  await withTimeout(ended, 2000, 'the utterance');
  assert.deepEqual(utterances, [2 * FRAME_PCM_BYTES]);
  assert.deepEqual(s.detects, ['greeting', 'greeting']);
});

test('CLI: --wake-word (repeatable, replaces the list), --no-greeting, --wake-ignore-ms; a word of punctuation only is refused', () => {
  assert.deepEqual(
    parseDevServerArgs([
      '--wake-word',
      'hey jarvis',
      '--wake-word',
      'alexa',
      '--no-greeting',
      '--wake-ignore-ms',
      '1000',
    ]),
    {
      host: '127.0.0.1',
      port: 8000,
      ota: false,
      faults: {},
      noVoiceCloseMs: 120_000,
      wakeupWords: ['hey jarvis', 'alexa'],
      enableGreeting: false,
      wakeIgnoreMs: 1000,
    },
  );
  assert.throws(() => parseDevServerArgs(['--wake-word', '!?']), /only punctuation/);
  assert.throws(() => parseDevServerArgs(['--wake-ignore-ms', 'soon']), /--wake-ignore-ms wants/);
});
