/**
 * The real sd-notify binding (libsystemd's sd_notify) sending to a fake notify socket
 * (test-infra.md §3.2): what systemd would receive, with the sender's pid that NotifyAccess=main
 * checks. sd_notify reads NOTIFY_SOCKET from the C environment at each call, and Node's
 * process.env writes through to it, so this runs in-process (node --test gives each file its own).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type Notifier, openNotifier } from '../../src/system/notify.js';
import { captureLogger } from '../fakes/capture-logger.js';
import { type NotifyReceiver, startNotifyReceiver } from '../fakes/notify-receiver.js';

const WAIT_MS = 3_000;
let dir = '';
let receiver: NotifyReceiver | undefined;
const savedSocket = process.env.NOTIFY_SOCKET;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'speakerd-notify-'));
  receiver = await startNotifyReceiver(dir);
  process.env.NOTIFY_SOCKET = receiver.socketPath;
});

after(async () => {
  if (savedSocket === undefined) delete process.env.NOTIFY_SOCKET;
  else process.env.NOTIFY_SOCKET = savedSocket;
  await receiver?.close();
  rmSync(dir, { recursive: true, force: true });
});

function open(): Notifier {
  const r = openNotifier(process.env, captureLogger().log);
  if (!r.ok) throw new Error(`sd-notify binding unusable on this machine: ${r.fault.message}`);
  return r.notifier;
}

test('READY, STATUS, WATCHDOG and STOPPING arrive from our own pid', async () => {
  const rx = receiver;
  assert.ok(rx);
  const n = open();
  n.ready('starting');
  n.status('offline: retry in 4.2 s (connect ECONNREFUSED)');
  n.status('offline: retry in 4.2 s (connect ECONNREFUSED)'); // deduped: never sent
  n.status('online · idle\nWATCHDOG=1'); // flattened: no field injected
  n.watchdog();
  n.stopping();
  const stop = await rx.waitFor((m) => m.fields.STOPPING === '1', WAIT_MS);
  assert.equal(stop.pid, process.pid);
  const got = rx.messages();
  assert.deepEqual(
    got.map((m) => m.fields),
    [
      { READY: '1', STATUS: 'starting' },
      { STATUS: 'offline: retry in 4.2 s (connect ECONNREFUSED)' },
      { STATUS: 'online · idle | WATCHDOG=1' },
      { WATCHDOG: '1' },
      { STOPPING: '1' },
    ],
  );
  assert.ok(
    got.every((m) => m.pid === process.pid),
    'NotifyAccess=main: every message carries the main pid',
  );
  assert.ok(
    got.every((m, i) => i === 0 || m.at >= (got[i - 1]?.at ?? 0)),
    'in order',
  );
});
