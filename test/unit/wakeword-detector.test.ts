/**
 * The wake-word detector (issue 14): the real worker (src/wakeword/worker.ts, onnxruntime-node,
 * the models of the pinned dev dependency) fed a clip through a fake capture in the capture's
 * 60 ms frames fires once, where the reference trace (and so `speakerd wakeword score`) does, with
 * the phrase, the model and the wake word's own audio; negatives and a paused detector report
 * nothing. A stand-in worker drives the failure paths: a crash is a fault and a restart after a
 * backoff (manual clock), a first start that fails is a fault value, and a stalled worker gets at
 * most maxQueuedFrames frames while the rest are dropped, counted and logged at a bounded rate.
 */
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { FRAME_BYTES } from '../../src/audio/audio-port.js';
import { ManualClock, SystemClock } from '../../src/core/clock.js';
import { ErrorCode, type Fault } from '../../src/core/errors.js';
import { seededRandom } from '../../src/core/random.js';
import { type WakeDetection, WakeWordDetector } from '../../src/wakeword/detector.js';
import { WakeWordEngine } from '../../src/wakeword/engine.js';
import { FRAME_SAMPLES } from '../../src/wakeword/features.js';
import { CLIP_PADDING_SAMPLES, clipFrames, detections, scoreClip } from '../../src/wakeword/score.js';
import { WAKE_AUDIO_SAMPLES } from '../../src/wakeword/wake-audio.js';
import { parseWav16kMono } from '../../src/wakeword/wav.js';
import { DROP_LOG_MS } from '../../src/wakeword/worker-host.js';
import { captureLogger } from '../fakes/capture-logger.js';
import { MODEL_DIR, ortSkipReason, REFERENCE_DIR, referenceScores } from './wakeword-fixtures.js';

const skip = await ortSkipReason();
const FAKE_WORKER = new URL('./wakeword-fake-worker.js', import.meta.url);
const REFRACTORY_MS = 2_000;

/** AlsaCapture as the detector sees it: 'frame' with exactly FRAME_BYTES of s16le, and 'fault'. */
class FakeCapture extends EventEmitter<{ frame: [pcm: Buffer]; fault: [f: Fault] }> {}

/** The clip as `speakerd wakeword score` feeds it: 1 s of zeros before and after, whole 80 ms frames. */
function paddedClip(name: string): Int16Array {
  const clip = parseWav16kMono(readFileSync(`${REFERENCE_DIR}/${name}`), name);
  const out = new Int16Array(clipFrames(clip.length, CLIP_PADDING_SAMPLES) * FRAME_SAMPLES);
  out.set(clip.subarray(0, out.length - CLIP_PADDING_SAMPLES), CLIP_PADDING_SAMPLES);
  return out;
}

async function until(what: string, pred: () => boolean, ms = 4_000): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/**
 * Plays the PCM into the capture as AlsaCapture delivers it (1920-byte frames), keeping the worker
 * under its queue bound so nothing is dropped, then waits until every frame is scored.
 */
async function play(capture: FakeCapture, detector: WakeWordDetector, pcm: Int16Array): Promise<void> {
  const bytes = Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
  for (let at = 0; at + FRAME_BYTES <= bytes.length; at += FRAME_BYTES) {
    await until('the worker to catch up', () => detector.queued < 8);
    capture.emit('frame', Buffer.from(bytes.subarray(at, at + FRAME_BYTES)));
  }
  await until('every frame scored', () => detector.queued === 0);
  assert.equal(detector.droppedFrames, 0, 'paced: no frame dropped');
}

function realDetector(capture: FakeCapture, models: { path: string; phrase: string; threshold: number }[]) {
  const { log, lines } = captureLogger('debug');
  const detector = new WakeWordDetector({
    config: { models, featureModelDir: MODEL_DIR, refractoryMs: REFRACTORY_MS },
    capture,
    clock: new SystemClock(),
    random: seededRandom(1),
    log,
  });
  const seen: WakeDetection[] = [];
  detector.on('detection', (d) => seen.push(d));
  return { detector, seen, lines };
}

const ALEXA = { path: `${MODEL_DIR}/alexa_v0.1.onnx`, phrase: 'Alexa', threshold: 0.5 };
const MYCROFT = { path: `${MODEL_DIR}/hey_mycroft_v0.1.onnx`, phrase: 'hey Mycroft', threshold: 0.5 };

