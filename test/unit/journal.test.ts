import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode } from '../../src/core/errors.js';
import { checkJournal } from '../../src/doctor/checks-system.js';
import {
  type JournalBinding,
  JournalDestination,
  loadJournalBinding,
  wantsNativeJournal,
} from '../../src/system/journal.js';
import { FIELD_VALUE_MAX, fieldName, journalEntry, upperSnake } from '../../src/system/journal-fields.js';
import { createLogger, resolveLogOutput } from '../../src/system/logger.js';
import { CodeMessageId, MessageId } from '../../src/system/message-ids.js';

/** A binding that records what sd_journal_sendv would have been given, and answers `rc`. */
function recordingBinding(rc: () => number = () => 0): JournalBinding & {
  sent: { priority: number; fields: Map<string, string> }[];
} {
  const sent: { priority: number; fields: Map<string, string> }[] = [];
  return {
    sent,
    send(priority: number, ...fields: string[]): number {
      const map = new Map<string, string>();
      for (const f of fields) {
        const eq = f.indexOf('=');
        assert.ok(eq > 0, `field without '=': ${f}`);
        assert.ok(!map.has(f.slice(0, eq)), `field twice: ${f}`);
        map.set(f.slice(0, eq), f.slice(eq + 1));
      }
      sent.push({ priority, fields: map });
      return rc();
    },
  };
}

/** systemd's rule for a client's field name (journal-file.c journal_field_valid, not trusted). */
const VALID_NAME = /^[A-Z][A-Z0-9_]{0,63}$/;

test('upperSnake: camelCase, snake_case and dashes all become UPPER_SNAKE', () => {
  assert.equal(upperSnake('delay_ms'), 'DELAY_MS');
  assert.equal(upperSnake('afterMs'), 'AFTER_MS');
  assert.equal(upperSnake('firstAudio'), 'FIRST_AUDIO');
  assert.equal(upperSnake('link-to'), 'LINK_TO');
  assert.equal(fieldName(['turn', 'milestones', 'firstAudio']), 'SPEAKERD_TURN_MILESTONES_FIRST_AUDIO');
  assert.equal(fieldName(['_weird', 'ké y']), 'SPEAKERD_WEIRD_K_Y');
  assert.ok(fieldName(['x'.repeat(200)]).length <= 64);
});

test('a record becomes MESSAGE, PRIORITY, our identifiers and SPEAKERD_ fields; the code names its catalog entry', () => {
  const e = journalEntry({
    level: 50,
    time: '2026-12-06T10:00:00.000Z',
    pid: 42,
    hostname: 'pi',
    device_id: '02:fc:00:00:00:01',
    component: 'session',
    code: ErrorCode.AuthRejected,
    close_code: 1008,
    delay_ms: 250,
    turn: { outcome: 'reply', milestones: { firstAudio: 812, stt: 400 } },
    failing: ['loop', 'mic'],
    tts: null,
    msg: 'server refused the token',
  });
  assert.equal(e.priority, 3);
  const f = new Map(e.fields.map((s) => [s.slice(0, s.indexOf('=')), s.slice(s.indexOf('=') + 1)]));
  assert.equal(e.fields[0], 'MESSAGE=server refused the token');
  assert.equal(f.get('SYSLOG_IDENTIFIER'), 'speakerd');
  assert.equal(f.get('DEVICE_ID'), '02:fc:00:00:00:01');
  assert.equal(f.get('SPEAKERD_COMPONENT'), 'session');
  assert.equal(f.get('SPEAKERD_CODE'), 'E_AUTH_REJECTED');
  assert.equal(f.get('MESSAGE_ID'), CodeMessageId[ErrorCode.AuthRejected]);
  assert.equal(f.get('SPEAKERD_CLOSE_CODE'), '1008');
  assert.equal(f.get('SPEAKERD_DELAY_MS'), '250');
  assert.equal(f.get('SPEAKERD_TURN_OUTCOME'), 'reply');
  assert.equal(f.get('SPEAKERD_TURN_MILESTONES_FIRST_AUDIO'), '812');
  assert.equal(f.get('SPEAKERD_FAILING'), '["loop","mic"]');
  // The journal keeps its own time, pid and host (trusted fields): not copied.
  for (const gone of [
    'SPEAKERD_TIME',
    'SPEAKERD_PID',
    'SPEAKERD_HOSTNAME',
    'SPEAKERD_LEVEL',
    'SPEAKERD_MSG',
  ]) {
    assert.equal(f.has(gone), false, gone);
  }
  for (const name of f.keys()) assert.match(name, VALID_NAME);
});

