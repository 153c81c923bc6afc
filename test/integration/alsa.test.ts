/**
 * The daemon with real audio (issue: step 2 acceptance): the real `arecord` (node-record-lpcm16)
 * and `aplay` on the ALSA test rig (file plugin on FIFOs, paced feeder and drain), the real Opus
 * path, the real `ws` client and the dev-server, whose TTS is the user's own voice.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { afterEach, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AudioSink, AudioSinkEvents } from '../../src/audio/audio-port.js';
import { AlsaCapture } from '../../src/audio/capture.js';
import { readPcmFile } from '../../src/audio/file-audio.js';
import { AplaySink } from '../../src/audio/playback.js';
import { PrerollSource } from '../../src/audio/preroll.js';
import { Volume } from '../../src/audio/volume.js';
import { configSchema } from '../../src/config/schema.js';
import { SystemClock } from '../../src/core/clock.js';
import { seededRandom } from '../../src/core/random.js';
import { Daemon } from '../../src/daemon.js';
import { SPEECH_FIXTURE } from '../../src/demo.js';
import type { DevServerFaults } from '../../src/devserver/faults.js';
import { DevServer } from '../../src/devserver/index.js';
import type { Indicator } from '../../src/hardware/indicator.js';
import { ConfigCredentialSource } from '../../src/session/credentials.js';
import { wsConnector } from '../../src/transport/ws-connector.js';
import { AlsaRig, monotonicNow, rigProcesses } from '../fakes/alsa-rig.js';
import { captureLogger, type LogLine } from '../fakes/capture-logger.js';
import { pollUntil } from '../fakes/poll.js';

const SPEECH = readPcmFile(SPEECH_FIXTURE);
const BYTES_PER_MS_16K = 32;

/** Passes everything to aplay and keeps a copy of what the daemon decoded and wrote. */
class TeeSink extends EventEmitter<AudioSinkEvents> implements AudioSink {
  readonly name: string;
  /** Decoded PCM of each stream, in order. */
  readonly streams: Buffer[][] = [];
  constructor(readonly inner: AplaySink) {
    super();
    this.name = inner.name;
    inner.on('fault', (f) => this.emit('fault', f));
    inner.on('drained', () => this.emit('drained'));
  }
  begin(rate: number): void {
    this.streams.push([]);
    this.inner.begin(rate);
  }
  write(pcm: Buffer): void {
    this.streams.at(-1)?.push(Buffer.from(pcm));
    this.inner.write(pcm);
  }
  end(): void {
    this.inner.end();
  }
  abort(): void {
    this.inner.abort();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** 20 ms RMS envelope of 16 kHz S16 PCM. */
function envelope(pcm: Buffer): number[] {
  const win = 320;
  const out: number[] = [];
  for (let i = 0; i + win * 2 <= pcm.length; i += win * 2) {
    let s = 0;
    for (let j = 0; j < win; j++) s += pcm.readInt16LE(i + j * 2) ** 2;
    out.push(Math.sqrt(s / win));
  }
  return out;
}

function pearson(a: number[], b: number[]): number {
  const n = Math.min(a.length, b.length);
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i] ?? 0;
    mb += b[i] ?? 0;
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const x = (a[i] ?? 0) - ma;
    const y = (b[i] ?? 0) - mb;
    sab += x * y;
    saa += x * x;
    sbb += y * y;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : 0;
}

/** Where `received` sits in `fed` (in 20 ms windows), and how well the envelopes agree there. */
function align(received: Buffer, fed: Buffer): { lagMs: number; correlation: number } {
  const r = envelope(received);
  const f = envelope(fed);
  let best = { lagMs: 0, correlation: -1 };
  for (let lag = 0; lag + 10 <= f.length; lag++) {
    const c = pearson(r, f.slice(lag, lag + r.length));
    if (c > best.correlation) best = { lagMs: lag * 20, correlation: c };
  }
  return best;
}

/** First sample louder than −34 dBFS: where the words begin. */
function onsetMs(pcm: Buffer): number {
  for (let i = 0; i + 1 < pcm.length; i += 2)
    if (Math.abs(pcm.readInt16LE(i)) > 650) return i / BYTES_PER_MS_16K;
  throw new Error('no speech in the fixture');
}

interface Options {
  readonly device?: string;
  /** PATH for arecord (to make it missing); the rest of its environment is the rig's. */
  readonly capturePath?: string;
  /** The dev-server's wait between its last packet and tts stop (default: its burst plus 2 frames). */
  readonly ttsTailMs?: number;
  /** The dev-server's fault switches (src/devserver/faults.ts). */
  readonly faults?: DevServerFaults;
}

class AudioRig {
  readonly alsa = new AlsaRig(24000);
  readonly clock = new SystemClock();
  readonly leds: Indicator[] = [];
  readonly logs: LogLine[];
  readonly server: DevServer;
  readonly capture: AlsaCapture;
  readonly sink: TeeSink;
  readonly daemon: Daemon;
  /** Uplink PCM the dev-server decoded, per `listen start`. */
  readonly uplink: Buffer[][] = [];
  readonly captureEnv: NodeJS.ProcessEnv;
  readonly #volume: Volume;
  readonly #source: PrerollSource;

