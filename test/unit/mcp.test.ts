import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import type { DeviceStatusSource } from '../../src/mcp/device-status.js';
import { type McpResponse, McpServer, RpcCode } from '../../src/mcp/server.js';
import {
  deviceTools,
  GET_DEVICE_STATUS,
  inputSchema,
  type McpTool,
  SET_VOLUME,
  type VolumeControl,
} from '../../src/mcp/tools.js';
import { captureLogger } from '../fakes/capture-logger.js';

class FakeVolume implements VolumeControl {
  level = 60;
  readonly sets: number[] = [];
  set(level: number): Promise<void> {
    this.sets.push(level);
    this.level = level;
    return Promise.resolve();
  }
}

const fakeStatus: DeviceStatusSource = {
  volume: () => 60,
  network: () => ({ interface: 'wlan0', address: '192.168.1.23', type: 'wifi' }),
  uptimeS: () => 3600,
  cpuTempC: () => Promise.resolve(48.3),
  memory: () => ({ totalBytes: 4_000_000_000, availableBytes: 3_000_000_000 }),
  connection: () => 'ready',
};

/** 30 tools with ~600-byte descriptions: more than one 8000-byte page (the "test build"). */
function dummyTools(n: number): McpTool[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `self.test.dummy_${String(i).padStart(2, '0')}`,
    description: `Dummy tool ${i}. ${'lorem ipsum dolor sit amet '.repeat(22)}`,
    inputSchema: inputSchema({ level: { type: 'integer', minimum: 0, maximum: 10 } }),
    call: (args) => `dummy ${i} ${String(args.level)}`,
  }));
}

function setup(extra: McpTool[] = [], status: DeviceStatusSource = fakeStatus) {
  const { log, lines } = captureLogger('debug');
  const volume = new FakeVolume();
  const server = new McpServer({
    tools: [...deviceTools({ status, volume, log }), ...extra],
    serverInfo: { name: 'speakerd', version: '0.1.0' },
    log,
  });
  return { server, volume, lines };
}

