/**
 * The OTA client (protocol.md §7.1–7.2) with a fake fetch, and activation polling (§7.3) on a
 * manual clock: request shape, strict parsing, every failure as a value with its code, the
 * clock-skew line, and the firmware's 3 s / 10 s / 10-tries timing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { FIRMWARE_ACTIVATION_TIMING, pollActivation } from '../../src/provisioning/activation.js';
import {
  type ActivateAnswer,
  activateUrl,
  type FetchFn,
  OtaClient,
  type OtaClientOptions,
  OtaErrorCode,
  parseOtaAnswer,
} from '../../src/provisioning/ota.js';
import { captureLogger } from '../fakes/capture-logger.js';

const DEVICE_ID = 'aa:bb:cc:dd:ee:ff';
const CLIENT_ID = '3b241101-e2bb-4255-8caf-4136c566a962';
const OTA = 'http://ota.example/xiaozhi/ota/';
const TOKEN = 'sEcReT-token-value.1754640000';
const WALL = 1_754_640_000_000;

interface Call {
  readonly url: string;
  readonly init: RequestInit;
}

function client(fetchFn: FetchFn, extra: Partial<OtaClientOptions> = {}) {
  const { log, lines } = captureLogger();
  const c = new OtaClient({
    url: OTA,
    identity: { deviceId: DEVICE_ID, clientId: CLIENT_ID },
    version: '0.1.0',
    boardName: 'pi-kitchen',
    timeoutMs: 1_000,
    wallNow: () => WALL,
    log,
    fetch: fetchFn,
    localIp: () => '192.168.1.50',
    ...extra,
  });
  return { c, lines };
}

function answering(status: number, body: string, calls: Call[] = []): FetchFn {
  return async (url, init) => {
    calls.push({ url, init });
    return new Response(body, { status });
  };
}

const FULL = {
  server_time: { timestamp: WALL + 2_500, timezone_offset: 480 },
  firmware: { version: '1.9.2', url: '' },
  websocket: { url: 'wss://api.example/xiaozhi/v1/', token: TOKEN, version: 1 },
  mqtt: { endpoint: 'host:8883' },
  activation: { code: '123456', message: 'xiaozhi.me\n123456', challenge: 'ch-1', timeout_ms: 30000 },
};

test('request: POST with the firmware headers and a Pi-sized system-info body', async () => {
  const calls: Call[] = [];
  const { c } = client(answering(200, JSON.stringify(FULL), calls));
  await c.check();
  const call = calls[0];
  assert.ok(call);
  assert.equal(call.url, OTA);
  assert.equal(call.init.method, 'POST');
  assert.deepEqual(call.init.headers, {
    'Activation-Version': '1',
    'Device-Id': DEVICE_ID,
    'Client-Id': CLIENT_ID,
    'User-Agent': 'speakerd/0.1.0',
    'Accept-Language': 'zh-CN',
    'Content-Type': 'application/json',
  });
  assert.equal(typeof call.init.body, 'string');
  assert.deepEqual(JSON.parse(String(call.init.body)), {
    version: 2,
    language: 'zh-CN',
    mac_address: DEVICE_ID,
    uuid: CLIENT_ID,
    application: { name: 'speakerd', version: '0.1.0' },
    board: { type: 'speakerd', name: 'pi-kitchen', mac: DEVICE_ID, ip: '192.168.1.50' },
  });
  assert.ok(call.init.signal, 'every request is bounded');
});

test('parse: websocket, activation, server time; firmware and mqtt ignored with a log line', async () => {
  const { c, lines } = client(answering(200, JSON.stringify(FULL)));
  const r = await c.check();
  assert.ok(r.ok);
  assert.deepEqual(r.result, {
    ignored: ['firmware', 'mqtt'],
    websocket: { url: 'wss://api.example/xiaozhi/v1/', token: TOKEN, version: 1 },
    activation: { code: '123456', message: 'xiaozhi.me\n123456', challenge: 'ch-1', timeoutMs: 30000 },
    serverTime: { timestamp: WALL + 2_500, timezoneOffset: 480 },
  });
  const line = lines.find((l) => l.msg.startsWith('OTA answered'));
  assert.ok(line);
  assert.equal(line.skew_ms, 2_500, 'skew = server_time.timestamp − wall clock');
  assert.equal(line.token_present, true);
  assert.deepEqual(line.ignored, ['firmware', 'mqtt']);
  assert.match(line.msg, /ignored firmware, mqtt/);
  assert.doesNotMatch(JSON.stringify(lines), /sEcReT/);
  assert.ok(!lines.some((l) => l.level >= 40), 'a 2.5 s skew is no warning');
});

test('parse: a big clock skew is a warning; null and absent fields are tolerated like the firmware', () => {
  const r = parseOtaAnswer(
    JSON.stringify({
      websocket: { url: 'ws://10.0.0.2:8000/xiaozhi/v1/', token: null },
      activation: { code: null, challenge: null },
    }),
  );
  assert.ok(r.ok);
  assert.deepEqual(r.result, {
    ignored: [],
    websocket: { url: 'ws://10.0.0.2:8000/xiaozhi/v1/', token: '' },
  });
});

test('clock skew past a minute: one warning with the skew', async () => {
  const body = JSON.stringify({ ...FULL, server_time: { timestamp: WALL - 3_600_000 } });
  const { c, lines } = client(answering(200, body));
  await c.check();
  const warn = lines.find((l) => l.level === 40);
  assert.equal(warn?.skew_ms, -3_600_000);
  assert.match(warn?.msg ?? '', /NTP/);
});

test('failures are values with stable codes', async () => {
  const cases: [string, FetchFn, string, RegExp][] = [
    ['HTTP 500', answering(500, 'boom'), OtaErrorCode.Http, /HTTP 500: boom/],
    ['not JSON', answering(200, '<html>'), OtaErrorCode.Invalid, /not JSON/],
    ['JSON array', answering(200, '[]'), OtaErrorCode.Invalid, /not a JSON object/],
    [
      'xinnan success:false at HTTP 200',
      answering(200, '{"success":false,"message":"request error."}'),
      OtaErrorCode.Rejected,
      /request error\./,
    ],
    [
      'MQTT only',
      answering(200, '{"mqtt":{"endpoint":"h:1"},"firmware":{}}'),
      OtaErrorCode.NoWebsocket,
      /only MQTT/,
    ],
    [
      'manager-api error object',
      answering(200, '{"code":10041,"msg":"Invalid device ID"}'),
      OtaErrorCode.NoWebsocket,
      /msg: Invalid device ID/,
    ],
    [
      'websocket url of the wrong scheme',
      answering(200, '{"websocket":{"url":"http://x/","token":""}}'),
      OtaErrorCode.Invalid,
      /websocket\.url/,
    ],
    ['too big', answering(200, `{"pad":"${'x'.repeat(70 * 1024)}"}`), OtaErrorCode.Invalid, /bigger than/],
    [
      'connection refused',
      async () => {
        throw new TypeError('fetch failed', {
          cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }),
        });
      },
      OtaErrorCode.Unreachable,
      /ECONNREFUSED/,
    ],
  ];
  for (const [what, fetchFn, code, message] of cases) {
    const { c } = client(fetchFn);
    const r = await c.check();
    assert.ok(!r.ok && 'fault' in r, what);
    assert.equal(r.fault.code, code, what);
    assert.match(r.fault.message, message, what);
  }
});

/** A fetch that never answers, only honours its signal (like a blackholed server). */
const hanging: FetchFn = (_url, init) =>
  new Promise((_resolve, reject) => {
    init.signal?.addEventListener('abort', () => reject(init.signal?.reason), { once: true });
  });

