/**
 * Provisioning acceptance (design.md §3.7, protocol.md §7) over real HTTP and a real WebSocket:
 * the real OtaClient (Node's fetch) and OtaCredentialSource against the dev-server started
 * in-process, its OTA endpoint behind a TCP fault proxy (so "the OTA server is down" can be
 * switched on while the WebSocket stays up), and the real SessionSupervisor + ws connector taking
 * its credentials from the provisioner.
 */

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, test } from 'node:test';
import { configSchema } from '../../src/config/schema.js';
import { SystemClock } from '../../src/core/clock.js';
import { seededRandom } from '../../src/core/random.js';
import { AUTH_FAILED_TEXT, DevServer, type DevServerOptions } from '../../src/devserver/index.js';
import { OtaClient } from '../../src/provisioning/ota.js';
import { OTA_CACHE_FILE } from '../../src/provisioning/ota-cache.js';
import { OtaCredentialSource } from '../../src/provisioning/ota-credentials.js';
import { handshakeHeaders } from '../../src/session/link-policy.js';
import { SessionSupervisor } from '../../src/session/supervisor.js';
import { wsConnector } from '../../src/transport/ws-connector.js';
import { captureLogger, type LogLine } from '../fakes/capture-logger.js';
import { FAST_CONNECTION } from '../fakes/fast-timings.js';
import { FaultProxy } from '../fakes/fault-proxy.js';
import { pollUntil } from '../fakes/poll.js';

const IDS = { deviceId: '02:00:00:00:00:43', clientId: randomUUID() };
const root = mkdtempSync(join(tmpdir(), 'speakerd-ota-it-'));
after(() => rmSync(root, { recursive: true, force: true }));

const unhandled: unknown[] = [];
process.on('unhandledRejection', (err) => unhandled.push(err));

/** The same short timings as the other integration rigs; the policy is the shipped one. */
const CONNECTION = configSchema.parse({ connection: FAST_CONNECTION }).connection;

class OtaRig {
  readonly clock = new SystemClock();
  readonly lines: LogLine[];
  readonly #log;
  readonly stateDir = mkdtempSync(join(root, 'state-'));
  readonly #sources: OtaCredentialSource[] = [];
  readonly #supervisors: SessionSupervisor[] = [];

  private constructor(
    readonly server: DevServer,
    readonly proxy: FaultProxy,
  ) {
    const { log, lines } = captureLogger('debug');
    this.#log = log;
    this.lines = lines;
  }

  static async create(options: DevServerOptions = {}): Promise<OtaRig> {
    const { log } = captureLogger('warn');
    const server = new DevServer(
      { host: '127.0.0.1', port: 0, ota: true, auth: { key: 'boot-key' }, ...options },
      log,
    );
    const { port } = await server.start();
    const proxy = new FaultProxy(port);
    await proxy.listen();
    return new OtaRig(server, proxy);
  }

  /** Through the proxy: the OTA endpoint can go down while the WebSocket (direct) stays up. */
  get otaUrl(): string {
    return `http://127.0.0.1:${this.proxy.port}/xiaozhi/ota/`;
  }

  provisioner(): OtaCredentialSource {
    const client = new OtaClient({
      url: this.otaUrl,
      identity: IDS,
      version: '0.1.0',
      boardName: 'it-pi',
      timeoutMs: 2_000,
      wallNow: Date.now,
      log: this.#log,
    });
    const source = new OtaCredentialSource({
      client,
      identity: IDS,
      stateDir: this.stateDir,
      fallback: { url: 'ws://127.0.0.1:9/xiaozhi/v1/', token: '' },
      clock: this.clock,
      random: seededRandom(11),
      log: this.#log,
      // The firmware's 3 s / 10 s, scaled down so CI does not wait; the sequence is the same.
      activation: { pendingDelayMs: 60, retryDelayMs: 120, maxTries: 10 },
      retry: { baseMs: 50, capMs: 300 },
    });
    this.#sources.push(source);
    return source;
  }

