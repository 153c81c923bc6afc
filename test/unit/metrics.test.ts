import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connectionSchema, metricsSchema } from '../../src/config/schema.js';
import type { TurnOutcome, TurnTimeline } from '../../src/conversation/turn-timeline.js';
import { replyLatencyMs } from '../../src/conversation/turn-timeline.js';
import { ManualClock } from '../../src/core/clock.js';
import { type Fault, fault } from '../../src/core/errors.js';
import { seededRandom } from '../../src/core/random.js';
import type { CredentialSource, Credentials } from '../../src/session/credentials.js';
import { SessionSupervisor } from '../../src/session/supervisor.js';
import type { ReplaceFs } from '../../src/system/atomic-file.js';
import {
  attachMetrics,
  type MetricsSources,
  RECONNECT_CAUSES,
  reconnectCause,
  SpeakerMetrics,
  TURN_OUTCOMES,
} from '../../src/system/metrics.js';
import type { WatchdogState } from '../../src/system/watchdog.js';
import { captureLogger } from '../fakes/capture-logger.js';
import { type FakeConnection, fakeConnector } from '../fakes/fake-connection.js';

const INTERVAL = 15_000;
const WARN = 40;

/** The value of one sample line (`name{labels} value`) in exposition text, or undefined. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

class Creds implements CredentialSource {
  constructor(public creds: Credentials) {}
  current(): Credentials {
    return this.creds;
  }
  async refresh(): Promise<Credentials> {
    return this.creds;
  }
}

/** The daemon's parts that metrics listen to, as plain emitters the test drives. */
function parts(clock: ManualClock) {
  const fc = fakeConnector();
  const { log, lines } = captureLogger();
  const supervisor = new SessionSupervisor({
    connector: fc.connector,
    credentials: new Creds({ url: 'ws://x/xiaozhi/v1/', token: 'tok' }),
    identity: { deviceId: 'aa:bb:cc:dd:ee:ff', clientId: '11111111-2222-4333-8444-555555555555' },
    config: connectionSchema.parse({}),
    clock,
    random: seededRandom(7),
    log,
  });
  const turns = new EventEmitter<{ turn: [TurnTimeline] }>();
  const mic = new EventEmitter<{ fault: [Fault] }>();
  const speaker = new EventEmitter<{ fault: [Fault] }>();
  const box = { volume: 60, watchdog: undefined as WatchdogState | undefined, muted: false };
  const sources: MetricsSources = {
    supervisor,
    turns,
    mic,
    speaker,
    micMute: {
      get state() {
        return box.muted ? 'muted' : 'sound';
      },
    },
    volume: () => box.volume,
    watchdog: () => box.watchdog,
  };
  return { fc, supervisor, turns, mic, speaker, box, sources, log, lines };
}

function timeline(outcome: TurnOutcome, milestones: TurnTimeline['milestones']): TurnTimeline {
  return {
    trigger: 'click',
    mode: 'auto',
    outcome,
    startedAt: 0,
    durationMs: 5000,
    milestones,
    framesSent: 10,
    framesRefused: 0,
    framesOverflowed: 0,
    packetsPlayed: 5,
    packetsUndecodable: 0,
  };
}

const flush = () => new Promise<void>((r) => setImmediate(r));

function readyUp(s: ReturnType<typeof parts>): FakeConnection {
  const c = s.fc.last();
  c.serverOpen();
  c.serverHello();
  assert.equal(s.supervisor.state, 'ready');
  return c;
}

/** Advances time while the peer answers every ping. */
function live(clock: ManualClock, c: FakeConnection, ms: number): void {
  for (let t = 0; t < ms; t += 500) {
    clock.advance(Math.min(500, ms - t));
    c.emit('pong');
  }
}

