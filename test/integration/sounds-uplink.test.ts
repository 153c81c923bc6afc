/**
 * What of the device's own listening chime reaches the server (issue 15 §1: "measure what reaches
 * the uplink"). The daemon runs for real (conversation, Opus, the `ws` client, the dev-server,
 * which decodes every uplink packet); the room is simulated: whatever the daemon plays comes back
 * into the microphone `LATENCY_MS` later at `ROOM_GAIN`, resampled to the mic's 16 kHz, over room
 * noise. A click followed by silence (the worst case: nothing masks the chime) is run with the
 * uplink gate and without it, and the chime's energy in what the server received is compared.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { after, before, test } from 'node:test';
import {
  type AudioSink,
  type AudioSinkEvents,
  type AudioSource,
  type AudioSourceEvents,
  CAPTURE_RATE,
  FRAME_MS,
  FRAME_SAMPLES,
} from '../../src/audio/audio-port.js';
import { configSchema } from '../../src/config/schema.js';
import { type Clock, SystemClock, type TimerHandle } from '../../src/core/clock.js';
import { seededRandom } from '../../src/core/random.js';
import { Daemon } from '../../src/daemon.js';
import { DevServer } from '../../src/devserver/index.js';
import { ConfigCredentialSource } from '../../src/session/credentials.js';
import { loadDaemonSounds } from '../../src/sounds/daemon-sounds.js';
import { DEFAULT_SOUND_PACK } from '../../src/sounds/sound-bank.js';
import { wsConnector } from '../../src/transport/ws-connector.js';
import { captureLogger } from '../fakes/capture-logger.js';
import { pollUntil } from '../fakes/poll.js';

/** Speaker → mic: aplay's start plus the period arecord hands over (the rig measured 40–110 ms). */
const LATENCY_MS = 70;
/** The chime at the mic relative to what was played (a small speaker a few cm from the mic). */
const ROOM_GAIN = 0.5;
/** Room noise, uniform ±NOISE: RMS NOISE/√3 ≈ −50 dBFS. */
const NOISE = 0.0055;
/** The room's memory: 30 s of mic samples, more than one run takes. */
const ROOM_SAMPLES = 30 * CAPTURE_RATE;

const measured: string[] = [];
after(() => {
  for (const m of measured) console.log(`# measured: ${m}`);
});

let sounds: Awaited<ReturnType<typeof loadDaemonSounds>>;
before(async () => {
  sounds = await loadDaemonSounds(DEFAULT_SOUND_PACK, 24000);
});

/**
 * The room: a speaker (AudioSink) whose audio the mic (AudioSource) hears. The mic delivers a 60 ms
 * frame every 60 ms from `open()` on (paced against its start, like PcmSource) and hands frames on
 * only while started; a write lands in the mic's timeline at its wall time plus LATENCY_MS.
 */
class Room {
  readonly #clock: Clock;
  readonly #heard = new Float32Array(ROOM_SAMPLES);
  readonly #random = seededRandom(3);
  #t0 = 0;
  #frame = 0;
  #timer: TimerHandle | undefined;
  readonly speaker: RoomSpeaker;
  readonly mic: RoomMic;

  constructor(clock: Clock) {
    this.#clock = clock;
    this.speaker = new RoomSpeaker(this);
    this.mic = new RoomMic();
  }

  open(): void {
    this.#t0 = this.#clock.now();
    this.#schedule();
  }