test('an explicit message_id wins over the code; a record without either has no MESSAGE_ID', () => {
  const named = journalEntry({
    level: 30,
    msg: 'link ready',
    message_id: MessageId.LinkUp,
    code: ErrorCode.ConnectFailed,
  });
  assert.ok(named.fields.includes(`MESSAGE_ID=${MessageId.LinkUp}`));
  const plain = journalEntry({ level: 30, msg: 'connecting', attempt: 3, code: 1000 });
  assert.equal(
    plain.fields.some((s) => s.startsWith('MESSAGE_ID=')),
    false,
  );
  // A `code` that is not one of ours is still a field, but names no catalog entry.
  assert.ok(plain.fields.includes('SPEAKERD_CODE=1000'));
});

test('values are bounded and NUL-free; deep or huge objects become one JSON field', () => {
  const e = journalEntry({
    level: 30,
    msg: 'x',
    tail: 'a'.repeat(FIELD_VALUE_MAX * 3),
    nul: 'before\0after',
    deep: { a: { b: { c: { d: { e: 1 } } } } },
    many: Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, i])),
  });
  for (const s of e.fields) assert.ok(s.length <= FIELD_VALUE_MAX + 64, s.slice(0, 40));
  assert.ok(e.fields.includes('SPEAKERD_NUL=before\uFFFDafter'));
  assert.ok(e.fields.includes('SPEAKERD_DEEP_A_B_C_D={"e":1}'));
  assert.ok(e.fields.some((s) => s.startsWith('SPEAKERD_MANY={"k0":0,')));
  assert.ok(e.fields.length < 100);
});

test('through the real logger: one native entry per record, redacted before it is written', () => {
  const b = recordingBinding();
  const fallback: string[] = [];
  const log = createLogger({
    level: 'info',
    format: 'native',
    binding: b,
    deviceId: '02:fc:00:00:00:07',
    destination: { write: (l: string) => void fallback.push(l) },
  });
  const child = log.child({ component: 'session' });
  child.info({ token: 'sekret-token', headers: { Authorization: 'Bearer sekret-token' } }, 'connecting');
  child.warn({ code: ErrorCode.HeartbeatTimeout, silent_ms: 30000 }, 'no heartbeat');
  child.debug('not at info level');
  assert.equal(b.sent.length, 2);
  assert.deepEqual(fallback, []);
  const [first, second] = b.sent;
  assert.ok(first && second);
  assert.equal(first.priority, 6);
  assert.equal(first.fields.get('MESSAGE'), 'connecting');
  assert.equal(first.fields.get('DEVICE_ID'), '02:fc:00:00:00:07');
  assert.equal(first.fields.get('SPEAKERD_COMPONENT'), 'session');
  for (const v of first.fields.values()) assert.ok(!v.includes('sekret'), v);
  assert.equal(second.priority, 4);
  assert.equal(second.fields.get('SPEAKERD_CODE'), 'E_HEARTBEAT_TIMEOUT');
  assert.equal(second.fields.get('MESSAGE_ID'), CodeMessageId[ErrorCode.HeartbeatTimeout]);
  assert.equal(second.fields.get('SPEAKERD_SILENT_MS'), '30000');
});

