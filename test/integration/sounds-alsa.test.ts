/**
 * The prompt sounds end to end on the real-aplay test card (issue 15 "Done when"): the daemon with
 * real `arecord` and `aplay` on the ALSA rig (test-infra.md §1), the dev-server over a real
 * WebSocket, and, for activation, the real OTA client and provisioner against the dev-server's
 * OTA endpoint. What reached the speaker is read back from the rig's paced drain and the clips
 * are found in it by cross-correlation with the bank's PCM.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { AlsaCapture } from '../../src/audio/capture.js';
import { readPcmFile } from '../../src/audio/file-audio.js';
import { AplaySink } from '../../src/audio/playback.js';
import { PrerollSource } from '../../src/audio/preroll.js';
import { configSchema } from '../../src/config/schema.js';
import { SystemClock } from '../../src/core/clock.js';
import { seededRandom } from '../../src/core/random.js';
import { Daemon } from '../../src/daemon.js';
import { SPEECH_FIXTURE } from '../../src/demo.js';
import { DevServer } from '../../src/devserver/index.js';
import { OtaClient } from '../../src/provisioning/ota.js';
import { OtaCredentialSource } from '../../src/provisioning/ota-credentials.js';
import { attachProvisioning } from '../../src/provisioning/provisioning.js';
import { ConfigCredentialSource, type CredentialSource } from '../../src/session/credentials.js';
import { type Earcon, earconClip } from '../../src/sounds/clips.js';
import { loadDaemonSounds } from '../../src/sounds/daemon-sounds.js';
import type { Prompt } from '../../src/sounds/prompt-scheduler.js';
import { DEFAULT_SOUND_PACK } from '../../src/sounds/sound-bank.js';
import { wsConnector } from '../../src/transport/ws-connector.js';
import { AlsaRig, monotonicNow, rigProcesses } from '../fakes/alsa-rig.js';
import { captureLogger, type LogLine } from '../fakes/capture-logger.js';
import { findClip, spokenDigits } from '../fakes/clip-match.js';
import { pollUntil } from '../fakes/poll.js';

const RATE = 24000;
const DEVICE_ID = '02:00:00:00:00:5d';
const measured: string[] = [];

after(() => {
  for (const m of measured) console.log(`# measured: ${m}`);
});

let sounds: Awaited<ReturnType<typeof loadDaemonSounds>>;
before(async () => {
  sounds = await loadDaemonSounds(DEFAULT_SOUND_PACK, RATE);
});

interface RigOptions {
  /** Credentials from the dev-server's OTA endpoint, which asks for activation (code 418302). */
  readonly ota?: boolean;
  /** Between readings of the activation code. */
  readonly repeatMs?: number;
}

class SoundsRig {
  readonly alsa = new AlsaRig(RATE);
  readonly clock = new SystemClock();
  readonly logs: LogLine[];
  readonly capture: AlsaCapture;
  readonly sink: AplaySink;
  readonly daemon: Daemon;
  readonly prompts: { prompt: Prompt; at: number }[] = [];
  readonly #source: PrerollSource;
  readonly #ota: OtaCredentialSource | undefined;
  #provisioning: { stop(): Promise<void> } | undefined;

  /** The dev-server must listen first: its port is in the OTA URL. */
  static async create(o: RigOptions = {}): Promise<SoundsRig> {
    const server = new DevServer(
      {
        host: '127.0.0.1',
        port: 0,
        vadSilenceMs: 500,
        // A code nobody types in until the test says so (confirmActivation).
        ...(o.ota ? { ota: true, activation: { code: '418302', pendingPolls: 1_000_000 } } : {}),
      },
      captureLogger('warn').log,
    );
    await server.start();
    return new SoundsRig(server, o);
  }