  close(): void {
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Mic sample index of "now" plus the room's latency. */
  landing(): number {
    return Math.round(((this.#clock.now() - this.#t0 + LATENCY_MS) / 1000) * CAPTURE_RATE);
  }

  /** Adds `pcm` (mono S16 at `rate`) to what the mic hears from sample `at`, resampled linearly. */
  hear(pcm: Buffer, rate: number, at: number): number {
    const n = pcm.length >> 1;
    const out = Math.floor((n * CAPTURE_RATE) / rate);
    for (let j = 0; j < out && at + j < ROOM_SAMPLES; j++) {
      const pos = (j * rate) / CAPTURE_RATE;
      const i = Math.floor(pos);
      const f = pos - i;
      const a = pcm.readInt16LE(Math.min(i, n - 1) * 2) / 32768;
      const b = pcm.readInt16LE(Math.min(i + 1, n - 1) * 2) / 32768;
      this.#heard[at + j] = (this.#heard[at + j] ?? 0) + ROOM_GAIN * (a + (b - a) * f);
    }
    return out;
  }

  #schedule(): void {
    const due = this.#t0 + (this.#frame + 1) * FRAME_MS;
    this.#timer = this.#clock.setTimeout(() => this.#tick(), due - this.#clock.now());
  }

  #tick(): void {
    const frame = Buffer.alloc(FRAME_SAMPLES * 2);
    const base = this.#frame * FRAME_SAMPLES;
    for (let i = 0; i < FRAME_SAMPLES; i++) {
      const v = (this.#heard[base + i] ?? 0) + (this.#random() * 2 - 1) * NOISE;
      frame.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(v * 32768))), i * 2);
    }
    this.#frame++;
    this.mic.deliver(frame);
    if (base + FRAME_SAMPLES < ROOM_SAMPLES) this.#schedule();
  }
}

