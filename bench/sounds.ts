/**
 * The sounds' costs at the press (issue 15 §1 "Measure"), one process, the dev-server in-process on
 * loopback, the device path's mic (a continuous capture behind the 300 ms pre-roll, bench/latency.ts):
 *  - press → listening earcon audible at the test speaker: the daemon with its sounds and a real
 *    AplaySink on the fake sound card (test/fakes/alsa-rig.ts: real `aplay`, the file plugin on a
 *    FIFO, a drain that reads it at real-time pace, 24 kHz). t0 just before the click is handed to
 *    the daemon, t1 the drain's CLOCK_MONOTONIC stamp of the first chunk it read from aplay.
 *  - press → first frame, sounds off vs on: two devices on the same dev-server, pressed in turn
 *    (on, off, on, off…), so both see the same machine load. "On" has the sounds and the same real
 *    aplay speaker: its listening chime is spawned on the tick after the press. Reported at the
 *    server (which, in this process, reads the frame only once the device's synchronous work after
 *    the press — including the next tick's aplay spawn — is done: conservative) and as the turn
 *    timeline's "first frame handed to the socket".
 */
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import type { AudioSink } from '../src/audio/audio-port.js';
import { NullSink } from '../src/audio/file-audio.js';
import { AplaySink } from '../src/audio/playback.js';
import { configSchema } from '../src/config/schema.js';
import { SystemClock } from '../src/core/clock.js';
import { systemRandom } from '../src/core/random.js';
import { Daemon } from '../src/daemon.js';
import { DevServer } from '../src/devserver/index.js';
import { loadDaemonSounds } from '../src/sounds/daemon-sounds.js';
import { DEFAULT_SOUND_PACK } from '../src/sounds/sound-bank.js';
import { wsConnector } from '../src/transport/ws-connector.js';
import { AlsaRig, monotonicNow } from '../test/fakes/alsa-rig.js';
import { deviceLogger, fixedCredentials, idleAndReady, waitFor, wsUrl } from './device.js';
import { prerollSource } from './latency.js';
import { alsaMissing } from './speakerd-child.js';
import { percentile, Skipped } from './stats.js';

export interface SoundsOptions {
  /** Measured presses of each kind (earcon, and each of off/on). */
  readonly presses: number;
  readonly warmup: number;
}

export interface Spread {
  readonly p50: number;
  readonly p95: number;
  readonly max: number;
}

export interface SoundsResult {
  readonly presses: number;
  /** Press → the listening earcon's first audio read from the speaker, ms. */
  readonly earcon: Spread;
  /** Press → first frame at the dev-server, sounds off / on, ms. */
  readonly frameOff: Spread;
  readonly frameOn: Spread;
  /** Press → first frame handed to the socket (turn timeline), p50, sounds off / on, ms. */
  readonly sentOffP50: number;
  readonly sentOnP50: number;
}

const PAUSE_MS = 320;
const RATE = 24000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function spread(xs: readonly number[]): Spread {
  return { p50: percentile(xs, 50), p95: percentile(xs, 95), max: Math.max(...xs) };
}

