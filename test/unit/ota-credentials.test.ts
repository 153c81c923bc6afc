/**
 * Provisioning (ota-credentials.ts, its cache file in ota-cache.ts) on a manual clock with a
 * scripted OTA server behind a fake fetch and a real state directory: boot, activation, skip, the
 * cache (0600, never logged), backoff when the server is down, and credential refresh for the
 * supervisor.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { seededRandom } from '../../src/core/random.js';
import { type FetchFn, OtaClient, OtaErrorCode } from '../../src/provisioning/ota.js';
import {
  loadOtaCache,
  OTA_CACHE_FILE,
  type OtaCacheEntry,
  saveOtaCache,
} from '../../src/provisioning/ota-cache.js';
import { OtaCredentialSource } from '../../src/provisioning/ota-credentials.js';
import { captureLogger } from '../fakes/capture-logger.js';

const root = mkdtempSync(join(tmpdir(), 'speakerd-ota-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => join(root, `state-${dirs++}`);

const IDS = { deviceId: 'aa:bb:cc:dd:ee:ff', clientId: '3b241101-e2bb-4255-8caf-4136c566a962' };
const OTA = 'http://ota.example/xiaozhi/ota/';
const WS = 'ws://10.0.0.2:8000/xiaozhi/v1/';
const TOKEN = 'FIRSTsecretSIG.1754640000';
const TOKEN2 = 'SECONDsecretSIG.1754640100';
const WALL = 1_754_640_000_000;
const FALLBACK = { url: 'ws://127.0.0.1:8000/xiaozhi/v1/', token: '' };

const answer = (token: string, extra: object = {}) => ({
  status: 200,
  body: { server_time: { timestamp: WALL }, websocket: { url: WS, token }, ...extra },
});
const ACTIVATION = answer(TOKEN, {
  activation: { code: '123456', message: 'xiaozhi.me\n123456', challenge: IDS.deviceId },
});

type Reply = { status: number; body: unknown } | 'down';

/** A scripted OTA server: queued answers (then `otaDefault`), activation statuses (then 202). */
class FakeOta {
  ota: Reply[] = [];
  otaDefault: Reply = 'down';
  activate: number[] = [];
  readonly calls: { kind: 'ota' | 'activate'; at: number; headers: unknown }[] = [];
  constructor(private readonly clock: ManualClock) {}

  count(kind: 'ota' | 'activate'): number {
    return this.calls.filter((c) => c.kind === kind).length;
  }

  readonly fetch: FetchFn = async (url, init) => {
    const kind = url.endsWith('/activate') ? 'activate' : 'ota';
    this.calls.push({ kind, at: this.clock.now(), headers: init.headers });
    if (kind === 'activate') return new Response('', { status: this.activate.shift() ?? 202 });
    const r = this.ota.shift() ?? this.otaDefault;
    if (r === 'down') {
      const cause = Object.assign(new Error('connect ECONNREFUSED 10.0.0.2:80'), { code: 'ECONNREFUSED' });
      throw new TypeError('fetch failed', { cause });
    }
    return new Response(JSON.stringify(r.body), { status: r.status });
  };
}

function rig(stateDir = freshDir()) {
  const clock = new ManualClock(0);
  const fake = new FakeOta(clock);
  const { log, lines } = captureLogger();
  const client = new OtaClient({
    url: OTA,
    identity: IDS,
    version: '0.1.0',
    boardName: 'pi',
    timeoutMs: 1_000,
    wallNow: () => WALL,
    log,
    fetch: fake.fetch,
    localIp: () => '10.0.0.5',
  });
  const source = new OtaCredentialSource({
    client,
    identity: IDS,
    stateDir,
    fallback: FALLBACK,
    clock,
    random: seededRandom(3),
    log,
    wallNow: () => WALL,
  });
  const events: string[] = [];
  source.on('activation', (e) => events.push(`activation ${e.code}`));
  source.on('activated', () => events.push('activated'));
  source.on('credentials', (e) => events.push(`credentials ${e.origin}`));
  return { clock, fake, lines, source, events, stateDir };
}

