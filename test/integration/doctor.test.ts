/**
 * `speakerd doctor` in-process against the real things: the dev-server on 127.0.0.1:0, the real
 * `arecord`/`aplay` on the test sound card (AlsaRig), a closed port, a blackholing proxy, a
 * self-signed TLS server, and a fake sysfs GPIO tree.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { readPcmFile } from '../../src/audio/file-audio.js';
import { configSchema } from '../../src/config/schema.js';
import { SPEECH_FIXTURE } from '../../src/demo.js';
import { AUTH_FAILED_TEXT, DevServer, type DevServerOptions } from '../../src/devserver/index.js';
import type { CheckResult } from '../../src/doctor/check.js';
import { checkGpio } from '../../src/doctor/checks-system.js';
import { runDoctor } from '../../src/doctor/doctor.js';
import { AlsaRig } from '../fakes/alsa-rig.js';
import { captureLogger } from '../fakes/capture-logger.js';
import { FaultProxy } from '../fakes/fault-proxy.js';
import { pollUntil } from '../fakes/poll.js';

const SPEECH = readPcmFile(SPEECH_FIXTURE);
const DEVICE_ID = '02:00:00:00:00:d0';
const CLIENT_ID = '6f1c2d3e-4b5a-4c6d-8e7f-901234567890';
const MISSING = 'plughw:CARD=NoSuchCard,DEV=0';
const dir = mkdtempSync(join(tmpdir(), 'speakerd-doctor-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The environment without systemd's variables, so the run is the same under any test runner. */
function cleanEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const { NOTIFY_SOCKET: _n, WATCHDOG_USEC: _w, WATCHDOG_PID: _p, ...rest } = base;
  return rest;
}

let configs = 0;
function writeConfig(config: object): string {
  const file = join(dir, `config-${++configs}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      hardware: 'simulated',
      stateDir: join(dir, 'state'),
      identity: { deviceId: DEVICE_ID, clientId: CLIENT_ID },
      ...config,
    }),
  );
  return file;
}

interface Run {
  readonly code: number;
  readonly out: string[];
  readonly err: string[];
  readonly ms: number;
}

async function doctor(args: string[], env: NodeJS.ProcessEnv = cleanEnv()): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const t0 = performance.now();
  const code = await runDoctor(args, { out: (l) => out.push(l), err: (l) => err.push(l), env });
  return { code, out, err, ms: performance.now() - t0 };
}

function parseJson(run: Run): { ok: boolean; checks: CheckResult[] } {
  assert.equal(run.out.length, 1, `one JSON line on stdout: ${run.out.join('\n')}`);
  const parsed: { ok: boolean; checks: CheckResult[] } = JSON.parse(run.out[0] ?? '');
  return parsed;
}

function check(checks: readonly CheckResult[], name: string): CheckResult {
  const c = checks.find((x) => x.name === name);
  assert.ok(c, `no check named ${name} in ${checks.map((x) => x.name).join(', ')}`);
  return c;
}

async function startServer(options: DevServerOptions = {}): Promise<DevServer> {
  const server = new DevServer({ host: '127.0.0.1', port: 0, ...options }, captureLogger('warn').log);
  await server.start();
  return server;
}

/** A port that was free a moment ago: nothing listens there. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const addr = s.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

test('doctor against the dev-server and the test sound card: every check passes or is skipped', async () => {
  const rig = new AlsaRig(24000);
  const server = await startServer();
  try {
    rig.startMic(SPEECH, 0, 0.3);
    await rig.startSpeaker();
    const file = writeConfig({
      server: { websocketUrl: server.url },
      audio: { captureDevice: 'fakemic', playbackDevice: 'fakespk' },
    });
    const run = await doctor(['--config', file, '--json'], cleanEnv(rig.env));
    const report = parseJson(run);
    const failures = report.checks.filter((c) => c.ok === false);
    assert.deepEqual(failures, [], 'no check fails');
    assert.equal(run.code, 0);
    assert.equal(report.ok, true);
    const names = report.checks.map((c) => c.name);
    assert.deepEqual(names, [
      'config',
      'identity',
      'audio capture',
      'audio playback',
      'gpio',
      'spi leds',
      'wake word',
      'ota',
      'dns',
      'tcp',
      'tls',
      'websocket',
      'token',
      'hello',
      'clock',
      'systemd',
      'sd-notify',
      'journal',
    ]);
    const capture = check(report.checks, 'audio capture');
    const level = /level (-?\d+\.\d) dBFS RMS/.exec(capture.detail);
    assert.ok(level?.[1], capture.detail);
    // The fixture is speech at a normal level: far above a dead mic, below full scale.
    assert.ok(Number(level[1]) > -50 && Number(level[1]) < -3, capture.detail);
    assert.match(check(report.checks, 'hello').detail, /session_id \S+/);
    assert.match(check(report.checks, 'clock').detail, /server's Date/);
    // Off by default: skipped with a note, onnxruntime-node not even imported.
    assert.equal(check(report.checks, 'wake word').ok, 'skip');
    assert.match(check(report.checks, 'wake word').detail, /wakeWord\.enabled is false/);
    assert.deepEqual(check(report.checks, 'ota'), {
      name: 'ota',
      ok: 'skip',
      detail: 'server.websocketUrl is set: no OTA',
    });
    // aplay really played into the rig: 200 ms at 24 kHz.
    await pollUntil(
      'played silence',
      () => rig.played().length >= 9600,
      3000,
      () => `${rig.played().length} B`,
    );
    assert.ok(run.ms < 8000, `took ${Math.round(run.ms)} ms`);
    // Diagnostics for the test log.
    console.log(`# doctor happy path: ${Math.round(run.ms)} ms; ${capture.detail}`);
  } finally {
    await server.stop();
    await rig.close();
  }
  assert.deepEqual(rig.errors, []);
});

