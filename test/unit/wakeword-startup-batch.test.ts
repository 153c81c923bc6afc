/**
 * The start-up embeddings (features.ts batchEmbeddings) run one window per ONNX run, so ONNX
 * Runtime's arena does not keep a 41-window batch's peak for the session's life; the rows must be
 * the ones openWakeWord's single batch gives.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../../src/core/random.js';
import {
  batchEmbeddings,
  EMBEDDING_SIZE,
  INIT_RANDOM_SAMPLES,
  MEL_BINS,
  MEL_ROWS_PER_FRAME,
  MEL_WINDOW,
  scaleMel,
} from '../../src/wakeword/features.js';
import { firstOutput, loadModel, loadOrt } from '../../src/wakeword/onnx.js';
import { MODEL_DIR, maxAbsDiff, ortSkipReason } from './wakeword-fixtures.js';

const skip = await ortSkipReason();

test('start-up embeddings window by window equal one batch of all windows', { skip }, async () => {
  const ort = await loadOrt();
  const models = {
    melspectrogram: await loadModel(ort, `${MODEL_DIR}/melspectrogram.onnx`),
    embedding: await loadModel(ort, `${MODEL_DIR}/embedding_model.onnx`),
  };
  try {
    const random = seededRandom(7);
    const pcm = new Int16Array(INIT_RANDOM_SAMPLES).map(() => Math.floor(random() * 2000) - 1000);
    const got = await batchEmbeddings(ort, models, pcm);
    // utils.py _get_embeddings: every window in one batch.
    const mel = firstOutput(
      await models.melspectrogram.session.run({
        [models.melspectrogram.input.name]: new ort.Tensor('float32', Float32Array.from(pcm), [
          1,
          pcm.length,
        ]),
      }),
      models.melspectrogram,
    );
    const windows = got.length / EMBEDDING_SIZE;
    assert.equal(windows, 41);
    const batch = new Float32Array(windows * MEL_WINDOW * MEL_BINS);
    for (let w = 0; w < windows; w++)
      for (let j = 0; j < MEL_WINDOW * MEL_BINS; j++)
        batch[w * MEL_WINDOW * MEL_BINS + j] = scaleMel(mel[w * MEL_ROWS_PER_FRAME * MEL_BINS + j] ?? 0);
    const want = firstOutput(
      await models.embedding.session.run({
        [models.embedding.input.name]: new ort.Tensor('float32', batch, [windows, MEL_WINDOW, MEL_BINS, 1]),
      }),
      models.embedding,
    );
    assert.ok(maxAbsDiff(got, want.subarray(0, got.length)) <= 1e-6);
  } finally {
    await models.melspectrogram.session.release();
    await models.embedding.session.release();
  }
});