/** Real I/O (the cache file) and promises settle; the manual clock does not move. */
async function until(what: string, pred: () => boolean): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > 10_000) throw new Error(`timed out after 10 s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/**
 * Lets pending work settle — until the source has armed its next timer, or `done` — then fires
 * that timer. Waited for, not slept for: the cache file is real I/O, which a fixed few ms of
 * wall-clock time does not bound on a slow or busy CPU.
 */
async function step(clock: ManualClock, done: () => boolean = () => false): Promise<void> {
  await until('the next timer armed', () => clock.nextAt() !== undefined || done());
  if (clock.nextAt() !== undefined) clock.advance(clock.msToNext());
}

function noSecrets(lines: unknown[], ...secrets: string[]): void {
  const text = JSON.stringify(lines);
  for (const s of secrets) assert.ok(!text.includes(s), `a log line contains ${s.slice(0, 12)}…`);
}

test('fresh state dir → OTA → ready; cache written 0600; neither token nor cache in the logs', async () => {
  const r = rig();
  r.fake.ota.push(answer(TOKEN));
  r.source.start();
  await until('ready', () => r.source.state === 'ready');
  assert.deepEqual(r.source.current(), { url: WS, token: TOKEN });
  assert.deepEqual(r.events, ['credentials ota']);
  assert.equal(r.source.origin, 'ota');
  const file = join(r.stateDir, OTA_CACHE_FILE);
  await until('cache written', () => r.lines.some((l) => l.msg === 'OTA cache written'));
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const content = readFileSync(file, 'utf8');
  assert.ok(content.includes(TOKEN), 'the cache holds the token…');
  noSecrets(r.lines, TOKEN, 'FIRSTsecret', content.trim());
  assert.ok(
    r.lines.some((l) => l.token_present === true),
    '…the log only says one is present',
  );
  await r.source.stop();
  assert.equal(r.source.state, 'stopped');
  assert.equal(r.clock.pending, 0);
});

test('activation: code shown once, 202 ×3 → 200 three seconds apart, OTA again → ready', async () => {
  const r = rig();
  r.fake.ota.push(ACTIVATION, answer(TOKEN2));
  r.fake.activate.push(202, 202, 202, 200);
  r.source.start();
  await until('activating', () => r.source.state === 'activating');
  assert.equal(r.source.activationCode, '123456');
  while (r.source.state === 'activating') await step(r.clock, () => r.source.state !== 'activating');
  await until('ready', () => r.source.state === 'ready');
  assert.deepEqual(r.events, ['activation 123456', 'activated', 'credentials ota'], 'no connection before');
  const polls = r.fake.calls.filter((c) => c.kind === 'activate').map((c) => c.at);
  assert.deepEqual(polls, [0, 3_000, 6_000, 9_000]);
  assert.equal(r.fake.count('ota'), 2);
  assert.deepEqual(r.source.current(), { url: WS, token: TOKEN2 });
  const shown = r.lines.filter((l) => l.activation_code !== undefined);
  assert.equal(shown.length, 1, 'one log line with the code');
  assert.equal(shown[0]?.activation_message, 'xiaozhi.me\n123456');
  await r.source.stop();
  assert.equal(r.clock.pending, 0);
});

test('a press during activation skips it: the answer’s credentials, no more polls', async () => {
  const r = rig();
  r.fake.ota.push(ACTIVATION);
  r.source.start();
  await until('activating', () => r.source.state === 'activating');
  await step(r.clock); // one 3 s wait: a second poll
  r.source.skipActivation('long press');
  await until('skipped', () => r.source.state === 'skipped');
  assert.deepEqual(r.events, ['activation 123456', 'credentials ota']);
  assert.equal(r.source.usable, true);
  assert.deepEqual(r.source.current(), { url: WS, token: TOKEN });
  assert.equal(r.clock.pending, 0, 'polling stopped');
  const calls = r.fake.calls.length;
  r.clock.advance(120_000);
  assert.equal(r.fake.calls.length, calls);
  await r.source.stop();
});

test('OTA down at boot with a cache: cached credentials at once, retries until the server is back', async () => {
  const stateDir = freshDir();
  const { log } = captureLogger();
  const entry: OtaCacheEntry = {
    version: 1,
    savedAt: WALL - 86_400_000,
    otaUrl: OTA,
    ...IDS,
    websocket: { url: WS, token: TOKEN },
  };
  assert.equal(await saveOtaCache(join(stateDir, OTA_CACHE_FILE), entry, log), undefined);
  const r = rig(stateDir);
  r.source.start();
  await until('cached', () => r.source.state === 'cached');
  assert.deepEqual(r.events, ['credentials cache']);
  assert.deepEqual(r.source.current(), { url: WS, token: TOKEN });
  const warn = r.lines.find((l) => l.msg === 'OTA request failed; retrying');
  assert.equal(warn?.code, OtaErrorCode.Unreachable);
  assert.ok(r.clock.msToNext() < 2_000, 'first retry within the first backoff ceiling');
  r.fake.ota.push(answer(TOKEN2));
  await step(r.clock);
  await until('ready', () => r.source.state === 'ready');
  assert.deepEqual(r.events, ['credentials cache', 'credentials ota']);
  assert.deepEqual(r.source.current(), { url: WS, token: TOKEN2 });
  await until('cache rewritten', () => readFileSync(join(stateDir, OTA_CACHE_FILE), 'utf8').includes(TOKEN2));
  noSecrets(r.lines, TOKEN, TOKEN2, 'secretSIG');
  await r.source.stop();
  assert.equal(r.clock.pending, 0);
});

test('OTA down and no cache: waiting, full-jitter backoff that never gives up; retryNow cuts a wait', async () => {
  const r = rig();
  r.source.start();
  await until('waiting', () => r.source.state === 'waiting');
  assert.deepEqual(r.events, [], 'nothing to connect with');
  assert.deepEqual(r.source.current(), FALLBACK);
  for (let n = 1; n <= 12; n++) {
    await until(`failure ${n}`, () => r.fake.count('ota') === n && r.clock.nextAt() !== undefined);
    const ceiling = Math.min(300_000, 2_000 * 2 ** (n - 1));
    assert.ok(r.clock.msToNext() < ceiling, `delay ${n} below ${ceiling}`);
    if (n < 12) r.clock.advance(r.clock.msToNext());
  }
  assert.equal(r.source.state, 'waiting');
  r.source.retryNow('button press while offline');
  await until('an immediate retry', () => r.fake.count('ota') === 13);
  r.fake.otaDefault = answer(TOKEN);
  r.source.retryNow('network up');
  await until('ready', () => r.source.state === 'ready');
  assert.deepEqual(r.events, ['credentials ota']);
  await r.source.stop();
  assert.equal(r.clock.pending, 0);
});

test('refresh: fresh token with the same ids; concurrent calls share one request; failure keeps it', async () => {
  const r = rig();
  r.fake.ota.push(answer(TOKEN));
  r.source.start();
  await until('ready', () => r.source.state === 'ready');
  r.fake.ota.push(answer(TOKEN2));
  const before = r.fake.count('ota');
  const [a, b] = await Promise.all([r.source.refresh('认证失败'), r.source.refresh('again')]);
  assert.deepEqual(a, { url: WS, token: TOKEN2 });
  assert.deepEqual(b, a);
  assert.equal(r.fake.count('ota'), before + 1, 'one request for both');
  const heads = r.fake.calls.map((c) => JSON.stringify(c.headers));
  assert.equal(new Set(heads).size, 1, 'the ids never change');
  const line = r.lines.find((l) => l.msg === 'credentials refreshed from OTA');
  assert.equal(line?.token_changed, true);
  assert.equal(line?.reason, '认证失败');

  // Server down: the previous credentials stay, the reason is logged, the promise resolves.
  const kept = await r.source.refresh('认证失败 again');
  assert.deepEqual(kept, { url: WS, token: TOKEN2 });
  const warn = r.lines.find((l) => l.msg.startsWith('credential refresh: OTA request failed'));
  assert.equal(warn?.code, OtaErrorCode.Unreachable);
  noSecrets(r.lines, TOKEN, TOKEN2);
  await r.source.stop();
  assert.deepEqual(await r.source.refresh('after stop'), kept, 'never rejects');
});

test('refresh while the background loop retries: the loop asks at once and refresh waits for it', async () => {
  const stateDir = freshDir();
  const { log } = captureLogger();
  const entry: OtaCacheEntry = {
    version: 1,
    savedAt: WALL,
    otaUrl: OTA,
    ...IDS,
    websocket: { url: WS, token: TOKEN },
  };
  await saveOtaCache(join(stateDir, OTA_CACHE_FILE), entry, log);
  const r = rig(stateDir);
  r.source.start();
  await until('cached', () => r.source.state === 'cached');
  r.fake.ota.push(answer(TOKEN2));
  const got = await r.source.refresh('认证失败');
  assert.deepEqual(got, { url: WS, token: TOKEN2 });
  assert.equal(r.source.state, 'ready');
  assert.equal(r.fake.count('ota'), 2);
  await r.source.stop();
  assert.equal(r.clock.pending, 0);
});

test('refresh when the server asks for activation again: activation starts, refresh returns at once', async () => {
  const r = rig();
  r.fake.ota.push(answer(TOKEN), ACTIVATION);
  r.source.start();
  await until('ready', () => r.source.state === 'ready');
  assert.deepEqual(await r.source.refresh('认证失败'), { url: WS, token: TOKEN });
  await until('activating', () => r.source.state === 'activating');
  assert.deepEqual(r.events, ['credentials ota', 'activation 123456']);
  await r.source.stop();
  assert.equal(r.clock.pending, 0);
  assert.equal(r.source.state, 'stopped');
});

test('cache: another OTA URL or identity, a corrupt file, a missing file: ignored', async () => {
  const dir = freshDir();
  const file = join(dir, OTA_CACHE_FILE);
  const { log, lines } = captureLogger();
  const entry: OtaCacheEntry = {
    version: 1,
    savedAt: WALL,
    otaUrl: OTA,
    ...IDS,
    websocket: { url: WS, token: TOKEN },
  };
  const key = { otaUrl: OTA, ...IDS };
  assert.equal(await loadOtaCache(file, key, log), undefined, 'missing');
  await saveOtaCache(file, entry, log);
  assert.deepEqual(await loadOtaCache(file, key, log), entry);
  assert.equal(await loadOtaCache(file, { ...key, otaUrl: 'http://other/xiaozhi/ota/' }, log), undefined);
  assert.equal(await loadOtaCache(file, { ...key, clientId: 'another' }, log), undefined);
  writeFileSync(file, '{"version":1,"websocket":');
  assert.equal(await loadOtaCache(file, key, log), undefined, 'corrupt');
  writeFileSync(file, '{"version":2}');
  assert.equal(await loadOtaCache(file, key, log), undefined, 'unknown shape');
  assert.ok(lines.filter((l) => l.level === 40).length >= 2);
  noSecrets(lines, TOKEN, '{"version":1,"websocket":');
});