test('alexa_test.wav through the capture: one detection, at the frame `wakeword score` reports, with its audio', {
  skip,
}, async () => {
  const capture = new FakeCapture();
  const { detector, seen, lines } = realDetector(capture, [MYCROFT, ALEXA]);
  try {
    assert.deepEqual(await detector.start(), { ok: true });
    assert.equal(detector.state, 'listening');
    assert.equal(capture.listenerCount('frame'), 1, 'the capture is shared: one listener, no second arecord');
    const pcm = paddedClip('alexa_test.wav');
    await play(capture, detector, pcm);
    const r = referenceScores().clips['alexa_test.wav'];
    assert.ok(r);
    const trace = r.scores['alexa_v0.1'] ?? [];
    const expected = detections(trace, ALEXA.threshold, REFRACTORY_MS);
    assert.equal(expected.length, 1);
    // What `speakerd wakeword score` computes for the clip (scoreClip on a fresh engine) agrees.
    const engine = await WakeWordEngine.create({
      featureModelDir: MODEL_DIR,
      keywords: [{ path: ALEXA.path }],
      random: seededRandom(0),
      log: captureLogger('warn').log,
    });
    const clip = parseWav16kMono(readFileSync(`${REFERENCE_DIR}/alexa_test.wav`), 'alexa_test.wav');
    const [cli] = await scoreClip(engine, clip, CLIP_PADDING_SAMPLES).finally(() => engine.close());
    assert.ok(cli);
    assert.deepEqual(detections(cli, ALEXA.threshold, REFRACTORY_MS), expected);
    const k = expected[0] ?? -1;
    assert.ok(k >= 15, `frame ${k} does not depend on the start-up state`);
    assert.equal(seen.length, 1, JSON.stringify(seen.map((d) => [d.model, d.score])));
    const d = seen[0];
    assert.ok(d);
    assert.equal(d.phrase, 'Alexa');
    assert.equal(d.model, 'alexa_v0.1');
    assert.ok(Math.abs(d.score - (trace[k] ?? 0)) <= 1e-3, `score ${d.score} vs reference ${trace[k]}`);
    // The audio ends exactly at the end of frame k: 1.5 s of the stream, byte for byte.
    const end = (k + 1) * FRAME_SAMPLES;
    assert.equal(d.audio.length, WAKE_AUDIO_SAMPLES * 2);
    const want = Buffer.from(pcm.buffer, (end - WAKE_AUDIO_SAMPLES) * 2, WAKE_AUDIO_SAMPLES * 2);
    assert.ok(d.audio.equals(want), 'the wake audio is the 1.5 s up to the end of the frame that fired');
    assert.ok(
      lines.some((l) => l.msg === 'wake-word models loaded' && Array.isArray(l.keywords)),
      "the engine's log lines come back through the host's logger",
    );
  } finally {
    await detector.close();
  }
  assert.equal(detector.state, 'closed');
  assert.equal(detector.workerState, 'closed');
  assert.equal(capture.listenerCount('frame'), 0, 'close unsubscribes from the capture');
});

test('negative clips: no detection; paused: scored but not reported', { skip }, async () => {
  const capture = new FakeCapture();
  const { detector, seen } = realDetector(capture, [ALEXA]);
  try {
    assert.deepEqual(await detector.start(), { ok: true });
    await play(capture, detector, paddedClip('hey_mycroft_test.wav'));
    await play(capture, detector, paddedClip('hey_jane.wav'));
    assert.deepEqual(seen, [], 'alexa does not fire on hey_mycroft_test.wav or hey_jane.wav');
    detector.pause('speaking');
    assert.equal(detector.state, 'paused');
    await play(capture, detector, paddedClip('alexa_test.wav'));
    assert.deepEqual(seen, [], 'paused: nothing reported');
    assert.equal(detector.suppressed, 1, 'the detection was there, and kept back');
    detector.resume('speaking done');
    assert.equal(detector.state, 'listening');
  } finally {
    await detector.close();
  }
});

test('a model that does not load: start() is a fault with the path, the worker is gone', {
  skip,
}, async () => {
  const capture = new FakeCapture();
  const { detector } = realDetector(capture, [{ ...ALEXA, path: `${MODEL_DIR}/nope.onnx` }]);
  const started = await detector.start();
  assert.equal(started.ok, false);
  assert.ok(!started.ok);
  assert.equal(started.fault.code, ErrorCode.WakeWord);
  assert.match(started.fault.message, /nope\.onnx.*fix: check the path in wakeWord\.models/);
  assert.equal(detector.workerState, 'failed');
  assert.equal(capture.listenerCount('frame'), 0);
  await detector.close();
});