test('a stopped server: tcp ✗ with ECONNREFUSED, later server checks skipped, fast', async () => {
  const port = await closedPort();
  const file = writeConfig({
    server: { websocketUrl: `ws://127.0.0.1:${port}/xiaozhi/v1/` },
    audio: { captureDevice: MISSING, playbackDevice: MISSING },
  });
  const run = await doctor(['--config', file, '--json']);
  const { ok, checks } = parseJson(run);
  assert.equal(run.code, 1);
  assert.equal(ok, false);
  const tcp = check(checks, 'tcp');
  assert.equal(tcp.ok, false);
  assert.match(tcp.detail, /ECONNREFUSED/);
  assert.match(tcp.fix ?? '', /nothing listens/);
  for (const name of ['websocket', 'token', 'hello']) {
    assert.deepEqual(
      { ok: check(checks, name).ok, detail: check(checks, name).detail },
      { ok: 'skip', detail: 'needs TCP' },
    );
  }
  assert.ok(run.ms < 5000, `took ${Math.round(run.ms)} ms`);
  console.log(`# stopped server: ${Math.round(run.ms)} ms`);
});

test('OTA: no websocketUrl, the URL and token come from server.otaUrl, then hello against them', async () => {
  const rig = new AlsaRig(24000);
  const server = await startServer({ ota: true, auth: { key: 'doctor-ota-key' } });
  const asked: { deviceId: string; clientId: string }[] = [];
  server.on('ota', (e) => asked.push({ deviceId: e.deviceId, clientId: e.clientId }));
  try {
    rig.startMic(SPEECH, 0, 0.3);
    await rig.startSpeaker();
    const file = writeConfig({
      server: { otaUrl: `http://127.0.0.1:${server.port}/xiaozhi/ota/` },
      audio: { captureDevice: 'fakemic', playbackDevice: 'fakespk' },
    });
    const run = await doctor(['--config', file, '--json'], cleanEnv(rig.env));
    const report = parseJson(run);
    assert.deepEqual(
      report.checks.filter((c) => c.ok === false),
      [],
      'no check fails',
    );
    assert.equal(run.code, 0);
    assert.deepEqual(
      report.checks.map((c) => c.name),
      [
        'config',
        'identity',
        'audio capture',
        'audio playback',
        'gpio',
        'spi leds',
        'wake word',
        'ota',
        'dns',
        'tcp',
        'tls',
        'websocket',
        'token',
        'hello',
        'clock',
        'systemd',
        'sd-notify',
        'journal',
      ],
    );
    assert.match(check(report.checks, 'config').detail, /ota=http:\/\/127\.0\.0\.1:\d+\/xiaozhi\/ota\//);
    const ota = check(report.checks, 'ota');
    assert.equal(ota.ok, true);
    assert.match(
      ota.detail,
      new RegExp(
        `answered in \\d+ ms: websocket ${server.url.replace(/[.]/g, '\\.')}, token yes, this clock agrees with server_time`,
      ),
    );
    assert.deepEqual(asked, [{ deviceId: DEVICE_ID, clientId: CLIENT_ID }]);
    assert.equal(check(report.checks, 'tcp').ok, true);
    assert.match(
      check(report.checks, 'websocket').detail,
      new RegExp(`^${server.url.replace(/[.]/g, '\\.')}: upgraded`),
    );
    assert.equal(check(report.checks, 'token').detail, 'accepted (the token from OTA)');
    assert.match(check(report.checks, 'hello').detail, /session_id \S+/);
    // The token OTA handed out (signed for these ids) never reaches the output.
    const signature = server.issueToken(CLIENT_ID, DEVICE_ID).split('.')[0] ?? '?';
    assert.ok(!run.out.join('\n').includes(signature));
    assert.ok(run.ms < 8000, `took ${Math.round(run.ms)} ms`);

    // Text mode (no audio this time: the rig's mic feeds one arecord): the lines in the flow's order.
    const textFile = writeConfig({
      server: { otaUrl: `http://127.0.0.1:${server.port}/xiaozhi/ota/` },
      audio: { captureDevice: MISSING, playbackDevice: MISSING },
    });
    const text = await doctor(['--config', textFile]);
    assert.equal(text.code, 1);
    assert.deepEqual(
      text.out.filter((l) => l.startsWith('✗')).map((l) => l.split(':')[0]),
      ['✗ audio capture', '✗ audio playback'],
    );
    const names = text.out.slice(0, -1).map((l) => /^(?:✓|✗|-) ([a-z -]+): /.exec(l)?.[1]);
    assert.deepEqual(names.slice(names.indexOf('gpio')), [
      'gpio',
      'spi leds',
      'wake word',
      'ota',
      'dns',
      'tcp',
      'tls',
      'websocket',
      'token',
      'hello',
      'clock',
      'systemd',
      'sd-notify',
      'journal',
    ]);
    assert.match(text.out.find((l) => l.startsWith('✓ ota:')) ?? '', /token yes/);
  } finally {
    await server.stop();
    await rig.close();
  }
});

test('OTA: otaUrl on a stopped port: ota ✗ ECONNREFUSED with the fix, server checks skipped, fast', async () => {
  const port = await closedPort();
  const file = writeConfig({
    server: { otaUrl: `http://127.0.0.1:${port}/xiaozhi/ota/` },
    audio: { captureDevice: MISSING, playbackDevice: MISSING },
  });
  const run = await doctor(['--config', file, '--json']);
  const { ok, checks } = parseJson(run);
  assert.equal(run.code, 1);
  assert.equal(ok, false);
  const ota = check(checks, 'ota');
  assert.equal(ota.ok, false);
  assert.match(ota.detail, new RegExp(`^http://127\\.0\\.0\\.1:${port}/xiaozhi/ota/: .*ECONNREFUSED`));
  assert.match(ota.fix ?? '', new RegExp(`nothing listens on 127\\.0\\.0\\.1:${port}: .*server\\.otaUrl`));
  for (const name of ['dns', 'tcp', 'tls', 'websocket', 'token', 'hello']) {
    assert.deepEqual(
      { ok: check(checks, name).ok, detail: check(checks, name).detail },
      { ok: 'skip', detail: 'needs the OTA answer' },
      name,
    );
  }
  assert.match(check(checks, 'clock').detail, /server Date not compared \(no OTA answer\)/);
  assert.ok(run.ms < 3000, `took ${Math.round(run.ms)} ms`);

  const text = await doctor(['--config', file]);
  assert.match(
    text.out.find((l) => l.startsWith('✗ ota:')) ?? '',
    /^✗ ota: http:\/\/127\.0\.0\.1:\d+\/xiaozhi\/ota\/: .*ECONNREFUSED.* — fix: nothing listens on /,
  );
  assert.ok(text.out.includes('- hello: skipped (needs the OTA answer)'));
  console.log(`# OTA refused: ${Math.round(run.ms)} ms`);
});

test('OTA: a server that accepts and never answers: ota ✗ within --timeout-ms (capping ota.timeoutMs)', async () => {
  const held: net.Socket[] = [];
  const silent = net.createServer((socket) => held.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const addr = silent.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  try {
    const file = writeConfig({
      server: { otaUrl: `http://127.0.0.1:${port}/xiaozhi/ota/` },
      ota: { timeoutMs: 30_000 },
      audio: { captureDevice: MISSING, playbackDevice: MISSING },
    });
    const run = await doctor(['--config', file, '--json', '--timeout-ms', '1000']);
    const ota = check(parseJson(run).checks, 'ota');
    assert.equal(ota.ok, false);
    assert.match(ota.detail, /within 1000 ms \(E_OTA_TIMEOUT\)$/);
    assert.match(ota.fix ?? '', /ota\.timeoutMs/);
    assert.ok(run.ms < 3000, `took ${Math.round(run.ms)} ms`);
  } finally {
    for (const socket of held) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  }
});

test('OTA: activation pending: ota ✓ with the code, the WebSocket is not opened', async () => {
  const server = await startServer({ ota: true, activation: { code: '472913', pendingPolls: 1000 } });
  let upgrades = 0;
  let polls = 0;
  server.on('connection', () => upgrades++);
  server.on('activate', () => polls++);
  try {
    const file = writeConfig({
      server: { otaUrl: `http://127.0.0.1:${server.port}/xiaozhi/ota/` },
      audio: { captureDevice: MISSING, playbackDevice: MISSING },
    });
    const run = await doctor(['--config', file, '--json']);
    const { checks } = parseJson(run);
    const ota = check(checks, 'ota');
    assert.equal(ota.ok, true);
    assert.match(ota.detail, /token no, /);
    assert.match(ota.detail, /activation pending: code 472913 — say it to the server's console\/app$/);
    // The network path to the handed-out URL is still checked; the WebSocket waits for activation.
    assert.equal(check(checks, 'tcp').ok, true);
    for (const name of ['websocket', 'token', 'hello']) {
      assert.deepEqual(
        { ok: check(checks, name).ok, detail: check(checks, name).detail },
        { ok: 'skip', detail: 'activation pending' },
        name,
      );
    }
    assert.equal(check(checks, 'clock').ok, true);
    // Only the audio devices fail: a pending activation is the normal first boot.
    assert.deepEqual(
      checks.filter((c) => c.ok === false).map((c) => c.name),
      ['audio capture', 'audio playback'],
    );
    assert.equal(upgrades, 0, 'no WebSocket upgrade while activation is pending');
    assert.equal(polls, 0, 'doctor does not poll /activate');
    assert.equal(server.isActivated(DEVICE_ID), false);
  } finally {
    await server.stop();
  }
});

test('a missing ALSA device: the capture check quotes arecord and names the fix', async () => {
  const server = await startServer();
  try {
    const file = writeConfig({
      server: { websocketUrl: server.url },
      audio: { captureDevice: MISSING, playbackDevice: MISSING },
    });
    const run = await doctor(['--config', file, '--json']);
    const { checks } = parseJson(run);
    assert.equal(run.code, 1);
    const capture = check(checks, 'audio capture');
    assert.equal(capture.ok, false);
    assert.match(
      capture.detail,
      new RegExp(`arecord -D ${MISSING.replace(/[=,]/g, '.')}: audio open error: `),
    );
    assert.match(capture.fix ?? '', /arecord -L.*audio\.captureDevice/);
    const playback = check(checks, 'audio playback');
    assert.equal(playback.ok, false);
    assert.match(playback.detail, /aplay .*audio open error/);
    // The rest still ran: the server is fine.
    assert.equal(check(checks, 'hello').ok, true);
  } finally {
    await server.stop();
  }
});

test('text mode: one ✓/✗/- line per check, the fix after "fix:", a summary; invalid config exits 78', async () => {
  const port = await closedPort();
  const file = writeConfig({
    server: { websocketUrl: `ws://127.0.0.1:${port}/xiaozhi/v1/` },
    audio: { captureDevice: MISSING, playbackDevice: MISSING },
  });
  const run = await doctor(['--config', file]);
  assert.equal(run.code, 1);
  const lines = run.out.slice(0, -1);
  for (const line of lines) assert.match(line, /^(✓|✗|-) [a-z -]+: /);
  assert.match(run.out.find((l) => l.startsWith('✓ config:')) ?? '', /hardware=simulated/);
  assert.match(
    run.out.find((l) => l.startsWith('✗ tcp:')) ?? '',
    /^✗ tcp: 127\.0\.0\.1:\d+: connect ECONNREFUSED .* — fix: nothing listens on /,
  );
  assert.ok(run.out.includes('- websocket: skipped (needs TCP)'));
  assert.ok(run.out.includes('- gpio: skipped (hardware is "simulated": keyboard button and terminal LEDs)'));
  assert.match(run.out.at(-1) ?? '', /^doctor: 3 of \d+ checks failed/);

  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ server: { websocketUrl: 'http://x' }, bogus: 1 }));
  const invalid = await doctor(['--config', bad]);
  assert.equal(invalid.code, 78);
  assert.match(invalid.out[0] ?? '', /^✗ config: .* is invalid \(2 errors: .*— fix: /);
  assert.match(invalid.err.join('\n'), /server\.websocketUrl: must be a ws:\/\/ or wss:\/\/ URL/);
  const json = await doctor(['--config', bad, '--json']);
  assert.equal(json.code, 78);
  assert.equal(parseJson(json).checks[0]?.ok, false);

  const usage = await doctor(['--frob']);
  assert.equal(usage.code, 2);
  assert.match(usage.err.join('\n'), /usage: speakerd doctor/);
});

test('a rejected token: websocket ✓, token ✗ quoting the server, hello skipped; a good token passes', async () => {
  const server = await startServer({ auth: { key: 'doctor-key' } });
  try {
    const audio = { captureDevice: MISSING, playbackDevice: MISSING };
    const wrong = writeConfig({ server: { websocketUrl: server.url, token: 'AAAA.1' }, audio });
    const { checks } = parseJson(await doctor(['--config', wrong, '--json']));
    assert.equal(check(checks, 'websocket').ok, true);
    const token = check(checks, 'token');
    assert.equal(token.ok, false);
    assert.match(token.detail, new RegExp(`^rejected: server said "${AUTH_FAILED_TEXT}" and closed 1000`));
    assert.match(token.fix ?? '', /server\.token/);
    assert.equal(check(checks, 'hello').ok, 'skip');

    const good = writeConfig({
      server: { websocketUrl: server.url, token: server.issueToken(CLIENT_ID, DEVICE_ID) },
      audio,
    });
    const run = await doctor(['--config', good, '--json']);
    const passed = parseJson(run).checks;
    assert.deepEqual(check(passed, 'token').ok, true);
    assert.equal(check(passed, 'hello').ok, true);
    assert.ok(!run.out.join('\n').includes(server.issueToken(CLIENT_ID, DEVICE_ID).split('.')[0] ?? '?'));
  } finally {
    await server.stop();
  }
});

test('a server that never says hello: hello ✗ after helloTimeoutMs, token unknown', async () => {
  const server = await startServer({ faults: { noHello: true } });
  try {
    const file = writeConfig({
      server: { websocketUrl: server.url },
      connection: { helloTimeoutMs: 1000 },
      audio: { captureDevice: MISSING, playbackDevice: MISSING },
    });
    const run = await doctor(['--config', file, '--json']);
    const { checks } = parseJson(run);
    assert.equal(check(checks, 'websocket').ok, true);
    assert.deepEqual(check(checks, 'token'), {
      name: 'token',
      ok: 'skip',
      detail: 'unknown: no server hello',
    });
    const hello = check(checks, 'hello');
    assert.equal(hello.ok, false);
    assert.equal(hello.detail, 'no server hello within 1000 ms');
    assert.match(hello.fix ?? '', /xiaozhi server/);
    assert.ok(run.ms < 3000, `took ${Math.round(run.ms)} ms`);
    await pollUntil(
      'the doctor session closed',
      () => server.clients === 0,
      2000,
      () => `${server.clients} clients`,
    );
  } finally {
    await server.stop();
  }
});

test('a blackholed server: the upgrade times out within --timeout-ms', async () => {
  const server = await startServer();
  const proxy = new FaultProxy(server.port);
  try {
    const port = await proxy.listen();
    proxy.setMode('blackhole');
    const file = writeConfig({
      server: { websocketUrl: `ws://127.0.0.1:${port}/xiaozhi/v1/` },
      audio: { captureDevice: MISSING, playbackDevice: MISSING },
    });
    const run = await doctor(['--config', file, '--json', '--timeout-ms', '1000']);
    const { checks } = parseJson(run);
    assert.equal(check(checks, 'tcp').ok, true);
    const ws = check(checks, 'websocket');
    assert.equal(ws.ok, false);
    assert.match(ws.detail, /handshake has timed out/i);
    assert.match(check(checks, 'clock').detail, /server Date not compared \(.*1000 ms/);
    // HTTP Date probe (1 s) + upgrade (1 s) + the quick local checks.
    assert.ok(run.ms < 4000, `took ${Math.round(run.ms)} ms`);
  } finally {
    await proxy.close();
    await server.stop();
  }
});

test('TLS: a self-signed certificate fails unless allowInsecureTls, with the reason and the fix', async () => {
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=localhost',
      '-days',
      '2',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  const tlsServer = https.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_req, res) => {
    res.writeHead(426);
    res.end();
  });
  await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
  const addr = tlsServer.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  try {
    const audio = { captureDevice: MISSING, playbackDevice: MISSING };
    const url = `wss://127.0.0.1:${port}/xiaozhi/v1/`;
    const strict = parseJson(
      await doctor(['--config', writeConfig({ server: { websocketUrl: url }, audio }), '--json']),
    );
    const tls = check(strict.checks, 'tls');
    assert.equal(tls.ok, false);
    assert.match(tls.detail, /certificate localhost issued by localhost.*DEPTH_ZERO_SELF_SIGNED_CERT/);
    assert.match(tls.fix ?? '', /NODE_EXTRA_CA_CERTS.*allowInsecureTls/);
    assert.equal(check(strict.checks, 'websocket').detail, 'needs a verified TLS certificate');
    assert.match(check(strict.checks, 'clock').detail, /inside the server certificate/);

    const lax = parseJson(
      await doctor([
        '--config',
        writeConfig({ server: { websocketUrl: url, allowInsecureTls: true }, audio }),
        '--json',
      ]),
    );
    assert.match(check(lax.checks, 'tls').detail, /NOT verified \(DEPTH_ZERO_SELF_SIGNED_CERT\), accepted/);
    assert.equal(check(lax.checks, 'tls').ok, true);
    // Not a WebSocket server: the upgrade is refused with the HTTP status.
    assert.match(check(lax.checks, 'websocket').detail, /HTTP 426/);
  } finally {
    tlsServer.closeAllConnections();
    await new Promise<void>((resolve) => tlsServer.close(() => resolve()));
  }
});

