/**
 * The wake word on the real daemon (issue 14, "Benchmarks"): the real `speakerd run` with its
 * arecord on the fake sound card (test/fakes/alsa-rig.ts: a paced FIFO feeder, real time), the
 * wake word on with openWakeWord's alexa model, the dev-server in this process.
 *
 *  - latency: the mic plays a cycle — room noise, alexa_test.wav (openWakeWord's own test clip,
 *    test/fixtures/wakeword), room noise — over and over. The end of the wake word in the mic stream
 *    is the feeder's start (its `started` line, CLOCK_MONOTONIC) + the cycle's offset + the clip's
 *    last sounding sample, on the feeder's real-time axis; the dev-server's `listen detect` event
 *    is taken with the same clock. p50/p95 of detect − end, persistent connection and on-demand
 *    (the detection opens the connection first). The feeder writes each 4000-byte period when it
 *    starts, so arecord may have a sample up to one period (125 ms) before a real card would
 *    deliver it: the figure is the daemon's part; a real card adds its period.
 *  - idle: two daemons side by side, each on its own fake card playing the same talkative room
 *    (the speech fixture, 1 s of silence, again: never a wake word), one with the wake word on and
 *    one without; CPU of each process tree from /proc over the same window after a warm-up (% of
 *    one core) and VmRSS of each daemon at the end.
 *
 * Needs the daemon's wake-word wiring (issue 14: src/wakeword/detector.ts, conversation/wake.ts)
 * and the dev-server's `listen detect` (it emits 'listen' with state 'detect' already).
 *
 *   node dist/bench/wakeword-device.js [--cycles 20] [--idle-window 20] [--short]
 */
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { activeRms, pinkNoise, toS16 } from '../scripts/wake-corpus.js';
import { readPcmFile } from '../src/audio/file-audio.js';
import { seededRandom } from '../src/core/random.js';
import { DevServer } from '../src/devserver/index.js';
import { parseWav16kMono } from '../src/wakeword/wav.js';
import { AlsaRig, monotonicNow } from '../test/fakes/alsa-rig.js';
import { SPEECH_FILE, wsUrl } from './device.js';
import { treeCpu } from './proc.js';
import { alsaMissing, monoMs, scratchDir, spawnSpeakerd, writeBenchConfig } from './speakerd-child.js';
import { percentile, Skipped } from './stats.js';
import { MODEL_DIR } from './wakeword-cpu.js';

const RATE = 16_000;
export const WAKE_CLIP = fileURLToPath(
  new URL('../../test/fixtures/wakeword/alexa_test.wav', import.meta.url),
);
/** The clip's place in its cycle, and the cycle: long enough for the turn a detection starts to end. */
const CLIP_AT_S = 2;
/** Room noise 30 dB below the clip's active level: a live mic, never digital silence. */
const BED_BELOW = 31.622776601683793;

export interface LatencyRun {
  readonly mode: 'persistent' | 'on-demand';
  readonly cycles: number;
  readonly detections: number;
  /** detect − end of the wake word, ms, one per matched cycle. */
  readonly latenciesMs: readonly number[];
  readonly p50: number;
  readonly p95: number;
  readonly max: number;
}

export interface IdleWakeResult {
  readonly windowS: number;
  readonly warmupS: number;
  /** % of one core, the daemon and its arecord. */
  readonly onPct: number;
  readonly offPct: number;
  readonly onRss: number;
  readonly offRss: number;
}

/** The last sample louder than −40 dBFS: where the wake word ends in the clip. */
export function soundEnd(pcm: Int16Array, level = 328): number {
  for (let i = pcm.length - 1; i >= 0; i--) if (Math.abs(pcm[i] ?? 0) > level) return i + 1;
  return 0;
}

/** One cycle of the latency mic: pink room noise, the clip at CLIP_AT_S, more noise; s16 LE bytes. */
export function latencyCycle(clip: Int16Array, cycleS: number): { pcm: Buffer; endS: number } {
  const n = Math.round(cycleS * RATE);
  const at = CLIP_AT_S * RATE;
  if (at + clip.length > n)
    throw new RangeError(`a ${cycleS} s cycle cannot hold the clip at ${CLIP_AT_S} s`);
  const x = new Float64Array(n);
  for (let i = 0; i < clip.length; i++) x[at + i] = (clip[i] ?? 0) / 32768;
  const bed = pinkNoise(seededRandom(14), n);
  const gain = activeRms(x) / BED_BELOW;
  for (let i = 0; i < n; i++) x[i] = (x[i] ?? 0) + (bed[i] ?? 0) * gain;
  const s16 = toS16(x);
  return { pcm: Buffer.from(s16.buffer, s16.byteOffset, s16.byteLength), endS: (at + soundEnd(clip)) / RATE };
}

