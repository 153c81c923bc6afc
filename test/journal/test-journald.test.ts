/**
 * The test journald itself (test/fakes/test-journald.ts), against two real writers of the native
 * protocol: util-linux `logger --journald` and libsystemd's sd_journal_sendv through the
 * systemd-journald binding speakerd uses. What they send must come out of the real
 * systemd-journal-remote as journal files that journalctl reads: text fields, the binary form
 * (a multi-line value), the memfd a big entry arrives as, and journald's trusted fields; what
 * journald drops (a forged trusted field, a lower-case name) is dropped and reported.
 * Root batch of scripts/test.sh, inside test/fakes/journal/journal-ns.sh.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadJournalBinding } from '../../src/system/journal.js';
import {
  FAKE_JOURNAL_RUN_HINT,
  field,
  insideFakeJournal,
  JOURNAL_SOCKET,
  journalctl,
  type ReceivedEntry,
  runTool,
  startTestJournald,
  type TestJournald,
} from '../fakes/test-journald.js';

let dir = '';
/** Every test journald started here: `after` kills and reaps those a failed test left running. */
const journalds: TestJournald[] = [];
before(async () => {
  assert.ok(insideFakeJournal(), FAKE_JOURNAL_RUN_HINT);
  dir = await mkdtemp(join(tmpdir(), 'speakerd-test-journald-'));
});
after(async () => {
  await Promise.all(journalds.map((j) => j.kill()));
  await rm(dir, { recursive: true, force: true });
});

const BOOT_ID = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim().replace(/-/g, '');
const MACHINE_ID = readFileSync('/etc/machine-id', 'utf8').trim();

test('logger --journald and sd_journal_sendv → real journal files, fields and trusted fields as journald makes them', async (t) => {
  const t0 = Date.now();
  const lap = (what: string): void => t.diagnostic(`${what}: ${Date.now() - t0} ms`);
  const j = await startTestJournald(dir);
  journalds.push(j);

  // 1. util-linux logger: the native protocol's text form, and what journald refuses from a client.
  const input = join(dir, 'logger-input');
  await writeFile(
    input,
    ['MESSAGE=from logger', 'PRIORITY=3', 'DEVICE_ID=02:00:00:00:00:aa', '_PID=1', 'lower_case=x', ''].join(
      '\n',
    ),
  );
  const logger = await runTool('logger', [`--journald=${input}`]);
  assert.equal(logger.code, 0, logger.stderr);
  const fromLogger = await j.waitFor('the logger entry', 5_000, (e) => field(e, 'MESSAGE') === 'from logger');

  // 2. The binding speakerd writes with: a multi-line value goes in the binary form, and an entry
  // bigger than the socket's 8 MiB send buffer goes as a sealed memfd over SCM_RIGHTS.
  lap('logger entry received');
  const loaded = loadJournalBinding();
  assert.ok(loaded.ok, `the systemd-journald binding must load here: ${loaded.ok ? '' : loaded.why}`);
  const multi = 'first line\nsecond line\n\tthird';
  assert.equal(loaded.binding.send(4, 'MESSAGE=multi', `SPEAKERD_MULTI=${multi}`, 'SYSLOG_IDENTIFIER=t'), 0);
  const big = 'x'.repeat(9 * 1024 * 1024);
  assert.equal(loaded.binding.send(6, 'MESSAGE=big', `SPEAKERD_BIG=${big}`), 0);
  const bigEntry = await j.waitFor('the big entry', 10_000, (e) => field(e, 'MESSAGE') === 'big');
  assert.deepEqual(
    bigEntry.fields.find(([k]) => k === 'SPEAKERD_BIG')?.[1],
    { sha256: createHash('sha256').update(big).digest('hex'), length: big.length },
    'the receiver parsed the memfd entry whole',
  );

  lap('sent and received');
  const file = await j.stop();
  lap('journal file written');
  assert.deepEqual(
    [...j.problems()].sort(),
    [
      "invalid field name b'_PID' dropped (journald drops it silently)",
      "invalid field name b'lower_case' dropped (journald drops it silently)",
    ],
    'exactly what journald refuses from a client is dropped, and said',
  );
  assert.equal(j.memfds().length, 1, 'the 9 MiB entry came as a memfd');
  assert.ok((j.memfds()[0] ?? 0) > big.length);

  // What the receiver dispatched is what journalctl reads back from the real file.
  const all = await journalctl(['--file', file]);
  lap('read back');
  assert.equal(all.length, 3, 'one journal entry per entry sent');
  const [l, m, b] = all;
  assert.ok(l && m && b);
  assert.equal(l.MESSAGE, 'from logger');
  assert.equal(l.PRIORITY, '3');
  assert.equal(l.DEVICE_ID, '02:00:00:00:00:aa');
  assert.equal(l._PID, String(fromLogger.pid), '_PID is the sender from SCM_CREDENTIALS, not the forged one');
  assert.equal(l._TRANSPORT, 'journal');
  assert.equal(l._BOOT_ID, BOOT_ID);
  assert.equal(l._MACHINE_ID, MACHINE_ID);
  assert.equal(l._HOSTNAME, hostname());
  assert.equal(l.SYSLOG_IDENTIFIER, 'logger');
  assert.ok(!('LOWER_CASE' in l) && !('lower_case' in l));
  assert.match(String(l._SOURCE_REALTIME_TIMESTAMP), /^\d{16}$/);
  assert.equal(l.__REALTIME_TIMESTAMP, String(fromLogger.realtime));

  assert.equal(m.SPEAKERD_MULTI, multi, 'the multi-line value intact (binary form)');
  assert.equal(m.PRIORITY, '4');
  assert.equal(m._PID, String(process.pid));
  assert.equal(m._COMM, 'node', '_COMM from /proc/PID of a sender that is still alive');
  assert.equal(b.SPEAKERD_BIG, big, 'the memfd entry intact');

  // The queries the docs promise work on files the test journald made.
  assert.equal((await journalctl(['--file', file, 'DEVICE_ID=02:00:00:00:00:aa'])).length, 1);
  assert.equal((await journalctl(['--file', file, '-p', 'warning'])).length, 2);
});