  constructor(o: Options = {}) {
    const { log, lines } = captureLogger('debug');
    this.logs = lines;
    this.server = new DevServer(
      {
        host: '127.0.0.1',
        port: 0,
        vadSilenceMs: 500,
        ...(o.ttsTailMs === undefined ? {} : { ttsTailMs: o.ttsTailMs }),
        ...(o.faults === undefined ? {} : { faults: o.faults }),
      },
      captureLogger('warn').log,
    );
    this.server.on('listen', (e) => {
      if (e.state === 'start') this.uplink.push([]);
    });
    this.server.on('audio', (e) => this.uplink.at(-1)?.push(e.pcm));
    this.captureEnv = { ...this.alsa.env, ...(o.capturePath ? { PATH: o.capturePath } : {}) };
    this.capture = new AlsaCapture({
      device: o.device ?? 'fakemic',
      restartMaxMs: 1000,
      clock: this.clock,
      random: seededRandom(5),
      log: log.child({ component: 'capture' }),
      env: this.captureEnv,
    });
    this.#volume = new Volume({ stateDir: this.alsa.dir, defaultLevel: 100, log, clock: this.clock });
    const volume = this.#volume;
    this.sink = new TeeSink(
      new AplaySink({
        device: 'fakespk',
        prebufferMs: 150,
        maxQueueMs: 300,
        clock: this.clock,
        log: log.child({ component: 'playback' }),
        env: this.alsa.env,
        gain: (pcm) => volume.apply(pcm),
      }),
    );
    const config = configSchema.parse({
      hardware: 'simulated',
      identity: { deviceId: '02:00:00:00:00:77', clientId: randomUUID() },
      conversation: { errorDisplayMs: 300 },
    });
    const source = new PrerollSource(this.capture, { name: 'alsa:test', prerollMs: 300 });
    this.#source = source;
    this.daemon = new Daemon({
      config,
      identity: { deviceId: '02:00:00:00:00:77', clientId: randomUUID() },
      credentials: new ConfigCredentialSource({
        env: () => ({}),
        initial: { url: 'ws://127.0.0.1:1/', token: '' },
        log,
        defaultPath: '/nonexistent/speakerd.json',
      }),
      // The dev-server's port is known only once it listens: the URL is taken at connect time.
      connector: (req) => wsConnector({ ...req, url: this.server.url }),
      source,
      sink: this.sink,
      micHealth: this.capture,
      leds: { render: (i) => this.leds.push(i) },
      clock: this.clock,
      random: seededRandom(9),
      log,
    });
  }

