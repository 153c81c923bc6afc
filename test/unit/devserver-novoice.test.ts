/**
 * xinnan's no-voice timer, farewell and backstop (protocol.md §8.1 rows 3–4, issue 12 §2) and the
 * close-after-reply switch, on a ManualClock: real sockets, but every server timer moves only when
 * the test says so, so nothing here depends on how fast the machine is.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import type { DevServer } from '../../src/devserver/index.js';
import type { TtsStopReason } from '../../src/devserver/types.js';
import type { LogLine } from '../fakes/capture-logger.js';
import {
  decode24k,
  type Frame,
  opusPackets16k,
  silence,
  startManualServer,
  stepUntil,
  TestClient,
  voiced,
  waitFor,
  withTimeout,
} from './devserver-harness.js';

const SILENT = opusPackets16k(silence(60))[0] ?? Buffer.alloc(0);
const VOICED = opusPackets16k(voiced(60))[0] ?? Buffer.alloc(0);
const TIMER = { noVoiceCloseMs: 1000, noVoiceCheckMs: 100 } as const;

/** Sends one uplink packet and resolves once the server has acted on it. */
async function frame(server: DevServer, c: TestClient, packet: Buffer): Promise<void> {
  const heard = once(server, 'audio');
  c.sendBinary(packet);
  await withTimeout(heard, 2000, 'the server to decode the frame');
}

/** The session's state field reached `closing` (it logs each transition when it happens). */
function closing(lines: readonly LogLine[]): boolean {
  return lines.some((l) => l.devserver_session_to === 'closing');
}

function counter(server: DevServer): { farewells: number[]; stops: TtsStopReason[] } {
  const seen = { farewells: [] as number[], stops: [] as TtsStopReason[] };
  server.on('farewell', (e) => seen.farewells.push(e.silentForMs));
  server.on('tts-stop', (e) => seen.stops.push(e.reason));
  return seen;
}

/** What the client received, as `type:state` / `audio` (one per binary frame). */
function shape(frames: readonly Frame[]): string[] {
  return frames.map((f) =>
    f.kind === 'binary'
      ? 'audio'
      : `${String(f.json?.type)}${f.json?.state ? `:${String(f.json.state)}` : ''}`,
  );
}

test('past the no-voice timeout, the next audio frame gets the farewell: tts start without stt, a chime, tts stop, close 1000 3 ms later', async (t) => {
  const { server, clock, lines, url } = await startManualServer(t, TIMER);
  const c = new TestClient(url);
  const hello = await c.hello();
  const seen = counter(server);
  let utterances = 0;
  server.on('utterance', () => utterances++);
  clock.advance(1001);
  // A press after the timeout: its first frame has no voice yet (issue 12 §2).
  const farewell = once(server, 'farewell');
  c.send({ type: 'listen', state: 'start', mode: 'auto' });
  await frame(server, c, SILENT);
  const [e] = await farewell;
  assert.deepEqual(e, { sessionId: hello.session_id, silentForMs: 1001 });
  // During the farewell nothing the client sends is acted on: speech, abort, listen stop/start.
  for (const p of opusPackets16k(voiced(600))) c.sendBinary(p);
  c.send({ type: 'abort' });
  c.send({ type: 'listen', state: 'stop' });
  c.send({ type: 'listen', state: 'start', mode: 'auto' });
  await waitFor(
    () =>
      lines.filter((l) => l.msg.endsWith('during the farewell ignored, the connection closes after it'))
        .length === 3,
    2000,
    'abort, listen stop and listen start ignored',
  );
  stepUntil(clock, () => seen.stops.length > 0, 'the farewell played out');
  assert.deepEqual(seen.stops, ['farewell']);
  clock.advance(2);
  assert.equal(closing(lines), false, 'not before 3 ms');
  clock.advance(1);
  assert.equal(closing(lines), true, 'closing 3 ms after tts stop');
  assert.equal((await withTimeout(c.closed, 2000, 'the close')).code, 1000);
  const frames = c.queue.splice(0);
  const packets = frames.flatMap((f) => (f.kind === 'binary' ? [f.data] : []));
  assert.deepEqual(
    shape(frames).filter((s, i, all) => s !== 'audio' || all[i - 1] !== 'audio'),
    ['tts:start', 'tts:sentence_start', 'audio', 'tts:stop'],
    'no stt, one tts stop',
  );
  assert.equal(packets.length, 17, '~1 s of chime in 60 ms packets');
  const down = decode24k(packets);
  assert.equal(down.failed, 0);
  assert.ok(down.levelDbfs > -30, `audible: ${down.levelDbfs} dBFS`);
  assert.equal(utterances, 0, 'the speech sent during the farewell was not recognised');
  assert.deepEqual(seen.farewells, [1001]);
  assert.ok(
    lines.some(
      (l) => l.msg === 'dev-server: no voice past the timeout, farewell then close 1000 like xinnan',
    ),
  );
});