test('a refused entry goes to the fallback (stdout lines); the switch is said once each way', () => {
  let rc = 0;
  const b = recordingBinding(() => rc);
  const fallback: string[] = [];
  const dest = new JournalDestination({
    binding: b,
    fallback: { write: (l: string) => void fallback.push(l) },
  });
  const line = (msg: string, level = 30): string => `${JSON.stringify({ level, msg })}\n`;
  dest.write(line('one'));
  rc = -111; // ECONNREFUSED: the socket is there, nobody reads it
  dest.write(line('two'));
  dest.write(line('three', 50));
  rc = 0;
  dest.write(line('four'));
  assert.equal(dest.state, 'native');
  assert.equal(dest.refused, 2);
  assert.equal(b.sent.length, 4); // every record was offered to the journal first
  const msgs = fallback.map((l) => JSON.parse(l) as { msg: string });
  assert.deepEqual(
    msgs.map((m) => m.msg.replace(/\(.*\)/, '(…)')),
    [
      'journal native → failing: the journal refused a native entry (…); writing JSON lines to stdout until it takes them again',
      'two',
      'three',
      'journal failing → native: the journal takes native entries again',
    ],
  );
  assert.match(msgs[0]?.msg ?? '', /ECONNREFUSED/);
  // A binding that throws is the same as one that refuses: the daemon never sees it.
  const throwing = new JournalDestination({
    binding: {
      send(): number {
        throw new TypeError('Arguments must be strings');
      },
    },
    fallback: { write: (l: string) => void fallback.push(l) },
  });
  assert.doesNotThrow(() => throwing.write(line('five')));
  assert.equal(throwing.state, 'failing');
});

test('which target writes natively: JOURNAL_STREAM under auto, the socket under journal, never under stdout', () => {
  assert.equal(
    wantsNativeJournal('auto', { JOURNAL_STREAM: '8:1234' }, () => true),
    true,
  );
  assert.equal(
    wantsNativeJournal('auto', { JOURNAL_STREAM: '8:1234' }, () => false),
    false,
  );
  assert.equal(
    wantsNativeJournal('auto', {}, () => true),
    false,
  );
  assert.equal(
    wantsNativeJournal('journal', {}, () => true),
    true,
  );
  assert.equal(
    wantsNativeJournal('journal', {}, () => false),
    false,
  );
  assert.equal(wantsNativeJournal('stdout', { JOURNAL_STREAM: '8:1234' }), false);
});

test('a binding that cannot load: one notice with the fix, and <N>-prefixed lines', () => {
  const out = resolveLogOutput({
    env: { JOURNAL_STREAM: '8:1234' },
    isTty: false,
    target: 'auto',
    socketExists: () => true,
    load: () => {
      throw new Error('libsystemd.so.0: cannot open shared object file');
    },
  });
  assert.equal(out.format, 'journal');
  assert.equal(out.binding, undefined);
  assert.match(out.notice ?? '', /libsystemd\.so\.0.*npm rebuild systemd-journald/);
  assert.deepEqual(resolveLogOutput({ env: {}, isTty: true, target: 'auto' }), { format: 'pretty' });
  assert.deepEqual(resolveLogOutput({ env: {}, isTty: false, target: 'stdout' }), { format: 'json' });
});

test('the real binding loads here (npm ci builds it), and answers like libsystemd', () => {
  const loaded = loadJournalBinding();
  assert.ok(loaded.ok, loaded.ok ? '' : loaded.why);
  // No journald on this machine: libsystemd's journal-send.c returns 0 for ENOENT ("fail
  // silently if the journal is not available"), which is why `journal` checks the socket first.
  assert.equal(loaded.binding.send(6, 'MESSAGE=speakerd unit test', 'SYSLOG_IDENTIFIER=speakerd'), 0);
});

test('doctor: the journal check says where records go, and fails with the fix when the binding cannot load', () => {
  const missing = checkJournal({}, 'auto', () => {
    throw new Error('Cannot find module journal_send.node');
  });
  assert.equal(missing.ok, false);
  assert.match(missing.fix ?? '', /npm rebuild systemd-journald/);
  const unit = checkJournal({ JOURNAL_STREAM: '8:1' }, 'auto', undefined, () => true);
  assert.equal(unit.ok, true);
  assert.match(unit.detail, /native entries with fields/);
  const dev = checkJournal({}, 'auto', undefined, () => false);
  assert.equal(dev.ok, true);
  assert.match(dev.detail, /missing/);
});