test('GPIO on a fake sysfs tree: lines resolve from the chip base; an exported line is in use', () => {
  const root = join(dir, 'gpio');
  mkdirSync(join(root, 'gpiochip512'), { recursive: true });
  writeFileSync(join(root, 'gpiochip512', 'label'), 'pinctrl-bcm2711\n');
  writeFileSync(join(root, 'gpiochip512', 'base'), '512\n');
  writeFileSync(join(root, 'gpiochip512', 'ngpio'), '58\n');
  writeFileSync(join(root, 'export'), '');
  const config = configSchema.parse({ hardware: 'gpio' });
  const free = checkGpio(config, root);
  assert.deepEqual(
    free.map((c) => [c.name, c.ok]),
    [
      ['gpio chip', true],
      ['gpio lines', true],
    ],
  );
  assert.match(free[1]?.detail ?? '', /button GPIO17=529, led red GPIO22=534, .*all free/);
  mkdirSync(join(root, 'gpio529'));
  const busy = checkGpio(config, root)[1];
  assert.equal(busy?.ok, false);
  assert.match(busy?.detail ?? '', /in use .*button GPIO17 \(sysfs 529\)/);
  assert.match(busy?.fix ?? '', /systemctl stop speakerd/);
  const wrongChip = checkGpio(configSchema.parse({ hardware: 'gpio', gpio: { chipLabel: 'nope' } }), root);
  assert.equal(wrongChip[0]?.ok, false);
  assert.equal(checkGpio(configSchema.parse({ hardware: 'simulated' }), root)[0]?.ok, 'skip');
});
