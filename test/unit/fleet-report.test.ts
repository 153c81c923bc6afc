/** The fleet report's aggregation, journal-JSON reading and time specs (issue 13 §4), on synthetic entries. */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { seededRandom } from '../../src/core/random.js';
import { JournalEntry, LineSplitter, parseJournalLine } from '../../src/fleet/journal-json.js';
import {
  causeOf,
  type DeviceReport,
  FleetAggregator,
  LATENCY_SAMPLE,
  MAX_KEYS,
  type ReportWindow,
} from '../../src/fleet/report.js';
import { runFleetReport } from '../../src/fleet/report-cli.js';
import { formatJson, formatTable } from '../../src/fleet/report-format.js';
import { journalctlTime, parseTimeSpec } from '../../src/fleet/time-spec.js';
import { CodeMessageId, MessageId } from '../../src/system/message-ids.js';
import { JournalDevice, type JournalRecord, jsonLine } from '../fakes/journal-entries.js';

/** 2026-12-06 10:00:00 UTC. */
const T0 = Date.UTC(2026, 11, 6, 10, 0, 0);
const S = 1000;
const A = '02:fc:00:00:00:0a';
const B = '02:fc:00:00:00:0b';

/**
 * Device A flaps: ready [2 s, 40 s] (heartbeat timeout), a refused token, ready [50 s, 60 s]
 * (server closed 1001), ready [64 s, 70 s] (heartbeat timeout again), a mic fault; four turns.
 * Device B comes up at 7 s, has a speaker fault and a turn, and stops at 95 s (no reconnect).
 * Window: 0 s (A's first entry) to 95 s (B's last).
 */
function fleet(): JournalRecord[] {
  const journal: JournalRecord[] = [];
  const a = new JournalDevice(A, T0, journal);
  const b = new JournalDevice(B, T0, journal);
  a.at(T0).info('speakerd starting');
  a.connect(1); // ready at 2 s
  b.at(T0 + 5 * S).connect(1); // ready at 7 s
  // Push-to-talk reply: released 1500, stt 1700, first audio 2300 → 800 ms (released counts).
  a.at(T0 + 10 * S).turn(
    'reply',
    { released: 1500, stt: 1700, firstAudio: 2300, ttsStop: 4000 },
    { mode: 'manual', trigger: 'press' },
  );
  // Toggle reply: stt 1000, first audio 1600 → 600 ms.
  a.at(T0 + 20 * S).turn('reply', { stt: 1000, firstAudio: 1600, ttsStop: 3000 }, { mode: 'auto' });
  // Lost during the reply: its reply had started, 1900 − 900 = 1000 ms.
  a.at(T0 + 30 * S).turn('lost', { stt: 900, firstAudio: 1900 });
  // A reply deadline: no audio, no latency.
  a.at(T0 + 35 * S).turn('deadline', { stt: 800 });
  a.at(T0 + 40 * S).link('backoff', 'heartbeat timeout: no frame or pong for 30012 ms');
  a.at(T0 + 45 * S).refused(2);
  a.at(T0 + 48 * S).connect(3); // ready at 50 s
  a.at(T0 + 60 * S).link('backoff', 'server closed 1001');
  a.at(T0 + 62 * S).connect(4); // ready at 64 s
  a.at(T0 + 70 * S).link('backoff', 'heartbeat timeout: no frame or pong for 30200 ms');
  a.at(T0 + 80 * S).micFault();
  a.at(T0 + 90 * S).link('connecting', 'attempt 5: retry after heartbeat timeout');
  b.at(T0 + 30 * S).turn('reply', { stt: 1200, firstAudio: 2100, ttsStop: 3000 });
  b.at(T0 + 33 * S).speakerFault();
  b.at(T0 + 95 * S).link('stopped', 'daemon stopping');
  return journal.sort((x, y) => x.realtimeUs - y.realtimeUs);
}

function aggregate(records: readonly JournalRecord[], window: ReportWindow = {}) {
  const agg = new FleetAggregator(window, seededRandom(1));
  records.forEach((r, i) => {
    const parsed = parseJournalLine(jsonLine(r, i + 1));
    assert.ok(parsed.ok);
    agg.add(parsed.entry);
  });
  return agg.report();
}