test('reconnects are counted by cause from a real supervisor, the first connect not at all', async () => {
  const clock = new ManualClock(1000);
  const s = parts(clock);
  const m = new SpeakerMetrics({ clock, version: '9.9.9' });
  m.attach(s.sources);
  s.supervisor.start();
  /** Through the backoff to the next connection object. */
  const next = () => {
    assert.equal(s.supervisor.state, 'backoff');
    const n = s.fc.conns.length;
    while (s.fc.conns.length === n) clock.advance(clock.msToNext());
  };
  const until = (gone: string, pong = false) => {
    while (s.supervisor.state === gone) {
      clock.advance(500);
      if (pong) s.fc.last().emit('pong');
    }
  };
  // network: the server is not there yet
  s.fc.last().emit('error', new Error('connect ECONNREFUSED 127.0.0.1:8000'));
  s.fc.last().serverClose(1006);
  next();
  // server-closed: a settled session ends routinely (protocol.md §8)
  let c = readyUp(s);
  live(clock, c, 60_000);
  c.serverClose(1000);
  next();
  // heartbeat: the peer goes silent
  readyUp(s);
  until('ready');
  next();
  // hello-timeout: upgraded, pongs but never a hello
  s.fc.last().serverOpen();
  until('handshaking', true);
  next();
  // http: a proxy answers 502
  s.fc.last().emit('rejected', 502);
  s.fc.last().serverClose(1006);
  next();
  // connection-lost: 1006 under a session
  c = readyUp(s);
  c.serverClose(1006);
  next();
  // server-error: 1011 under a session
  c = readyUp(s);
  c.serverClose(1011, 'internal error');
  next();
  // auth: xinnan's in-band refusal (text + close 1000 before the hello), refreshed at once
  c = s.fc.last();
  c.serverOpen();
  c.serverText('认证失败');
  c.serverClose(1000);
  await flush();
  // requested: a long press under a session
  c = readyUp(s);
  s.supervisor.reconnectFresh('long press');
  c.serverClose(1000);
  await flush();
  // stale: a stale session renewed at rest
  c = readyUp(s);
  live(clock, c, 1_000);
  s.supervisor.renew('stale');
  const text = await m.text();
  const expected: Record<string, number> = {
    network: 1,
    'server-closed': 1,
    heartbeat: 1,
    'hello-timeout': 1,
    http: 1,
    'connection-lost': 1,
    'server-error': 1,
    auth: 1,
    requested: 1,
    stale: 1,
  };
  for (const cause of RECONNECT_CAUSES)
    assert.equal(
      sample(text, `speakerd_reconnects_total{cause="${cause}"}`),
      expected[cause] ?? 0,
      `cause ${cause}:\n${text}`,
    );
  assert.equal(sample(text, 'speakerd_connection_attempts_total'), s.fc.conns.length);
  assert.equal(sample(text, 'speakerd_link_state{state="renewing"}'), 1);
  const ones = text.split('\n').filter((l) => l.startsWith('speakerd_link_state{') && l.endsWith(' 1'));
  assert.equal(ones.length, 1, 'exactly one link state is current');
});

test('reconnectCause: the sentences of the supervisor and of Node map into the closed set', () => {
  const cases: Array<[string, string | undefined]> = [
    ['connect ECONNREFUSED 10.0.0.5:8000', 'network'],
    ['getaddrinfo ENOTFOUND speaker.example', 'network'],
    ['Opening handshake has timed out', 'network'],
    ['self-signed certificate', 'tls'],
    ['server closed 1005 1200 ms after hello', 'server-closed'],
    ['server closed 1001', 'server-closed'],
    ['server closed 1000 before hello', 'server-error'],
    ['server closed 1009 (x): message too big', 'server-error'],
    ['upgrade refused with HTTP 401', 'auth'],
    ['token refused at attempt 4', 'auth'],
    ['send failed: EPIPE', 'send-failed'],
    ['something new', 'other'],
  ];
  for (const [reason, cause] of cases)
    assert.equal(reconnectCause('backoff', 'connecting', reason), cause, reason);
  assert.equal(
    reconnectCause('backoff', 'idle', 'button (spaced)'),
    undefined,
    'an on-demand press is no reconnect',
  );
  assert.equal(reconnectCause('connecting', 'offline', 'attempt 1: start'), undefined, 'the first connect');
  assert.equal(reconnectCause('idle', 'ready', 'server closed 1005'), undefined, 'on-demand rest');
});

