/**
 * Press → first uplink frame on the wire, persistent connection (issue 3, "Measure"): the real
 * daemon composition (bench/device.ts) with the real `ws` client and the dev-server on loopback, in
 * this process so both timestamps come from one performance.now(). t0 is taken just before the
 * click is handed to the daemon; t1 when the dev-server has received (and decoded, ~0.1 ms) the
 * turn's first binary frame. Between presses a second click stops listening and the bench waits
 * until the server has seen the device end its turn (`listen stop`, or `abort` where a click that
 * cancels sends that instead) and the device is idle again, then a random 320–470 ms pause.
 *
 * Both timestamps in one process means the server reads the first frame only once the device's
 * synchronous work after sending it is done (with a pre-roll: encoding the rest of the ring), so
 * the server figure is conservative; the turn timeline's "first frame sent" is reported beside it.
 *
 * The mic is a parameter: `prerollSource` is the device path (a continuously running capture
 * behind src/audio/preroll.ts, which hands its ring over inside start()); `pcmFileSource` is the
 * simulated mic (starts its file at start() and delivers the first frame 60 ms later).
 */
import pino from 'pino';
import type { AudioSource } from '../src/audio/audio-port.js';
import { PcmSource } from '../src/audio/file-audio.js';
import { PrerollSource } from '../src/audio/preroll.js';
import { type Clock, SystemClock } from '../src/core/clock.js';
import { DevServer } from '../src/devserver/index.js';
import { composeDevice, idleAndReady, turnSpeech, waitFor, wsUrl } from './device.js';
import { percentile } from './stats.js';

export type SourceFactory = (clock: Clock) => AudioSource;

export interface LatencyOptions {
  readonly presses?: number;
  /** Presses before the measured ones (JIT, first allocations); reported separately. */
  readonly warmup?: number;
  readonly label?: string;
  readonly source?: SourceFactory;
  /** Connection config overrides (e.g. a short staleSessionMs: every press finds a stale session). */
  readonly connection?: Record<string, unknown>;
  /** Pause before each press (default 320–470 ms, longer than the pre-roll); a random 0–150 ms is added. */
  readonly pauseMs?: number;
}

export interface LatencyResult {
  readonly label: string;
  readonly presses: number;
  /** Press → first binary frame at the server, ms. */
  readonly firstFrame: { readonly p50: number; readonly p95: number; readonly max: number };
  /** Press → `listen start` at the server, ms (the JSON that precedes the audio). */
  readonly listenStartP50: number;
  /** Press → first frame handed to the socket, from the device's turn timeline, ms. */
  readonly firstSentP50: number;
  /** The very first press after start (cold), ms to its first frame. */
  readonly coldMs: number;
}

const PRESS_TIMEOUT_MS = 5000;
const PAUSE_MS = 320;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const pcmFileSource: SourceFactory = (clock) => new PcmSource('bench-mic', turnSpeech(), clock);

/** The device path: a capture that runs all the time (here the file mic, started once) behind the pre-roll. */
export const prerollSource: SourceFactory = (clock) => {
  const mic = new PcmSource('capture', turnSpeech(), clock);
  const source = new PrerollSource(
    { on: mic.on.bind(mic), off: mic.off.bind(mic), start: () => mic.start(), stop: async () => mic.stop() },
    { name: 'preroll', prerollMs: 300 },
  );
  source.open(); // the capture runs from now on and the ring fills, as in main.ts
  return source;
};

export async function measureLatency(o: LatencyOptions = {}): Promise<LatencyResult> {
  const presses = o.presses ?? 50;
  const warmup = o.warmup ?? 3;
  const clock = new SystemClock();
  const server = new DevServer(
    { host: '127.0.0.1', port: 0 },
    pino({ level: 'warn' }, pino.destination({ dest: 2, sync: true })),
  );
  const { port } = await server.start();
  const { daemon } = composeDevice({
    url: wsUrl(port),
    clock,
    source: (o.source ?? pcmFileSource)(clock),
    ...(o.connection ? { connection: o.connection } : {}),
  });

  let t0 = 0;
  let tListen: number | undefined;
  let tFrame: number | undefined;
  /** The server has seen this press's turn ended by the device. */
  let stopSeen = false;
  let onFrame: (() => void) | undefined;
  server.on('listen', (e) => {
    if (e.state === 'start') tListen ??= performance.now();
  });
  // A click while listening is a cancel: `abort`, never `listen stop` (src/conversation/gestures.ts).
  server.on('abort', () => {
    stopSeen = true;
  });
  server.on('abort', () => {
    stopSeen = true;
  });
  server.on('audio', () => {
    if (tFrame !== undefined) return;
    tFrame = performance.now();
    onFrame?.();
  });
  // The device's own view: the turn timeline's press → first frame handed to the socket.
  let sent: number | undefined;
  daemon.on('turn', (t) => {
    sent = t.milestones.firstFrameSent;
  });

  let cold = Number.NaN;
  const firstFrame: number[] = [];
  const listenStart: number[] = [];
  const firstSent: number[] = [];
  try {
    await daemon.start();
    for (let i = 0; i < warmup + presses; i++) {
      await waitFor(daemon, 'idle and ready', () => idleAndReady(daemon), 10_000);
      // A pause longer than the 300 ms pre-roll (a pre-roll source starts each press with a full
      // ring, as after any real pause), at a random phase against the heartbeat and other timers.
      await sleep((o.pauseMs ?? PAUSE_MS) + Math.random() * 150);
      tListen = undefined;
      tFrame = undefined;
      stopSeen = false;
      sent = undefined;
      const arrived = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`press ${i}: no frame within ${PRESS_TIMEOUT_MS} ms`)),
          PRESS_TIMEOUT_MS,
        );
        onFrame = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      t0 = performance.now();
      daemon.input('click');
      await arrived;
      onFrame = undefined;
      if (tFrame === undefined || tListen === undefined) throw new Error(`press ${i}: no listen start seen`);
      if (i === 0) cold = tFrame - t0;
      if (i >= warmup) {
        firstFrame.push(tFrame - t0);
        listenStart.push(tListen - t0);
      }
      daemon.input('click');
      await waitFor(daemon, 'idle after the second click', () => daemon.conversation.state === 'idle', 5000);
      if (i >= warmup && sent !== undefined) firstSent.push(sent);
      // The server's turn must be over too, or the next listen start would land in this one.
      const t = performance.now();
      while (!stopSeen) {
        if (performance.now() - t > 5000) {
          throw new Error(`press ${i}: the server never saw the turn end (listen stop or abort)`);
        }
        await sleep(2);
      }
    }
  } finally {
    await daemon.stop();
    await server.stop();
  }
  return {
    label: o.label ?? 'pcm-file',
    presses,
    firstFrame: {
      p50: percentile(firstFrame, 50),
      p95: percentile(firstFrame, 95),
      max: Math.max(...firstFrame),
    },
    listenStartP50: percentile(listenStart, 50),
    firstSentP50: percentile(firstSent, 50),
    coldMs: cold,
  };
}