test('voice heard before the timeout resets it, in any phase', async (t) => {
  const { server, clock, url } = await startManualServer(t, TIMER);
  const c = new TestClient(url);
  await c.hello();
  const seen = counter(server);
  clock.advance(900);
  await frame(server, c, VOICED); // not listening: still judged by the VAD, like xinnan
  // The decoder rings on into the next packet; flushed at the same instant, it changes nothing.
  await frame(server, c, SILENT);
  clock.advance(1000);
  await frame(server, c, SILENT);
  assert.deepEqual(seen.farewells, [], '1000 ms since the voice is not more than the timeout');
  clock.advance(1);
  await frame(server, c, SILENT);
  assert.deepEqual(seen.farewells, [1001]);
});

test('hello, listen start/stop, MCP, client pings and silent audio do not reset it: the clock runs from the connect', async (t) => {
  const { server, clock, url } = await startManualServer(t, TIMER);
  const c = new TestClient(url);
  await withTimeout(c.opened, 2000, 'open');
  const seen = counter(server);
  clock.advance(900);
  await c.hello();
  c.send({ type: 'listen', state: 'start', mode: 'manual' });
  c.send({ type: 'listen', state: 'stop' }); // nothing collected: no reply (whose TTS would count)
  c.send({ type: 'mcp', payload: { jsonrpc: '2.0', id: 1, result: {} } });
  const pong = once(c.ws, 'pong');
  c.ws.ping();
  await withTimeout(pong, 2000, 'pong');
  await frame(server, c, SILENT);
  assert.deepEqual(seen.farewells, []);
  clock.advance(101);
  await frame(server, c, SILENT);
  assert.deepEqual(seen.farewells, [1001], 'measured from the connect, not from hello or listen start');
});

test('every TTS packet sent resets it', async (t) => {
  const { server, clock, url } = await startManualServer(t, TIMER);
  const c = new TestClient(url);
  await c.hello();
  const seen = counter(server);
  const started = once(server, 'tts-start');
  c.send({ type: 'listen', state: 'start', mode: 'manual' });
  // Trailing silence: the decoder's ringing after the speech is heard now, not in the check below.
  for (const p of opusPackets16k(Buffer.concat([voiced(1200), silence(120)]))) c.sendBinary(p);
  c.send({ type: 'listen', state: 'stop' });
  await withTimeout(started, 2000, 'the reply');
  stepUntil(clock, () => seen.stops.length > 0, 'the reply played out');
  assert.ok(clock.now() > 1000, `the reply outlasted the timeout (${clock.now()} ms)`);
  // The last packet went out ttsTailMs (120) before tts stop: 880 ms after tts stop is 1000 after it.
  clock.advance(880);
  await frame(server, c, SILENT);
  assert.deepEqual(seen.farewells, [], 'TTS kept the session alive');
  clock.advance(1);
  await frame(server, c, SILENT);
  assert.deepEqual(seen.farewells, [1001]);
});