function device(devices: readonly DeviceReport[], id: string): DeviceReport {
  const d = devices.find((x) => x.deviceId === id);
  assert.ok(d, `device ${id} in the report`);
  return d;
}

test('every number of a flapping device and a steady one', () => {
  const records = fleet();
  const r = aggregate(records);
  assert.deepEqual(r.window, { startUs: T0 * 1000, endUs: (T0 + 95 * S) * 1000 });
  assert.equal(r.entries, records.length);
  assert.equal(r.malformed, 0);
  assert.deepEqual(
    r.devices.map((d) => d.deviceId),
    [A, B],
  );

  const a = device(r.devices, A);
  assert.equal(a.hostname, 'host-02fc0000000a');
  assert.equal(a.firstSeenUs, T0 * 1000);
  assert.equal(a.lastSeenUs, (T0 + 90 * S) * 1000);
  assert.equal(a.link, 'connecting');
  // Ready 2→40, 50→60, 64→70: 54 s of 95 s.
  assert.equal(a.onlineMs, 54_000);
  assert.equal(a.onlineRatio, 54 / 95);
  assert.equal(a.reconnects, 3);
  assert.deepEqual(a.causes, [
    { cause: 'heartbeat timeout', count: 2 },
    { cause: 'server closed 1001', count: 1 },
  ]);
  assert.equal(a.tokenRefusals, 1);
  assert.equal(a.micFaults, 1, 'the capture line and the conversation line are one fault');
  assert.equal(a.speakerFaults, 0);
  assert.deepEqual(a.turns, {
    total: 4,
    replies: 2,
    lost: 1,
    timedOut: 1,
    byOutcome: { reply: 2, deadline: 1, lost: 1 },
  });
  // Latencies 600, 800, 1000: nearest rank p50 = 800, p95 = 1000.
  assert.deepEqual(a.latency, { count: 3, sampled: 3, p50: 800, p95: 1000 });
  // The mic fault is a warning (PRIORITY 4): the refusal (3, err) is the last error.
  assert.deepEqual(a.lastError, {
    atUs: (T0 + 45 * S) * 1000,
    priority: 3,
    messageId: CodeMessageId.E_AUTH_REJECTED,
    code: 'E_AUTH_REJECTED',
    message: 'server refused our credentials; refreshing them now',
  });

  const b = device(r.devices, B);
  assert.equal(b.link, 'stopped');
  // Ready 7→95 = 88 s of 95 s; stopping is no reconnect.
  assert.equal(b.onlineMs, 88_000);
  assert.equal(b.onlineRatio, 88 / 95);
  assert.equal(b.reconnects, 0);
  assert.deepEqual(b.causes, []);
  assert.equal(b.speakerFaults, 1);
  assert.equal(b.micFaults, 0);
  assert.equal(b.tokenRefusals, 0);
  assert.deepEqual(b.turns, { total: 1, replies: 1, lost: 0, timedOut: 0, byOutcome: { reply: 1 } });
  assert.deepEqual(b.latency, { count: 1, sampled: 1, p50: 900, p95: 900 });
  assert.equal(b.lastError, undefined);
});

test('a --since/--until window: state before the first change comes from its LINK_FROM; entries outside are skipped', () => {
  const records = fleet();
  // 30 s → 65 s: A is ready at 30 s (its first change in the window, at 40 s, leaves ready),
  // down 40→50, ready 50→60, down 60→64, ready 64→65: 10 + 10 + 1 = 21 s of 35 s.
  const r = aggregate(records, { sinceUs: (T0 + 30 * S) * 1000, untilUs: (T0 + 65 * S) * 1000 });
  assert.deepEqual(r.window, { startUs: (T0 + 30 * S) * 1000, endUs: (T0 + 65 * S) * 1000 });
  const a = device(r.devices, A);
  assert.equal(a.onlineMs, 21_000);
  assert.equal(a.onlineRatio, 21 / 35);
  assert.equal(a.reconnects, 2);
  assert.equal(a.link, 'ready');
  // Turns at 30 and 35 s are in; 10 and 20 s are not.
  assert.equal(a.turns.total, 2);
  assert.equal(a.micFaults, 0);
  // B has no link change in 30..65 s: its link state (and online time) is unknown, not 0 %.
  const b = device(r.devices, B);
  assert.equal(b.link, undefined);
  assert.equal(b.onlineMs, undefined);
  assert.equal(b.onlineRatio, undefined);
  assert.equal(b.speakerFaults, 1);
  const outside = records.filter(
    (x) => x.realtimeUs < (T0 + 30 * S) * 1000 || x.realtimeUs > (T0 + 65 * S) * 1000,
  );
  assert.equal(r.skipped.outsideWindow, outside.length);
  assert.ok(outside.length > 0);
});

