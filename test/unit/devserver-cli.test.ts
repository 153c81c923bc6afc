import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SystemClock } from '../../src/core/clock.js';
import { DEV_SERVER_USAGE, parseDevServerArgs, runDevServer } from '../../src/devserver/index.js';
import { captureLogger } from '../fakes/capture-logger.js';
import { TestClient, withTimeout } from './devserver-harness.js';

test('args: flags map to options; faults by name', () => {
  const o = parseDevServerArgs([
    '--host',
    '0.0.0.0',
    '--port=9000',
    '--auth-key',
    'k',
    '--allowed-device',
    'aa:aa:aa:aa:aa:aa',
    '--ota',
    '--no-voice-close-ms',
    '30000',
    '--no-voice-check-ms',
    '500',
    '--fault',
    'close-after-hello',
    '--fault',
    'close-after-reply',
    '--fault',
    'ignore-pings',
    '--reject-upgrade',
    '401',
  ]);
  assert.notEqual(o, 'help');
  assert.deepEqual(o, {
    host: '0.0.0.0',
    port: 9000,
    ota: true,
    faults: { closeAfterHello: true, closeAfterReply: true, ignorePings: true, rejectUpgrade: 401 },
    auth: { key: 'k', allowedDevices: ['aa:aa:aa:aa:aa:aa'] },
    noVoiceCloseMs: 30000,
    noVoiceCheckMs: 500,
  });
  assert.equal(parseDevServerArgs(['--help']), 'help');
  // The stand-in for xinnan closes idle sessions like xinnan's default (120 s); 0 turns it off.
  assert.deepEqual(parseDevServerArgs([]), {
    host: '127.0.0.1',
    port: 8000,
    ota: false,
    faults: {},
    noVoiceCloseMs: 120_000,
  });
  assert.deepEqual(parseDevServerArgs(['--no-voice-close-ms', '0']), {
    host: '127.0.0.1',
    port: 8000,
    ota: false,
    faults: {},
    noVoiceCloseMs: 0,
  });
});

test('args: bad input → exit 2 with the reason and the usage', async () => {
  const { log } = captureLogger();
  for (const argv of [
    ['--fault', 'nope'],
    ['--port', '70000'],
    ['--bogus'],
    ['--no-voice-close-ms', 'soon'],
    ['--no-voice-check-ms', '0'],
    ['--idle-close-ms', '1000'],
  ]) {
    const out: string[] = [];
    assert.equal(await runDevServer(argv, log, { print: (l) => out.push(l) }), 2, argv.join(' '));
    assert.match(out.join('\n'), /^speakerd dev-server: .+\nusage: speakerd dev-server/);
  }
});

test('runDevServer: prints the URLs, serves, stops on the signal and returns 0', async () => {
  const { log } = captureLogger();
  const clock = new SystemClock();
  const out: string[] = [];
  const ac = new AbortController();
  const sigintListeners = process.listenerCount('SIGINT');
  let announce: (url: string) => void = () => undefined;
  const listening = new Promise<string>((resolve) => {
    announce = resolve;
  });
  const print = (line: string): void => {
    out.push(line);
    const m = /^dev-server listening: (\S+)$/.exec(line);
    if (m?.[1]) announce(m[1]);
  };
  const run = runDevServer(['--port', '0', '--ota', '--fault', 'no-hello'], log, {
    print,
    signal: ac.signal,
    clock,
  });
  const url = await withTimeout(listening, 2000, 'the URL line');
  assert.match(url, /^ws:\/\/127\.0\.0\.1:\d+\/xiaozhi\/v1\/$/);
  assert.ok(out.some((l) => /^OTA endpoint: http:\/\/127\.0\.0\.1:\d+\/xiaozhi\/ota\/$/.test(l)));
  assert.ok(out.includes('faults on: noHello'));
  const c = new TestClient(url);
  await c.opened;
  ac.abort();
  assert.equal((await c.closed).code, 1001);
  assert.equal(await withTimeout(run, 2000, 'exit code'), 0);
  assert.equal(clock.pending, 0);
  assert.equal(process.listenerCount('SIGINT'), sigintListeners, 'signal handlers removed');
});

test('--help documents the xinnan behaviours and the settings they follow', () => {
  for (const s of [
    '--no-voice-close-ms N',
    "xinnan's close_connection_no_voice_time (default 120000 like xinnan",
    '0 = off',
    '--no-voice-check-ms N',
    '_check_timeout',
    'close-after-reply: close 1000 3 ms after each reply',
    'listen stop answers the audio collected since listen start in every mode',
  ])
    assert.ok(DEV_SERVER_USAGE.replace(/\s+/g, ' ').includes(s.replace(/\s+/g, ' ')), s);
  assert.doesNotMatch(DEV_SERVER_USAGE, /idle-close-ms/);
});
