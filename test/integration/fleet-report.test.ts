/**
 * `speakerd fleet-report` end to end (issue 13 §4): the built CLI on `journalctl -o json` lines on
 * stdin, and on a real journal file (journalctl run by the CLI) that the real
 * systemd-journal-remote wrote from the journal export format of the same entries. The entries
 * are speakerd's records mapped by notes/journal-contract.md (test/fakes/journal-entries.ts).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorCode } from '../../src/core/errors.js';
import { CodeMessageId } from '../../src/system/message-ids.js';
import { runFleetReportCli } from '../fakes/fleet-report-cli.js';
import { exportEntry, JournalDevice, type JournalRecord, jsonLine } from '../fakes/journal-entries.js';

const JOURNAL_REMOTE = '/lib/systemd/systemd-journal-remote';
const T0 = Date.UTC(2026, 11, 6, 10, 0, 0);
const S = 1000;
const A = '02:fc:00:00:00:01';
const B = '02:fc:00:00:00:02';
const C = '02:fc:00:00:00:03';

const dir = mkdtempSync(join(tmpdir(), 'speakerd-fleet-report-'));
const journalDir = join(dir, 'remote');
const journalFile = join(journalDir, 'remote-fleet.journal');
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A flaps (two heartbeat timeouts, a routine 1001), is refused once, has a mic fault and four
 * turns; B stays up from 7 s, has a speaker fault and a turn, and stops at 120 s; C is up from 3 s
 * to the end, is refused twice, fails a GPIO write with a message journalctl prints as bytes, and
 * has three replies. Window: 0 → 120 s.
 */
function fleet(): JournalRecord[] {
  const journal: JournalRecord[] = [];
  const a = new JournalDevice(A, T0, journal, 'pi-kitchen');
  const b = new JournalDevice(B, T0, journal, 'pi-hall');
  const c = new JournalDevice(C, T0, journal, 'pi-office');
  a.at(T0).info('speakerd starting');
  a.connect(1); // ready 2 s
  c.at(T0 + 1 * S).connect(1); // ready 3 s
  b.at(T0 + 5 * S).connect(1); // ready 7 s
  a.at(T0 + 10 * S).turn(
    'reply',
    { released: 1500, stt: 1700, firstAudio: 2300 },
    { mode: 'manual', trigger: 'press' },
  );
  a.at(T0 + 20 * S).turn('reply', { stt: 1000, firstAudio: 1600 }, { mode: 'auto' });
  a.at(T0 + 30 * S).turn('lost', { stt: 900, firstAudio: 1900 });
  a.at(T0 + 35 * S).turn('deadline', { stt: 800 });
  a.at(T0 + 40 * S).link('backoff', 'heartbeat timeout: no frame or pong for 30012 ms');
  a.at(T0 + 45 * S).refused(2);
  a.at(T0 + 48 * S).connect(3); // ready 50 s
  a.at(T0 + 60 * S).link('backoff', 'server closed 1001');
  a.at(T0 + 62 * S).connect(4); // ready 64 s
  a.at(T0 + 70 * S).link('backoff', 'heartbeat timeout: no frame or pong for 30200 ms');
  a.at(T0 + 80 * S).micFault();
  a.at(T0 + 90 * S).link('connecting', 'attempt 5: retry after heartbeat timeout');
  b.at(T0 + 30 * S).turn('reply', { stt: 1200, firstAudio: 2100 });
  b.at(T0 + 33 * S).speakerFault();
  b.at(T0 + 120 * S).link('stopped', 'daemon stopping');
  c.at(T0 + 15 * S).turn('reply', { stt: 1000, firstAudio: 1400 });
  c.at(T0 + 25 * S).turn('reply', { stt: 1000, firstAudio: 1500 });
  c.at(T0 + 50 * S).turn('reply', { stt: 1000, firstAudio: 2000 });
  c.at(T0 + 52 * S).refused(3);
  c.at(T0 + 53 * S).refused(4);
  // A newline and a control character: the export format's binary form, journalctl's byte array.
  c.at(T0 + 100 * S).error('gpio', ErrorCode.LedWrite, 'LED write failed:\n\u0001 EIO');
  return journal.sort((x, y) => x.realtimeUs - y.realtimeUs);
}