test('LinkDown by MESSAGE_ID alone, an error code as cause, a restarted daemon, out-of-order entries', () => {
  const agg = new FleetAggregator({}, seededRandom(1));
  const base = { SYSLOG_IDENTIFIER: 'speakerd', DEVICE_ID: 'd1' };
  const add = (s: number, fields: Record<string, string>) =>
    agg.add(new JournalEntry((T0 + s * S) * 1000, { ...base, ...fields }));
  add(0, { SPEAKERD_LINK_FROM: 'handshaking', SPEAKERD_LINK_TO: 'ready', MESSAGE_ID: MessageId.LinkUp });
  // A LinkDown with an error code: the code is the cause.
  add(10, {
    SPEAKERD_LINK_FROM: 'ready',
    SPEAKERD_LINK_TO: 'backoff',
    SPEAKERD_REASON: 'heartbeat timeout: no frame or pong for 30000 ms',
    SPEAKERD_CODE: 'E_HEARTBEAT_TIMEOUT',
    MESSAGE_ID: MessageId.LinkDown,
  });
  add(12, { SPEAKERD_LINK_FROM: 'backoff', SPEAKERD_LINK_TO: 'ready' });
  // The daemon was killed in ready and restarted: the journal's last word was ready until here.
  add(20, { SPEAKERD_LINK_FROM: 'offline', SPEAKERD_LINK_TO: 'connecting' });
  // An entry from the past (clock step): no negative time.
  add(15, { SPEAKERD_LINK_FROM: 'connecting', SPEAKERD_LINK_TO: 'ready' });
  add(30, {
    SPEAKERD_LINK_FROM: 'ready',
    SPEAKERD_LINK_TO: 'renewing',
    SPEAKERD_REASON: 'stale session renewed at rest (no TTS from the server for 600 s)',
  });
  // A WebSocket close code in SPEAKERD_CODE is no error code.
  add(31, { SPEAKERD_CODE: '1001', PRIORITY: '6' });
  const d = device(agg.report().devices, 'd1');
  // 0→10, 12→20, 20(15)→30: 10 + 8 + 10 = 28 s of 31 s.
  assert.equal(d.onlineMs, 28_000);
  assert.equal(d.reconnects, 2);
  assert.deepEqual(d.causes, [
    { cause: 'E_HEARTBEAT_TIMEOUT', count: 1 },
    { cause: 'stale session renewed at rest (no TTS from the server for N s)', count: 1 },
  ]);
  assert.equal(d.lastError, undefined);
});

test('distinct causes are bounded per device: past MAX_KEYS they count as "(other)"', () => {
  const agg = new FleetAggregator({}, seededRandom(1));
  const base = {
    SYSLOG_IDENTIFIER: 'speakerd',
    DEVICE_ID: 'd1',
    SPEAKERD_LINK_FROM: 'ready',
    SPEAKERD_LINK_TO: 'backoff',
  };
  const n = MAX_KEYS + 10;
  for (let i = 0; i < n; i++)
    agg.add(
      new JournalEntry((T0 + i * S) * 1000, {
        ...base,
        SPEAKERD_REASON: `cause number ${String.fromCharCode(97 + (i % 26))}${i}`,
      }),
    );
  const d = device(agg.report().devices, 'd1');
  assert.equal(d.reconnects, n);
  assert.equal(d.causes.length, MAX_KEYS);
  assert.deepEqual(d.causes[0], { cause: '(other)', count: n - (MAX_KEYS - 1) });
  assert.equal(
    d.causes.reduce((sum, c) => sum + c.count, 0),
    n,
  );
});