/**
 * Pairs each detection with the wake word it answers: the latest end at or before it, if that end
 * is at most `maxS` earlier and not already answered (a second detect of one clip is not a sample).
 */
export function matchDetections(ends: readonly number[], detects: readonly number[], maxS: number): number[] {
  const used = new Set<number>();
  const out: number[] = [];
  for (const d of detects) {
    let best = -1;
    for (const [i, e] of ends.entries()) if (e <= d && d - e <= maxS) best = i;
    if (best < 0 || used.has(best)) continue;
    used.add(best);
    out.push((d - (ends[best] ?? d)) * 1000);
  }
  return out;
}

function wakeConfig(mode: 'persistent' | 'on-demand', on: boolean): Record<string, unknown> {
  return {
    audio: { captureDevice: 'fakemic', playbackDevice: 'fakespk' },
    connection: { mode },
    wakeWord: on
      ? {
          enabled: true,
          featureModelDir: MODEL_DIR,
          models: [{ path: `${MODEL_DIR}/alexa_v0.1.onnx`, phrase: 'alexa', threshold: 0.5 }],
        }
      : { enabled: false },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function withServer<T>(f: (server: DevServer, port: number) => Promise<T>): Promise<T> {
  const server = new DevServer(
    { host: '127.0.0.1', port: 0, vadSilenceMs: 400 },
    pino({ level: 'warn' }, pino.destination({ dest: 2, sync: true })),
  );
  const { port } = await server.start();
  try {
    return await f(server, port);
  } finally {
    await server.stop();
  }
}

export async function measureWakeLatency(
  mode: 'persistent' | 'on-demand',
  cycles: number,
  cycleS = 8,
): Promise<LatencyRun> {
  const missing = await alsaMissing();
  if (missing) throw new Skipped(missing);
  const clip = parseWav16kMono(readFileSync(WAKE_CLIP), WAKE_CLIP);
  const { pcm, endS } = latencyCycle(clip, cycleS);
  return withServer(async (server, port) => {
    const detects: number[] = [];
    server.on('listen', (e) => {
      if (e.state === 'detect') detects.push(monotonicNow());
    });
    const dir = scratchDir(`wake-latency-${mode}`);
    const rig = new AlsaRig();
    let daemon: ReturnType<typeof spawnSpeakerd> | undefined;
    try {
      await rig.startSpeaker();
      rig.startMic(pcm, 0, 0);
      daemon = spawnSpeakerd(['run'], {
        ...rig.env,
        SPEAKERD_CONFIG: writeBenchConfig(dir, `wake-${mode}`, wakeConfig(mode, true)),
        SPEAKERD_SERVER_URL: wsUrl(port),
      });
      // The feeder starts when arecord opens the FIFO; the first cycle may pass while the models load.
      const deadline = monoMs() + (cycles + 3) * cycleS * 1000 + 15_000;
      while (detects.length < cycles && monoMs() < deadline) {
        if (daemon.pid < 0) break;
        await sleep(200);
      }
      const t0 = rig.feederStartedAt;
      if (t0 === undefined) throw new Error(`the mic never started: ${daemon.output().slice(-600)}`);
      const last = Math.ceil((monotonicNow() - t0) / cycleS) + 1;
      const ends = Array.from({ length: last }, (_, k) => t0 + k * cycleS + endS);
      const latenciesMs = matchDetections(ends, detects, 2);
      if (latenciesMs.length === 0)
        throw new Error(
          `no listen detect matched a wake word (${detects.length} detects): ${daemon.output().slice(-800)}`,
        );
      return {
        mode,
        cycles,
        detections: detects.length,
        latenciesMs,
        p50: percentile(latenciesMs, 50),
        p95: percentile(latenciesMs, 95),
        max: Math.max(...latenciesMs),
      };
    } finally {
      await daemon?.stop();
      await rig.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? Number.NaN) * 1024;
}

export async function measureWakeIdle(o: { windowS: number; warmupS: number }): Promise<IdleWakeResult> {
  const missing = await alsaMissing();
  if (missing) throw new Skipped(missing);
  const speech = readPcmFile(SPEECH_FILE);
  return withServer(async (_server, port) => {
    const dir = scratchDir('wake-idle');
    const rigs = [new AlsaRig(), new AlsaRig()];
    const daemons: ReturnType<typeof spawnSpeakerd>[] = [];
    try {
      for (const [i, rig] of rigs.entries()) {
        const on = i === 0;
        await rig.startSpeaker();
        rig.startMic(speech, 0, 1);
        daemons.push(
          spawnSpeakerd(['run'], {
            ...rig.env,
            SPEAKERD_CONFIG: writeBenchConfig(dir, on ? 'wake-on' : 'wake-off', {
              ...wakeConfig('persistent', on),
              // Two devices, not one that connects twice.
              identity: on
                ? { deviceId: '02:00:00:00:00:c1', clientId: '6f1c2a4e-8b1d-4c3e-9f2a-0123456789c1' }
                : { deviceId: '02:00:00:00:00:c2', clientId: '6f1c2a4e-8b1d-4c3e-9f2a-0123456789c2' },
            }),
            SPEAKERD_SERVER_URL: wsUrl(port),
          }),
        );
      }
      await sleep(o.warmupS * 1000);
      const cpu = (): number[] =>
        daemons.map((d) => {
          const t = treeCpu(d.pid);
          if (t === undefined) throw new Error(`speakerd ${d.pid} is not running: ${d.output().slice(-600)}`);
          return t.total;
        });
      const c0 = cpu();
      const t0 = monoMs();
      await sleep(o.windowS * 1000);
      const c1 = cpu();
      const wallMs = monoMs() - t0;
      const pct = (i: number): number => (((c1[i] ?? 0) - (c0[i] ?? 0)) / wallMs) * 100;
      const [on, off] = daemons;
      if (on === undefined || off === undefined) throw new Error('a daemon did not start');
      return {
        windowS: wallMs / 1000,
        warmupS: o.warmupS,
        onPct: pct(0),
        offPct: pct(1),
        onRss: rssBytes(on.pid),
        offRss: rssBytes(off.pid),
      };
    } finally {
      await Promise.all(daemons.map((d) => d.stop()));
      await Promise.all(rigs.map((r) => r.close()));
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

export function formatWakeDevice(runs: readonly LatencyRun[], idle: IdleWakeResult | undefined): string[] {
  const out = [
    'WAKEDEV  the real `speakerd run` (arecord on the fake card, real time), alexa model, dev-server in this process',
  ];
  for (const r of runs) {
    out.push(
      `         end of the wake word in the mic stream → listen detect at the server, ${r.mode}: ` +
        `p50 ${r.p50.toFixed(0)} ms  p95 ${r.p95.toFixed(0)} ms  max ${r.max.toFixed(0)} ms ` +
        `(${r.latenciesMs.length} matched of ${r.cycles} cycles, ${r.detections} detects)`,
    );
  }
  if (idle) {
    const mb = (b: number): string => `${(b / 1024 / 1024).toFixed(1)} MB`;
    out.push(
      `         idle, talkative room, ${idle.windowS.toFixed(1)} s after ${idle.warmupS} s: wake word on ${idle.onPct.toFixed(2)} % of one core, ` +
        `off ${idle.offPct.toFixed(2)} %; RSS on ${mb(idle.onRss)}, off ${mb(idle.offRss)} (+${mb(idle.onRss - idle.offRss)})`,
    );
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      cycles: { type: 'string', default: '20' },
      'idle-window': { type: 'string', default: '20' },
      short: { type: 'boolean', default: false },
    },
  });
  const cycles = values.short ? 2 : Number(values.cycles);
  const windowS = values.short ? 3 : Number(values['idle-window']);
  const runs = [
    await measureWakeLatency('persistent', cycles, values.short ? 5 : 8),
    await measureWakeLatency('on-demand', cycles, values.short ? 5 : 8),
  ];
  const idle = await measureWakeIdle({ windowS, warmupS: values.short ? 4 : 15 });
  for (const line of formatWakeDevice(runs, idle)) process.stdout.write(`${line}\n`);
}