const records = fleet();

/** Writes the records into a journal file with the real systemd-journal-remote (export format on stdin). */
function writeJournal(file: string, entries: readonly JournalRecord[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(JOURNAL_REMOTE, ['-o', file, '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`systemd-journal-remote exited with ${code}: ${err}`)),
    );
    child.stdin.end(Buffer.concat(entries.map((r) => exportEntry(r))));
  });
}

before(async () => {
  mkdirSync(journalDir);
  await writeJournal(journalFile, records);
});

/** A value inside parsed JSON by its path (array indexes as strings); undefined when absent. */
function at(value: unknown, ...path: string[]): unknown {
  let v = value;
  for (const key of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = Object.entries(v).find(([k]) => k === key)?.[1];
  }
  return v;
}

interface JsonDevice {
  readonly deviceId: string;
  readonly [key: string]: unknown;
}

function devicesOf(out: string): Map<string, JsonDevice> {
  const json: unknown = JSON.parse(out);
  assert.ok(typeof json === 'object' && json !== null && 'devices' in json && Array.isArray(json.devices));
  const map = new Map<string, JsonDevice>();
  for (const d of json.devices) {
    assert.ok(typeof d === 'object' && d !== null && 'deviceId' in d && typeof d.deviceId === 'string');
    map.set(d.deviceId, { ...d, deviceId: d.deviceId });
  }
  return map;
}

/** The numbers the scenario made, checked field by field. */
function checkFleet(out: string): void {
  const devices = devicesOf(out);
  assert.deepEqual([...devices.keys()], [A, B, C]);
  const pick = (id: string, keys: readonly string[]) => {
    const d = devices.get(id);
    assert.ok(d);
    return Object.fromEntries(keys.map((k) => [k, d[k]]));
  };
  const keys = [
    'hostname',
    'lastSeen',
    'link',
    'onlineMs',
    'reconnects',
    'causes',
    'tokenRefusals',
    'micFaults',
    'speakerFaults',
    'turns',
    'replyLatencyMs',
    'lastError',
  ];
  assert.deepEqual(pick(A, keys), {
    hostname: 'pi-kitchen',
    lastSeen: '2026-12-06T10:01:30.000Z',
    link: 'connecting',
    onlineMs: 54_000, // 2→40, 50→60, 64→70
    reconnects: 3,
    causes: [
      { cause: 'heartbeat timeout', count: 2 },
      { cause: 'server closed 1001', count: 1 },
    ],
    tokenRefusals: 1,
    micFaults: 1,
    speakerFaults: 0,
    turns: { total: 4, replies: 2, lost: 1, timedOut: 1, byOutcome: { reply: 2, deadline: 1, lost: 1 } },
    replyLatencyMs: { count: 3, sampled: 3, p50: 800, p95: 1000 },
    lastError: {
      at: '2026-12-06T10:00:45.000Z',
      priority: 3,
      messageId: CodeMessageId[ErrorCode.AuthRejected],
      code: ErrorCode.AuthRejected,
      message: 'server refused our credentials; refreshing them now',
    },
  });
  assert.deepEqual(pick(B, keys), {
    hostname: 'pi-hall',
    lastSeen: '2026-12-06T10:02:00.000Z',
    link: 'stopped',
    onlineMs: 113_000, // 7→120
    reconnects: 0,
    causes: [],
    tokenRefusals: 0,
    micFaults: 0,
    speakerFaults: 1,
    turns: { total: 1, replies: 1, lost: 0, timedOut: 0, byOutcome: { reply: 1 } },
    replyLatencyMs: { count: 1, sampled: 1, p50: 900, p95: 900 },
    lastError: null,
  });
  assert.deepEqual(pick(C, keys), {
    hostname: 'pi-office',
    lastSeen: '2026-12-06T10:01:40.000Z',
    link: 'ready',
    onlineMs: 117_000, // 3→120 (the window's end: B's last entry)
    reconnects: 0,
    causes: [],
    tokenRefusals: 2,
    micFaults: 0,
    speakerFaults: 0,
    turns: { total: 3, replies: 3, lost: 0, timedOut: 0, byOutcome: { reply: 3 } },
    replyLatencyMs: { count: 3, sampled: 3, p50: 500, p95: 1000 },
    lastError: {
      at: '2026-12-06T10:01:40.000Z',
      priority: 3,
      messageId: CodeMessageId[ErrorCode.LedWrite],
      code: ErrorCode.LedWrite,
      message: 'LED write failed:\n\u0001 EIO',
    },
  });
  const online = (id: string) => devices.get(id)?.onlineRatio;
  assert.equal(online(A), 54 / 120);
  assert.equal(online(B), 113 / 120);
  assert.equal(online(C), 117 / 120);
}