  async start(): Promise<void> {
    await this.server.start();
    await this.alsa.startSpeaker();
    await this.#volume.load();
    this.#source.open(); // the mic runs from boot, as in main.ts, so the pre-roll is full
    await this.daemon.start();
  }

  get conv(): string {
    return this.daemon.conversation.state;
  }

  /**
   * Whether a click now starts a turn that hears the words: the conversation idle, the link ready
   * AND the mic delivering. arecord opens the FIFO at boot but the feeder (a python process) may
   * write its first period seconds later on a busy CPU; a click before that becomes a turn the
   * mic's stall check ends as a fault ("no audio for 2000 ms"), which is right for the daemon and
   * wrong for the test.
   */
  get readyToTalk(): boolean {
    return (
      this.conv === 'idle' &&
      this.daemon.supervisor.state === 'ready' &&
      this.capture.lastFrameAt !== undefined &&
      this.capture.health(this.clock.now()).ok
    );
  }

  async until(what: string, pred: () => boolean, ms = 10_000): Promise<void> {
    await pollUntil(what, pred, ms, () => this.context());
  }

  /** What a timed-out wait reports: both state machines, the turns so far and the warnings. */
  context(): string {
    const turns = this.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('turn '));
    const warnings = this.logs.filter((l) => l.level >= 40).slice(-5);
    return [
      `conversation ${this.conv}, link ${this.daemon.supervisor.state}, speaker ${this.sink.inner.state}`,
      `turns: ${turns.map((l) => l.msg).join(' | ') || 'none'}`,
      `last warnings: ${warnings.map((l) => `${l.component ?? ''} ${l.msg} ${String(l.cause ?? l.err ?? '')}`).join(' | ') || 'none'}`,
    ].join('; ');
  }

  /** Click, the server hears words and answers, the reply plays; then a click ends auto listening. */
  async fullTurn(): Promise<{ uplink: Buffer; decoded: Buffer; playedFrom: number }> {
    await this.until('idle, ready and the mic delivering', () => this.readyToTalk);
    const turns = this.uplink.length;
    const streams = this.sink.streams.length;
    const playedFrom = this.alsa.played().length;
    let utterance: Buffer | undefined;
    const onUtterance = (e: { pcm: Buffer }) => {
      utterance ??= e.pcm;
    };
    this.server.on('utterance', onUtterance);
    try {
      this.daemon.input('click');
      await this.until(
        'the reply',
        () => this.sink.streams.length > streams && this.conv === 'listening',
        20_000,
      );
      this.daemon.input('click');
      await this.until('idle', () => this.conv === 'idle');
      await this.until('the speaker drained', () => this.sink.inner.state === 'idle', 5000);
    } finally {
      this.server.off('utterance', onUtterance);
    }
    assert.ok(utterance, 'the server heard an utterance');
    assert.ok(this.uplink.length > turns);
    return { uplink: utterance, decoded: Buffer.concat(this.sink.streams[streams] ?? []), playedFrom };
  }

  async close(): Promise<void> {
    await this.daemon.stop();
    await this.#volume.close();
    await this.server.stop();
    await this.alsa.close();
  }
}

let rig: AudioRig | undefined;

afterEach(async () => {
  const dir = rig?.alsa.dir;
  await rig?.close();
  rig = undefined;
  // No arecord, aplay, feeder or drain of this test's sound card may outlive the test.
  if (dir === undefined) return;
  const left = rigProcesses(dir).map((p) => `${p.pid} ${p.argv.join(' ')}`);
  assert.deepEqual(left, [], 'child processes left behind');
});

async function open(o: Options = {}): Promise<AudioRig> {
  rig = new AudioRig(o);
  await rig.start();
  return rig;
}