  private constructor(
    public server: DevServer,
    o: RigOptions,
  ) {
    const { log, lines } = captureLogger('debug');
    this.logs = lines;
    this.capture = new AlsaCapture({
      device: 'fakemic',
      restartMaxMs: 1000,
      clock: this.clock,
      random: seededRandom(5),
      log: log.child({ component: 'capture' }),
      env: this.alsa.env,
    });
    this.sink = new AplaySink({
      device: 'fakespk',
      prebufferMs: 150,
      maxQueueMs: 300,
      clock: this.clock,
      log: log.child({ component: 'playback' }),
      env: this.alsa.env,
    });
    const clientId = randomUUID();
    const identity = { deviceId: DEVICE_ID, clientId };
    this.#ota = o.ota
      ? new OtaCredentialSource({
          client: new OtaClient({
            url: `http://127.0.0.1:${server.port}/xiaozhi/ota/`,
            identity,
            version: '0.1.0',
            boardName: 'it-sounds',
            timeoutMs: 2_000,
            wallNow: Date.now,
            log,
          }),
          identity,
          stateDir: this.alsa.dir,
          fallback: { url: '', token: '' },
          clock: this.clock,
          random: seededRandom(11),
          log: log.child({ component: 'ota' }),
          // The firmware's 3 s between polls, shortened: the test decides when the code is typed in.
          activation: { pendingDelayMs: 100, retryDelayMs: 200, maxTries: 1000 },
          retry: { baseMs: 100, capMs: 500 },
        })
      : undefined;
    const credentials: CredentialSource =
      this.#ota ??
      new ConfigCredentialSource({
        env: () => ({}),
        initial: { url: 'ws://127.0.0.1:1/', token: '' },
        log,
        defaultPath: '/nonexistent/speakerd.json',
      });
    this.#source = new PrerollSource(this.capture, { name: 'alsa:test', prerollMs: 300 });
    this.daemon = new Daemon({
      config: configSchema.parse({
        hardware: 'simulated',
        identity,
        conversation: { errorDisplayMs: 300 },
      }),
      identity,
      credentials,
      // OTA hands out the dev-server's URL; without it, the server of the moment (it may restart).
      connector: (req) => wsConnector(o.ota ? req : { ...req, url: this.server.url }),
      source: this.#source,
      sink: this.sink,
      micHealth: this.capture,
      leds: { render: () => undefined },
      clock: this.clock,
      random: seededRandom(9),
      log,
      sounds: { ...sounds, ...(o.repeatMs === undefined ? {} : { repeatMs: o.repeatMs }) },
    });
    this.daemon.sounds?.on('prompt', (prompt) => this.prompts.push({ prompt, at: monotonicNow() }));
  }

