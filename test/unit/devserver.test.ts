import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { NO_DEVICE_ID_TEXT } from '../../src/devserver/index.js';
import {
  decode24k,
  isJson,
  opusPackets16k,
  readReply,
  silence,
  startManualServer,
  startServer,
  TestClient,
  voiced,
  withTimeout,
} from './devserver-harness.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function speak(c: TestClient, pcm: Buffer): void {
  for (const p of opusPackets16k(pcm)) c.sendBinary(p);
}

test('hello: answers with session_id and the real 24 kHz downlink rate', async (t) => {
  const { server, url } = await startServer(t);
  assert.match(url, /^ws:\/\/127\.0\.0\.1:\d+\/xiaozhi\/v1\/$/);
  const connected = once(server, 'connection');
  const c = new TestClient(url);
  const hello = await c.hello();
  const [conn] = await connected;
  assert.equal(conn.deviceId, 'aa:bb:cc:dd:ee:ff');
  assert.equal(hello.transport, 'websocket');
  assert.equal(hello.version, 1);
  assert.deepEqual(hello.audio_params, {
    format: 'opus',
    sample_rate: 24000,
    channels: 1,
    frame_duration: 60,
  });
  assert.match(String(hello.session_id), UUID_V4);
  assert.equal(server.clients, 1);
  c.close();
  const [closed] = await once(server, 'closed');
  assert.equal(closed.sessionId, hello.session_id);
  assert.equal(server.clients, 0);
});

test('auto mode: speech then silence → stt, tts start, sentence, ≥20 non-silent 24 kHz packets, tts stop', async (t) => {
  const { server, url } = await startServer(t);
  const c = new TestClient(url);
  const hello = await c.hello();
  const utterance = once(server, 'utterance');
  c.send({ session_id: hello.session_id, type: 'listen', state: 'start', mode: 'auto' });
  speak(c, Buffer.concat([voiced(1500), silence(600)]));
  const reply = await readReply(c);
  const [u] = await utterance;
  assert.equal(u.reason, 'vad');
  assert.ok(u.speechMs >= 1300 && u.speechMs <= 1600, `speech ${u.speechMs} ms`);
  assert.match(reply.stt, /^heard 1\.\d\d s of speech \(peak -\d+ dBFS\)$/);
  assert.deepEqual(reply.order, ['stt', 'tts:start', 'tts:sentence_start', 'audio', 'tts:stop']);
  assert.ok(reply.packets.length >= 20, `${reply.packets.length} packets`);
  const down = decode24k(reply.packets);
  assert.equal(down.failed, 0);
  assert.equal(down.pcm.length, reply.packets.length * 1440 * 2, '60 ms at 24 kHz per packet');
  assert.ok(down.levelDbfs > -30, `downlink level ${down.levelDbfs} dBFS`);
});

test('messages carry the session_id', async (t) => {
  const { url } = await startServer(t);
  const c = new TestClient(url);
  const hello = await c.hello();
  c.send({ session_id: hello.session_id, type: 'listen', state: 'detect', text: '你好小智' });
  const frames = [await c.next(), await c.next(), await c.next()];
  for (const f of frames) assert.ok(f.kind === 'text' && f.json?.session_id === hello.session_id);
});

test('manual mode: listen stop ends the utterance and the reply follows', async (t) => {
  const { server, url } = await startServer(t);
  const c = new TestClient(url);
  await c.hello();
  const listens: unknown[] = [];
  server.on('listen', (e) => listens.push({ state: e.state, mode: e.mode }));
  const utterance = once(server, 'utterance');
  c.send({ session_id: '', type: 'listen', state: 'start', mode: 'manual' });
  // Silence in between must not end a manual utterance.
  speak(c, Buffer.concat([voiced(600), silence(900), voiced(300)]));
  c.send({ session_id: '', type: 'listen', state: 'stop' });
  const reply = await readReply(c);
  const [u] = await utterance;
  assert.equal(u.reason, 'listen-stop');
  assert.equal(u.pcm.length, 1800 * 32, 'everything since listen start, 16 kHz');
  assert.deepEqual(listens, [
    { state: 'start', mode: 'manual' },
    { state: 'stop', mode: undefined },
  ]);
  assert.match(reply.stt, /^heard 0\.\d\d s of speech/);
  assert.ok(reply.packets.length > 0);
});