test('1+2. speech in → uplink envelope matches; the echoed TTS aplay played equals the decoded PCM', async (t) => {
  const r = await open();
  r.alsa.startMic(SPEECH, 0.5, 3);
  const { uplink, decoded, playedFrom } = await r.fullTurn();
  const { correlation } = align(
    uplink,
    Buffer.concat([Buffer.alloc(16000), SPEECH, Buffer.alloc(96000), SPEECH]),
  );
  t.diagnostic(`uplink envelope correlation ${correlation.toFixed(3)}; reply ${decoded.length} bytes`);
  assert.ok(correlation >= 0.9, `uplink energy envelope correlation ${correlation.toFixed(3)}`);
  assert.ok(decoded.length > 24000 * 2, `a reply of ${decoded.length} bytes`);
  const played = r.alsa.played().subarray(playedFrom, playedFrom + decoded.length);
  assert.equal(played.length, decoded.length, 'everything decoded reached the speaker');
  assert.ok(played.equals(decoded), 'bit-exact at volume 100');
});

test('3. the first syllable is not lost: the press at the speech onset, audio starts ≤ 60 ms after it', async (t) => {
  const r = await open();
  const lead = 1.5;
  r.alsa.startMic(SPEECH, lead);
  await r.until('ready', () => r.readyToTalk && r.alsa.feederStartedAt !== undefined);
  const onset = lead * 1000 + onsetMs(SPEECH);
  const start = r.alsa.feederStartedAt ?? 0;
  while (monotonicNow() < start + onset / 1000) await sleep(1);
  r.daemon.input('click'); // at the first sample of speech
  await r.until('the utterance reached the server', () => (r.uplink.at(-1)?.length ?? 0) > 40, 10_000);
  await sleep(500);
  const received = Buffer.concat(r.uplink.at(-1) ?? []);
  const fed = Buffer.concat([Buffer.alloc(Math.round(lead * 16000) * 2), SPEECH, Buffer.alloc(64000)]);
  const { lagMs, correlation } = align(received, fed);
  t.diagnostic(
    `uplink starts ${(onset - lagMs).toFixed(0)} ms before the speech onset (correlation ${correlation.toFixed(3)})`,
  );
  assert.ok(correlation > 0.8, `aligned (correlation ${correlation.toFixed(3)})`);
  assert.ok(
    lagMs <= onset + 60,
    `uplink starts at ${lagMs} ms of the mic's timeline; speech at ${onset.toFixed(0)} ms`,
  );
  r.daemon.input('click');
});

test('4. abort while speaking: the speaker gets ≤ 100 ms of audio after the click', async (t) => {
  const r = await open();
  r.alsa.startMic(SPEECH, 0.3);
  await r.until('idle, ready and the mic delivering', () => r.readyToTalk);
  r.daemon.input('click');
  await r.until('speaking', () => r.conv === 'speaking', 15_000);
  await r.until('the speaker playing', () => r.alsa.drainEvents.some((e) => e.kind === 'chunk'), 5000);
  await sleep(500);
  const abortAt = monotonicNow();
  r.daemon.input('click'); // barge-in: abort, flush, listen again
  await sleep(600);
  const after = r.alsa.drainEvents
    .filter((e) => e.kind === 'chunk' && e.at > abortAt)
    .reduce((n, e) => n + e.bytes, 0);
  t.diagnostic(`${after} bytes (${(after / 48).toFixed(0)} ms) reached the speaker after the abort`);
  assert.ok(
    after <= 4800,
    `${after} bytes (${(after / 48).toFixed(0)} ms) reached the speaker after the abort`,
  );
  assert.ok(r.logs.some((l) => /abort/.test(l.msg) || /abort/.test(String(l.reason ?? ''))));
});

async function expectMicFault(r: AudioRig, pattern: RegExp): Promise<void> {
  await r.until('the mic fault on the LEDs', () => r.daemon.indicator?.name === 'error', 8000);
  assert.ok(
    r.logs.some((l) => l.level >= 40 && l.component === 'capture' && pattern.test(JSON.stringify(l))),
    `a warning naming the cause (${pattern})`,
  );
  assert.match(r.daemon.status, /mic:/);
  // The rest of the daemon keeps running: the link gets (or stays) ready with the mic broken. It
  // runs on its own time — on a slow CPU arecord's ENOENT comes before the server's hello — so
  // wait for it instead of reading it at the moment the fault showed.
  await r.until('the link ready with the mic faulted', () => r.daemon.supervisor.state === 'ready', 10_000);
  assert.match(r.daemon.status, /mic:/, 'the mic is still reported faulted');
}

