/**
 * The wake word's worker_threads worker (issue 14, "Off the event loop"): it owns a WakeWordEngine
 * (one intra-op thread: onnx.ts SESSION_OPTIONS), scores the 80 ms frames the main thread writes
 * into a shared ring (frame-ring.ts; worker-host.ts is the other side), keeps the last 1.5 s of
 * audio, and runs each model's Trigger (trigger.ts, the same one `speakerd wakeword score` uses),
 * so only a detection crosses back, with its audio.
 *
 * Frames are scored one after another in order (engine.feed is not re-entrant); each one's slot is
 * given back when it is scored, which is how the main thread knows how far behind the worker is.
 * A failure to run a model is not caught here: it ends the worker with an uncaught error, which
 * the host reports as a fault and answers with a fresh worker (fresh state) after a backoff.
 */
import { isMainThread, type MessagePort, parentPort, workerData } from 'node:worker_threads';
import pino from 'pino';
import { seededRandom } from '../core/random.js';
import type { WakeWordEngine } from './engine.js';
import { FrameRing, type FrameRingBuffers } from './frame-ring.js';
import { engineForConfig, explainWakeWordError } from './preflight.js';
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
  /** The frames from the main thread. */
  readonly ring: FrameRingBuffers;
}

/**
 * Main thread → worker: only this. Its port listener is also what keeps the worker alive while it
 * waits for a frame (a pending Atomics.waitAsync does not hold a Node event loop open).
 */
export type ToWorker = { readonly type: 'close' };

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
  const frames = new FrameRing(config.ring);
  let engine: WakeWordEngine;
  try {
    engine = await engineForConfig(config, { random: seededRandom(config.seed), log });
  } catch (err) {
    post({
      type: 'load-failed',
      kind: typeof err === 'object' && err !== null && 'kind' in err ? String(err.kind) : 'other',
      message: explainWakeWordError(err),
    });
    port.close();
    return;
  }
  // refractoryMs is counted in frames scored here: a frame the host dropped (a worker ~1 s behind,
  // logged) is not counted, so after a drop the same model may stay quiet a little longer.
  const triggers = config.models.map((m) => new Trigger(m.threshold, config.refractoryMs));
  const wakeAudio = new SampleRing(config.wakeAudioSamples);
  const onFrame = (frame: number, scores: Float32Array) => {
    for (let i = 0; i < triggers.length; i++) {
      // Start-up frames count as silence for the trigger (FIRST_SETTLED_FRAME).
      const score = frame < FIRST_SETTLED_FRAME ? 0 : (scores[i] ?? 0);
      if (triggers[i]?.push(score) !== true) continue;
      const audio = wakeAudio.snapshot();
      post({ type: 'detection', index: i, score, frame, audio }, [audio.buffer]);
    }
  };
  // Release the sessions and end (the host terminates the worker if this takes too long).
  port.on('message', (m: ToWorker) => {
    if (m.type === 'close') frames.close();
  });
  post({ type: 'ready', keywords: engine.keywords });
  for (let pcm = await frames.next(); pcm !== undefined; pcm = await frames.next()) {
    // One slot is one frame: wakeAudio holds the audio up to the end of the frame scored now.
    wakeAudio.push(pcm);
    await engine.feed(pcm, onFrame);
    frames.done();
  }
  await engine.close();
  post({ type: 'closed' });
  port.close();
}

if (!isMainThread && parentPort !== null) await run(parentPort, workerData as WorkerConfig);