test('turns by outcome and the reply latency histogram (first audio − (released ?? stt))', async () => {
  const clock = new ManualClock(0);
  const s = parts(clock);
  const m = new SpeakerMetrics({ clock, version: '9.9.9' });
  m.attach(s.sources);
  s.turns.emit(
    'turn',
    timeline('reply', { firstFrameSent: 60, stt: 1800, ttsStart: 2000, firstAudio: 2400 }),
  );
  s.turns.emit('turn', timeline('reply', { released: 1000, stt: 1500, firstAudio: 1300 + 1000 }));
  s.turns.emit('turn', timeline('lost', { firstFrameSent: 60 }));
  s.turns.emit('turn', timeline('deadline', { firstFrameSent: 60, stt: 900 }));
  assert.equal(replyLatencyMs(timeline('reply', { released: 1000, firstAudio: 2300 }).milestones), 1300);
  assert.equal(replyLatencyMs(timeline('reply', { stt: 1000 }).milestones), undefined);
  const text = await m.text();
  assert.equal(sample(text, 'speakerd_turns_total{outcome="reply"}'), 2);
  assert.equal(sample(text, 'speakerd_turns_total{outcome="lost"}'), 1);
  assert.equal(sample(text, 'speakerd_turns_total{outcome="deadline"}'), 1);
  for (const outcome of TURN_OUTCOMES)
    assert.notEqual(sample(text, `speakerd_turns_total{outcome="${outcome}"}`), undefined, outcome);
  // 0.6 s (stt → first audio) and 1.3 s (release → first audio, not stt)
  assert.equal(sample(text, 'speakerd_reply_latency_seconds_count'), 2);
  assert.ok(Math.abs((sample(text, 'speakerd_reply_latency_seconds_sum') ?? 0) - 1.9) < 1e-9);
  assert.equal(sample(text, 'speakerd_reply_latency_seconds_bucket{le="0.5"}'), 0);
  assert.equal(sample(text, 'speakerd_reply_latency_seconds_bucket{le="0.75"}'), 1);
  assert.equal(sample(text, 'speakerd_reply_latency_seconds_bucket{le="1.5"}'), 2);
  assert.equal(sample(text, 'speakerd_reply_latency_seconds_bucket{le="+Inf"}'), 2);
});

test('faults, volume, mute, watchdog (absent while none runs), build info, uptime', async () => {
  const clock = new ManualClock(5000);
  const s = parts(clock);
  const m = new SpeakerMetrics({ clock, version: '9.9.9' });
  m.attach(s.sources);
  s.mic.emit('fault', fault('E_AUDIO_SOURCE', 'arecord exited 1'));
  s.mic.emit('fault', fault('E_AUDIO_SOURCE', 'arecord exited 1'));
  s.speaker.emit('fault', fault('E_AUDIO_SINK', 'aplay stalled'));
  clock.advance(90_000);
  let text = await m.text();
  assert.equal(sample(text, 'speakerd_mic_faults_total'), 2);
  assert.equal(sample(text, 'speakerd_speaker_faults_total'), 1);
  assert.equal(sample(text, 'speakerd_volume_ratio'), 0.6);
  assert.equal(sample(text, 'speakerd_mic_muted'), 0);
  assert.equal(sample(text, 'speakerd_uptime_seconds'), 90);
  assert.equal(sample(text, `speakerd_build_info{version="9.9.9",nodejs="${process.version}"}`), 1);
  assert.doesNotMatch(text, /speakerd_watchdog_healthy/, 'no watchdog, no series');
  s.box.watchdog = 'healthy';
  s.box.volume = 25;
  s.box.muted = true;
  text = await m.text();
  assert.equal(sample(text, 'speakerd_watchdog_healthy'), 1);
  assert.equal(sample(text, 'speakerd_volume_ratio'), 0.25);
  assert.equal(sample(text, 'speakerd_mic_muted'), 1);
  s.box.watchdog = 'failing';
  assert.equal(sample(await m.text(), 'speakerd_watchdog_healthy'), 0);
  s.box.watchdog = 'stopped';
  assert.doesNotMatch(await m.text(), /speakerd_watchdog_healthy/);
});