  async start(): Promise<void> {
    await this.alsa.startSpeaker();
    this.alsa.startMic(readPcmFile(SPEECH_FIXTURE).subarray(0, 16000 * 2), 0.2);
    this.#source.open();
    await this.daemon.start();
    if (this.#ota) this.#provisioning = attachProvisioning(this.#ota, this.daemon);
  }

  async until(what: string, pred: () => boolean, ms = 10_000): Promise<void> {
    await pollUntil(what, pred, ms, () => this.context());
  }

  context(): string {
    const warnings = this.logs.filter((l) => l.level >= 40).slice(-5);
    return [
      `conversation ${this.daemon.conversation.state}, link ${this.daemon.supervisor.state}, prompts ${this.daemon.sounds?.state}, speaker ${this.sink.state}`,
      `prompts: ${this.named().join(', ') || 'none'}`,
      `last warnings: ${warnings.map((l) => `${String(l.component ?? '')} ${l.msg}`).join(' | ') || 'none'}`,
    ].join('; ');
  }

  named(): string[] {
    return this.prompts.map((p) => (p.prompt.kind === 'earcon' ? p.prompt.earcon : `code ${p.prompt.code}`));
  }

  closes(): number {
    return this.alsa.drainEvents.filter((e) => e.kind === 'close').length;
  }

  /** Monotonic time of the drain's first `close` after `closesBefore` of them. */
  closedAt(closesBefore: number): number | undefined {
    return this.alsa.drainEvents.filter((e) => e.kind === 'close')[closesBefore]?.at;
  }

  /** Whether the mic delivers and the link is up: a click now is a turn. */
  get readyToTalk(): boolean {
    return (
      this.daemon.conversation.state === 'idle' &&
      this.daemon.supervisor.state === 'ready' &&
      this.capture.lastFrameAt !== undefined
    );
  }

  async close(): Promise<void> {
    await this.daemon.stop();
    await this.#provisioning?.stop();
    await this.server.stop();
    await this.alsa.close();
  }
}

let rig: SoundsRig | undefined;
afterEach(async () => {
  const dir = rig?.alsa.dir;
  await rig?.close();
  rig = undefined;
  if (dir === undefined) return;
  assert.deepEqual(
    rigProcesses(dir).map((p) => `${p.pid} ${p.argv.join(' ')}`),
    [],
    'child processes left behind',
  );
});

/** Bytes the drain took from the speaker's FIFO after monotonic time `t`. */
function playedSince(r: SoundsRig, t: number): number {
  return r.alsa.drainEvents.filter((e) => e.kind === 'chunk' && e.at >= t).reduce((n, e) => n + e.bytes, 0);
}

test('a fresh device in activation speaks its code at the speaker, digits in order; it stops once activated', async () => {
  rig = await SoundsRig.create({ ota: true, repeatMs: 1000 });
  const r = rig;
  await r.start();
  await r.until('activating', () => r.daemon.conversation.state === 'activating');
  // The first reading, played out (aplay closes the speaker after its last period).
  await r.until('the first reading handed to the speaker', () => r.prompts.length >= 1);
  await r.until('the first reading played out', () => r.closes() >= 1);
  const first = r.alsa.played();
  const heard = spokenDigits(first, sounds.bank, 'zh');
  assert.equal(heard.digits, '418302', `digits matched at the speaker (scores ${heard.scores.join(', ')})`);
  measured.push(
    `activation code at the speaker: ${heard.digits} matched by cross-correlation, scores ${Math.min(...heard.scores).toFixed(4)}–${Math.max(...heard.scores).toFixed(4)}`,
  );

  // The second reading, repeated after repeatMs; the owner types the code in while it plays.
  await r.until('the second reading', () => r.prompts.length >= 2);
  const second = r.prompts[1];
  assert.ok(second);
  assert.deepEqual(second.prompt, { kind: 'code', code: '418302' });
  await r.until('a second of the second reading at the speaker', () => playedSince(r, second.at) >= RATE * 2);
  const confirmedAt = monotonicNow();
  r.server.confirmActivation(DEVICE_ID);
  await r.until('activation over', () => r.daemon.conversation.state !== 'activating', 5_000);
  await r.until('the speaker silenced', () => r.closes() >= 2, 5_000);
  const cutMs = ((r.closedAt(1) ?? Number.NaN) - confirmedAt) * 1000;
  const fullReading = first.length;
  const secondBytes = r.alsa.played().length - fullReading;
  assert.ok(
    secondBytes < fullReading * 0.9,
    `the second reading was cut (${secondBytes} of ${fullReading} bytes)`,
  );
  measured.push(
    `activation confirmed → the reading silenced at the speaker: ${cutMs.toFixed(0)} ms (poll every 100 ms)`,
  );
  // Nothing more: no reading after repeatMs, and the device goes online with OTA's credentials.
  const opens = r.alsa.drainEvents.filter((e) => e.kind === 'open').length;
  await sleep(1_500);
  assert.equal(r.prompts.length, 2, `no prompt after activation: ${r.named().join(', ')}`);
  assert.equal(r.alsa.drainEvents.filter((e) => e.kind === 'open').length, opens, 'aplay not started again');
  await r.until('online', () => r.daemon.supervisor.state === 'ready', 5_000);
});

test('earcons at the speaker: a click → listening; a click with the server down → link-down; back → the held turn chimes listening', async () => {
  rig = await SoundsRig.create();
  const r = rig;
  await r.start();
  await r.until('ready to talk', () => r.readyToTalk);
  const listenStarts: number[] = [];
  const onListen = (e: { state: string }) => {
    if (e.state === 'start') listenStarts.push(monotonicNow());
  };
  r.server.on('listen', onListen);
  const heardAt = async (earcon: Earcon, closesBefore: number, playedFrom: number) => {
    await r.until(`the ${earcon} earcon played out`, () => r.closes() > closesBefore);
    const clip = sounds.bank.get(earconClip(earcon)).pcm;
    const found = findClip(r.alsa.played().subarray(playedFrom), clip, RATE);
    assert.ok(found.score > 0.99, `${earcon} at the speaker: correlation ${found.score.toFixed(4)}`);
    return found;
  };

  // A click: the turn starts and the listening chime reaches the speaker.
  let closes = r.closes();
  let from = r.alsa.played().length;
  const clickAt = monotonicNow();
  r.daemon.input('click');
  assert.equal(r.daemon.conversation.state, 'listening');
  await heardAt('listening', closes, from);
  const firstChunk = r.alsa.drainEvents.find((e) => e.kind === 'chunk' && e.at >= clickAt);
  assert.ok(firstChunk);
  measured.push(
    `click → listening earcon at the speaker: ${((firstChunk.at - clickAt) * 1000).toFixed(0)} ms`,
  );
  await r.until('the server got the listen start', () => listenStarts.length === 1);
  r.daemon.input('click'); // cancel
  await r.until('idle', () => r.daemon.conversation.state === 'idle');

  // The server goes away; a click needs the link: link-down at once, the turn held.
  const port = r.server.port;
  await r.server.stop();
  await r.until('the link down', () => r.daemon.supervisor.state === 'backoff');
  closes = r.closes();
  from = r.alsa.played().length;
  r.daemon.input('click');
  assert.equal(r.daemon.conversation.state, 'connecting');
  await heardAt('link-down', closes, from);

  // Back: the held turn starts, and its listening chime says so (not "reconnected").
  closes = r.closes();
  from = r.alsa.played().length;
  r.server = new DevServer({ host: '127.0.0.1', port, vadSilenceMs: 500 }, captureLogger('warn').log);
  r.server.on('listen', onListen);
  await r.server.start();
  await r.until('listening again', () => r.daemon.conversation.state === 'listening', 10_000);
  await heardAt('listening', closes, from);
  assert.deepEqual(r.named(), ['listening', 'link-down', 'listening']);
  await r.until('the held turn reached the server', () => listenStarts.length === 2);
});