test('listen detect with text resets it', async (t) => {
  // Greeting off: the answer has no TTS packets, which would reset the clock themselves.
  const { server, clock, url } = await startManualServer(t, { ...TIMER, enableGreeting: false });
  const c = new TestClient(url);
  await c.hello();
  const seen = counter(server);
  clock.advance(900);
  const answered = once(server, 'tts-stop');
  c.send({ type: 'listen', state: 'detect', text: '你好小智' });
  await withTimeout(answered, 2000, 'the detect answer');
  clock.advance(1000);
  await frame(server, c, SILENT);
  assert.deepEqual(seen.farewells, []);
  clock.advance(1);
  await frame(server, c, SILENT);
  assert.deepEqual(seen.farewells, [1001]);
});

test('no audio at all: the backstop closes 1000 at timeout + 60 s, on its check interval, without a word', async (t) => {
  const { server, clock, lines, url } = await startManualServer(t, TIMER);
  const c = new TestClient(url);
  await c.hello();
  const seen = counter(server);
  clock.advance(61_000);
  assert.equal(closing(lines), false, 'exactly timeout + 60 s is not past it');
  clock.advance(100);
  assert.equal(closing(lines), true, 'the next check closes');
  assert.equal((await withTimeout(c.closed, 2000, 'the close')).code, 1000);
  assert.deepEqual(c.queue, [], 'nothing was sent before the close');
  assert.deepEqual(seen.farewells, []);
  assert.ok(lines.some((l) => l.msg.includes("like xinnan's backstop") && l.silent_ms === 61_100));
});

test("xinnan's defaults: no-voice 120 s, checked every 10 s → the backstop closes at 190 s", async (t) => {
  const { clock, lines, url } = await startManualServer(t, { noVoiceCloseMs: 120_000 });
  const c = new TestClient(url);
  await c.hello();
  clock.advance(189_999);
  assert.equal(closing(lines), false);
  clock.advance(1);
  assert.equal(closing(lines), true);
  assert.equal((await withTimeout(c.closed, 2000, 'the close')).code, 1000);
});

test('off by default in the class: nothing closes a silent client', async (t) => {
  const { server, clock, lines, url } = await startManualServer(t);
  const c = new TestClient(url);
  await c.hello();
  const seen = counter(server);
  clock.advance(10 * 60_000);
  await frame(server, c, SILENT);
  assert.deepEqual(seen.farewells, []);
  assert.equal(closing(lines), false);
  assert.equal(clock.pending, 0, 'no timer runs for it');
});

test('fault close-after-reply: tts stop, then close 1000 3 ms later', async (t) => {
  const { server, clock, lines, url } = await startManualServer(t, { faults: { closeAfterReply: true } });
  const c = new TestClient(url);
  await c.hello();
  const seen = counter(server);
  const started = once(server, 'tts-start');
  c.send({ type: 'listen', state: 'start', mode: 'manual' });
  for (const p of opusPackets16k(voiced(600))) c.sendBinary(p);
  c.send({ type: 'listen', state: 'stop' });
  await withTimeout(started, 2000, 'the reply');
  stepUntil(clock, () => seen.stops.length > 0, 'the reply played out');
  assert.deepEqual(seen.stops, ['done']);
  clock.advance(2);
  assert.equal(closing(lines), false, 'not before 3 ms');
  clock.advance(1);
  assert.equal(closing(lines), true);
  assert.equal((await withTimeout(c.closed, 2000, 'the close')).code, 1000);
  const order = shape(c.queue.splice(0)).filter((s, i, all) => s !== 'audio' || all[i - 1] !== 'audio');
  assert.deepEqual(order, ['stt', 'tts:start', 'tts:sentence_start', 'audio', 'tts:stop']);
  assert.ok(lines.some((l) => l.msg.startsWith('dev-server: fault close-after-reply')));
});
