import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AUTH_FAILED_TEXT, signToken, verifyToken } from '../../src/devserver/index.js';
import { CLIENT_ID, DEVICE_ID, startServer, TestClient } from './devserver-harness.js';

const KEY = 'test-auth-key';

test('token format: base64url without padding, a dot, Unix seconds', () => {
  const token = signToken(KEY, CLIENT_ID, DEVICE_ID, 1754640000);
  assert.match(token, /^[A-Za-z0-9_-]{43}\.1754640000$/);
  assert.deepEqual(verifyToken(KEY, token, CLIENT_ID, DEVICE_ID, 1754640000, 60), { ok: true });
  assert.equal(verifyToken('other', token, CLIENT_ID, DEVICE_ID, 1754640000, 60).ok, false);
  assert.equal(verifyToken(KEY, token, CLIENT_ID, '00:00:00:00:00:00', 1754640000, 60).ok, false);
  assert.equal(verifyToken(KEY, token, 'other-client', DEVICE_ID, 1754640000, 60).ok, false);
  assert.equal(verifyToken(KEY, token, CLIENT_ID, DEVICE_ID, 1754640061, 60).ok, false, 'expired');
  assert.equal(verifyToken(KEY, 'garbage', CLIENT_ID, DEVICE_ID, 1754640000, 60).ok, false);
  assert.equal(verifyToken(KEY, `${token}0`, CLIENT_ID, DEVICE_ID, 1754640000, 60).ok, false);
});

test('auth: a good token is accepted', async (t) => {
  const { server, url } = await startServer(t, { auth: { key: KEY } });
  const c = new TestClient(url, { token: server.issueToken(CLIENT_ID, DEVICE_ID) });
  const hello = await c.hello();
  assert.equal(hello.type, 'hello');
});

for (const [name, token] of [
  ['a bad token', 'AAAA.1'],
  ['no token', undefined],
] as const) {
  test(`auth: ${name} → text 认证失败, then close 1000`, async (t) => {
    const { url } = await startServer(t, { auth: { key: KEY } });
    const c = new TestClient(url, token === undefined ? {} : { token });
    const f = await c.next();
    assert.deepEqual(f, { kind: 'text', text: AUTH_FAILED_TEXT, json: undefined });
    assert.equal((await c.closed).code, 1000);
  });
}

test('auth: an expired token fails; allowed devices need none', async (t) => {
  const { url } = await startServer(t, {
    auth: { key: KEY, expireSeconds: 60, allowedDevices: ['01:02:03:04:05:06'] },
  });
  const old = signToken(KEY, CLIENT_ID, DEVICE_ID, Math.floor(Date.now() / 1000) - 120);
  const expired = new TestClient(url, { token: old });
  assert.equal((await expired.next()).kind === 'text', true);
  assert.equal((await expired.closed).code, 1000);
  const allowed = new TestClient(url, { deviceId: '01:02:03:04:05:06' });
  assert.equal((await allowed.hello()).type, 'hello');
});

test('setAuthKey: tokens issued before the "restart" fail, new ones work', async (t) => {
  const { server, url } = await startServer(t, { auth: { key: KEY } });
  const before = server.issueToken(CLIENT_ID, DEVICE_ID);
  server.setAuthKey('a-new-random-key');
  const stale = new TestClient(url, { token: before });
  assert.deepEqual(await stale.next(), { kind: 'text', text: AUTH_FAILED_TEXT, json: undefined });
  const fresh = new TestClient(url, { token: server.issueToken(CLIENT_ID, DEVICE_ID) });
  assert.equal((await fresh.hello()).type, 'hello');
});

test('issueToken throws when auth is off', async (t) => {
  const { server } = await startServer(t);
  assert.throws(() => server.issueToken(CLIENT_ID, DEVICE_ID), /auth is off/);
});

/** The fields of an OTA answer these tests look at (protocol.md §7.2). */
interface OtaAnswer {
  readonly websocket?: { readonly url: string; readonly token: string };
  readonly server_time?: { readonly timestamp: number; readonly timezone_offset: number };
  readonly firmware?: unknown;
  readonly success?: boolean;
  readonly message?: string;
}

async function postOta(port: number, headers: Record<string, string>): Promise<OtaAnswer> {
  const res = await fetch(`http://127.0.0.1:${port}/xiaozhi/ota/`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify({ application: { version: '0.1.0' }, board: { type: 'speakerd' } }),
  });
  assert.equal(res.status, 200);
  // Only names the fields; every value the tests rely on is asserted field by field.
  return (await res.json()) as OtaAnswer;
}

test('OTA: answers url and a fresh token that the WebSocket accepts', async (t) => {
  const { url, port } = await startServer(t, { ota: true, auth: { key: KEY } });
  const before = Date.now();
  const body = await postOta(port, { 'Device-Id': DEVICE_ID, 'Client-Id': CLIENT_ID });
  const ws = body.websocket;
  assert.ok(ws);
  assert.equal(ws.url, url);
  assert.match(ws.token, /^[A-Za-z0-9_-]{43}\.\d+$/);
  assert.deepEqual(body.firmware, { version: '0.0.0', url: '' });
  const time = body.server_time;
  assert.ok(time);
  assert.ok(time.timestamp >= before - 1000 && time.timestamp <= Date.now() + 1000);
  assert.equal(time.timezone_offset, 0);
  const c = new TestClient(ws.url, { token: ws.token });
  assert.equal((await c.hello()).type, 'hello');
});

test('OTA: empty token without auth; missing headers → success:false like xinnan', async (t) => {
  const { port } = await startServer(t, { ota: true });
  const ok = await postOta(port, { 'Device-Id': DEVICE_ID, 'Client-Id': CLIENT_ID });
  assert.equal(ok.websocket?.token, '');
  const bad = await postOta(port, { 'Device-Id': DEVICE_ID });
  assert.deepEqual(bad, { success: false, message: 'request error.' });
});