test('5a. arecord not on PATH → mic fault, no crash; back on PATH → recovers, a turn works', async () => {
  const r = await open({ capturePath: '/nonexistent' });
  await expectMicFault(r, /ENOENT|arecord/);
  r.captureEnv.PATH = process.env.PATH;
  r.alsa.startMic(SPEECH, 0.3, 2);
  await r.until('recovered', () => r.daemon.indicator?.name === 'idle', 8000);
  await r.fullTurn();
});

test('5b. unknown PCM name → fault with the ALSA line; once the PCM exists → recovers, a turn works', async () => {
  const r = await open({ device: 'latermic' });
  await expectMicFault(r, /Unknown PCM latermic/);
  r.alsa.definePcm(
    `pcm.latermic { type file slave.pcm "null" file "/dev/null" infile "${r.alsa.micFifo}" format "raw" }`,
  );
  r.alsa.startMic(SPEECH, 0.3, 2);
  await r.until('recovered', () => r.daemon.indicator?.name === 'idle', 8000);
  await r.fullTurn();
});

test('5c. the mic delivers nothing → health flagged; frames again → recovered, a turn works', async () => {
  const r = await open();
  r.alsa.startMic(SPEECH, 0.3, 2);
  await r.until('idle', () => r.conv === 'idle' && r.capture.state === 'running');
  await sleep(300);
  r.alsa.freezeMic();
  await expectMicFault(r, /no audio/);
  assert.equal(r.capture.health(r.clock.now()).ok, false);
  r.alsa.thawMic();
  await r.until('recovered', () => r.daemon.indicator?.name === 'idle', 5000);
  assert.equal(r.capture.health(r.clock.now()).ok, true);
  await r.fullTurn();
});

test('5d. aplay killed mid-utterance → speaker fault logged, error shown, then a turn works', async () => {
  const r = await open();
  r.alsa.startMic(SPEECH, 0.3, 3);
  await r.until('idle, ready and the mic delivering', () => r.readyToTalk);
  r.daemon.input('click');
  await r.until('speaking', () => r.conv === 'speaking', 15_000);
  await r.until('the speaker playing', () => r.alsa.drainEvents.some((e) => e.kind === 'chunk'), 5000);
  // This rig's aplay only: a soak on the same machine keeps its own.
  const aplays = rigProcesses(r.alsa.dir).filter((p) => /(^|\/)aplay$/.test(p.argv[0] ?? ''));
  assert.equal(aplays.length, 1, 'one aplay playing the reply');
  for (const p of aplays) process.kill(p.pid, 'SIGKILL');
  await r.until('the error shown', () => r.leds.some((i) => i.name === 'error'), 5000);
  assert.ok(
    r.logs.some((l) => l.level >= 40 && /aplay|speaker/.test(JSON.stringify(l))),
    'a clear log line',
  );
  await r.until('idle again', () => r.conv === 'idle' || r.conv === 'listening', 5000);
  if (r.conv === 'listening') r.daemon.input('click');
  await r.fullTurn();
});

