/**
 * The real `speakerd run --sim` as systemd sees it (design.md §3.6, test-infra.md §3.2): a fake
 * NOTIFY_SOCKET receiver records READY=1, STATUS=, WATCHDOG=1 (WATCHDOG_USEC=2 s → a ping a
 * second), the pings withheld while the event loop is frozen and back after, STOPPING=1 first on
 * SIGTERM and exit 0 within 5 s; journal priorities with JOURNAL_STREAM; a token never printed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { readPcmFile } from '../../src/audio/file-audio.js';
import { SPEECH_FIXTURE } from '../../src/demo.js';
import { signToken } from '../../src/devserver/auth.js';
import { AlsaRig } from '../fakes/alsa-rig.js';
import { type NotifyMessage, startNotifyReceiver } from '../fakes/notify-receiver.js';
import { SpeakerdProcs, waitFor } from '../fakes/speakerd-proc.js';

const dir = mkdtempSync(join(tmpdir(), 'speakerd-systemd-'));
const DEVICE_ID = '02:53:59:53:54:44';
const CLIENT_ID = '6f1c2a4e-8b1d-4c3e-9f2a-0123456789ab';

const procs = new SpeakerdProcs();
after(async () => {
  await procs.killAll();
  rmSync(dir, { recursive: true, force: true });
});
const speakerd = (args: string[], env: NodeJS.ProcessEnv) => procs.spawn(args, env);
const devServer = (extra: string[] = []) => procs.devServer(0, extra);

const has = (m: NotifyMessage, key: string) => m.fields[key] !== undefined;

test('under a fake systemd: READY, STATUS, health-gated WATCHDOG, STOPPING, exit 0 in ≤ 5 s', async (t) => {
  const receiver = await startNotifyReceiver(dir);
  t.after(() => receiver.close());
  const server = await devServer();
  const daemon = speakerd(['run', '--sim'], {
    SPEAKERD_CONFIG: writeConfig('plain.json', {}),
    SPEAKERD_SERVER_URL: server.url,
    NOTIFY_SOCKET: receiver.socketPath,
    WATCHDOG_USEC: '2000000',
  });
  const pid = daemon.child.pid;
  await waitFor('READY=1', 10_000, () => receiver.messages().some((m) => has(m, 'READY')));
  await waitFor('STATUS online · idle', 10_000, () =>
    receiver.messages().some((m) => m.fields.STATUS === 'online · idle'),
  );
  // A ping about every second (WATCHDOG_USEC / 2).
  await sleep(3_500);
  const pingsOf = () => receiver.messages().filter((m) => has(m, 'WATCHDOG'));
  const pings = pingsOf();
  assert.ok(pings.length >= 3, `${pings.length} pings in ~3.5 s`);
  const gaps = pings.slice(1).map((m, i) => m.at - (pings[i]?.at ?? 0));
  assert.ok(
    gaps.every((g) => g > 700 && g < 1_400),
    `ping gaps ${gaps.map((g) => Math.round(g)).join(', ')} ms`,
  );
  assert.ok(
    receiver.messages().every((m) => m.pid === pid),
    'every message comes from the main pid (NotifyAccess=main)',
  );
  const ready = receiver.messages().findIndex((m) => has(m, 'READY'));
  assert.ok(
    ready >= 0 &&
      receiver
        .messages()
        .slice(0, ready)
        .every((m) => !has(m, 'WATCHDOG')),
    'READY first',
  );

  // The event loop frozen for 3 s (what a runaway loop or swap storm looks like from outside): no
  // pings, then the loop-delay check itself withholds the first one after, and pings resume.
  const before = pingsOf().length;
  daemon.child.kill('SIGSTOP');
  await sleep(3_000);
  assert.equal(pingsOf().length, before, 'no ping while frozen');
  daemon.child.kill('SIGCONT');
  const resumedAt = Date.now();
  await waitFor('pings again', 5_000, () => pingsOf().length > before);
  t.diagnostic(`pings resumed ${Date.now() - resumedAt} ms after the loop came back`);
  await waitFor('the failing check logged', 3_000, () =>
    /watchdog healthy → failing: event-loop/.test(daemon.out),
  );
  assert.match(daemon.out, /watchdog failing → healthy/);

  // SIGTERM: STOPPING=1 before anything else is torn down, exit 0 within 5 s.
  const t0 = Date.now();
  daemon.child.kill('SIGTERM');
  const exit = await daemon.exit;
  const took = Date.now() - t0;
  assert.deepEqual(exit, { code: 0, signal: null });
  assert.ok(took < 5_000, `stopped in ${took} ms`);
  const last = receiver.messages().filter((m) => has(m, 'STOPPING'));
  assert.equal(last.length, 1);
  const stoppingAt = receiver.messages().findIndex((m) => has(m, 'STOPPING'));
  assert.ok(
    receiver
      .messages()
      .slice(stoppingAt + 1)
      .every((m) => !has(m, 'WATCHDOG')),
    'no ping after STOPPING=1',
  );
  assert.match(daemon.out, /"msg":"stopped"/);
  t.diagnostic(
    `statuses: ${receiver
      .messages()
      .flatMap((m) => (m.fields.STATUS ? [m.fields.STATUS] : []))
      .join(' | ')}`,
  );
  server.proc.child.kill('SIGTERM');
  await server.proc.exit;
});

test('real arecord on the test sound card: a mic that stalls (arecord alive, no audio) stops the pings until audio returns', async (t) => {
  const rig = new AlsaRig();
  t.after(() => rig.close());
  // A talkative room: the words again and again, so the mic is neither stalled nor muted.
  rig.startMic(readPcmFile(SPEECH_FIXTURE), 0, 1);
  await rig.startSpeaker();
  const receiver = await startNotifyReceiver(dir);
  t.after(() => receiver.close());
  const server = await devServer();
  const daemon = speakerd(['run'], {
    ...rig.env,
    SPEAKERD_CONFIG: writeConfig('alsa.json', {
      audio: { captureDevice: 'fakemic', playbackDevice: 'fakespk' },
    }),
    SPEAKERD_SERVER_URL: server.url,
    NOTIFY_SOCKET: receiver.socketPath,
    WATCHDOG_USEC: '2000000',
  });
  const pingsOf = () => receiver.messages().filter((m) => has(m, 'WATCHDOG'));
  await waitFor('READY=1 and pings', 10_000, () => pingsOf().length >= 2);
  const readyAt = receiver.messages().findIndex((m) => has(m, 'READY'));
  assert.ok(readyAt >= 0);
  // READY waited for the mic: the capture was running before it.
  assert.match(daemon.out, /capture starting → running/);

  rig.freezeMic();
  const frozenAt = pingsOf().length;
  await waitFor('the mic check failing', 6_000, () =>
    /watchdog healthy → failing: mic: no frames/.test(daemon.out),
  );
  const withheldFrom = pingsOf().length;
  await sleep(2_500);
  assert.equal(pingsOf().length, withheldFrom, 'no ping while arecord delivers nothing');
  t.diagnostic(`pings before the stall was seen: ${withheldFrom - frozenAt}`);
  rig.thawMic();
  await waitFor('pings again', 5_000, () => pingsOf().length > withheldFrom);
  assert.match(daemon.out, /watchdog failing → healthy/);

  daemon.child.kill('SIGTERM');
  assert.deepEqual(await daemon.exit, { code: 0, signal: null });
  server.proc.child.kill('SIGTERM');
  await server.proc.exit;
});

test('a server that is down: STATUS says offline, the retry and the cause; READY does not wait for it', async (t) => {
  const receiver = await startNotifyReceiver(dir);
  t.after(() => receiver.close());
  const daemon = speakerd(['run', '--sim'], {
    SPEAKERD_CONFIG: writeConfig('down.json', {}),
    SPEAKERD_SERVER_URL: 'ws://127.0.0.1:9/xiaozhi/v1/',
    NOTIFY_SOCKET: receiver.socketPath,
  });
  await waitFor('READY=1', 10_000, () => receiver.messages().some((m) => has(m, 'READY')));
  await waitFor('an offline STATUS', 10_000, () =>
    receiver
      .messages()
      .some((m) => /^offline · retry in \d+\.\d s · .*ECONNREFUSED/.test(m.fields.STATUS ?? '')),
  );
  assert.ok(
    receiver.messages().every((m) => !has(m, 'WATCHDOG')),
    'no WATCHDOG_USEC: no pings',
  );
  daemon.child.kill('SIGTERM');
  assert.deepEqual(await daemon.exit, { code: 0, signal: null });
});

test('JOURNAL_STREAM: <N> priorities (warnings <4>, errors <3>); the token is never printed', async () => {
  const key = 'journal-test-key';
  const server = await devServer(['--auth-key', key]);
  const token = signToken(key, CLIENT_ID, DEVICE_ID, Math.floor(Date.now() / 1000));
  const daemon = speakerd(['run', '--sim'], {
    SPEAKERD_CONFIG: writeConfig('journal.json', { server: { token } }),
    SPEAKERD_SERVER_URL: server.url,
    SPEAKERD_LOG_LEVEL: 'debug',
    JOURNAL_STREAM: '8:12345',
  });
  await waitFor('online', 10_000, () => daemon.out.includes('"link_to":"ready"'));
  // A warning: the server goes away under the device.
  server.proc.child.kill('SIGKILL');
  await server.proc.exit;
  await waitFor('a warning', 10_000, () => /^<4>\{.*"level":40/m.test(daemon.out));
  daemon.child.kill('SIGTERM');
  assert.deepEqual(await daemon.exit, { code: 0, signal: null });
  // The simulated LEDs draw plain lines on stdout (the journal files them at its default, info).
  const lines = daemon.out.split('\n').filter((l) => l !== '' && !l.startsWith('[LED]'));
  for (const line of lines) {
    const m = /^<(\d)>(\{.*\})$/.exec(line);
    assert.ok(m, `every line has a priority prefix: ${line.slice(0, 80)}`);
    const entry: unknown = JSON.parse(m[2] ?? '');
    assert.ok(typeof entry === 'object' && entry !== null && 'level' in entry && 'device_id' in entry);
    const expected = { 20: '7', 30: '6', 40: '4', 50: '3', 60: '2' }[Number(entry.level)];
    assert.equal(m[1], expected, line.slice(0, 120));
    assert.ok('component' in entry, `every line names its component: ${line.slice(0, 120)}`);
  }
  assert.ok(lines.some((l) => l.startsWith('<4>')));
  assert.ok(!daemon.out.includes(token) && !daemon.err.includes(token), 'the token appears nowhere');
});

test('journal priorities: a refused token is an error (<3>), a fatal start error <2>', async () => {
  const server = await devServer(['--auth-key', 'the-real-key']);
  const wrong = signToken('an-old-key', CLIENT_ID, DEVICE_ID, Math.floor(Date.now() / 1000));
  const daemon = speakerd(['run', '--sim'], {
    SPEAKERD_CONFIG: writeConfig('refused.json', { server: { token: wrong } }),
    SPEAKERD_SERVER_URL: server.url,
    JOURNAL_STREAM: '8:12345',
  });
  await waitFor('the refusal logged as an error', 10_000, () =>
    /^<3>\{.*"code":"E_AUTH_REJECTED".*server refused our credentials/m.test(daemon.out),
  );
  daemon.child.kill('SIGTERM');
  assert.deepEqual(await daemon.exit, { code: 0, signal: null });
  assert.ok(!daemon.out.includes(wrong) && !daemon.err.includes(wrong), 'the token appears nowhere');
  server.proc.child.kill('SIGTERM');
  await server.proc.exit;

  // A start that cannot go on: fatal (<2>), exit 78, said once.
  const bad = speakerd(['run', '--sim', '--mic', join(dir, 'no-such.raw')], {
    SPEAKERD_CONFIG: writeConfig('mic.json', {}),
    JOURNAL_STREAM: '8:12345',
  });
  assert.equal((await bad.exit).code, 78);
  assert.match(bad.out, /^<2>\{.*cannot read the simulated mic file/m);
});

function writeConfig(name: string, extra: Record<string, unknown>): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    JSON.stringify({
      stateDir: join(dir, `state-${name}`),
      identity: { deviceId: DEVICE_ID, clientId: CLIENT_ID },
      hardware: 'simulated',
      ...extra,
    }),
  );
  return path;
}
