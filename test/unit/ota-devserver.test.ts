/**
 * The dev-server's provisioning switches (design.md §3.8, protocol.md §7): the manager-api
 * activation flow (202 N times, then 200), token expiry with a millisecond TTL, auth_key rotation
 * (a xinnan restart without a fixed key), and their CLI flags. Default behaviour stays as it was.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AUTH_FAILED_TEXT, parseDevServerArgs, runDevServer } from '../../src/devserver/index.js';
import { captureLogger } from '../fakes/capture-logger.js';
import { CLIENT_ID, DEVICE_ID, startServer, TestClient } from './devserver-harness.js';

const OTA_HEADERS = { 'Device-Id': DEVICE_ID, 'Client-Id': CLIENT_ID, 'Content-Type': 'application/json' };

async function post(port: number, path: string, body = '{}'): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', headers: OTA_HEADERS, body });
  return { status: res.status, text: await res.text() };
}

function otaJson(text: string): Record<string, unknown> {
  const v: unknown = JSON.parse(text);
  assert.ok(typeof v === 'object' && v !== null && !Array.isArray(v));
  return Object.fromEntries(Object.entries(v));
}

test('activation: OTA asks until /activate answered 202 ×N then 200; per Device-Id', async (t) => {
  const { server, port } = await startServer(t, {
    ota: true,
    activation: { code: '424242', pendingPolls: 2 },
  });
  const seen: string[] = [];
  server.on('ota', (e) => seen.push(`ota ${e.deviceId} activation=${e.activation}`));
  server.on('activate', (e) => seen.push(`activate ${e.status}`));
  const body = JSON.stringify({ application: { name: 'speakerd', version: '0.1.0' } });
  const first = otaJson((await post(port, '/xiaozhi/ota/', body)).text);
  assert.deepEqual(first.activation, {
    code: '424242',
    message: 'speakerd dev-server\n424242',
    challenge: DEVICE_ID,
  });
  assert.ok(first.websocket, 'the websocket section comes along, like manager-api');
  const statuses: number[] = [];
  for (let i = 0; i < 3; i++) statuses.push((await post(port, '/xiaozhi/ota/activate')).status);
  assert.deepEqual(statuses, [202, 202, 200]);
  assert.equal(server.isActivated(DEVICE_ID), true);
  const again = otaJson((await post(port, '/xiaozhi/ota/')).text);
  assert.equal(again.activation, undefined);
  assert.equal((await post(port, '/xiaozhi/ota/activate/')).status, 200, 'stays activated');
  assert.deepEqual(seen, [
    `ota ${DEVICE_ID} activation=true`,
    'activate 202',
    'activate 202',
    'activate 200',
    `ota ${DEVICE_ID} activation=false`,
    'activate 200',
  ]);
  // Another device starts from the beginning.
  const other = await fetch(`http://127.0.0.1:${port}/xiaozhi/ota/activate`, {
    method: 'POST',
    headers: { ...OTA_HEADERS, 'Device-Id': '02:00:00:00:00:01' },
    body: '{}',
  });
  assert.equal(other.status, 202);
});

test('ota event carries the parsed body; without activation /activate is not served (default)', async (t) => {
  const { server, port } = await startServer(t, { ota: true });
  const bodies: unknown[] = [];
  server.on('ota', (e) => bodies.push(e.body));
  await post(port, '/xiaozhi/ota/', JSON.stringify({ board: { type: 'speakerd' } }));
  assert.deepEqual(bodies, [{ board: { type: 'speakerd' } }]);
  const activate = await post(port, '/xiaozhi/ota/activate');
  assert.deepEqual(activate, { status: 200, text: 'Server is running\n' });
});

test('tokenTtlMs: a token older than the TTL fails like an expired one', async (t) => {
  let wall = 1_754_640_000_000;
  const { server, url } = await startServer(t, {
    auth: { key: 'k', tokenTtlMs: 1_500 },
    wallNow: () => wall,
  });
  const token = server.issueToken(CLIENT_ID, DEVICE_ID);
  wall += 1_000;
  assert.equal((await new TestClient(url, { token }).hello()).type, 'hello', 'within the TTL');
  wall += 1_000;
  const late = new TestClient(url, { token });
  assert.deepEqual(await late.next(), { kind: 'text', text: AUTH_FAILED_TEXT, json: undefined });
  assert.equal((await late.closed).code, 1000);
});

test('rotateAuthKey: tokens issued before fail with 认证失败; OTA hands out ones that work', async (t) => {
  const { server, url, port } = await startServer(t, { ota: true, auth: { key: 'fixed' } });
  const before = otaJson((await post(port, '/xiaozhi/ota/')).text);
  const oldToken = Object.fromEntries(Object.entries(before.websocket ?? {})).token;
  assert.equal(typeof oldToken, 'string');
  server.rotateAuthKey();
  const stale = new TestClient(url, { token: String(oldToken) });
  assert.deepEqual(await stale.next(), { kind: 'text', text: AUTH_FAILED_TEXT, json: undefined });
  const after = otaJson((await post(port, '/xiaozhi/ota/')).text);
  const newToken = String(Object.fromEntries(Object.entries(after.websocket ?? {})).token);
  assert.notEqual(newToken, oldToken);
  assert.equal((await new TestClient(url, { token: newToken }).hello()).type, 'hello');
});

test('CLI: --activation CODE[:N] and --token-ttl MS', () => {
  assert.deepEqual(
    parseDevServerArgs(['--ota', '--activation', '123456:5', '--auth-key', 'k', '--token-ttl', '60000']),
    {
      host: '127.0.0.1',
      port: 8000,
      ota: true,
      faults: {},
      auth: { key: 'k', allowedDevices: [], tokenTtlMs: 60000 },
      activation: { code: '123456', pendingPolls: 5 },
      noVoiceCloseMs: 120_000,
    },
  );
  const defaultPolls = parseDevServerArgs(['--ota', '--activation', '654321']);
  assert.ok(defaultPolls !== 'help');
  assert.deepEqual(defaultPolls.activation, { code: '654321', pendingPolls: 3 });
  // The defaults without these flags: devserver-cli.test.ts.
});

test('CLI: --activation needs --ota, --token-ttl needs --auth-key, CODE[:N] is checked', async () => {
  const { log } = captureLogger();
  for (const [argv, reason] of [
    [['--activation', '123456'], /--activation needs --ota/],
    [['--token-ttl', '5'], /--token-ttl needs --auth-key/],
    [['--ota', '--activation', '12 34'], /CODE\[:N\]/],
    [['--ota', '--activation', '1234:x'], /CODE\[:N\]/],
  ] as const) {
    const out: string[] = [];
    assert.equal(await runDevServer([...argv], log, { print: (l) => out.push(l) }), 2, argv.join(' '));
    assert.match(out.join('\n'), reason);
  }
});