test('6. auto mode: the follow-up listen start waits until aplay has played the reply out (protocol.md §6.1)', async (t) => {
  // tts stop right after the last packet, as a server that does not wait for the device: the
  // device is then its burst and pre-buffer behind, and its speaker has that much still to play.
  const r = await open({ ttsTailMs: 0 });
  // The words once, then silence: nobody speaks after the reply.
  r.alsa.startMic(SPEECH, 0.3);
  await r.until('idle, ready and the mic delivering', () => r.readyToTalk);
  let ttsStopAt: number | undefined;
  const starts: { at: number; speaker: string }[] = [];
  r.server.on('tts-stop', () => {
    ttsStopAt ??= monotonicNow();
  });
  r.server.on('listen', (e) => {
    if (e.state === 'start') starts.push({ at: monotonicNow(), speaker: r.sink.inner.state });
  });
  r.daemon.input('click');
  await r.until('listening again after the reply', () => starts.length >= 2, 20_000);
  const follow = starts[1];
  assert.ok(follow && ttsStopAt !== undefined);
  assert.equal(follow.speaker, 'idle', 'aplay had played out and exited before the mic reopened');
  const tailMs = (follow.at - ttsStopAt) * 1000;
  assert.ok(tailMs > 100, `listen start ${tailMs.toFixed(0)} ms after tts stop: the tail was waited for`);
  t.diagnostic(`follow-up listen start ${tailMs.toFixed(0)} ms after tts stop`);
  const turn = r.logs.find((l) => typeof l.msg === 'string' && /^turn click\/auto → reply/.test(l.msg));
  assert.match(turn?.msg ?? '', /tts stop \+\d+, played out \+\d+/);
  r.daemon.input('click');
  await r.until('idle', () => r.conv === 'idle');
});

test("7. the server closes 3 ms after tts stop (xinnan's farewell): the reply plays to its last sample, no phantom turn", async (t) => {
  // tts stop right after the last packet, and the close 3 ms after it (close-after-reply, as xinnan
  // after its farewell, an exit command or an exit intent: protocol.md §8.1 rows 3, 5, 6): the
  // device has its pre-buffer and queue still to play when the link goes.
  const r = await open({ ttsTailMs: 0, faults: { closeAfterReply: true } });
  // The words, and again after 2 s of silence for the ordinary turn at the end.
  r.alsa.startMic(SPEECH, 0.3, 2);
  await r.until('idle and ready', () => r.conv === 'idle' && r.daemon.supervisor.state === 'ready');
  const streams = r.sink.streams.length;
  const playedFrom = r.alsa.played().length;
  const closes: number[] = [];
  r.server.on('closed', (e) => closes.push(e.code));
  r.daemon.input('click');
  await r.until('the server closed after its reply', () => closes.length > 0, 20_000);
  const lossAt = r.daemon.supervisor.state;
  await r.until('aplay played the reply out and exited', () => r.sink.inner.state === 'idle', 5000);
  const decoded = Buffer.concat(r.sink.streams[streams] ?? []);
  // The test speaker drains its 4 KiB pipe at real-time pace: the last ≤ 85 ms arrive after aplay's exit.
  await sleep(300);
  const played = r.alsa.played().subarray(playedFrom);
  t.diagnostic(
    `reply ${decoded.length} bytes (${(decoded.length / 48).toFixed(0)} ms); the speaker played ${played.length} bytes; link at the close: ${lossAt}`,
  );
  assert.equal(closes[0], 1000);
  assert.ok(decoded.length > 24000 * 2, `a reply of ${decoded.length} bytes`);
  assert.ok(played.length >= decoded.length, `${decoded.length - played.length} bytes of the reply were cut`);
  assert.ok(played.subarray(0, decoded.length).equals(decoded), 'to its last sample, bit-exact');
  const turns = r.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('turn '));
  assert.deepEqual(
    turns.map((l) => /→ ([a-z-]+)/.exec(l.msg)?.[1]),
    ['reply'],
    `one turn, no phantom: ${turns.map((l) => l.msg).join(' | ')}`,
  );
  assert.ok(
    !r.logs.some((l) => /send-failed|listen start not sent/.test(l.msg)),
    'no refused follow-up turn',
  );
  assert.ok(
    r.logs.some((l) => /played out/.test(l.msg)),
    'the log says the reply played out',
  );
  // The link comes back by itself, and without the fault the next turn is ordinary.
  r.server.setFaults({ closeAfterReply: false });
  await r.fullTurn();
});