test('raw datagrams: several entries, comments, the binary form, trailing noise, an empty first entry: as journald parses them', async () => {
  const sub = join(dir, 'raw');
  await mkdir(sub);
  const j = await startTestJournald(sub);
  journalds.push(j);
  // Node has no unix datagram sockets: python3 sends the crafted datagrams.
  const send = [
    'import socket, struct',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
    `for d in [b"MESSAGE=one\\nA=1\\n\\nMESSAGE=two\\n", b"# a comment\\nMESSAGE=three\\nBIN\\n" + struct.pack("<Q", 5) + b"a\\nb\\0c\\n", b"MESSAGE=four\\nnoise", b"\\nMESSAGE=lost\\n", b"MESSAGE=five\\nBAD\\n" + struct.pack("<Q", 99) + b"short\\n"]:`,
    `    s.sendto(d, "${JOURNAL_SOCKET}")`,
  ].join('\n');
  const r = await runTool('python3', ['-c', send]);
  assert.equal(r.code, 0, r.stderr);
  await j.waitFor('five', 5_000, (e) => field(e, 'MESSAGE') === 'five');
  const file = await j.stop();
  const messages = j.entries().map((e) => field(e, 'MESSAGE'));
  assert.deepEqual(
    messages,
    ['one', 'two', 'three', 'four', 'five'],
    'an empty first entry ends its datagram',
  );
  const nth = (i: number): ReceivedEntry => {
    const e = j.entries()[i];
    assert.ok(e, `entry ${i}`);
    return e;
  };
  assert.equal(field(nth(0), 'A'), '1');
  assert.equal(field(nth(2), 'BIN'), 'a\nb\0c');
  assert.deepEqual(
    j.problems().map((p) => p.split(':')[0]),
    ['trailing noise', "binary field b'BAD'"],
    'what journald drops with a debug message, said',
  );
  const read = await journalctl(['--file', file]);
  assert.deepEqual(
    read.map((e) => e.MESSAGE),
    ['one', 'two', 'three', 'four', 'five'],
  );
  // journalctl -o json shows a value with a NUL as its bytes.
  assert.deepEqual(read[2]?.BIN, [...Buffer.from('a\nb\0c')]);
});
