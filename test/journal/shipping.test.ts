/**
 * Issue 13 §3: a fleet's journals shipped to one place with systemd's own tools, end to end.
 *
 *   3 real `speakerd run --sim` daemons (different Device-Ids; one with a token signed by a stale
 *   key, so the dev-server refuses it: E_AUTH_REJECTED) write native entries (log target
 *   `journal`, libsystemd's sd_journal_sendv) to the test journald
 *   → the real systemd-journal-remote makes the device's journal file
 *   → the real systemd-journal-upload sends it over HTTP to a real
 *     `systemd-journal-remote --listen-http` collector (socket-activated like its .socket unit)
 *   → `journalctl -D <collector dir> DEVICE_ID=… MESSAGE_ID=…` finds exactly what each daemon
 *     wrote, every field intact, and no token anywhere in the collector's files;
 *   → `journalctl -x` explains a daemon's entry from the message catalog.
 * Root batch of scripts/test.sh, inside test/fakes/journal/journal-ns.sh.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { signToken } from '../../src/devserver/auth.js';
import { CodeMessageId, MessageId } from '../../src/system/message-ids.js';
import { runFleetReportCli } from '../fakes/fleet-report-cli.js';
import { SpeakerdProcs } from '../fakes/speakerd-proc.js';
import {
  FAKE_JOURNAL_RUN_HINT,
  field,
  insideFakeJournal,
  JOURNAL_REMOTE,
  JOURNAL_UPLOAD,
  type JsonField,
  journalctl,
  type Kept,
  keep,
  type ReceivedEntry,
  reap,
  runTool,
  SOCKET_ACTIVATE,
  startTestJournald,
  type TestJournald,
  within,
} from '../fakes/test-journald.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const CATALOG = join(REPO, 'systemd/speakerd.catalog');
const HOST_CATALOG_DIR = '/var/lib/systemd/catalog';
const AUTH_KEY = 'fleet-auth-key';
const AUTH_REJECTED = CodeMessageId.E_AUTH_REJECTED;

interface Device {
  readonly id: string;
  readonly clientId: string;
  readonly token: string;
  /** Whether the dev-server accepts its token. */
  readonly accepted: boolean;
  /** Push-to-talk turns the test takes on it (the fleet report must count them). */
  readonly turns: number;
}

const now = Math.floor(Date.now() / 1000);
const device = (n: number, key: string, turns: number): Device => {
  const id = `02:00:00:00:0a:0${n}`;
  const clientId = `6f1c2a4e-8b1d-4c3e-9f2a-00000000000${n}`;
  return { id, clientId, token: signToken(key, clientId, id, now), accepted: key === AUTH_KEY, turns };
};
const DEVICES: readonly Device[] = [
  device(1, AUTH_KEY, 2),
  device(2, AUTH_KEY, 1),
  device(3, 'a-stale-key', 0),
];

let dir = '';
const procs = new SpeakerdProcs();
let journald: TestJournald | undefined;
let collector: Kept | undefined;
before(async () => {
  assert.ok(insideFakeJournal(), FAKE_JOURNAL_RUN_HINT);
  dir = await mkdtemp(join(tmpdir(), 'speakerd-shipping-'));
});
after(async () => {
  await procs.killAll();
  await journald?.kill();
  if (collector) await reap(collector);
  await rm(dir, { recursive: true, force: true });
});

/** The entry's fields as one object (speakerd never repeats a field). */
function fieldsOf(e: ReceivedEntry): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of e.fields) {
    assert.ok(!(k in out), `${k} repeated in an entry`);
    assert.equal(typeof v, 'string', `${k} is text`);
    out[k] = String(v);
  }
  return out;
}

/** What journalctl -o json shows of an entry, without the fields the collector's file assigns. */
function comparable(e: Record<string, JsonField>): Record<string, JsonField> {
  const out: Record<string, JsonField> = {};
  for (const [k, v] of Object.entries(e))
    if (!['__CURSOR', '__MONOTONIC_TIMESTAMP', '__SEQNUM', '__SEQNUM_ID'].includes(k)) out[k] = v;
  return out;
}

function sortedKeys(o: Record<string, unknown>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1))));
}