// The hanging fetch only ends through the client's own timeout signal, so the fault's code and
// message prove the timeout fired; no wall-clock upper bound (a slow or busy CPU delays any timer).
// The test's own timeout only turns a missing timeout into a failure instead of a hang.
test('timeout: a silent server ends as E_OTA_TIMEOUT, the message naming timeoutMs', {
  timeout: 30_000,
}, async () => {
  const { c } = client(hanging, { timeoutMs: 30 });
  const t0 = performance.now();
  // AbortSignal.timeout's timer is unref'd: the fake holds no socket, so something must keep the loop up.
  const keepAlive = setTimeout(() => undefined, 30_000);
  const r = await c.check();
  clearTimeout(keepAlive);
  assert.ok(!r.ok && 'fault' in r);
  assert.equal(r.fault.code, OtaErrorCode.Timeout);
  assert.match(r.fault.message, /within 30 ms/);
  // A lower bound holds on any CPU (a Node timer fires at most ~1 ms early: whole-ms rounding).
  assert.ok(performance.now() - t0 >= 25, 'not before timeoutMs');
});

test('abort: the caller cancelling (stop) is not a fault', async () => {
  const { c } = client(hanging, { timeoutMs: 5_000 });
  const ctl = new AbortController();
  const pending = c.check(ctl.signal);
  ctl.abort();
  assert.deepEqual(await pending, { ok: false, aborted: true });
});