test('stdin: journalctl -o json lines, with a malformed line and another program among them', async () => {
  const lines = [
    '{"__REALTIME_TIMESTAMP":"1796551200000000","SYSLOG_IDENTIFIER":"systemd","MESSAGE":"Started speakerd.service"}',
    ...records.map((r, i) => jsonLine(r, i + 1)),
    '{"__REALTIME_TIMESTAMP": truncated',
  ];
  const r = await runFleetReportCli(['--json'], `${lines.join('\n')}\n`);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.err, '');
  checkFleet(r.out);
  const json: unknown = JSON.parse(r.out);
  assert.deepEqual(at(json, 'input', 'skipped'), {
    otherIdentifier: 1,
    noDeviceId: 0,
    outsideWindow: 0,
    tooManyDevices: 0,
  });
  assert.equal(at(json, 'input', 'lines'), records.length + 2);
  assert.equal(at(json, 'input', 'entries'), records.length + 1);
  assert.equal(at(json, 'input', 'malformed'), 1);
  assert.equal(at(json, 'input', 'malformedExamples', '0', 'line'), records.length + 2);
  assert.match(String(at(json, 'input', 'malformedExamples', '0', 'error')), /^not JSON/);
});

test('--file: journalctl run on a journal file systemd-journal-remote wrote', async () => {
  const r = await runFleetReportCli(['--file', journalFile, '--json']);
  assert.equal(r.code, 0, r.err);
  checkFleet(r.out);
  const json: unknown = JSON.parse(r.out);
  assert.ok(typeof json === 'object' && json !== null && 'input' in json);
  assert.deepEqual(json.input, {
    lines: records.length,
    entries: records.length,
    malformed: 0,
    malformedExamples: [],
    skipped: { otherIdentifier: 0, noDeviceId: 0, outsideWindow: 0, tooManyDevices: 0 },
  });
});

test('-D with --since/--until: journalctl gets the window, the report uses the same one', async () => {
  // 30 s → 65 s: A ready at 30 (its first change, at 40, leaves ready) → 40, 50 → 60, 64 → 65.
  const r = await runFleetReportCli([
    '-D',
    journalDir,
    '--since',
    '2026-12-06 10:00:30Z',
    '--until',
    '2026-12-06T10:01:05Z',
    '--json',
  ]);
  assert.equal(r.code, 0, r.err);
  const devices = devicesOf(r.out);
  assert.deepEqual([...devices.keys()], [A, B, C]);
  assert.equal(devices.get(A)?.onlineMs, 21_000);
  assert.equal(devices.get(A)?.reconnects, 2);
  assert.deepEqual(devices.get(A)?.turns, {
    total: 2,
    replies: 0,
    lost: 1,
    timedOut: 1,
    byOutcome: { deadline: 1, lost: 1 },
  });
  // B and C changed no link state in the window: unknown, not 0 %.
  assert.equal(devices.get(B)?.onlineMs, null);
  assert.equal(devices.get(C)?.link, null);
  assert.equal(devices.get(C)?.tokenRefusals, 2);
  const json: unknown = JSON.parse(r.out);
  assert.deepEqual(at(json, 'window'), {
    start: '2026-12-06T10:00:30.000Z',
    end: '2026-12-06T10:01:05.000Z',
  });
  // journalctl filtered: nothing outside the window reached the report.
  assert.deepEqual(at(json, 'input', 'skipped'), {
    otherIdentifier: 0,
    noDeviceId: 0,
    outsideWindow: 0,
    tooManyDevices: 0,
  });
});