test('the file: written at start, every intervalMs by the injected clock, once at stop; mode 0644 under UMask 0077', async () => {
  const dir = await fsp.mkdtemp(join(tmpdir(), 'speakerd-metrics-'));
  const file = join(dir, 'speakerd.prom');
  const clock = new ManualClock(0);
  const s = parts(clock);
  const oldMask = process.umask(0o077); // the unit's UMask=0077
  try {
    const a = attachMetrics({ textfile: file, intervalMs: INTERVAL }, s.sources, {
      clock,
      version: '9.9.9',
      log: s.log,
    });
    await a.textfile.settled();
    assert.equal(a.textfile.writes, 1, 'written at start');
    assert.equal((await fsp.stat(file)).mode & 0o777, 0o644, 'readable by node_exporter (prometheus)');
    s.turns.emit('turn', timeline('reply', { stt: 1000, firstAudio: 1500 }));
    clock.advance(INTERVAL - 1);
    await a.textfile.settled();
    assert.equal(a.textfile.writes, 1, 'not before the interval');
    clock.advance(1);
    await a.textfile.settled();
    assert.equal(a.textfile.writes, 2);
    assert.equal(sample(await fsp.readFile(file, 'utf8'), 'speakerd_turns_total{outcome="reply"}'), 1);
    clock.advance(INTERVAL);
    await a.textfile.settled();
    assert.equal(a.textfile.writes, 3);
    // Three ticks at once: the first writes, the two that find it in flight are skipped, not queued.
    clock.advance(INTERVAL * 3);
    await a.textfile.settled();
    assert.equal(a.textfile.writes, 4);
    clock.advance(INTERVAL);
    await a.textfile.settled();
    assert.equal(a.textfile.writes, 5);
    s.turns.emit('turn', timeline('stopped', {}));
    await a.stop();
    assert.equal(a.textfile.state, 'stopped');
    assert.equal(a.textfile.writes, 6, 'once more at stop');
    assert.equal(sample(await fsp.readFile(file, 'utf8'), 'speakerd_turns_total{outcome="stopped"}'), 1);
    assert.equal(clock.pending, 0, 'no timer left');
    assert.deepEqual(await fsp.readdir(dir), ['speakerd.prom'], 'no temp file left');
  } finally {
    process.umask(oldMask);
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('write errors: logged once per kind, never thrown; the directory is not created; logged again after a recovery', async () => {
  const dir = await fsp.mkdtemp(join(tmpdir(), 'speakerd-metrics-'));
  const missing = join(dir, 'node-exporter');
  const file = join(missing, 'speakerd.prom');
  const clock = new ManualClock(0);
  const s = parts(clock);
  // EACCES cannot be had as root from a real directory: the seam refuses the rename instead.
  let refuse: string | undefined;
  const fs: ReplaceFs = {
    writeFile: (p, d, o) => fsp.writeFile(p, d, o),
    chmod: (p, mode) => fsp.chmod(p, mode),
    rename: async (from, to) => {
      if (refuse)
        throw Object.assign(new Error(`${refuse}: permission denied, rename '${from}'`), { code: refuse });
      await fsp.rename(from, to);
    },
    unlink: (p) => fsp.unlink(p),
  };
  try {
    const a = attachMetrics({ textfile: file, intervalMs: INTERVAL }, s.sources, {
      clock,
      version: '9.9.9',
      log: s.log,
      fs,
    });
    for (let i = 0; i < 3; i++) {
      await a.textfile.settled();
      clock.advance(INTERVAL);
    }
    await a.textfile.settled();
    const warns = () => s.lines.filter((l) => l.level === WARN && /metrics file not written/.test(l.msg));
    assert.equal(a.textfile.failures, 4);
    assert.equal(warns().length, 1, 'ENOENT said once');
    assert.equal(warns()[0]?.kind, 'ENOENT');
    assert.match(warns()[0]?.msg ?? '', /directory does not exist/);
    await assert.rejects(fsp.stat(missing), 'the directory belongs to node_exporter: not created');
    await fsp.mkdir(missing);
    refuse = 'EACCES';
    clock.advance(INTERVAL);
    await a.textfile.settled();
    clock.advance(INTERVAL);
    await a.textfile.settled();
    assert.equal(warns().length, 2, 'EACCES said once');
    assert.equal(warns()[1]?.kind, 'EACCES');
    assert.deepEqual(await fsp.readdir(missing), [], 'the temp file of a failed rename is removed');
    refuse = undefined;
    clock.advance(INTERVAL);
    await a.textfile.settled();
    assert.ok(s.lines.some((l) => l.msg === 'metrics file written again'));
    refuse = 'EACCES';
    clock.advance(INTERVAL);
    await a.textfile.settled();
    assert.equal(warns().length, 3, 'after a recovery a new failure is said again');
    await a.stop();
    assert.equal(a.textfile.state, 'stopped');
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('config: metrics.textfile is an absolute *.prom path, off by default; intervalMs 15000', () => {
  assert.deepEqual(metricsSchema.parse({}), { intervalMs: 15_000 });
  assert.equal(
    metricsSchema.safeParse({ textfile: '/var/lib/prometheus/node-exporter/speakerd.prom' }).success,
    true,
  );
  assert.equal(metricsSchema.safeParse({ textfile: 'speakerd.prom' }).success, false);
  assert.equal(
    metricsSchema.safeParse({ textfile: '/var/lib/prometheus/node-exporter/speakerd.txt' }).success,
    false,
  );
  assert.equal(metricsSchema.safeParse({ intervalMs: 10 }).success, false);
});