class RoomMic extends EventEmitter<AudioSourceEvents> implements AudioSource {
  readonly name = 'room-mic';
  #state: 'stopped' | 'running' = 'stopped';
  start(): void {
    this.#state = 'running';
  }
  stop(): void {
    this.#state = 'stopped';
  }
  async close(): Promise<void> {
    this.#state = 'stopped';
  }
  deliver(frame: Buffer): void {
    if (this.#state === 'running') this.emit('frame', frame);
  }
}

class RoomSpeaker extends EventEmitter<AudioSinkEvents> implements AudioSink {
  readonly name = 'room-speaker';
  #state: 'closed' | 'open' = 'closed';
  #rate = 24000;
  /** Next mic sample the current stream plays into. */
  #at = 0;
  constructor(private readonly room: Room) {
    super();
  }
  begin(rate: number): void {
    this.#state = 'open';
    this.#rate = rate;
    this.#at = this.room.landing();
  }
  write(pcm: Buffer): void {
    if (this.#state !== 'open') return;
    this.#at += this.room.hear(pcm, this.#rate, this.#at);
  }
  end(): void {
    if (this.#state !== 'open') return;
    this.#state = 'closed';
    queueMicrotask(() => this.emit('drained'));
  }
  abort(): void {
    this.#state = 'closed';
  }
  async close(): Promise<void> {
    this.#state = 'closed';
  }
}

/**
 * The chime's part of `uplink` (16 kHz S16): at the lag where the chime (as the mic hears it, at
 * ROOM_GAIN) best matches within the first `ms`, the least-squares amplitude of the chime there,
 * as the RMS level (dBFS) of that component over the chime's length, with the normalized
 * correlation. Room noise projects onto the chime only weakly, so a gated uplink reads far below
 * an ungated one.
 */
function chimeIn(uplink: Buffer, chime: Buffer, ms: number): { dbfs: number; ncc: number } {
  const x = new Float64Array(Math.min(uplink.length >> 1, Math.round((ms * CAPTURE_RATE) / 1000)));
  for (let i = 0; i < x.length; i++) x[i] = uplink.readInt16LE(i * 2) / 32768;
  const c = new Float64Array(chime.length >> 1);
  for (let i = 0; i < c.length; i++) c[i] = chime.readInt16LE(i * 2) / 32768;
  let ec = 0;
  for (const v of c) ec += v * v;
  let best = { dot: 0, ncc: 0 };
  for (let p = 0; p + c.length <= x.length; p++) {
    let dot = 0;
    let ex = 0;
    for (let i = 0; i < c.length; i++) {
      const v = x[p + i] ?? 0;
      dot += v * (c[i] ?? 0);
      ex += v * v;
    }
    const ncc = ex > 0 ? dot / Math.sqrt(ex * ec) : 0;
    if (Math.abs(dot) > Math.abs(best.dot)) best = { dot, ncc };
  }
  // a = dot / Σc²: the chime's amplitude in the uplink; its energy a²·Σc² over c.length samples.
  const a = best.dot / ec;
  const ms2 = (a * a * ec) / c.length;
  return { dbfs: ms2 > 0 ? 10 * Math.log10(ms2) : Number.NEGATIVE_INFINITY, ncc: best.ncc };
}

/**
 * One click in the room, then 1.2 s of silence; returns the uplink the server decoded for the turn
 * and the gate's verdict.
 */
async function clickInRoom(gate: boolean): Promise<{ uplink: Buffer; found: number }> {
  const clock = new SystemClock();
  const { log } = captureLogger('warn');
  const server = new DevServer({ host: '127.0.0.1', port: 0, vadSilenceMs: 5_000 }, log);
  await server.start();
  const room = new Room(clock);
  const clientId = randomUUID();
  const daemon = new Daemon({
    config: configSchema.parse({
      hardware: 'simulated',
      identity: { deviceId: '02:00:00:00:00:5e', clientId },
    }),
    identity: { deviceId: '02:00:00:00:00:5e', clientId },
    credentials: new ConfigCredentialSource({
      env: () => ({}),
      initial: { url: server.url, token: '' },
      log,
      defaultPath: '/nonexistent/speakerd.json',
    }),
    connector: wsConnector,
    source: room.mic,
    sink: room.speaker,
    leds: { render: () => undefined },
    clock,
    random: seededRandom(4),
    log,
    sounds: gate ? sounds : { bank: sounds.bank },
  });
  const uplink: Buffer[] = [];
  server.on('audio', (e) => uplink.push(e.pcm));
  room.open();
  await daemon.start();
  try {
    await pollUntil(
      'ready',
      () => daemon.conversation.state === 'idle',
      5_000,
      () => daemon.status,
    );
    // Let the pre-roll-free room mic run a moment: the frames before the click are not the turn's.
    await new Promise((r) => setTimeout(r, 200));
    daemon.input('click');
    await new Promise((r) => setTimeout(r, 1_200));
    daemon.input('click');
    await pollUntil(
      'idle',
      () => daemon.conversation.state === 'idle',
      5_000,
      () => daemon.status,
    );
    // The last packets in flight.
    await new Promise((r) => setTimeout(r, 100));
  } finally {
    await daemon.stop();
    room.close();
    await server.stop();
  }
  return { uplink: Buffer.concat(uplink), found: daemon.sounds?.uplinkFound ?? 0 };
}

test('the listening chime in the uplink: measured with and without the gate', async () => {
  const without = await clickInRoom(false);
  const withGate = await clickInRoom(true);
  assert.ok(without.uplink.length > CAPTURE_RATE * 2, 'the server got the turn (no gate)');
  assert.ok(withGate.uplink.length > CAPTURE_RATE * 2, 'the server got the turn (gate)');
  assert.equal(withGate.found, 1, 'the gate found the chime once');
  // The chime lies in the first few hundred ms of the turn (the pre-roll is empty in this room).
  const a = chimeIn(without.uplink, sounds.uplinkChime, 800);
  const b = chimeIn(withGate.uplink, sounds.uplinkChime, 800);
  const played = chimeIn(sounds.uplinkChime, sounds.uplinkChime, 100);
  measured.push(
    `listening chime in the uplink (click then silence, room gain ${ROOM_GAIN}, ${LATENCY_MS} ms, noise −50 dBFS): without the gate ${a.dbfs.toFixed(1)} dBFS (correlation ${a.ncc.toFixed(2)}), with it ${b.dbfs.toFixed(1)} dBFS (correlation ${b.ncc.toFixed(2)}): ${(a.dbfs - b.dbfs).toFixed(1)} dB less; the chime as played ${played.dbfs.toFixed(1)} dBFS`,
  );
  assert.ok(a.ncc > 0.8, 'without the gate the server gets the chime');
  assert.ok(a.dbfs - b.dbfs >= 20, 'the gate keeps the chime out of the uplink');
});