  supervisor(source: OtaCredentialSource): SessionSupervisor {
    const s = new SessionSupervisor({
      connector: wsConnector,
      credentials: source,
      identity: IDS,
      config: CONNECTION,
      clock: this.clock,
      random: seededRandom(5),
      log: this.#log,
    });
    this.#supervisors.push(s);
    return s;
  }

  /** OTA endpoint down: new connections refused, pooled keep-alive ones reset. */
  otaDown(): void {
    this.proxy.setMode('refuse');
    this.proxy.resetAll();
  }

  async close(): Promise<void> {
    for (const s of this.#supervisors) await s.stop();
    for (const p of this.#sources) await p.stop();
    await this.proxy.close();
    await this.server.stop();
  }

  assertNoSecretLogged(...tokens: string[]): void {
    const text = JSON.stringify(this.lines);
    const cache = readFileSync(join(this.stateDir, OTA_CACHE_FILE), 'utf8').trim();
    assert.ok(!text.includes(cache), 'the cache content reached a log line');
    for (const t of tokens) {
      const sig = t.split('.')[0] ?? t;
      assert.ok(!text.includes(sig), 'a token reached a log line');
    }
  }
}

let rig: OtaRig | undefined;
afterEach(async () => {
  const r = rig;
  rig = undefined;
  await r?.close();
  assert.deepEqual(unhandled, [], 'no unhandled rejection');
});

const until = (what: string, pred: () => boolean, ms = 10_000) =>
  pollUntil(what, pred, ms, () => `unmet: ${what}`);

test('fresh state dir → OTA → code shown → 202 ×3 → 200 → OTA → ready → server hello', async () => {
  const r = await OtaRig.create({ activation: { code: '123456', pendingPolls: 3 } });
  rig = r;
  const source = r.provisioner();
  const events: string[] = [];
  source.on('activation', (e) => events.push(`activation ${e.code} ${JSON.stringify(e.message)}`));
  source.on('activated', () => events.push('activated'));
  source.on('credentials', (e) => events.push(`credentials ${e.origin}`));
  const polls: number[] = [];
  r.server.on('activate', (e) => polls.push(e.status));
  const bodies: unknown[] = [];
  r.server.on('ota', (e) => bodies.push(e.body));
  source.start();
  await until('provisioning ready', () => source.state === 'ready');
  assert.deepEqual(events, [
    'activation 123456 "speakerd dev-server\\n123456"',
    'activated',
    'credentials ota',
  ]);
  assert.deepEqual(polls, [202, 202, 202, 200]);
  assert.equal(bodies.length, 2, 'OTA, activation, OTA again');
  assert.deepEqual(Reflect.get(Object(bodies[0]), 'application'), { name: 'speakerd', version: '0.1.0' });
  const { url, token } = source.current();
  assert.equal(url, r.server.url);
  assert.match(token, /^[A-Za-z0-9_-]{43}\.\d+$/);

  // The credentials open a real WebSocket the dev-server accepts, with the same ids.
  const ids: string[] = [];
  r.server.on('connection', (e) => ids.push(`${e.headers['device-id']} ${e.headers['client-id']}`));
  const sup = r.supervisor(source);
  sup.start();
  await until('link ready', () => sup.state === 'ready');
  assert.ok(sup.sessionId !== '', 'the server hello arrived');
  assert.deepEqual(ids, [`${IDS.deviceId} ${IDS.clientId}`]);
  // The answer is cached in the background after it is used (ready does not wait for the disk):
  // on a busy CPU the link can be ready before the file exists, so wait for it.
  await until('the OTA cache written', () => r.lines.some((l) => l.msg === 'OTA cache written'));
  assert.equal(statSync(join(r.stateDir, OTA_CACHE_FILE)).mode & 0o777, 0o600);
  r.assertNoSecretLogged(token);
});

test('auth_key rotated → 认证失败 → OTA refresh → new token → ready, same ids', async () => {
  const r = await OtaRig.create();
  rig = r;
  const source = r.provisioner();
  source.start();
  await until('provisioning ready', () => source.state === 'ready');
  const sup = r.supervisor(source);
  sup.start();
  await until('link ready', () => sup.state === 'ready');
  const oldToken = source.current().token;
  const ids = new Set<string>();
  r.server.on('connection', (e) => ids.add(`${e.headers['device-id']} ${e.headers['client-id']}`));

  r.server.rotateAuthKey(); // a xinnan restart without a fixed auth_key
  // The old token is refused now: a direct connection hears 认证失败.
  const probe = wsConnector({
    url: r.server.url,
    headers: handshakeHeaders(IDS, oldToken),
    handshakeTimeoutMs: 2_000,
    maxPayloadBytes: 1 << 20,
    allowInsecureTls: false,
  });
  const heard: string[] = [];
  probe.on('open', () =>
    probe.send(JSON.stringify({ type: 'hello', version: 1, transport: 'websocket' }), () => undefined),
  );
  probe.on('frame', (data, binary) => {
    if (!binary) heard.push(data.toString('utf8'));
  });
  const closed = new Promise<number>((resolve) => probe.on('close', (code) => resolve(code)));
  probe.on('error', () => undefined);
  assert.equal(await closed, 1000);
  assert.deepEqual(heard, [AUTH_FAILED_TEXT]);

  r.server.closeAll(1000); // the live session ends; the next attempt uses the old token
  await until(
    'refreshed and ready again',
    () => sup.stats.credentialRefreshes >= 1 && sup.state === 'ready' && source.current().token !== oldToken,
  );
  assert.ok(
    r.lines.some((l) => l.code === 'E_AUTH_REJECTED'),
    'the rejection was seen as auth',
  );
  assert.ok(r.lines.some((l) => l.msg === 'credentials refreshed from OTA' && l.token_changed === true));
  assert.deepEqual([...ids], [`${IDS.deviceId} ${IDS.clientId}`], 'the ids never change');
  r.assertNoSecretLogged(oldToken, source.current().token);
});

test('OTA server down at boot with a cached answer → connects with the cached URL and token', async () => {
  const r = await OtaRig.create();
  rig = r;
  const first = r.provisioner();
  first.start();
  await until('first boot ready', () => first.state === 'ready');
  await first.stop();
  const cached = first.current();

  r.otaDown();
  const second = r.provisioner();
  const origins: string[] = [];
  second.on('credentials', (e) => origins.push(e.origin));
  second.start();
  await until('cached', () => second.state === 'cached');
  assert.deepEqual(second.current(), cached);
  assert.deepEqual(origins, ['cache']);
  assert.ok(r.lines.some((l) => l.code === 'E_OTA_UNREACHABLE'));
  const sup = r.supervisor(second);
  sup.start();
  await until('link ready on cached credentials', () => sup.state === 'ready');

  // The OTA server comes back: the background retry picks it up.
  r.proxy.setMode('pass');
  second.retryNow('test: OTA back');
  await until('ready from OTA', () => second.state === 'ready');
  assert.deepEqual(origins, ['cache', 'ota']);
  r.assertNoSecretLogged(cached.token, second.current().token);
});

test('OTA down and no cache: waiting (nothing to connect with), ready once it answers', async () => {
  const r = await OtaRig.create();
  rig = r;
  r.otaDown();
  const source = r.provisioner();
  source.start();
  await until('waiting', () => source.state === 'waiting');
  await until(
    'a few retries',
    () => r.lines.filter((l) => l.msg === 'OTA request failed; retrying').length >= 3,
  );
  assert.equal(source.usable, false);
  r.proxy.setMode('pass');
  await until('ready', () => source.state === 'ready', 5_000);
  assert.equal(source.usable, true);
});