function fakeDetector(mode: 'crash' | 'stall' | 'load-fails', maxQueuedFrames?: number) {
  const clock = new ManualClock();
  const capture = new FakeCapture();
  const { log, lines } = captureLogger('debug');
  const detector = new WakeWordDetector({
    config: { models: [ALEXA], featureModelDir: mode, refractoryMs: REFRACTORY_MS },
    capture,
    clock,
    random: seededRandom(2),
    log,
    workerEntry: FAKE_WORKER,
    ...(maxQueuedFrames === undefined ? {} : { maxQueuedFrames }),
  });
  return { clock, capture, detector, lines };
}

test('a worker that crashes: a fault, no throw, a new worker after the backoff', async () => {
  const { clock, capture, detector, lines } = fakeDetector('crash');
  try {
    assert.deepEqual(await detector.start(), { ok: true });
    const faulted = once(detector, 'fault');
    capture.emit('frame', Buffer.alloc(FRAME_BYTES));
    capture.emit('frame', Buffer.alloc(FRAME_BYTES)); // 1920 samples: one 1280-sample frame posted
    const [f] = (await faulted) as [Fault];
    assert.equal(f.code, ErrorCode.WakeWord);
    assert.match(f.message, /wake-word worker died: model run failed \(fake\)/);
    assert.equal(detector.workerState, 'backoff');
    assert.equal(detector.state, 'listening', 'the detector stays: it listens again once a worker runs');
    assert.ok(lines.some((l) => l.code === ErrorCode.WakeWord && l.level === 40));
    const delay = clock.msToNext();
    assert.ok(delay >= 0 && delay < 1_000, `first restart within the 1 s base (${delay})`);
    clock.advance(delay);
    assert.equal(detector.workerState, 'starting');
    await until('the new worker', () => detector.workerState === 'running');
    // It crashes again on its first frame: the next delay's ceiling doubles.
    const again = once(detector, 'fault');
    capture.emit('frame', Buffer.alloc(FRAME_BYTES));
    capture.emit('frame', Buffer.alloc(FRAME_BYTES));
    await again;
    assert.ok(clock.msToNext() < 2_000);
  } finally {
    await detector.close();
  }
  assert.equal(detector.workerState, 'closed');
  assert.equal(clock.pending, 0, 'close clears the restart timer');
});

test('a first start whose models do not load is a fault value, not retried', async () => {
  const { clock, detector } = fakeDetector('load-fails');
  const started = await detector.start();
  assert.ok(!started.ok);
  assert.equal(started.fault.code, ErrorCode.WakeWord);
  assert.equal(started.fault.message, 'wake word: cannot read model /nope.onnx');
  assert.equal(detector.workerState, 'failed');
  assert.equal(clock.pending, 0, 'no restart timer');
  await detector.close();
});

test('a worker far behind: at most maxQueuedFrames wait, the rest are dropped, counted, logged rarely', async () => {
  const { clock, capture, detector, lines } = fakeDetector('stall', 5);
  try {
    assert.deepEqual(await detector.start(), { ok: true });
    // 30 capture frames = 22.5 worker frames: 22 complete.
    for (let i = 0; i < 30; i++) capture.emit('frame', Buffer.alloc(FRAME_BYTES));
    assert.equal(detector.queued, 5);
    assert.equal(detector.droppedFrames, 17);
    const warns = () => lines.filter((l) => l.level === 40 && /frame\(s\) of 80 ms dropped/.test(l.msg));
    assert.equal(warns().length, 1, 'one warning for the burst');
    assert.equal(warns()[0]?.dropped_frames, 1);
    clock.advance(DROP_LOG_MS);
    for (let i = 0; i < 4; i++) capture.emit('frame', Buffer.alloc(FRAME_BYTES));
    assert.equal(detector.droppedFrames, 20);
    assert.equal(warns().length, 2);
    assert.equal(warns()[1]?.dropped_frames, 17, 'the second counts the drops since the first');
    assert.equal(detector.queued, 5, 'never more than the bound');
  } finally {
    await detector.close();
  }
});