export async function measureSounds(o: SoundsOptions): Promise<SoundsResult> {
  const missing = await alsaMissing();
  if (missing !== undefined) throw new Skipped(missing);
  const clock = new SystemClock();
  const server = new DevServer(
    { host: '127.0.0.1', port: 0 },
    pino({ level: 'warn' }, pino.destination({ dest: 2, sync: true })),
  );
  const { port } = await server.start();
  const rig = new AlsaRig(RATE);
  const sounds = await loadDaemonSounds(DEFAULT_SOUND_PACK, RATE);
  const device = (deviceId: string, sink: AudioSink, withSounds: boolean): Daemon => {
    const clientId = randomUUID();
    return new Daemon({
      config: configSchema.parse({
        server: { websocketUrl: wsUrl(port) },
        hardware: 'simulated',
        identity: { deviceId, clientId },
        stateDir: '/nonexistent',
      }),
      identity: { deviceId, clientId },
      credentials: fixedCredentials(wsUrl(port)),
      connector: wsConnector,
      source: prerollSource(clock),
      sink,
      leds: { render: () => undefined },
      clock,
      random: systemRandom,
      log: deviceLogger(),
      ...(withSounds ? { sounds } : {}),
    });
  };
  const speaker = new AplaySink({
    device: 'fakespk',
    prebufferMs: 150,
    maxQueueMs: 300,
    clock,
    log: deviceLogger(),
    env: rig.env,
  });
  const ON_ID = '02:00:00:00:00:c1';
  const on = device(ON_ID, speaker, true);
  const off = device('02:00:00:00:00:c0', new NullSink(), false);

  // Which daemon a server session belongs to: the first frame after its listen start.
  const sessions = new Map<string, Daemon>();
  server.on('connection', (e) => {
    sessions.set(e.sessionId, e.deviceId === ON_ID ? on : off);
  });
  let pressed: Daemon | undefined;
  let tFrame: number | undefined;
  let onFrame: (() => void) | undefined;
  server.on('audio', (e) => {
    if (tFrame !== undefined || pressed === undefined || sessions.get(e.sessionId) !== pressed) return;
    tFrame = performance.now();
    onFrame?.();
  });
  let sent: number | undefined;
  for (const d of [on, off]) d.on('turn', (t) => (sent = t.milestones.firstFrameSent));

  /** One press on `d`: press → first frame at the server, and → the first chunk at the speaker. */
  const press = async (d: Daemon, i: number): Promise<{ frame: number; earcon?: number; sent?: number }> => {
    await waitFor(d, 'idle and ready', () => idleAndReady(d), 10_000);
    await sleep(PAUSE_MS + Math.random() * 150);
    const closes = rig.drainEvents.filter((e) => e.kind === 'close').length;
    pressed = d;
    tFrame = undefined;
    sent = undefined;
    const arrived = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`press ${i}: no frame within 5 s`)), 5000);
      onFrame = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    const m0 = monotonicNow();
    const t0 = performance.now();
    d.input('click');
    await arrived;
    onFrame = undefined;
    const frame = (tFrame ?? Number.NaN) - t0;
    let earcon: number | undefined;
    if (d === on) {
      // The chime's aplay closes the FIFO after its last period: then the drain has stamped it all.
      const t = performance.now();
      while (rig.drainEvents.filter((e) => e.kind === 'close').length <= closes) {
        if (performance.now() - t > 5000) throw new Error(`press ${i}: the earcon never reached the speaker`);
        await sleep(5);
      }
      const first = rig.drainEvents.find((e) => e.kind === 'chunk' && e.at >= m0);
      if (first === undefined) throw new Error(`press ${i}: no audio at the speaker`);
      earcon = (first.at - m0) * 1000;
    }
    d.input('click');
    await waitFor(d, 'idle after the second click', () => d.conversation.state === 'idle', 5000);
    return { frame, ...(earcon === undefined ? {} : { earcon }), ...(sent === undefined ? {} : { sent }) };
  };

  const earcons: number[] = [];
  const frames = { on: [] as number[], off: [] as number[] };
  const sents = { on: [] as number[], off: [] as number[] };
  try {
    await rig.startSpeaker();
    await on.start();
    await off.start();
    for (let i = 0; i < o.warmup + o.presses; i++) {
      // Alternate which goes first, so neither always follows the other's aplay.
      const order: ['on' | 'off', Daemon][] =
        i % 2 === 0
          ? [
              ['on', on],
              ['off', off],
            ]
          : [
              ['off', off],
              ['on', on],
            ];
      for (const [name, d] of order) {
        const r = await press(d, i);
        if (i < o.warmup) continue;
        frames[name].push(r.frame);
        if (r.sent !== undefined) sents[name].push(r.sent);
        if (r.earcon !== undefined) earcons.push(r.earcon);
      }
    }
  } finally {
    await on.stop();
    await off.stop();
    await server.stop();
    await rig.close();
  }
  return {
    presses: o.presses,
    earcon: spread(earcons),
    frameOff: spread(frames.off),
    frameOn: spread(frames.on),
    sentOffP50: percentile(sents.off, 50),
    sentOnP50: percentile(sents.on, 50),
  };
}

export function formatSounds(r: SoundsResult): string[] {
  const f = (s: Spread) =>
    `p50 ${s.p50.toFixed(1)} ms, p95 ${s.p95.toFixed(1)} ms, max ${s.max.toFixed(1)} ms`;
  return [
    `SOUNDS   press → listening earcon audible at the test speaker (real aplay, paced fake card), ${r.presses} presses`,
    `         ${f(r.earcon)}`,
    `         press → first frame at the dev-server, interleaved presses, device path (300 ms pre-roll):`,
    `           sounds off  ${f(r.frameOff)}   (handed to the socket: p50 ${r.sentOffP50.toFixed(1)} ms)`,
    `           sounds on   ${f(r.frameOn)}   (handed to the socket: p50 ${r.sentOnP50.toFixed(1)} ms)`,
  ];
}