function req(id: number | string, method: string, params?: unknown): Record<string, unknown> {
  return { jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function asObject(v: unknown): Record<string, unknown> {
  assert.ok(isObject(v), `expected an object, got ${JSON.stringify(v)}`);
  return v;
}

function resultOf(r: McpResponse | undefined): Record<string, unknown> {
  assert.ok(r, 'expected an answer');
  assert.ok('result' in r, `expected a result, got ${JSON.stringify(r)}`);
  return asObject(r.result);
}

/** The listed tools of a tools/list result. */
function toolsOf(result: Record<string, unknown>): Record<string, unknown>[] {
  const tools = result.tools;
  assert.ok(Array.isArray(tools));
  return tools.map(asObject);
}

/** The one text of a tools/call result. */
function textOf(result: Record<string, unknown>): string {
  const content = result.content;
  assert.ok(Array.isArray(content) && content.length === 1);
  const first = asObject(content[0]);
  assert.equal(first.type, 'text');
  assert.equal(typeof first.text, 'string');
  return String(first.text);
}

function errorOf(r: McpResponse | undefined): { code: number; message: string } {
  assert.ok(r, 'expected an answer');
  assert.ok('error' in r, `expected an error, got ${JSON.stringify(r)}`);
  return r.error;
}

test('initialize: protocol version, tools capability, serverInfo, id echoed', async () => {
  const { server } = setup();
  const r = await server.handle(
    req(1, 'initialize', {
      protocolVersion: '2024-11-05',
      capabilities: { vision: { url: 'http://x/', token: 't' } },
      clientInfo: { name: 'XiaozhiClient', version: '1.0.0' },
    }),
  );
  assert.deepEqual(r, {
    jsonrpc: '2.0',
    id: 1,
    result: {
      protocolVersion: '2024-11-05',
      capabilities: { tools: {} },
      serverInfo: { name: 'speakerd', version: '0.1.0' },
    },
  });
  const s = await server.handle(req('abc', 'initialize'));
  assert.equal(s?.id, 'abc');
});

test('tools/list: one page with the firmware names and schemas, no nextCursor', async () => {
  const { server } = setup();
  const result = resultOf(await server.handle(req(2, 'tools/list')));
  assert.equal(result.nextCursor, undefined);
  assert.ok(!('nextCursor' in result));
  const tools = toolsOf(result);
  assert.deepEqual(
    tools.map((t) => t.name),
    [GET_DEVICE_STATUS, SET_VOLUME],
  );
  assert.deepEqual(tools[0]?.inputSchema, { type: 'object', properties: {} });
  assert.deepEqual(tools[1]?.inputSchema, {
    type: 'object',
    properties: { volume: { type: 'integer', minimum: 0, maximum: 100 } },
    required: ['volume'],
  });
  assert.match(String(tools[0]?.description), /audio speaker/);
  // xinnan's docs send cursor "" for the first page.
  assert.deepEqual(resultOf(await server.handle(req(3, 'tools/list', { cursor: '' }))), result);
});

test('tools/list: 32 tools over several pages, each ≤ 8000 bytes, every tool exactly once', async () => {
  const { server } = setup(dummyTools(30));
  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  for (;;) {
    const r = await server.handle(req(10 + pages, 'tools/list', cursor === undefined ? {} : { cursor }));
    const result = resultOf(r);
    pages++;
    assert.ok(Buffer.byteLength(JSON.stringify(result)) <= 8000, `page ${pages} too big`);
    const tools = toolsOf(result);
    assert.ok(tools.length > 0);
    seen.push(...tools.map((t) => String(t.name)));
    if (result.nextCursor === undefined) break;
    assert.equal(typeof result.nextCursor, 'string');
    // The cursor is the first tool left out (firmware GetToolsList).
    cursor = String(result.nextCursor);
    assert.ok(!seen.includes(cursor));
    assert.ok(pages < 20, 'runaway pagination');
  }
  assert.ok(pages >= 3, `${pages} pages`);
  assert.deepEqual(seen, server.toolNames);
  assert.equal(new Set(seen).size, 32);
});

test('tools/list: an unknown or non-string cursor is bad params', async () => {
  const { server } = setup(dummyTools(30));
  assert.equal(errorOf(await server.handle(req(1, 'tools/list', { cursor: 'nope' }))).code, -32602);
  assert.equal(errorOf(await server.handle(req(2, 'tools/list', { cursor: 7 }))).code, -32602);
});

test('constructor: duplicate names and a tool larger than a page are programmer errors', () => {
  const { log } = captureLogger();
  const info = { name: 'speakerd', version: '0' };
  const [a] = dummyTools(1);
  assert.ok(a);
  assert.throws(() => new McpServer({ tools: [a, a], serverInfo: info, log }), RangeError);
  const huge: McpTool = { ...a, name: 'huge', description: 'x'.repeat(9000) };
  assert.throws(() => new McpServer({ tools: [huge], serverInfo: info, log }), RangeError);
});

test('tools/call get_device_status: JSON text with every field from the source', async () => {
  const { server } = setup();
  const result = resultOf(await server.handle(req(5, 'tools/call', { name: GET_DEVICE_STATUS })));
  assert.equal(result.isError, false);
  assert.deepEqual(JSON.parse(textOf(result)), {
    audio_speaker: { volume: 60 },
    network: { interface: 'wlan0', address: '192.168.1.23', type: 'wifi' },
    chip: { temperature: 48.3 },
    uptime_s: 3600,
    memory: { total_bytes: 4_000_000_000, available_bytes: 3_000_000_000 },
    connection: 'ready',
  });
});

test('tools/call get_device_status: failing inputs drop their field, never the answer', async () => {
  const { server, lines } = setup([], {
    ...fakeStatus,
    cpuTempC: () => undefined,
    network: () => Promise.reject(new Error('no route')),
    memory: () => {
      throw new Error('boom');
    },
  });
  const result = resultOf(
    await server.handle(req(5, 'tools/call', { name: GET_DEVICE_STATUS, arguments: {} })),
  );
  const status = asObject(JSON.parse(textOf(result)));
  assert.deepEqual(Object.keys(status).sort(), ['audio_speaker', 'connection', 'uptime_s']);
  assert.ok(lines.some((l) => l.level === 20 && l.msg.includes('network unavailable')));
});

test('tools/call set_volume: a valid level is applied and answered "true"', async () => {
  const { server, volume } = setup();
  const r = await server.handle(req(7, 'tools/call', { name: SET_VOLUME, arguments: { volume: 35 } }));
  assert.deepEqual(r, {
    jsonrpc: '2.0',
    id: 7,
    result: { content: [{ type: 'text', text: 'true' }], isError: false },
  });
  assert.deepEqual(volume.sets, [35]);
  assert.equal(volume.level, 35);
  const edges = [0, 100];
  for (const v of edges)
    await server.handle(req(8, 'tools/call', { name: SET_VOLUME, arguments: { volume: v } }));
  assert.deepEqual(volume.sets, [35, 0, 100]);
});

test('tools/call set_volume: out of range, not an integer, wrong type, missing → -32602, volume unchanged', async () => {
  const { server, volume } = setup();
  const bad: unknown[] = [
    { volume: 101 },
    { volume: -1 },
    { volume: 50.5 },
    { volume: '50' },
    { volume: null },
    { volume: true },
    {},
    undefined,
  ];
  for (const args of bad) {
    const params = args === undefined ? { name: SET_VOLUME } : { name: SET_VOLUME, arguments: args };
    const e = errorOf(await server.handle(req(9, 'tools/call', params)));
    assert.equal(e.code, RpcCode.InvalidParams, JSON.stringify(args));
  }
  assert.match(
    errorOf(await server.handle(req(9, 'tools/call', { name: SET_VOLUME, arguments: { volume: 150 } })))
      .message,
    /exceeds maximum 100/,
  );
  assert.match(
    errorOf(await server.handle(req(9, 'tools/call', { name: SET_VOLUME }))).message,
    /Missing valid argument: volume/,
  );
  assert.equal(
    errorOf(await server.handle(req(9, 'tools/call', { name: SET_VOLUME, arguments: [50] }))).code,
    -32602,
  );
  assert.equal(errorOf(await server.handle(req(9, 'tools/call', { arguments: { volume: 5 } }))).code, -32602);
  assert.equal(errorOf(await server.handle(req(9, 'tools/call'))).message, 'Missing params');
  assert.deepEqual(volume.sets, []);
  assert.equal(volume.level, 60);
});

test('unknown method → -32601 "Method not implemented"; unknown tool → -32601 "Unknown tool" (firmware docs)', async () => {
  const { server } = setup();
  const m = errorOf(await server.handle(req(1, 'resources/list')));
  assert.deepEqual(m, { code: -32601, message: 'Method not implemented: resources/list' });
  const t = errorOf(await server.handle(req(2, 'tools/call', { name: 'self.reboot', arguments: {} })));
  assert.deepEqual(t, { code: -32601, message: 'Unknown tool: self.reboot' });
});

test('a tool that throws → -32603 with its message; one that hangs → -32603 at the timeout', async () => {
  const { log } = captureLogger();
  const clock = new ManualClock();
  const server = new McpServer({
    tools: [
      {
        name: 'broken',
        description: 'd',
        inputSchema: inputSchema({}),
        call: () => Promise.reject(new Error('mixer gone')),
      },
      {
        name: 'hangs',
        description: 'd',
        inputSchema: inputSchema({}),
        call: () => new Promise<string>(() => undefined),
      },
    ],
    serverInfo: { name: 'speakerd', version: '0' },
    log,
    clock,
    toolTimeoutMs: 1000,
  });
  assert.deepEqual(errorOf(await server.handle(req(1, 'tools/call', { name: 'broken' }))), {
    code: -32603,
    message: 'mixer gone',
  });
  const pending = server.handle(req(2, 'tools/call', { name: 'hangs' }));
  await new Promise((resolve) => setImmediate(resolve));
  clock.advance(1000);
  const e = errorOf(await pending);
  assert.equal(e.code, -32603);
  assert.match(e.message, /timed out/);
  assert.equal(clock.pending, 0);
});

test('notifications and responses are never answered', async () => {
  const { server } = setup();
  assert.equal(await server.handle({ jsonrpc: '2.0', method: 'notifications/initialized' }), undefined);
  assert.equal(await server.handle({ jsonrpc: '2.0', id: 3, method: 'notifications/cancelled' }), undefined);
  // A request without id is a notification: no answer even for a known method.
  assert.equal(await server.handle({ jsonrpc: '2.0', method: 'tools/list' }), undefined);
  assert.equal(await server.handle({ jsonrpc: '2.0', id: 1, result: {} }), undefined);
  assert.equal(await server.handle({ jsonrpc: '2.0', id: 1, error: { code: 1, message: 'x' } }), undefined);
});

test('malformed requests: errors when there is an id to answer, silence otherwise', async () => {
  const { server, volume } = setup();
  assert.equal(errorOf(await server.handle({ jsonrpc: '1.0', id: 1, method: 'tools/list' })).code, -32600);
  assert.equal(await server.handle({ jsonrpc: '1.0', method: 'tools/list' }), undefined);
  assert.equal(errorOf(await server.handle({ jsonrpc: '2.0', id: 1, method: 42 })).code, -32600);
  assert.equal(errorOf(await server.handle({ jsonrpc: '2.0', id: 1 })).code, -32600);
  assert.equal(errorOf(await server.handle(req(1, 'tools/list', [1, 2]))).code, -32602);
  assert.equal(errorOf(await server.handle(req(1, 'tools/list', 'x'))).code, -32602);
  for (const id of [null, true, {}, [], 'x'.repeat(1000)]) {
    assert.equal(
      await server.handle({ jsonrpc: '2.0', id, method: 'initialize' }),
      undefined,
      JSON.stringify(id),
    );
  }
  for (const p of [null, 'x', 1, [], undefined]) assert.equal(await server.handle(p), undefined);
  // 1 MB string argument: refused before anything reads it.
  const big = await server.handle(
    req(4, 'tools/call', { name: SET_VOLUME, arguments: { volume: 5, pad: 'x'.repeat(1 << 20) } }),
  );
  assert.equal(errorOf(big).code, -32600);
  assert.match(errorOf(big).message, /larger than 65536/);
  // Deeply nested params.
  let deep: unknown = 1;
  for (let i = 0; i < 100_000; i++) deep = { a: deep };
  const d = await server.handle(req(5, 'tools/call', { name: SET_VOLUME, arguments: { volume: 5, deep } }));
  assert.equal(errorOf(d).code, -32600);
  assert.match(errorOf(d).message, /deeper than 32/);
  let deepArr: unknown = [];
  for (let i = 0; i < 100_000; i++) deepArr = [deepArr];
  assert.equal(await server.handle({ jsonrpc: '2.0', method: 'x', params: deepArr }), undefined);
  // A wide array is refused without walking it.
  const wide = await server.handle(req(6, 'tools/list', { cursor: '', pad: new Array(1_000_000).fill(0) }));
  assert.equal(errorOf(wide).code, -32600);
  assert.deepEqual(volume.sets, []);
});

test('logs: one debug line per call, errors at warn, never the payload', async () => {
  const { server, lines } = setup();
  await server.handle(req(1, 'tools/call', { name: SET_VOLUME, arguments: { volume: 20 } }));
  await server.handle(req(2, 'tools/call', { name: SET_VOLUME, arguments: { volume: 200 } }));
  const mcpLines = lines.filter((l) => l.msg.startsWith('mcp '));
  assert.equal(mcpLines.length, 2);
  assert.equal(mcpLines[0]?.level, 20);
  assert.equal(mcpLines[0]?.tool, SET_VOLUME);
  assert.equal(mcpLines[1]?.level, 40);
  assert.equal(mcpLines[1]?.code, -32602);
  for (const l of lines) assert.ok(!('params' in l) && !('payload' in l));
});

/** A small seeded PRNG so a failure is reproducible. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomJson(rnd: () => number, depth: number): unknown {
  const pick = <T>(xs: readonly T[]): T | undefined => xs[Math.floor(rnd() * xs.length)];
  const kind = Math.floor(rnd() * (depth > 3 ? 5 : 8));
  switch (kind) {
    case 0:
      return null;
    case 1:
      return rnd() < 0.5;
    case 2:
      return pick([0, -1, 1.5, 1e308, -0, 42, 2 ** 53]);
    case 3:
      return pick([
        '',
        '2.0',
        'initialize',
        'tools/list',
        'tools/call',
        SET_VOLUME,
        GET_DEVICE_STATUS,
        'notifications/x',
        'ü'.repeat(3),
      ]);
    case 4:
      return pick([undefined, 'x', 7]);
    case 5:
      return Array.from({ length: Math.floor(rnd() * 4) }, () => randomJson(rnd, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      const keys = [
        'jsonrpc',
        'id',
        'method',
        'params',
        'name',
        'arguments',
        'cursor',
        'volume',
        'result',
        'x',
      ];
      for (let i = Math.floor(rnd() * 6); i > 0; i--) o[pick(keys) ?? 'x'] = randomJson(rnd, depth + 1);
      return o;
    }
  }
}

test('fuzz: handle() never rejects and answers only with well-formed responses', async () => {
  const { server, volume } = setup(dummyTools(5));
  const rnd = mulberry32(1234);
  for (let i = 0; i < 600; i++) {
    let p = randomJson(rnd, 0);
    // Bias half of them towards almost-valid requests.
    if (i % 2 === 0 && isObject(p)) p = { jsonrpc: '2.0', id: i, ...p };
    const r = await server.handle(p);
    if (r === undefined) continue;
    assert.equal(r.jsonrpc, '2.0');
    assert.ok(typeof r.id === 'number' || typeof r.id === 'string');
    assert.ok(
      'result' in r ||
        ('error' in r && Number.isInteger(r.error.code) && typeof r.error.message === 'string'),
    );
    JSON.stringify(r);
  }
  for (const v of volume.sets) assert.ok(Number.isInteger(v) && v >= 0 && v <= 100);
});