test('causes: details after ": " dropped, durations and attempts become N', () => {
  assert.equal(causeOf(undefined, 'heartbeat timeout: no frame or pong for 30012 ms'), 'heartbeat timeout');
  assert.equal(
    causeOf(undefined, 'server closed 1006 2345 ms after hello'),
    'server closed 1006 N ms after hello',
  );
  assert.equal(causeOf(undefined, 'token refused at attempt 7'), 'token refused at attempt N');
  assert.equal(causeOf('E_SEND_FAILED', 'send failed: EPIPE'), 'E_SEND_FAILED');
  assert.equal(causeOf(undefined, undefined), '(no reason)');
});

test('latency sample stays bounded; percentiles stay close past the bound', () => {
  const journal: JournalRecord[] = [];
  const dev = new JournalDevice('d-many', T0, journal);
  const n = 4 * LATENCY_SAMPLE;
  // Latencies 1..n ms: true p50 = n/2, p95 = 0.95 n.
  for (let i = 1; i <= n; i++) dev.at(T0 + i * S).turn('reply', { stt: 1000, firstAudio: 1000 + i });
  const d = device(aggregate(journal).devices, 'd-many');
  assert.ok(d.latency);
  assert.equal(d.latency.count, n);
  assert.equal(d.latency.sampled, LATENCY_SAMPLE);
  assert.equal(d.turns.replies, n);
  // A uniform sample of 512: the sample quantile's standard error is ~2.2 % of n at p50.
  assert.ok(Math.abs(d.latency.p50 - n / 2) < 0.08 * n, `p50 ${d.latency.p50}`);
  assert.ok(Math.abs(d.latency.p95 - 0.95 * n) < 0.04 * n, `p95 ${d.latency.p95}`);
});

test('journal JSON quirks: repeated fields, binary values, null, numbers, and bad lines', () => {
  const line = JSON.stringify({
    __REALTIME_TIMESTAMP: '1765015200123456',
    DEVICE_ID: ['02:fc:00:00:00:01', 'forwarder-added'],
    // "mic fault: \x01" is not printable text, so journalctl prints bytes.
    MESSAGE: [...Buffer.from('mic fault: \u0001 ok')],
    SPEAKERD_REASON: [[104, 105], 'second'],
    SPEAKERD_STDERR: null,
    EMPTY: [],
  });
  const p = parseJournalLine(line);
  assert.ok(p.ok);
  assert.equal(p.entry.realtimeUs, 1765015200123456);
  assert.equal(p.entry.get('DEVICE_ID'), '02:fc:00:00:00:01');
  assert.equal(p.entry.get('MESSAGE'), 'mic fault: \u0001 ok');
  assert.equal(p.entry.get('SPEAKERD_REASON'), 'hi');
  assert.equal(p.entry.get('SPEAKERD_STDERR'), undefined);
  assert.equal(p.entry.get('EMPTY'), '');
  assert.equal(p.entry.get('ABSENT'), undefined);
  const numeric = parseJournalLine('{"__REALTIME_TIMESTAMP":1765015200000000}');
  assert.ok(numeric.ok);
  assert.equal(numeric.entry.realtimeUs, 1765015200000000);
  for (const [bad, why] of [
    ['{"MESSAGE":"x"', /not JSON/],
    ['[1,2]', /not a JSON object/],
    ['"text"', /not a JSON object/],
    ['{"MESSAGE":"no time"}', /__REALTIME_TIMESTAMP/],
    ['{"__REALTIME_TIMESTAMP":"12.5"}', /__REALTIME_TIMESTAMP/],
    ['{"__REALTIME_TIMESTAMP":"-5"}', /__REALTIME_TIMESTAMP/],
  ] as const) {
    const r = parseJournalLine(bad);
    assert.equal(r.ok, false, bad);
    if (!r.ok) assert.match(r.error, why);
  }
});

