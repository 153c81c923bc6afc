import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeClientFrame, decodeServerFrame, encodeClientMessage } from '../../src/protocol/codec.js';
import type { ClientMessage, ServerMessage } from '../../src/protocol/messages.js';

const server = (o: unknown) =>
  decodeServerFrame(Buffer.from(typeof o === 'string' ? o : JSON.stringify(o)), false);
const client = (o: unknown) => decodeClientFrame(JSON.stringify(o), false);

function message(frame: ReturnType<typeof server>): ServerMessage {
  assert.equal(frame.kind, 'message', JSON.stringify(frame));
  if (frame.kind !== 'message') throw new Error('unreachable');
  return frame.message;
}

test('every server message type of protocol.md §5.2 decodes', () => {
  const sid = { session_id: 's' };
  const cases: unknown[] = [
    {
      type: 'hello',
      version: 1,
      transport: 'websocket',
      session_id: 's',
      audio_params: { format: 'opus', sample_rate: 24000, channels: 1, frame_duration: 60 },
    },
    { type: 'stt', text: 'hi', ...sid },
    { type: 'llm', text: '🙂', emotion: 'happy', ...sid },
    { type: 'tts', state: 'start', ...sid },
    { type: 'tts', state: 'sentence_start', text: 'Hello.', ...sid },
    { type: 'tts', state: 'stop', ...sid },
    { type: 'mcp', payload: { jsonrpc: '2.0', id: 1, method: 'initialize', params: {} } },
    { type: 'system', command: 'reboot' },
    { type: 'alert', status: 'x', message: 'y', emotion: 'sad' },
    { type: 'custom', payload: { a: 1 } },
    { type: 'iot', commands: [{ name: 'Speaker' }] },
    { type: 'goodbye', ...sid },
    { type: 'pong', timestamp: '2026-01-01 00:00:00' },
  ];
  for (const c of cases) {
    const m = message(server(c));
    assert.equal(m.type, (c as { type: string }).type);
  }
  const hello = message(server(cases[0]));
  assert.deepEqual(hello, cases[0]);
});

test('malformed server frames are classified, never thrown', () => {
  assert.deepEqual(server('认证失败'), { kind: 'text', text: '认证失败' });
  assert.equal(server('[1,2]').kind, 'invalid');
  assert.equal(server('42').kind, 'invalid');
  assert.equal(server('null').kind, 'invalid');
  assert.equal(server({ notype: 1 }).kind, 'invalid');
  assert.deepEqual(server({ type: 'bogus' }), { kind: 'unknown', type: 'bogus' });
  assert.equal(server({ type: 'tts' }).kind, 'invalid', 'tts without state');
  assert.equal(server({ type: 'tts', state: 'weird' }).kind, 'invalid');
  assert.equal(server({ type: 'hello' }).kind, 'invalid', 'hello without transport');
  assert.equal(
    server({ type: 'hello', transport: 'websocket', audio_params: { sample_rate: 'x' } }).kind,
    'invalid',
  );
  assert.equal(server({ type: 'stt' }).kind, 'invalid');
  assert.equal(server({ type: 'stt', text: 'x', session_id: 5 }).kind, 'invalid');
  assert.equal(server({ type: 'alert', status: 'x' }).kind, 'invalid');
  assert.equal(server({ type: 'mcp', payload: { jsonrpc: '1.0' } }).kind, 'invalid');
  assert.equal(server({ type: 'mcp' }).kind, 'invalid');
  const long = 'x'.repeat(100_000);
  const f = server(long);
  assert.ok(f.kind === 'text' && f.text.length < 300, 'diagnostic text is clipped');
});

test('binary frames are Opus audio (protocol v1)', () => {
  const f = decodeServerFrame(Buffer.from([1, 2, 3]), true);
  assert.deepEqual(f, { kind: 'audio', opus: Buffer.from([1, 2, 3]) });
});

test('client messages encode with session_id first, except hello and ping', () => {
  const msgs: ClientMessage[] = [
    { type: 'listen', state: 'start', mode: 'auto' },
    { type: 'listen', state: 'stop' },
    { type: 'listen', state: 'detect', text: '你好小智' },
    { type: 'abort' },
    { type: 'abort', reason: 'wake_word_detected' },
    { type: 'mcp', payload: { jsonrpc: '2.0', id: 1, result: {} } },
    { type: 'iot', update: true, states: [] },
    { type: 'goodbye' },
  ];
  for (const m of msgs) {
    const text = encodeClientMessage(m, 'abc');
    assert.ok(text.startsWith('{"session_id":"abc","type":'), text);
    const back = decodeClientFrame(text, false);
    assert.equal(back.kind, 'message');
    if (back.kind === 'message') assert.equal(back.message.type, m.type);
  }
  const hello = encodeClientMessage(
    {
      type: 'hello',
      version: 1,
      features: {},
      transport: 'websocket',
      audio_params: { format: 'opus', sample_rate: 16000, channels: 1, frame_duration: 60 },
    },
    'abc',
  );
  assert.ok(!hello.includes('session_id'));
  assert.equal(encodeClientMessage({ type: 'ping' }, 'abc'), '{"type":"ping"}');
});

test('client frames (dev-server side) validate listen like xinnan would crash on', () => {
  assert.equal(client({ type: 'listen' }).kind, 'invalid', 'listen without state (a KeyError in xinnan)');
  assert.equal(client({ type: 'listen', state: 'start', mode: 'loud' }).kind, 'invalid');
  const start = client({ type: 'listen', state: 'start' });
  assert.ok(
    start.kind === 'message' &&
      start.message.type === 'listen' &&
      start.message.state === 'start' &&
      start.message.mode === 'auto',
  );
  assert.equal(client({ type: 'hello', transport: 'mqtt' }).kind, 'invalid');
  assert.equal(client({ type: 'hello', transport: 'websocket', features: 3 }).kind, 'invalid');
});
