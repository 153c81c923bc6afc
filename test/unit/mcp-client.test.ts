import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { McpClient, volumeForSpeech } from '../../src/devserver/mcp-client.js';
import { McpServer } from '../../src/mcp/server.js';
import {
  deviceTools,
  inputSchema,
  type McpTool,
  SET_VOLUME,
  type VolumeControl,
} from '../../src/mcp/tools.js';
import type { McpPayload } from '../../src/protocol/messages.js';
import { captureLogger } from '../fakes/capture-logger.js';
import {
  type Frame,
  isJson,
  opusPackets16k,
  readReply,
  silence,
  startServer,
  TestClient,
  voiced,
  waitFor,
} from './devserver-harness.js';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

class FakeVolume implements VolumeControl {
  level = 50;
  readonly sets: number[] = [];
  set(level: number): void {
    this.sets.push(level);
    this.level = level;
  }
}

function dummyTools(n: number): McpTool[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `self.test.dummy_${i}`,
    description: `Dummy ${i}. ${'padding text '.repeat(50)}`,
    inputSchema: inputSchema({}),
    call: () => 'ok',
  }));
}

/** A client wired straight to a device-side McpServer, both in this process. */
function loopback(extraTools: McpTool[] = []) {
  const { log, lines } = captureLogger('debug');
  const clock = new ManualClock();
  const volume = new FakeVolume();
  const server = new McpServer({
    tools: [
      ...deviceTools({
        status: {
          volume: () => volume.level,
          network: () => undefined,
          uptimeS: () => 1,
          cpuTempC: () => undefined,
          memory: () => undefined,
          connection: () => 'ready',
        },
        volume,
        log,
      }),
      ...extraTools,
    ],
    serverInfo: { name: 'speakerd', version: 'test' },
    log,
  });
  const sent: McpPayload[] = [];
  const client = new McpClient({
    send: (payload) => {
      sent.push(payload);
      void server.handle(payload).then((answer) => {
        if (answer) client.onMessage(answer);
      });
      return true;
    },
    clock,
    log,
  });
  return { client, server, volume, sent, lines, clock };
}

test('volumeForSpeech: 10 per half second of speech, clamped to 10–100', () => {
  assert.equal(volumeForSpeech(0), 10);
  assert.equal(volumeForSpeech(1500), 30);
  assert.equal(volumeForSpeech(1400), 30);
  assert.equal(volumeForSpeech(4000), 80);
  assert.equal(volumeForSpeech(60_000), 100);
});

test('client ↔ server: initialize, every tools/list page followed, set_volume reaches the volume', async () => {
  const { client, server, volume, sent, lines } = loopback(dummyTools(40));
  const names = await client.start();
  assert.deepEqual(names, server.toolNames);
  assert.equal(client.state, 'ready');
  const lists = sent.filter((p) => p.method === 'tools/list');
  assert.ok(lists.length >= 3, `${lists.length} pages`);
  assert.equal(lists[0]?.params, undefined, 'first page without params, like xinnan');
  assert.deepEqual(
    sent.map((p) => p.id),
    sent.map((_, i) => i + 1),
    'ids count up from 1',
  );
  assert.ok(lines.some((l) => l.msg.startsWith('dev-server: client MCP tools: self.get_device_status, ')));
  const r = await client.setVolume(30);
  assert.deepEqual(r, { ok: true, result: { content: [{ type: 'text', text: 'true' }], isError: false } });
  assert.deepEqual(volume.sets, [30]);
  assert.ok(lines.some((l) => l.msg === 'dev-server: MCP set_volume answered true'));
  assert.equal(client.pending, 0);
});

test('client: an unanswered request fails at the timeout and leaves nothing pending', async () => {
  const { log } = captureLogger();
  const clock = new ManualClock();
  const sent: McpPayload[] = [];
  const client = new McpClient({ send: (p) => sent.push(p) > 0, clock, log }, { timeoutMs: 5000 });
  const started = client.start();
  assert.equal(sent[0]?.method, 'initialize');
  assert.equal(client.pending, 1);
  clock.advance(4999);
  assert.equal(client.state, 'initializing');
  clock.advance(1);
  assert.equal(await started, undefined);
  assert.equal(client.state, 'failed');
  assert.equal(client.pending, 0);
  assert.equal(clock.pending, 0);
  const v = await client.setVolume(50);
  assert.equal(v.ok, false);
  assert.equal(sent.length, 1, 'nothing sent while not ready');
});

test('client: pending requests are bounded; close() ends them; late and stray answers are ignored', async () => {
  const { log } = captureLogger();
  const clock = new ManualClock();
  const sent: McpPayload[] = [];
  const client = new McpClient({ send: (p) => sent.push(p) > 0, clock, log }, { maxPending: 2 });
  const a = client.request('x');
  const b = client.request('y');
  assert.deepEqual(await client.request('z'), { ok: false, error: '2 requests already pending' });
  assert.equal(sent.length, 2);
  client.onMessage({ jsonrpc: '2.0', id: 99, result: {} });
  client.onMessage({ jsonrpc: '2.0', id: 'a', result: {} });
  client.onMessage({ jsonrpc: '2.0', id: 1, method: 'notifications/state_changed' });
  client.onMessage({ jsonrpc: '2.0', id: 1, error: { code: -32601, message: 'Method not implemented: x' } });
  assert.deepEqual(await a, { ok: false, error: '-32601 Method not implemented: x' });
  client.close();
  assert.equal((await b).ok, false);
  assert.equal(client.pending, 0);
  assert.equal(clock.pending, 0);
  assert.equal(client.state, 'closed');
  client.onMessage({ jsonrpc: '2.0', id: 2, result: {} });
  assert.deepEqual(await client.request('late'), { ok: false, error: 'closed' });
  client.close();
});