test('3 daemons → test journald → journal file → systemd-journal-upload → collector: journalctl -D finds exactly what each wrote', async (t) => {
  const t0 = Date.now();
  const lap = (what: string): void => t.diagnostic(`${what}: ${Date.now() - t0} ms`);

  // 1. The devices log natively to the test journald.
  mkdirSync(join(dir, 'device'));
  const j = await startTestJournald(join(dir, 'device'));
  journald = j;
  const server = await procs.devServer(0, ['--auth-key', AUTH_KEY]);
  // Push-to-talk: one press, one turn, then idle (toggle mode's auto listening would go on).
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ conversation: { buttonMode: 'push-to-talk' } }));
  const daemons = DEVICES.map((d) =>
    procs.spawn(['run', '--sim', '--config', config], {
      SPEAKERD_SERVER_URL: server.url,
      SPEAKERD_TOKEN: d.token,
      SPEAKERD_DEVICE_ID: d.id,
      SPEAKERD_CLIENT_ID: d.clientId,
      SPEAKERD_STATE_DIR: join(dir, `state-${d.id.replace(/:/g, '')}`),
      SPEAKERD_LOG_TARGET: 'journal',
      SPEAKERD_LOG_LEVEL: 'debug',
    }),
  );
  const of = (d: Device) => (e: ReceivedEntry) => field(e, 'DEVICE_ID') === d.id;
  for (const d of DEVICES) {
    if (d.accepted)
      await j.waitFor(`${d.id} online`, 15_000, (e) => of(d)(e) && field(e, 'SPEAKERD_LINK_TO') === 'ready');
    else
      await j.waitFor(`${d.id} refused twice`, 15_000, (e) => {
        const refusals = j
          .entries()
          .filter((x) => of(d)(x) && field(x, 'SPEAKERD_CODE') === 'E_AUTH_REJECTED');
        return of(d)(e) && refusals.length >= 2;
      });
  }
  lap('all three devices online or refused');
  // Turns, for the fleet report to count: press, speak (the sim mic) 1.2 s, release, the reply.
  const replies = (d: Device) =>
    j.entries().filter((e) => of(d)(e) && field(e, 'SPEAKERD_TURN_OUTCOME') === 'reply').length;
  await Promise.all(
    DEVICES.map(async (d, i) => {
      const stdin = daemons[i]?.child.stdin;
      for (let n = 1; n <= d.turns; n++) {
        stdin?.write('p\n');
        await new Promise((r) => setTimeout(r, 1_200));
        stdin?.write('r\n');
        await j.waitFor(`${d.id} turn ${n} replied`, 20_000, () => replies(d) === n);
      }
    }),
  );
  lap('turns taken');
  const stoppedAtUs = Date.now() * 1000;
  for (const p of daemons) p.child.kill('SIGTERM');
  for (const [i, p] of daemons.entries())
    assert.deepEqual(await p.exit, { code: 0, signal: null }, `daemon ${DEVICES[i]?.id}: ${p.err}`);
  server.proc.child.kill('SIGTERM');
  await server.proc.exit;
  const deviceFile = await j.stop();
  lap('daemons stopped, device journal file written');
  // Every record went to the journal natively: none fell back to a `<N>` JSON line on stdout
  // (stdout carries only the simulated LEDs and button prompt of --sim).
  for (const [i, p] of daemons.entries()) {
    assert.doesNotMatch(
      p.out,
      /"level":\d+/,
      `${DEVICES[i]?.id} wrote log lines to stdout: ${p.out.slice(0, 400)}`,
    );
  }
  assert.deepEqual(j.problems(), [], 'nothing journald would have dropped');

  // Each daemon's entries carry its own Device-Id, and only its pid wrote them (SCM_CREDENTIALS).
  const sent = new Map<string, Record<string, string>[]>();
  for (const [i, d] of DEVICES.entries()) {
    const pid = daemons[i]?.child.pid;
    const mine = j.entries().filter((e) => e.pid === pid);
    assert.ok(mine.length >= 3, `${d.id} wrote ${mine.length} entries`);
    for (const e of mine) {
      const f = fieldsOf(e);
      assert.equal(f.DEVICE_ID, d.id);
      assert.equal(f.SYSLOG_IDENTIFIER, 'speakerd');
      assert.match(f.MESSAGE ?? '', /\S/, 'every entry has a MESSAGE');
      assert.match(f.SPEAKERD_COMPONENT ?? '', /^[a-z-]+$/, 'every entry names its component');
      for (const k of Object.keys(f)) assert.match(k, /^(_[A-Z0-9_]+|[A-Z][A-Z0-9_]*)$/, `field name ${k}`);
    }
    sent.set(
      d.id,
      mine.map((e) => ({ ...fieldsOf(e), __REALTIME_TIMESTAMP: String(e.realtime) })),
    );
  }
  assert.equal(
    j.entries().length,
    [...sent.values()].reduce((n, es) => n + es.length, 0),
    'every entry came from one of the three daemons',
  );

  // 2. The collector: systemd-journal-remote --listen-http on a socket the OS gave a port.
  const collectorDir = join(dir, 'collector');
  mkdirSync(collectorDir);
  const c = keep(
    'collector',
    spawn(
      'python3',
      [SOCKET_ACTIVATE, '127.0.0.1', JOURNAL_REMOTE, '--listen-http=-3', `--output=${collectorDir}/`],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    ),
  );
  collector = c;
  const port = await within(
    new Promise<number>((resolve, reject) => {
      c.child.stdout?.once('data', (d: Buffer) =>
        resolve((JSON.parse(d.toString()) as { port: number }).port),
      );
      c.exit.then(() => reject(new Error(`collector exited: ${c.stderr()}`)), reject);
    }),
    5_000,
    'the collector port',
  );

  // 3. The upload, as systemd-journal-upload.service does it, from the device's journal file.
  const state = join(dir, 'upload.state');
  const up = await runTool(JOURNAL_UPLOAD, [
    '--file',
    deviceFile,
    '--url',
    `http://127.0.0.1:${port}`,
    '--follow=no',
    `--save-state=${state}`,
  ]);
  assert.equal(up.code, 0, `systemd-journal-upload: ${up.stderr}`);
  assert.match(readFileSync(state, 'utf8'), /^LAST_CURSOR=s=/m, 'the upload saved its cursor');
  c.child.kill('SIGTERM');
  const cEnd = await within(c.exit, 10_000, 'collector stop');
  assert.equal(cEnd.code, 0, c.stderr());
  lap('uploaded, collector stopped');
  const total = j.entries().length;
  assert.match(c.stderr(), new RegExp(`Finishing after writing ${total} entries`), c.stderr());
  // Split mode "host": one file per sending host, named after its address.
  assert.deepEqual(readdirSync(collectorDir), ['remote-127.0.0.1.journal']);

  // 4. The operator's queries on the collector find exactly what each daemon wrote.
  const D = ['-D', collectorDir];
  const all = await journalctl(D);
  assert.equal(all.length, total, 'every entry arrived once');
  const seen = await runTool('journalctl', [...D, '-F', 'DEVICE_ID']);
  assert.deepEqual(
    seen.stdout.toString().trim().split('\n').sort(),
    DEVICES.map((d) => d.id).sort(),
    '-F DEVICE_ID lists the fleet',
  );
  for (const d of DEVICES) {
    const want = sent.get(d.id) ?? [];
    const got = await journalctl([...D, `DEVICE_ID=${d.id}`]);
    // Field by field, every entry: the daemon's fields and journald's trusted ones, and the time.
    assert.deepEqual(
      got.map((e) => sortedKeys(comparable(e))).sort(),
      want.map((e) => sortedKeys(e)).sort(),
      `${d.id}: the collector has exactly the entries the daemon wrote, fields intact`,
    );
    const ids = new Map<string, number>();
    for (const e of want) if (e.MESSAGE_ID) ids.set(e.MESSAGE_ID, (ids.get(e.MESSAGE_ID) ?? 0) + 1);
    // Every MESSAGE_ID the daemon wrote (the refused one at least its code's; the event ids of
    // message-ids.ts as the writer adds them), each found as often as it was written.
    for (const id of [
      MessageId.Ready,
      MessageId.Stopping,
      ...(d.accepted ? [MessageId.LinkUp] : [AUTH_REJECTED]),
    ])
      assert.ok(ids.has(id), `${d.id} wrote MESSAGE_ID=${id}`);
    for (const [id, n] of ids) {
      const hits = await journalctl([...D, `DEVICE_ID=${d.id}`, `MESSAGE_ID=${id}`]);
      assert.equal(hits.length, n, `${d.id} MESSAGE_ID=${id}`);
    }
    assert.equal(
      (
        await journalctl([
          ...D,
          `DEVICE_ID=${d.id}`,
          `MESSAGE_ID=${MessageId.LinkUp}`,
          'SPEAKERD_LINK_TO=ready',
        ])
      ).length,
      d.accepted ? 1 : 0,
      `${d.id}: online once, or never with a refused token`,
    );
    t.diagnostic(
      `${d.id}: ${want.length} entries; MESSAGE_IDs ${[...ids].map(([id, n]) => `${id}×${n}`).join(' ')}`,
    );
  }
  const refused = await journalctl([...D, 'SPEAKERD_CODE=E_AUTH_REJECTED']);
  const refusedSent = (sent.get(DEVICES[2]?.id ?? '') ?? []).filter(
    (e) => e.SPEAKERD_CODE === 'E_AUTH_REJECTED',
  );
  assert.equal(refused.length, refusedSent.length);
  assert.ok(refused.every((e) => e.DEVICE_ID === DEVICES[2]?.id && e.MESSAGE_ID === AUTH_REJECTED));
  const errors = await journalctl([...D, '-p', 'err']);
  assert.equal(
    errors.length,
    [...sent.values()].flat().filter((e) => Number(e.PRIORITY) <= 3).length,
    '-p err: every error and worse',
  );
  assert.ok(errors.length >= refused.length);
  // --since: the entries from the SIGTERMs on (journalctl's @epoch with microseconds).
  const from = stoppedAtUs;
  const since = await journalctl([
    ...D,
    '--since',
    `@${Math.floor(from / 1e6)}.${String(from % 1e6).padStart(6, '0')}`,
  ]);
  assert.equal(since.length, all.filter((e) => Number(e.__REALTIME_TIMESTAMP) >= from).length);
  assert.ok(since.length >= 3 && since.length < total);

  // 5. No token anywhere: not in the bytes of the journal files (device and collector), not in
  // what journalctl exports (fields compressed in the file are decompressed there).
  const exported = await runTool('journalctl', [...D, '-o', 'export']);
  assert.equal(exported.code, 0, exported.stderr);
  for (const d of DEVICES) {
    for (const f of [deviceFile, join(collectorDir, 'remote-127.0.0.1.journal')])
      assert.ok(!readFileSync(f).includes(d.token), `${d.id}'s token in ${f}`);
    assert.ok(!exported.stdout.includes(d.token), `${d.id}'s token in journalctl -o export`);
  }
  lap('queries checked');

  // 6. The fleet report on the collector's journals (issue 13 §4): one line per device, with the
  // numbers of what the test made each daemon do.
  const report = await runFleetReportCli(['-D', collectorDir, '--json']);
  assert.equal(report.code, 0, report.err);
  const parsed: unknown = JSON.parse(report.out);
  const listed =
    typeof parsed === 'object' && parsed !== null && 'devices' in parsed && Array.isArray(parsed.devices)
      ? parsed.devices
      : [];
  const byId = new Map<string, Record<string, unknown>>();
  for (const d of listed) {
    if (typeof d === 'object' && d !== null && 'deviceId' in d && typeof d.deviceId === 'string')
      byId.set(d.deviceId, { ...d });
  }
  assert.deepEqual([...byId.keys()].sort(), DEVICES.map((d) => d.id).sort());
  for (const d of DEVICES) {
    const r = byId.get(d.id) ?? {};
    const refusals = refused.filter((e) => e.DEVICE_ID === d.id).length;
    assert.equal(r.entries, sent.get(d.id)?.length, `${d.id}: every entry it wrote`);
    assert.equal(r.link, 'stopped', `${d.id}: its last link state`);
    assert.equal(r.reconnects, 0, `${d.id}: never lost a ready link`);
    assert.equal(r.tokenRefusals, d.accepted ? 0 : refusals, `${d.id}: token refusals`);
    assert.equal(r.micFaults, 0);
    assert.equal(r.speakerFaults, 0);
    assert.deepEqual(
      r.turns,
      {
        total: d.turns,
        replies: d.turns,
        lost: 0,
        timedOut: 0,
        byOutcome: d.turns > 0 ? { reply: d.turns } : {},
      },
      `${d.id}: turns`,
    );
    const latency = r.replyLatencyMs;
    if (d.turns === 0) assert.equal(latency, null);
    else {
      assert.ok(typeof latency === 'object' && latency !== null && 'count' in latency && 'p95' in latency);
      assert.equal(latency.count, d.turns, `${d.id}: a latency per reply`);
      assert.ok(
        typeof latency.p95 === 'number' && latency.p95 > 0 && latency.p95 < 10_000,
        `p95 ${latency.p95}`,
      );
    }
    const online = r.onlineRatio;
    assert.ok(typeof online === 'number', `${d.id}: online ratio ${online}`);
    if (d.accepted) assert.ok(online > 0.5, `${d.id} was online most of the window: ${online}`);
    else assert.equal(online, 0, `${d.id} was never online`);
    const lastError = r.lastError;
    if (d.accepted) assert.equal(lastError, null, `${d.id}: no error`);
    else {
      assert.ok(typeof lastError === 'object' && lastError !== null && 'messageId' in lastError);
      assert.equal(lastError.messageId, AUTH_REJECTED);
    }
  }
  lap('fleet report checked');

  // 7. journalctl -x explains a daemon's entry from the message catalog (the repository's, built
  // into a scratch root's database with --update-catalog).
  const root = join(dir, 'root');
  mkdirSync(join(root, 'usr/lib/systemd/catalog'), { recursive: true });
  const catalogFile = join(root, 'usr/lib/systemd/catalog/speakerd.catalog');
  copyFileSync(CATALOG, catalogFile);
  const update = await runTool('journalctl', ['--root', root, '--update-catalog']);
  assert.equal(update.code, 0, update.stderr);
  // sd_journal_get_catalog reads the fixed /var/lib/systemd/catalog/database (not --root's), so
  // journalctl runs in a mount namespace of its own where the scratch database is bound there:
  // the operator's own command line, and the host's catalog stays untouched.
  assert.ok(existsSync(HOST_CATALOG_DIR), `${HOST_CATALOG_DIR} missing (the systemd package makes it)`);
  const x = await runTool('unshare', [
    '-m',
    '--propagation',
    'private',
    'sh',
    '-c',
    'mount --bind "$1" "$2" && shift 2 && exec journalctl "$@"',
    'sh',
    join(root, 'var/lib/systemd/catalog'),
    HOST_CATALOG_DIR,
    '-D',
    collectorDir,
    '-x',
    '--no-pager',
    `MESSAGE_ID=${AUTH_REJECTED}`,
    '-n',
    '1',
  ]);
  assert.equal(x.code, 0, x.stderr);
  const text = x.stdout.toString();
  // The entry's Subject from the catalog file, with its @FIELD@s as the refused device's entry has them.
  const block = readFileSync(catalogFile, 'utf8').split(`-- ${AUTH_REJECTED}\n`)[1] ?? '';
  const subject = /^Subject: (.*)$/m.exec(block)?.[1] ?? '(no Subject in the catalog)';
  const last = refused.at(-1) ?? {};
  const expected = subject.replace(/@([A-Z0-9_]+)@/g, (_, k: string) => String(last[k]));
  assert.ok(text.includes(`░░ Subject: ${expected}`), `-x shows "${expected}":\n${text}`);
  assert.ok(text.includes(DEVICES[2]?.id ?? '?'), `@DEVICE_ID@ substituted:\n${text}`);
  t.diagnostic(`journalctl -D … -x MESSAGE_ID=${AUTH_REJECTED} -n 1:`);
  for (const line of text.split('\n').slice(0, 6)) t.diagnostic(line);
  lap('journalctl -x explained');
});
