import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode } from '../../src/core/errors.js';
import {
  MAX_STATUS_CHARS,
  NoopNotifier,
  openNotifier,
  readWatchdogUsec,
  SD_NOTIFY_FIX,
  SdNotifier,
  type SdNotifyBinding,
  statusLine,
} from '../../src/system/notify.js';
import { captureLogger } from '../fakes/capture-logger.js';

/** Records every datagram the notifier would hand to sd_notify. */
class RecordingBinding implements SdNotifyBinding {
  readonly sent: string[] = [];
  sendState(text: string): void {
    this.sent.push(text);
  }
}

const PID = 4242;

test('readWatchdogUsec: half of WATCHDOG_USEC in ms, undefined when systemd expects no pings', () => {
  assert.equal(readWatchdogUsec({}, PID), undefined, 'unset');
  assert.equal(readWatchdogUsec({ WATCHDOG_USEC: '30000000' }, PID), 15_000);
  assert.equal(readWatchdogUsec({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: String(PID) }, PID), 15_000);
  assert.equal(readWatchdogUsec({ WATCHDOG_USEC: '1' }, PID), 1, 'never a 0 ms interval');
  for (const garbage of ['', 'abc', '-5', '1.5', ' 30', '30s', '0', '0x10']) {
    assert.equal(readWatchdogUsec({ WATCHDOG_USEC: garbage }, PID), undefined, `WATCHDOG_USEC=${garbage}`);
  }
});

test('readWatchdogUsec: a WATCHDOG_PID that is not ours (or not a pid) means no watchdog', () => {
  assert.equal(readWatchdogUsec({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '1' }, PID), undefined);
  assert.equal(readWatchdogUsec({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: 'x' }, PID), undefined);
  assert.equal(readWatchdogUsec({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '' }, PID), undefined);
  assert.equal(
    readWatchdogUsec({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: String(process.pid) }),
    15_000,
    'defaults to this process',
  );
});

test('readWatchdogUsec: a huge WatchdogSec never overflows Node timers into a 1 ms storm', () => {
  assert.equal(readWatchdogUsec({ WATCHDOG_USEC: '18446744073709551615' }, PID), 2 ** 31 - 1);
});

test('openNotifier without NOTIFY_SOCKET: a no-op that never loads the binding', () => {
  const { log, lines } = captureLogger();
  let loads = 0;
  const loader = (): unknown => {
    loads++;
    throw new Error('must not be called');
  };
  for (const env of [{}, { NOTIFY_SOCKET: '' }]) {
    const r = openNotifier(env, log, loader);
    assert.ok(r.ok);
    assert.ok(r.notifier instanceof NoopNotifier);
    r.notifier.ready('starting');
    r.notifier.status('online · idle');
    r.notifier.watchdog();
    r.notifier.stopping();
  }
  assert.equal(loads, 0);
  assert.ok(
    lines.every((l) => l.level <= 20),
    'only debug/trace lines',
  );
  assert.ok(lines.some((l) => /NOTIFY_SOCKET not set/.test(l.msg)));
});

test('openNotifier with NOTIFY_SOCKET and no binding: a fault that names the fix', () => {
  const { log } = captureLogger();
  const r = openNotifier({ NOTIFY_SOCKET: '/run/systemd/notify' }, log, (id) => {
    assert.equal(id, 'sd-notify');
    throw new Error('Could not locate the bindings file. Tried:\n → /opt/x/build/notify.node\n → /opt/y');
  });
  assert.ok(!r.ok);
  assert.equal(r.fault.code, ErrorCode.NotifyUnavailable);
  assert.ok(r.fault.message.includes(SD_NOTIFY_FIX), r.fault.message);
  assert.ok(r.fault.message.includes('Could not locate the bindings file'), r.fault.message);
  assert.ok(r.fault.message.includes('/run/systemd/notify'), r.fault.message);
  assert.ok(!r.fault.message.includes('\n'), 'one line for the journal');
  assert.ok(SD_NOTIFY_FIX.includes('apt install libsystemd-dev build-essential && npm rebuild sd-notify'));
});

test('openNotifier with a module that is not sd-notify: the same fault', () => {
  const { log } = captureLogger();
  const r = openNotifier({ NOTIFY_SOCKET: '@notify' }, log, () => ({}));
  assert.ok(!r.ok);
  assert.equal(r.fault.code, ErrorCode.NotifyUnavailable);
});

test('openNotifier with NOTIFY_SOCKET and a binding: an SdNotifier on it', () => {
  const { log } = captureLogger();
  const binding = new RecordingBinding();
  const r = openNotifier({ NOTIFY_SOCKET: '/run/systemd/notify' }, log, () => binding);
  assert.ok(r.ok);
  assert.ok(r.notifier instanceof SdNotifier);
  r.notifier.ready('starting');
  assert.deepEqual(binding.sent, ['READY=1\nSTATUS=starting']);
});

test('SdNotifier: READY+STATUS in one datagram, STATUS only when it changed, STOPPING, WATCHDOG', () => {
  const { log } = captureLogger();
  const binding = new RecordingBinding();
  const n = new SdNotifier(binding, log);
  assert.deepEqual(binding.sent, [], 'constructing sends nothing');
  n.ready('offline: retry in 4.2 s (connect ECONNREFUSED)');
  n.status('offline: retry in 4.2 s (connect ECONNREFUSED)');
  n.status('online · idle');
  n.status('online · idle');
  n.status('online · listening');
  n.status('online · idle');
  n.watchdog();
  n.stopping();
  assert.deepEqual(binding.sent, [
    'READY=1\nSTATUS=offline: retry in 4.2 s (connect ECONNREFUSED)',
    'STATUS=online · idle',
    'STATUS=online · listening',
    'STATUS=online · idle',
    'WATCHDOG=1',
    'STOPPING=1',
  ]);
});

test('SdNotifier: a multi-line status is one line and cannot inject fields', () => {
  const { log } = captureLogger();
  const binding = new RecordingBinding();
  const n = new SdNotifier(binding, log);
  n.status('offline: connect failed\r\nWATCHDOG=1\n\n  ECONNREFUSED  ');
  n.status('offline: connect failed\nWATCHDOG=1\nECONNREFUSED');
  n.status('mic\u0000 dead\tnow');
  assert.deepEqual(
    binding.sent,
    ['STATUS=offline: connect failed | WATCHDOG=1 | ECONNREFUSED', 'STATUS=mic  dead now'],
    'the same line after flattening is not sent again',
  );
});

test('statusLine: bounded by code points, never splitting a surrogate pair', () => {
  const long = '🔊'.repeat(MAX_STATUS_CHARS + 50);
  const line = statusLine(long);
  assert.equal(Array.from(line).length, MAX_STATUS_CHARS);
  assert.ok(line.endsWith('🔊…'));
  assert.equal(statusLine('activating: code 123456'), 'activating: code 123456');
  assert.equal(
    statusLine('x'.repeat(MAX_STATUS_CHARS)),
    'x'.repeat(MAX_STATUS_CHARS),
    'exactly the bound fits',
  );
});

test('NoopNotifier: dedupes STATUS too, so the debug log is not one line per render', () => {
  const { log, lines } = captureLogger();
  const n = new NoopNotifier(log);
  n.status('online · idle');
  n.status('online · idle');
  n.status('online · speaking');
  assert.equal(lines.filter((l) => /STATUS not sent/.test(l.msg)).length, 2);
});