test('two directories go to one journalctl, which interleaves them by time', async () => {
  // A and B in one collector directory, C in another: the same report as from one journal (C's
  // online time runs to B's last entry, the window's end, so the two were read as one).
  const ab = join(dir, 'ab');
  const c = join(dir, 'c');
  mkdirSync(ab);
  mkdirSync(c);
  await writeJournal(
    join(ab, 'remote-ab.journal'),
    records.filter((x) => x.fields.DEVICE_ID !== C),
  );
  await writeJournal(
    join(c, 'remote-c.journal'),
    records.filter((x) => x.fields.DEVICE_ID === C),
  );
  const r = await runFleetReportCli(['-D', ab, '-D', c, '--json']);
  assert.equal(r.code, 0, r.err);
  checkFleet(r.out);
});

test('the table', async () => {
  const r = await runFleetReportCli(['--file', journalFile]);
  assert.equal(r.code, 0, r.err);
  const lines = r.out.trimEnd().split('\n');
  assert.equal(
    lines[0],
    'speakerd fleet report: 3 devices, 2026-12-06 10:00:00 → 2026-12-06 10:02:00 UTC (2 min 0 s)',
  );
  assert.match(
    lines[2] ?? '',
    /^02:fc:00:00:00:01 +2026-12-06 10:01:30 +connecting +45\.0% +3 +heartbeat timeout ×2, server closed 1001 ×1 +1 +1 +0 +4 +2\/1\/1 +800\/1000 ms +2026-12-06 10:00:45 E_AUTH_REJECTED MESSAGE_ID=/,
  );
  assert.match(
    lines[3] ?? '',
    /^02:fc:00:00:00:02 .* stopped +94\.2% +0 +– +0 +0 +1 +1 +1\/0\/0 +900\/900 ms +–$/,
  );
  assert.match(
    lines[4] ?? '',
    /^02:fc:00:00:00:03 .* ready +97\.5% +0 +– +2 +0 +0 +3 +3\/0\/0 +500\/1000 ms +2026-12-06 10:01:40 E_LED_WRITE MESSAGE_ID=\w+ "LED write failed:\\n\\u0001 EIO"$/,
  );
  assert.equal(lines[5], `input: ${records.length} lines, ${records.length} entries`);
});

test('a report larger than a pipe buffer arrives whole', async () => {
  // 400 devices: ~1 KB of JSON each, far past the 64 KiB a pipe holds when the process exits.
  const journal: JournalRecord[] = [];
  for (let i = 0; i < 400; i++) {
    const d = new JournalDevice(
      `02:fc:00:00:${String(Math.floor(i / 100)).padStart(2, '0')}:${String(i % 100).padStart(2, '0')}`,
      T0,
      journal,
    );
    d.at(T0 + i * 10).connect(1);
    d.at(T0 + 60 * S).turn('reply', { stt: 1000, firstAudio: 1000 + i });
  }
  journal.sort((x, y) => x.realtimeUs - y.realtimeUs);
  const r = await runFleetReportCli(['--json'], journal.map((x, i) => jsonLine(x, i + 1)).join('\n'));
  assert.equal(r.code, 0, r.err);
  assert.ok(r.out.length > 256 * 1024, `${r.out.length} bytes`);
  const devices = devicesOf(r.out);
  assert.equal(devices.size, 400);
  assert.deepEqual(devices.get('02:fc:00:00:03:99')?.replyLatencyMs, {
    count: 1,
    sampled: 1,
    p50: 399,
    p95: 399,
  });
});