test('the line splitter joins chunks, and skips an over-long line without buffering it', () => {
  const lines: string[] = [];
  let tooLong = 0;
  const s = new LineSplitter(
    10,
    (l) => lines.push(l),
    () => tooLong++,
  );
  s.push(Buffer.from('abc\nde'));
  s.push(Buffer.from('f\n0123456789'));
  s.push(Buffer.from('ABCDEF more of the long line\nxy\n\n'));
  s.push(Buffer.from('tail'));
  s.end();
  assert.deepEqual(lines, ['abc', 'def', 'xy', 'tail']);
  assert.equal(tooLong, 1);
  // A multi-byte character split across chunks is decoded whole.
  const utf: string[] = [];
  const u = new LineSplitter(
    100,
    (l) => utf.push(l),
    () => assert.fail('not too long'),
  );
  const bytes = Buffer.from('认证失败\n');
  u.push(bytes.subarray(0, 4));
  u.push(bytes.subarray(4));
  u.end();
  assert.deepEqual(utf, ['认证失败']);
});

test('time specs: absolute, @seconds, relative, named days; journalctl gets @seconds', () => {
  const now = Date.UTC(2026, 11, 6, 12, 0, 0);
  assert.equal(parseTimeSpec('2026-12-06 10:00Z', now), Date.UTC(2026, 11, 6, 10) * 1000);
  assert.equal(parseTimeSpec('2026-12-06T10:00:30+02:00', now), Date.UTC(2026, 11, 6, 8, 0, 30) * 1000);
  assert.equal(parseTimeSpec('2026-12-06 10:00:00.25Z', now), Date.UTC(2026, 11, 6, 10) * 1000 + 250_000);
  assert.equal(parseTimeSpec('2026-12-06 10:00', now), new Date(2026, 11, 6, 10, 0).getTime() * 1000);
  assert.equal(parseTimeSpec('@1765015200.5', now), 1765015200500000);
  assert.equal(parseTimeSpec('-1h', now), (now - 3_600_000) * 1000);
  assert.equal(parseTimeSpec('-1h 30min', now), (now - 5_400_000) * 1000);
  assert.equal(parseTimeSpec('2 days ago', now), (now - 2 * 86_400_000) * 1000);
  assert.equal(parseTimeSpec('now', now), now * 1000);
  assert.equal(parseTimeSpec('today', now), new Date(2026, 11, 6).getTime() * 1000);
  assert.equal(parseTimeSpec('yesterday', now), new Date(2026, 11, 5).getTime() * 1000);
  for (const bad of ['2026-02-31', '2026-12-06 25:00', 'soon', '-1 fortnight', '@x', '']) {
    assert.equal(typeof parseTimeSpec(bad, now), 'string', bad);
  }
  assert.equal(journalctlTime(1765015200500000), '@1765015200.500000');
  assert.equal(journalctlTime(1765015200000001), '@1765015200.000001');
});

test('table and JSON carry the numbers', () => {
  const r = aggregate(fleet());
  const table = formatTable(r);
  const lines = table.split('\n');
  assert.match(
    lines[0] ?? '',
    /^speakerd fleet report: 2 devices, 2026-12-06 10:00:00 → 2026-12-06 10:01:35 UTC \(1 min 35 s\)$/,
  );
  assert.match(lines[1] ?? '', /^DEVICE\s+LAST SEEN \(UTC\)\s+LINK\s+ONLINE\s+RECONNECTS\s+TOP CAUSES/);
  const rowA = lines.find((l) => l.startsWith(A)) ?? '';
  assert.match(
    rowA,
    /2026-12-06 10:01:30\s+connecting\s+56\.8%\s+3\s+heartbeat timeout ×2, server closed 1001 ×1\s+1\s+1\s+0\s+4\s+2\/1\/1\s+800\/1000 ms\s+2026-12-06 10:00:45 E_AUTH_REJECTED MESSAGE_ID=bde4867a43d04901a98adad9b35b7c4d "server refused our credentials; refreshing them now"$/,
  );
  const rowB = lines.find((l) => l.startsWith(B)) ?? '';
  assert.match(rowB, /stopped\s+92\.6%\s+0\s+–\s+0\s+0\s+1\s+1\s+1\/0\/0\s+900\/900 ms\s+–$/);
  assert.match(lines.at(-1) ?? '', /^input: \d+ lines, \d+ entries$/);

  const json: unknown = JSON.parse(formatJson(r));
  assert.ok(typeof json === 'object' && json !== null && 'devices' in json && Array.isArray(json.devices));
  const ja: unknown = json.devices[0];
  assert.deepEqual(ja, {
    deviceId: A,
    hostname: 'host-02fc0000000a',
    firstSeen: '2026-12-06T10:00:00.000Z',
    lastSeen: '2026-12-06T10:01:30.000Z',
    entries: device(r.devices, A).entries,
    link: 'connecting',
    onlineMs: 54000,
    onlineRatio: 54 / 95,
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
      messageId: CodeMessageId.E_AUTH_REJECTED,
      code: 'E_AUTH_REJECTED',
      message: 'server refused our credentials; refreshing them now',
    },
  });
});