test('activate: <ota>/activate with body {} and the same headers; 200, 202, other', async () => {
  assert.equal(activateUrl('http://h/xiaozhi/ota/'), 'http://h/xiaozhi/ota/activate');
  assert.equal(activateUrl('http://h/xiaozhi/ota'), 'http://h/xiaozhi/ota/activate');
  const calls: Call[] = [];
  const statuses = [202, 200, 404];
  const { c } = client(async (url, init) => {
    calls.push({ url, init });
    return new Response('x', { status: statuses[calls.length - 1] ?? 500 });
  });
  assert.deepEqual(await c.activate(), { kind: 'pending' });
  assert.deepEqual(await c.activate(), { kind: 'activated' });
  const other = await c.activate();
  assert.equal(other.kind, 'failed');
  assert.equal(calls[0]?.url, `${OTA}activate`);
  assert.equal(calls[0]?.init.body, '{}');
  assert.deepEqual(calls[0]?.init.headers, c.headers());
});

// ── activation polling on a manual clock ─────────────────────────────────────────────────────

/** Runs due timers and settles promises until `done`, like time passing for the code under test. */
async function drive(clock: ManualClock, done: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) {
    await new Promise((r) => setImmediate(r));
    if (done()) return;
    if (clock.nextAt() !== undefined) clock.advance(clock.msToNext());
  }
}

function scripted(clock: ManualClock, answers: ActivateAnswer['kind'][]) {
  const at: number[] = [];
  const attempt = async (): Promise<ActivateAnswer> => {
    at.push(clock.now());
    const kind = answers.shift() ?? 'pending';
    if (kind === 'failed') return { kind, fault: { code: OtaErrorCode.Http, message: 'HTTP 500' } };
    return { kind };
  };
  return { at, attempt };
}

test('activation: 202 ×3 then 200, exactly 3 s apart (firmware timing)', async () => {
  const clock = new ManualClock(0);
  const { log } = captureLogger();
  const { at, attempt } = scripted(clock, ['pending', 'pending', 'pending', 'activated']);
  let outcome: string | undefined;
  void pollActivation({ attempt, challenge: 'ch', signal: new AbortController().signal, clock, log }).then(
    (o) => {
      outcome = o;
    },
  );
  await drive(clock, () => outcome !== undefined);
  assert.equal(outcome, 'activated');
  assert.deepEqual(at, [0, 3_000, 6_000, 9_000]);
  assert.equal(clock.pending, 0, 'no timer left behind');
});

test('activation: any other answer waits 10 s; 10 tries make a round', async () => {
  const clock = new ManualClock(0);
  const { log } = captureLogger();
  const { at, attempt } = scripted(clock, ['failed', 'pending', 'activated']);
  let outcome: string | undefined;
  void pollActivation({ attempt, challenge: 'ch', signal: new AbortController().signal, clock, log }).then(
    (o) => {
      outcome = o;
    },
  );
  await drive(clock, () => outcome !== undefined);
  assert.equal(outcome, 'activated');
  assert.deepEqual(at, [0, 10_000, 13_000]);

  const round = scripted(clock, []);
  let end: string | undefined;
  void pollActivation({
    attempt: round.attempt,
    challenge: 'ch',
    signal: new AbortController().signal,
    clock,
    log,
  }).then((o) => {
    end = o;
  });
  await drive(clock, () => end !== undefined);
  assert.equal(end, 'exhausted');
  assert.equal(round.at.length, FIRMWARE_ACTIVATION_TIMING.maxTries);
});

test('activation: abort (a long press) ends a wait at once and leaves no timer', async () => {
  const clock = new ManualClock(0);
  const { log } = captureLogger();
  const { at, attempt } = scripted(clock, ['pending']);
  const ctl = new AbortController();
  const done = pollActivation({ attempt, challenge: 'ch', signal: ctl.signal, clock, log });
  await new Promise((r) => setImmediate(r));
  assert.equal(clock.msToNext(), 3_000);
  ctl.abort();
  assert.equal(await done, 'aborted');
  assert.equal(clock.pending, 0);
  assert.equal(at.length, 1);
});

test('activation without a challenge: no poll, one 10 s pause, then OTA again', async () => {
  const clock = new ManualClock(0);
  const { log } = captureLogger();
  const { at, attempt } = scripted(clock, []);
  let outcome: string | undefined;
  void pollActivation({
    attempt,
    challenge: undefined,
    signal: new AbortController().signal,
    clock,
    log,
  }).then((o) => {
    outcome = o;
  });
  await drive(clock, () => outcome !== undefined);
  assert.equal(outcome, 'exhausted');
  assert.equal(clock.now(), 10_000);
  assert.deepEqual(at, []);
});
