import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { SystemClock } from '../../src/core/clock.js';
import { DevServer } from '../../src/devserver/index.js';
import { captureLogger } from '../fakes/capture-logger.js';
import { startServer, TestClient, waitFor, withTimeout } from './devserver-harness.js';

/** Sockets and servers still open in this process (timers are checked through the clock). */
function openSockets(): string[] {
  return process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP'));
}

test('stop(): every client sees 1001, no timer and no socket is left', async () => {
  const { log } = captureLogger();
  const clock = new SystemClock();
  const server = new DevServer({ closeGraceMs: 200, noVoiceCloseMs: 60_000 }, log, clock);
  const { url } = await server.start();
  const a = new TestClient(url);
  const b = new TestClient(url);
  await a.hello();
  await b.hello();
  a.send({ type: 'listen', state: 'start', mode: 'auto' });
  const ota = await fetch(url.replace('ws:', 'http:'));
  assert.equal(await ota.text(), 'Server is running\n');
  assert.ok(clock.pending > 0, 'pings and no-voice timers are running');
  await server.stop();
  assert.equal((await a.closed).code, 1001);
  assert.equal((await b.closed).code, 1001);
  assert.equal(server.clients, 0);
  assert.equal(clock.pending, 0);
  await server.stop(); // idempotent
  // libuv releases closed handles asynchronously; they must all be gone within moments.
  await waitFor(() => openSockets().length === 0, 1000, `no open sockets (${openSockets().join(', ')})`);
});

test('stop() terminates a client that never answers the close frame', async () => {
  const { log, lines } = captureLogger();
  const clock = new SystemClock();
  const server = new DevServer({ closeGraceMs: 150 }, log, clock);
  const { port } = await server.start();
  // A raw TCP client that completes the upgrade and then never reads or answers anything.
  const sock = net.connect(port, '127.0.0.1');
  sock.on('error', (err) => lines.push({ level: 50, msg: `raw socket: ${err.message}` }));
  const connected = once(server, 'connection');
  sock.write(
    'GET /xiaozhi/v1/ HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nDevice-Id: 01:02:03:04:05:06\r\n\r\n',
  );
  await withTimeout(connected, 2000, 'connection');
  const closed = once(server, 'closed');
  const started = Date.now();
  await server.stop();
  const [e] = await closed;
  assert.equal(e.code, 1006, 'terminated, no close handshake');
  assert.ok(Date.now() - started >= 140);
  assert.equal(clock.pending, 0);
  sock.destroy();
  assert.ok(lines.some((l) => l.msg.includes('did not complete the close handshake')));
});

test('closeAll(): no code → the client sees 1005; 1000 → 1000', async (t) => {
  const { server, url } = await startServer(t);
  const a = new TestClient(url);
  await a.hello();
  assert.equal(server.closeAll(), 1);
  assert.equal((await a.closed).code, 1005);
  const b = new TestClient(url);
  await b.hello();
  server.closeAll(1000);
  assert.equal((await b.closed).code, 1000);
});

test('the server pings; a client that never pongs is closed 1011', async (t) => {
  const { server, url } = await startServer(t, { pingIntervalMs: 80, pingTimeoutMs: 120 });
  const good = new TestClient(url);
  await good.hello();
  let pings = 0;
  good.ws.on('ping', () => pings++);
  const bad = new TestClient(url, { autoPong: false });
  await bad.hello();
  const serverSide = once(server, 'closed');
  const { code } = await withTimeout(bad.closed, 2000, 'keepalive close');
  assert.equal(code, 1011);
  await serverSide;
  assert.ok(pings >= 1, 'the answering client got pings');
  assert.equal(good.isClosed, false, 'the answering client stays');
  assert.equal(server.clients, 1);
});

test('the server answers client pings', async (t) => {
  const { url } = await startServer(t);
  const c = new TestClient(url);
  await c.hello();
  const pong = once(c.ws, 'pong');
  c.ws.ping(Buffer.from('x'));
  const [data] = await withTimeout(pong, 1000, 'pong');
  assert.equal(String(data), 'x');
});

test('start() rejects when the port is taken and leaves nothing behind', async (t) => {
  const { port } = await startServer(t);
  const { log } = captureLogger();
  const clock = new SystemClock();
  const second = new DevServer({ port }, log, clock);
  await assert.rejects(second.start(), /EADDRINUSE/);
  await second.stop();
  assert.equal(clock.pending, 0);
});

test('stop() during start() waits for the listen, then closes it', async () => {
  const { log } = captureLogger();
  const clock = new SystemClock();
  const server = new DevServer({}, log, clock);
  const started = server.start();
  const stopped = server.stop();
  const { url } = await started;
  await stopped;
  const c = new TestClient(url);
  await c.closed;
  assert.match(c.errors[0]?.message ?? '', /ECONNREFUSED/);
  assert.equal(clock.pending, 0);
});