test('maxUtteranceMs ends an utterance that never pauses', async (t) => {
  const { server, url } = await startServer(t, { maxUtteranceMs: 600 });
  const c = new TestClient(url);
  await c.hello();
  const utterance = once(server, 'utterance');
  c.send({ type: 'listen', state: 'start', mode: 'auto' });
  speak(c, voiced(1200));
  const [u] = await withTimeout(utterance, 2000, 'utterance');
  assert.equal(u.reason, 'max');
  assert.equal(u.pcm.length, 600 * 32);
  await readReply(c);
});

test('abort during the reply → tts stop at once, no more audio', async (t) => {
  const { server, url } = await startServer(t);
  const c = new TestClient(url);
  await c.hello();
  c.send({ type: 'listen', state: 'start', mode: 'manual' });
  speak(c, voiced(2000));
  c.send({ type: 'listen', state: 'stop' });
  await c.until((f) => f.kind === 'binary');
  const aborted = once(server, 'abort');
  const stopped = once(server, 'tts-stop');
  c.send({ type: 'abort', reason: 'wake_word_detected' });
  const { before } = await c.until(isJson('tts', 'stop'), 500);
  assert.ok(before.every((f) => f.kind === 'binary'));
  assert.equal((await aborted)[0].reason, 'wake_word_detected');
  assert.equal((await stopped)[0].reason, 'abort');
  assert.deepEqual(await c.drain(150), [], 'nothing after tts stop');
});

test('listen detect, a wake word with the greeting off → stt with the text, tts start and stop, no audio', async (t) => {
  const { url } = await startServer(t, { enableGreeting: false });
  const c = new TestClient(url);
  await c.hello();
  c.send({ type: 'listen', state: 'detect', text: '你好小智' });
  const reply = await readReply(c, 1000);
  assert.equal(reply.stt, '你好小智');
  assert.deepEqual(reply.order, ['stt', 'tts:start', 'tts:stop']);
});

