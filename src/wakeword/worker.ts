/**
 * The wake word's worker_threads worker (issue 14, "Off the event loop"): it owns a WakeWordEngine
 * (one intra-op thread: onnx.ts SESSION_OPTIONS), scores the 80 ms frames the main thread posts
 * (worker-host.ts), keeps the last 1.5 s of audio, and runs each model's Trigger (trigger.ts, the
 * same one `speakerd wakeword score` uses), so only a detection crosses back, with its audio.
 *
 * Frames are handled one after another in arrival order (engine.feed is not re-entrant). After
 * each, the count of frames done goes into a shared Int32Array, from which the main thread knows
 * how far behind the worker is without a message per frame. A failure to run a model is not
 * caught here: it ends the worker with an uncaught error, which the host reports as a fault and
 * answers with a fresh worker (fresh state) after a backoff.
 */
import { isMainThread, type MessagePort, parentPort, workerData } from 'node:worker_threads';
import pino from 'pino';
import { seededRandom } from '../core/random.js';
import { WakeWordEngine } from './engine.js';
import { FRAME_SAMPLES } from './features.js';
import { explainWakeWordError } from './preflight.js';
import { Trigger } from './trigger.js';
import { SampleRing } from './wake-audio.js';

/**
 * The first frame whose scores no longer depend on the random start-up state (issue 14: frames
 * 0–14 do; openWakeWord zeroes only the first 5, model.py). On room noise those frames fire:
 * alexa_v0.1 reached ≥ 0.5 in frames 5–14 for 20 of 20 start-up seeds on sox pink noise at −40 dBFS
 * RMS (0 of 10 on digital silence), and in no frame after. So the daemon reports nothing in the
 * first 1.2 s of a (re)started worker; `wakeword score` pads 1 s of zeros, which keeps them quiet.
 */
const FIRST_SETTLED_FRAME = 15;

export interface WorkerConfig {
  readonly featureModelDir: string;
  readonly models: readonly { readonly path: string; readonly threshold: number }[];
  readonly refractoryMs: number;
  /** Samples of audio kept for a detection (wake-audio.ts). */
  readonly wakeAudioSamples: number;
  /** Seeds the start-up embeddings' random audio (the host draws it from its injected Random). */
  readonly seed: number;
  readonly logLevel: string;
  /** Int32Array over it: [0] = frames scored so far (Atomics). */
  readonly progress: SharedArrayBuffer;
}

/** Main thread → worker. */
export type ToWorker =
  | { readonly type: 'pcm'; readonly pcm: Int16Array }
  /** Release the sessions and end (the host terminates it if this takes too long). */
  | { readonly type: 'close' };

/** Worker → main thread. */
export type FromWorker =
  | { readonly type: 'ready'; readonly keywords: readonly string[] }
  | { readonly type: 'load-failed'; readonly kind: string; readonly message: string }
  | {
      readonly type: 'detection';
      /** Index into WorkerConfig.models. */
      readonly index: number;
      readonly score: number;
      /** The frame that fired, counted from the worker's first. */
      readonly frame: number;
      readonly audio: Int16Array;
    }
  /** One pino line (JSON) of the engine, logged again on the main thread's logger. */
  | { readonly type: 'log'; readonly line: string }
  | { readonly type: 'closed' };

async function run(port: MessagePort, config: WorkerConfig): Promise<void> {
  const post = (m: FromWorker, transfer?: ArrayBuffer[]) => port.postMessage(m, transfer);
  // pino's destination only needs write(): each line goes to the main thread's logger.
  const log = pino({ level: config.logLevel }, { write: (line: string) => post({ type: 'log', line }) });
  const progress = new Int32Array(config.progress);
  let engine: WakeWordEngine;
  try {
    engine = await WakeWordEngine.create({
      featureModelDir: config.featureModelDir,
      keywords: config.models.map((m) => ({ path: m.path })),
      random: seededRandom(config.seed),
      log,
    });
  } catch (err) {
    post({
      type: 'load-failed',
      kind: typeof err === 'object' && err !== null && 'kind' in err ? String(err.kind) : 'other',
      message: explainWakeWordError(err),
    });
    port.close();
    return;
  }
  const triggers = config.models.map((m) => new Trigger(m.threshold, config.refractoryMs));
  const ring = new SampleRing(config.wakeAudioSamples);
  const onFrame = (frame: number, scores: Float32Array) => {
    for (let i = 0; i < triggers.length; i++) {
      // Start-up frames count as silence for the trigger (FIRST_SETTLED_FRAME).
      const score = frame < FIRST_SETTLED_FRAME ? 0 : (scores[i] ?? 0);
      if (triggers[i]?.push(score) !== true) continue;
      const audio = ring.snapshot();
      post({ type: 'detection', index: i, score, frame, audio }, [audio.buffer]);
    }
  };
  const crash = (err: unknown) => {
    // Thrown outside the promise chain so that it ends this worker as an uncaught error (see above).
    setImmediate(() => {
      throw err;
    });
  };
  let chain = Promise.resolve();
  port.on('message', (m: ToWorker) => {
    chain = chain
      .then(async () => {
        if (m.type === 'close') {
          await engine.close();
          post({ type: 'closed' });
          port.close();
          return;
        }
        if (engine.state === 'closed') return;
        if (m.pcm.length !== FRAME_SAMPLES) {
          throw new Error(`wake-word worker: got ${m.pcm.length} samples, the host posts ${FRAME_SAMPLES}`);
        }
        // One chunk is one frame: the ring holds the audio up to the end of the frame scored next.
        ring.push(m.pcm);
        await engine.feed(m.pcm, onFrame);
        Atomics.add(progress, 0, 1);
      })
      .catch(crash);
  });
  post({ type: 'ready', keywords: engine.keywords });
}

if (!isMainThread && parentPort !== null) await run(parentPort, workerData as WorkerConfig);
