import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import {
  decode24k,
  type Frame,
  isJson,
  opusPackets16k,
  readReply,
  startServer,
  TestClient,
  voiced,
  withTimeout,
} from './devserver-harness.js';

/** A manual turn: speech, listen stop; the reply is left to the caller. */
function turn(c: TestClient, ms = 1200): void {
  c.send({ type: 'listen', state: 'start', mode: 'manual' });
  for (const p of opusPackets16k(voiced(ms))) c.sendBinary(p);
  c.send({ type: 'listen', state: 'stop' });
}

test('closeAfterHello: hello, then an empty close frame → the client sees 1005', async (t) => {
  const { url } = await startServer(t, { faults: { closeAfterHello: true } });
  const c = new TestClient(url);
  const hello = await c.hello();
  assert.equal(hello.type, 'hello');
  // What the seed bug did: send listen start right after hello, on a socket being closed.
  c.send({ type: 'listen', state: 'start', mode: 'auto' });
  assert.equal((await c.closed).code, 1005);
});

test('noHello: the hello is received but never answered', async (t) => {
  const { server, url } = await startServer(t, { faults: { noHello: true } });
  const c = new TestClient(url);
  await c.opened;
  const got = once(server, 'hello');
  c.send({ type: 'hello', version: 1, transport: 'websocket', features: { mcp: true } });
  await withTimeout(got, 1000, 'server hello event');
  assert.deepEqual(await c.drain(300), []);
  assert.equal(c.isClosed, false);
});

test('ignorePings: client pings go unanswered; setFaults turns it off again', async (t) => {
  const { server, url } = await startServer(t, { faults: { ignorePings: true } });
  const c = new TestClient(url);
  await c.hello();
  let pongs = 0;
  c.ws.on('pong', () => pongs++);
  c.ws.ping();
  await c.drain(300);
  assert.equal(pongs, 0);
  server.setFaults({ ignorePings: false });
  assert.equal(server.faults.ignorePings, false);
  const pong = once(c.ws, 'pong');
  c.ws.ping();
  await withTimeout(pong, 1000, 'pong');
});

test('garbage: malformed frames after hello, an invalid Opus packet inside the reply', async (t) => {
  const { url } = await startServer(t, { faults: { garbage: true } });
  const c = new TestClient(url);
  await c.hello();
  const texts = [await c.next(), await c.next(), await c.next(), await c.next()].map((f) =>
    f.kind === 'text' ? f.text : 'binary',
  );
  assert.deepEqual(texts, ['this is not JSON {', '[1,2,3]', '{"type":"bogus"}', '{"type":"tts"}']);
  turn(c);
  const reply = await readReply(c);
  assert.deepEqual(reply.order, ['stt', 'tts:start', 'tts:sentence_start', 'audio', 'tts:stop']);
  const down = decode24k(reply.packets);
  assert.equal(down.failed, 1, 'exactly one packet does not decode');
});

test('sendGarbage(kind) sends one frame of that kind to every client', async (t) => {
  const { server, url } = await startServer(t);
  const c = new TestClient(url);
  await c.hello();
  assert.equal(server.sendGarbage('tts-no-state'), 1);
  assert.deepEqual(await c.next(), { kind: 'text', text: '{"type":"tts"}', json: { type: 'tts' } });
  server.sendGarbage('binary');
  const f: Frame = await c.next();
  assert.equal(f.kind, 'binary');
  assert.equal(decode24k([f.kind === 'binary' ? f.data : Buffer.alloc(0)]).failed, 1);
});

test('oversize: a 2 MiB frame makes a 1 MiB-limited client close 1009', async (t) => {
  const { server, url } = await startServer(t, { faults: { oversize: true } });
  const serverSide = once(server, 'closed');
  const c = new TestClient(url, { maxPayload: 1024 * 1024 });
  await c.hello();
  await c.closed;
  // The client sends close 1009; ws then stops reading, so its own 'close' event says 1006.
  assert.match(c.errors[0]?.message ?? '', /Max payload size exceeded/);
  assert.equal((await serverSide)[0].code, 1009);
});

test('stopTtsMidway: tts start, a few packets, then nothing until abort', async (t) => {
  const { url } = await startServer(t, { faults: { stopTtsMidway: true } });
  const c = new TestClient(url);
  await c.hello();
  turn(c);
  await c.until(isJson('tts', 'start'));
  const rest = await c.drain(600);
  const audio = rest.filter((f) => f.kind === 'binary').length;
  assert.equal(audio, 3);
  assert.ok(!rest.some(isJson('tts', 'stop')));
  c.send({ type: 'abort' });
  await c.until(isJson('tts', 'stop'), 500);
});

test('closeDuringTts: tts start and some audio, then close 1000 without tts stop', async (t) => {
  const { url } = await startServer(t, { faults: { closeDuringTts: true } });
  const c = new TestClient(url);
  await c.hello();
  turn(c);
  const { code } = await withTimeout(c.closed, 2000, 'close');
  assert.equal(code, 1000);
  const got = c.queue.map((f) => (f.kind === 'binary' ? 'audio' : String(f.json?.state ?? f.json?.type)));
  assert.deepEqual(got, ['stt', 'start', 'sentence_start', 'audio', 'audio', 'audio']);
});

test('rejectUpgrade: the upgrade gets the HTTP status instead of 101', async (t) => {
  const { server, url } = await startServer(t, { faults: { rejectUpgrade: 401 } });
  const c = new TestClient(url);
  await c.closed;
  assert.equal(c.rejectedStatus, 401);
  server.setFaults({ rejectUpgrade: undefined });
  const ok = new TestClient(url);
  assert.equal((await ok.hello()).type, 'hello');
});