test('the command on stdin: malformed lines and other programs counted, never fatal; usage errors', async () => {
  const records = fleet();
  const text = [
    '{"SYSLOG_IDENTIFIER":"systemd","MESSAGE":"Started speakerd.service","__REALTIME_TIMESTAMP":"1765015200000000"}',
    ...records.map((r, i) => jsonLine(r, i + 1)),
    'garbage',
    '{"SYSLOG_IDENTIFIER":"speakerd","MESSAGE":"before the identity","PRIORITY":"2","__REALTIME_TIMESTAMP":"1765015200000001"}',
  ].join('\n');
  const out: string[] = [];
  const err: string[] = [];
  const io = {
    out: (s: string) => out.push(s),
    err: (s: string) => err.push(s),
    stdin: Readable.from([Buffer.from(text)]),
    nowMs: () => T0,
    random: seededRandom(1),
  };
  assert.equal(await runFleetReport(['--json'], io), 0);
  assert.deepEqual(err, []);
  const json: unknown = JSON.parse(out.join('\n'));
  assert.ok(typeof json === 'object' && json !== null && 'input' in json && 'devices' in json);
  const input: unknown = json.input;
  assert.ok(typeof input === 'object' && input !== null && 'malformedExamples' in input);
  const { malformedExamples, ...counts } = input;
  assert.deepEqual(counts, {
    lines: records.length + 3,
    entries: records.length + 2,
    malformed: 1,
    skipped: { otherIdentifier: 1, noDeviceId: 1, outsideWindow: 0, tooManyDevices: 0 },
  });
  assert.ok(Array.isArray(malformedExamples) && malformedExamples.length === 1);
  assert.equal(malformedExamples[0].line, records.length + 2);
  assert.match(malformedExamples[0].error, /^not JSON \(.*garbage/);
  assert.ok(Array.isArray(json.devices) && json.devices.length === 2);

  const tty = { ...io, stdin: Object.assign(Readable.from([]), { isTTY: true }) };
  assert.equal(await runFleetReport([], tty), 2);
  assert.match(err.join('\n'), /nothing to read/);
  assert.equal(await runFleetReport(['--since', 'soon'], io), 2);
  assert.match(err.join('\n'), /--since: cannot read the time "soon"/);
  assert.equal(await runFleetReport(['--since', '-1h', '--until', '-2h'], io), 2);
  assert.match(err.join('\n'), /--until is before --since/);
  out.length = 0;
  assert.equal(await runFleetReport(['--help'], io), 0);
  assert.match(out.join('\n'), /reply latency: first audio − \(released \?\? stt\)/);
});

test('journalctl that cannot run or fails is an error with its words', async () => {
  const out: string[] = [];
  const err: string[] = [];
  const io = {
    out: (s: string) => out.push(s),
    err: (s: string) => err.push(s),
    stdin: Readable.from([]),
    nowMs: () => T0,
    random: seededRandom(1),
  };
  assert.equal(
    await runFleetReport(['--file', '/x.journal'], { ...io, journalctl: '/nonexistent/journalctl' }),
    1,
  );
  assert.match(err.join('\n'), /cannot run \/nonexistent\/journalctl: .*ENOENT/);
  err.length = 0;
  // The real journalctl on a file that does not exist.
  assert.equal(await runFleetReport(['--file', '/nonexistent/x.journal'], io), 1);
  assert.match(err.join('\n'), /journalctl exited with 1: .*No such file or directory/);
  assert.equal(await runFleetReport(['-D', '/nonexistent-dir', '-D', '/also-not'], io), 1);
  assert.match(err.join('\n'), /reading \/nonexistent-dir: ENOENT/);
  assert.deepEqual(out, []);
});