test('client: a device whose nextCursor repeats or never ends cannot keep it listing', async () => {
  for (const cursor of ['same', undefined]) {
    const { log } = captureLogger();
    const clock = new ManualClock();
    let page = 0;
    const client: McpClient = new McpClient(
      {
        send: (p) => {
          const result =
            p.method === 'initialize'
              ? {}
              : { tools: [{ name: `t${page}` }], nextCursor: cursor ?? `c${page++}` };
          queueMicrotask(() =>
            client.onMessage({ jsonrpc: '2.0', ...(p.id === undefined ? {} : { id: p.id }), result }),
          );
          return true;
        },
        clock,
        log,
      },
      { maxPages: 5 },
    );
    assert.equal(await client.start(), undefined);
    assert.equal(client.state, 'failed');
  }
});

// ---------------------------------------------------------------- through the dev-server

function mcpPayload(f: Frame): Record<string, unknown> | undefined {
  if (f.kind !== 'text' || f.json?.type !== 'mcp') return undefined;
  const p = f.json.payload;
  return isObject(p) ? p : undefined;
}

/** Answers one MCP request of the dev-server with a real McpServer, like a device would. */
async function answerMcp(
  c: TestClient,
  server: McpServer,
  frame: Frame,
): Promise<{ request: Record<string, unknown>; more: boolean }> {
  const request = mcpPayload(frame);
  assert.ok(request, `expected an mcp frame, got ${JSON.stringify(frame)}`);
  const answer = await server.handle(request);
  assert.ok(answer);
  c.send({ session_id: '', type: 'mcp', payload: answer });
  return { request, more: 'result' in answer && 'nextCursor' in answer.result };
}

test('dev-server: initialize and every tools/list page after the hello; set_volume after an utterance', async (t) => {
  const { url, lines } = await startServer(t, { mcpVolumeFromSpeech: true });
  const { server, volume } = loopback(dummyTools(30));
  const c = new TestClient(url);
  await c.hello();
  const init = await answerMcp(c, server, await c.next());
  assert.equal(init.request.method, 'initialize');
  assert.equal(init.request.id, 1);
  let pages = 0;
  for (let more = true; more; pages++) {
    const list = await answerMcp(c, server, await c.next());
    assert.equal(list.request.method, 'tools/list');
    more = list.more;
  }
  assert.ok(pages >= 2, `${pages} pages`);
  const isListed = (l: { msg: string }): boolean => l.msg.startsWith('dev-server: client MCP tools:');
  await waitFor(() => lines.some(isListed), 2000, 'the tool list in the log');
  const listed = lines.find(isListed);
  assert.ok(listed);
  assert.deepEqual(listed.tools, server.toolNames);

  c.send({ type: 'listen', state: 'start', mode: 'auto' });
  for (const p of opusPackets16k(Buffer.concat([voiced(1500), silence(600)]))) c.sendBinary(p);
  const { match, before } = await c.until((f) => mcpPayload(f)?.method === 'tools/call');
  assert.deepEqual(before, []);
  const call = await answerMcp(c, server, match);
  assert.deepEqual(call.request.params, { name: SET_VOLUME, arguments: { volume: 30 } });
  const reply = await readReply(c);
  assert.ok(reply.stt.startsWith('heard 1.'));
  assert.deepEqual(volume.sets, [30]);
  await waitFor(
    () => lines.some((l) => l.msg === 'dev-server: MCP set_volume answered true'),
    2000,
    'the set_volume answer in the log',
  );
});

test('dev-server: never sends mcp to a client whose hello did not advertise it', async (t) => {
  const { url } = await startServer(t, { mcpVolumeFromSpeech: true });
  const c = new TestClient(url);
  await c.opened;
  c.send({
    type: 'hello',
    version: 1,
    features: {},
    transport: 'websocket',
    audio_params: { format: 'opus', sample_rate: 16000, channels: 1, frame_duration: 60 },
  });
  const hello = await c.next();
  assert.ok(isJson('hello')(hello));
  c.send({ type: 'listen', state: 'start', mode: 'auto' });
  for (const p of opusPackets16k(Buffer.concat([voiced(1500), silence(600)]))) c.sendBinary(p);
  const reply = await readReply(c);
  assert.ok(!reply.order.includes('mcp'));
  assert.deepEqual(await c.drain(100), []);
});

test('dev-server: with the MCP option off, an advertising client gets no mcp either', async (t) => {
  const { url } = await startServer(t);
  const c = new TestClient(url);
  await c.hello();
  assert.deepEqual(await c.drain(150), []);
});