test('silence only: the reply still comes and says nothing loud was heard', async (t) => {
  const { url } = await startServer(t, { maxUtteranceMs: 500 });
  const c = new TestClient(url);
  await c.hello();
  c.send({ type: 'listen', state: 'start', mode: 'auto' });
  speak(c, silence(600));
  const reply = await readReply(c);
  assert.match(reply.stt, /^heard nothing loud enough \(0\.\d\d s of audio, peak /);
});

test('non-JSON text is echoed verbatim; unknown types, mcp and invalid Opus are ignored', async (t) => {
  const { server, url, lines } = await startServer(t);
  const c = new TestClient(url);
  await c.hello();
  c.sendText('hello? {not json');
  const echo = await c.next();
  assert.deepEqual(echo, { kind: 'text', text: 'hello? {not json', json: undefined });
  let audio = 0;
  server.on('audio', () => audio++);
  c.send({ type: 'listen', state: 'start', mode: 'manual' });
  c.send({ type: 'goodbye' });
  c.send({ type: 'whatever' });
  c.send({ type: 'mcp', payload: { jsonrpc: '2.0', id: 1, result: {} } });
  c.sendBinary(Buffer.from([0xff, 0x00, 1, 2, 3]));
  speak(c, voiced(300));
  c.send({ type: 'listen', state: 'stop' });
  const reply = await readReply(c);
  assert.equal(audio, 5, 'the invalid packet was dropped, the 5 valid ones decoded');
  assert.ok(reply.stt.startsWith('heard'));
  assert.ok(lines.some((l) => l.msg.includes('undecodable uplink packet dropped')));
});

test('no Device-Id → the xinnan text, then close 1000', async (t) => {
  const { url } = await startServer(t);
  const c = new TestClient(url, { deviceId: undefined });
  const f = await c.next();
  assert.deepEqual(f, { kind: 'text', text: NO_DEVICE_ID_TEXT, json: undefined });
  assert.equal((await c.closed).code, 1000);
});

test('Device-Id in the query string is accepted like xinnan', async (t) => {
  const { url } = await startServer(t);
  const c = new TestClient(`${url}?device-id=11:22:33:44:55:66`, { deviceId: undefined });
  const hello = await c.hello();
  assert.equal(hello.type, 'hello');
});

test('auto mode: listen stop recognises what was collected, like xinnan → stt and the reply', async (t) => {
  const { server, url } = await startServer(t);
  const c = new TestClient(url);
  await c.hello();
  const utterance = once(server, 'utterance');
  c.send({ type: 'listen', state: 'start', mode: 'auto' });
  // No pause: the VAD has not ended it when the stop comes (a cancel in the middle of a sentence).
  speak(c, voiced(600));
  c.send({ type: 'listen', state: 'stop' });
  const reply = await readReply(c);
  const [u] = await utterance;
  assert.equal(u.reason, 'listen-stop');
  assert.equal(u.pcm.length, 600 * 32);
  assert.match(reply.stt, /^heard 0\.60 s of speech/);
  assert.deepEqual(reply.order, ['stt', 'tts:start', 'tts:sentence_start', 'audio', 'tts:stop']);
  // The next turn is an ordinary one.
  c.send({ type: 'listen', state: 'start', mode: 'auto' });
  speak(c, Buffer.concat([voiced(600), silence(400)]));
  assert.match((await readReply(c)).stt, /^heard 0\.\d\d s of speech/);
});

test('realtime mode: listen stop is answered too; 130 ms of audio is enough (issue 12 §1)', async (t) => {
  const { server, url } = await startServer(t);
  const c = new TestClient(url);
  await c.hello();
  const utterance = once(server, 'utterance');
  c.send({ type: 'listen', state: 'start', mode: 'realtime' });
  speak(c, voiced(120));
  c.send({ type: 'listen', state: 'stop' });
  const reply = await readReply(c);
  assert.equal((await utterance)[0].reason, 'listen-stop');
  assert.match(reply.stt, /^heard 0\.12 s of speech/);
});

test('listen stop with nothing collected → no reply, in auto and manual mode; the next turn works', async (t) => {
  const { server, url, lines } = await startServer(t);
  const c = new TestClient(url);
  await c.hello();
  let utterances = 0;
  server.on('utterance', () => utterances++);
  for (const mode of ['auto', 'manual']) {
    c.send({ type: 'listen', state: 'start', mode });
    c.send({ type: 'listen', state: 'stop' });
  }
  c.send({ type: 'listen', state: 'stop' }); // not listening at all
  assert.deepEqual(await c.drain(200), []);
  assert.equal(utterances, 0);
  assert.equal(
    lines.filter((l) => l.msg === 'dev-server: listen stop with no audio collected, no reply').length,
    2,
  );
  c.send({ type: 'listen', state: 'start', mode: 'auto' });
  speak(c, Buffer.concat([voiced(600), silence(400)]));
  assert.match((await readReply(c)).stt, /^heard 0\.\d\d s of speech/);
  assert.equal(utterances, 1);
});

test('abort while listening: tts stop at once, the audio collected so far is kept (xinnan abortHandle)', async (t) => {
  const { server, url } = await startServer(t);
  const c = new TestClient(url);
  await c.hello();
  const utterance = once(server, 'utterance');
  c.send({ type: 'listen', state: 'start', mode: 'manual' });
  speak(c, voiced(300));
  c.send({ type: 'abort' });
  const stop = await c.next();
  assert.ok(isJson('tts', 'stop')(stop), `tts stop first: ${JSON.stringify(stop)}`);
  speak(c, voiced(300));
  c.send({ type: 'listen', state: 'stop' });
  const reply = await readReply(c);
  assert.equal((await utterance)[0].pcm.length, 600 * 32, 'both halves, across the abort');
  assert.match(reply.stt, /^heard 0\.60 s of speech/);
});

test('asrDelayMs: stt + tts start come that long after the utterance ends, and an abort meanwhile does not stop them (xinnan)', async (t) => {
  const { server, clock, url } = await startManualServer(t, { asrDelayMs: 500 });
  const c = new TestClient(url);
  await c.hello();
  const utterance = once(server, 'utterance');
  c.send({ type: 'listen', state: 'start', mode: 'auto' });
  speak(c, voiced(300));
  c.send({ type: 'listen', state: 'stop' });
  await utterance;
  clock.advance(499);
  c.send({ type: 'abort' }); // a device's cancel while the server recognises
  const stop = await c.next();
  assert.ok(isJson('tts', 'stop')(stop), `the abort's tts stop: ${JSON.stringify(stop)}`);
  assert.deepEqual(await c.drain(100), [], 'nothing before the recognition is done');
  clock.advance(1);
  const stt = await c.next();
  assert.ok(isJson('stt')(stt), `stt after 500 ms: ${JSON.stringify(stt)}`);
  assert.ok(isJson('tts', 'start')(await c.next()), 'and the reply starts, abort or not');
});
