/**
 * The engine inside a worker_threads worker, where the daemon will run it (issue 14: inference off
 * the event loop): fed 60 ms chunks by message, it posts the same scores as on the main thread,
 * and workers can be started and terminated one after another (onnxruntime-node per-thread set-up).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { CLIP_PADDING_SAMPLES, clipFrames } from '../../src/wakeword/score.js';
import { parseWav16kMono } from '../../src/wakeword/wav.js';
import { MODEL_DIR, maxAbsDiff, ortSkipReason, REFERENCE_DIR, referenceScores } from './wakeword-fixtures.js';

const skip = await ortSkipReason();
const ref = referenceScores();
const KEYWORDS = ['alexa_v0.1', 'hey_mycroft_v0.1'];

type Message = { ready: true } | { done: true } | { frame: number; scores: number[] };

async function scoreInWorker(pcm: Int16Array): Promise<number[][]> {
  const worker = new Worker(new URL('./wakeword-worker-main.js', import.meta.url), {
    workerData: { modelDir: MODEL_DIR, keywords: KEYWORDS },
  });
  const traces: number[][] = KEYWORDS.map(() => []);
  try {
    await new Promise<void>((resolve, reject) => {
      worker.on('error', reject);
      worker.on('exit', (code) => reject(new Error(`worker exited (${code}) before it was done`)));
      worker.on('message', (m: Message) => {
        if ('ready' in m) {
          for (let at = 0; at < pcm.length; at += 960)
            worker.postMessage(pcm.slice(at, Math.min(pcm.length, at + 960)));
          worker.postMessage('end');
        } else if ('done' in m) resolve();
        else {
          assert.equal(m.frame, traces[0]?.length);
          m.scores.forEach((s, i) => {
            traces[i]?.push(s);
          });
        }
      });
    });
  } finally {
    await worker.terminate();
  }
  return traces;
}

test('in a worker_threads worker the engine gives the reference scores (twice: a fresh worker each time)', {
  skip,
}, async () => {
  const r = ref.clips['alexa_test.wav'];
  assert.ok(r);
  const clip = parseWav16kMono(readFileSync(`${REFERENCE_DIR}/alexa_test.wav`), 'alexa_test.wav');
  const frames = clipFrames(clip.length, CLIP_PADDING_SAMPLES);
  const padded = new Int16Array(frames * 1280);
  padded.set(clip.subarray(0, padded.length - CLIP_PADDING_SAMPLES), CLIP_PADDING_SAMPLES);
  for (let round = 0; round < 2; round++) {
    const traces = await scoreInWorker(padded);
    KEYWORDS.forEach((k, i) => {
      const got = traces[i] ?? [];
      assert.equal(got.length, r.n_frames);
      const diff = maxAbsDiff(got.slice(15), (r.scores[k] ?? []).slice(15));
      assert.ok(diff <= 1e-3, `round ${round} ${k}: max |Δ| ${diff}`);
    });
  }
});
