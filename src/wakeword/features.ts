/**
 * openWakeWord's shared feature pipeline, ported from its Python source (dscripka/openWakeWord,
 * openwakeword/utils.py, class AudioFeatures; Apache-2.0):
 *
 *   16 kHz int16 PCM, one 1280-sample (80 ms) frame at a time
 *   → melspectrogram.onnx on the last 1280 + 480 samples (8 mel rows), then x/10 + 2
 *   → a window of the last 76 mel rows → embedding_model.onnx → one 96-float embedding
 *   → the last N embeddings, which every keyword model reads.
 *
 * The Python keeps growing numpy arrays (vstack) trimmed to 970 mel rows and 120 embeddings; only
 * the last 76 rows and the last N (16) embeddings are ever read, so this keeps exactly those in
 * fixed Float32Arrays that shift by one frame's rows (a copyWithin of a few KB per 80 ms, no
 * allocation), and the model inputs are views over them (the tensors are made once).
 */
import type * as Ort from 'onnxruntime-node';
import type { Random } from '../core/random.js';
import { firstOutput, type LoadedModel, type OrtModule, WakeWordError } from './onnx.js';

export const SAMPLE_RATE = 16_000;
/** openWakeWord's step: Model.predict() is fed 1280 samples, one score per 80 ms. */
export const FRAME_SAMPLES = 1280;
/** Mel rows per frame: the melspectrogram hop is 160 samples (utils.py: "160*3" context). */
export const MEL_ROWS_PER_FRAME = 8;
/** Extra samples before the frame so its 8 mel rows have their full 512-sample windows (utils.py `-n_samples-160*3`). */
export const MEL_CONTEXT_SAMPLES = 480;
export const MEL_BINS = 32;
/** embedding_model.onnx input: [N, 76, 32, 1]. */
export const MEL_WINDOW = 76;
export const EMBEDDING_SIZE = 96;
/** AudioFeatures.__init__: the embedding buffer starts with embeddings of 4 s of random audio. */
export const INIT_RANDOM_SAMPLES = SAMPLE_RATE * 4;

/** Rows of melspectrogram.onnx for n samples: no centring, 512-sample window, 160 hop. */
export function melRows(samples: number): number {
  return Math.floor((samples - 512) / 160) + 1;
}

/**
 * utils.py `_get_melspectrogram`'s default `melspec_transform = lambda x: x/10 + 2`, in float32 as
 * numpy computes it (float32 array / int → float32, + int → float32). Each step is rounded to float32
 * (Math.fround) because one rounding of the double result can differ in the last bit.
 */
export function scaleMel(raw: number): number {
  return Math.fround(Math.fround(raw / 10) + 2);
}

function checkDims(model: LoadedModel, want: readonly (number | null)[], role: string): void {
  const ok =
    model.input.shape.length === want.length &&
    want.every(
      (d, i) => d === null || model.input.shape[i] === d || typeof model.input.shape[i] === 'string',
    );
  if (!ok) {
    throw new WakeWordError(
      'model-shape',
      `${model.path} takes ${JSON.stringify(model.input.shape)}, not the ${role} input ${JSON.stringify(want.map((d) => d ?? 'N'))}`,
      `wakeWord.featureModelDir must hold openWakeWord's melspectrogram.onnx and embedding_model.onnx`,
    );
  }
}

export interface FeatureModels {
  readonly melspectrogram: LoadedModel;
  readonly embedding: LoadedModel;
}

/** Refuses models in the wrong role before anything runs them (ONNX Runtime's own rank error says no fix). */
export function checkFeatureModels(models: FeatureModels): void {
  checkDims(models.melspectrogram, [null, null], 'melspectrogram');
  checkDims(models.embedding, [null, MEL_WINDOW, MEL_BINS, 1], 'embedding');
}

/**
 * Embeddings of a whole clip: utils.py `AudioFeatures._get_embeddings` (mel of the whole clip,
 * windows of 76 rows every 8 rows, short windows dropped). Used once, for the start-up state.
 *
 * The Python runs all windows as one batch; here each window is its own run of batch 1. The rows
 * are the same (bit for bit here, onnxruntime-node 1.31 on x64), and ONNX Runtime's CPU arena keeps the peak of the largest run for the
 * session's life: one batch of 41 windows left 25 MB more resident for good (RSS after start-up,
 * 117 → 92 MB with one keyword model), on boards with 512 MB.
 */
export async function batchEmbeddings(
  ort: OrtModule,
  models: FeatureModels,
  pcm: Int16Array,
): Promise<Float32Array> {
  const rows = melRows(pcm.length);
  const windows = rows >= MEL_WINDOW ? Math.floor((rows - MEL_WINDOW) / MEL_ROWS_PER_FRAME) + 1 : 0;
  if (windows === 0) return new Float32Array(0);
  const melOut = firstOutput(
    await models.melspectrogram.session.run({
      [models.melspectrogram.input.name]: new ort.Tensor('float32', Float32Array.from(pcm), [1, pcm.length]),
    }),
    models.melspectrogram,
  );
  const window = new Float32Array(MEL_WINDOW * MEL_BINS);
  const input = new ort.Tensor('float32', window, [1, MEL_WINDOW, MEL_BINS, 1]);
  const out = new Float32Array(windows * EMBEDDING_SIZE);
  for (let w = 0; w < windows; w++) {
    const from = w * MEL_ROWS_PER_FRAME * MEL_BINS;
    for (let j = 0; j < window.length; j++) window[j] = scaleMel(melOut[from + j] ?? 0);
    const embedding = firstOutput(
      await models.embedding.session.run({ [models.embedding.input.name]: input }),
      models.embedding,
    );
    out.set(embedding.subarray(0, EMBEDDING_SIZE), w * EMBEDDING_SIZE);
  }
  return out;
}

/**
 * The start-up embeddings: AudioFeatures.__init__ computes
 * `self._get_embeddings(np.random.randint(-1000, 1000, 16000*4).astype(np.int16))` (41 rows).
 * The same distribution from the injected Random; numpy's exact stream (seed 0) is not reproduced —
 * tests inject the reference's own rows instead. Only the first 15 frames read any of them.
 */
export async function randomStartupEmbeddings(
  ort: OrtModule,
  models: FeatureModels,
  random: Random,
): Promise<Float32Array> {
  const pcm = new Int16Array(INIT_RANDOM_SAMPLES);
  for (let i = 0; i < pcm.length; i++) pcm[i] = Math.floor(random() * 2000) - 1000;
  return batchEmbeddings(ort, models, pcm);
}

export interface AudioFeaturesOptions {
  /** How many embeddings to keep: the longest keyword-model window (16 for openWakeWord's). */
  readonly embeddingFrames: number;
  /** Start-up embeddings, oldest first, a multiple of 96 floats; the last `embeddingFrames` are kept. */
  readonly startupEmbeddings: Float32Array;
}

/** The streaming state of utils.py AudioFeatures, for 1280-sample frames. Not re-entrant: one pushFrame at a time. */
export class AudioFeatures {
  /** The last 1760 samples as float32 (melspectrogram.onnx takes raw int16 values, not normalised). */
  readonly #raw = new Float32Array(FRAME_SAMPLES + MEL_CONTEXT_SAMPLES);
  /** Samples buffered so far, up to #raw.length (the first frame has no context before it). */
  #rawCount = 0;
  /** The last 76 scaled mel rows; starts as np.ones((76, 32)) (AudioFeatures.__init__). */
  readonly #mel = new Float32Array(MEL_WINDOW * MEL_BINS).fill(1);
  /** The last `embeddingFrames` embeddings, oldest first. */
  readonly #embeddings: Float32Array;
  readonly #melFull: Ort.Tensor;
  readonly #melFirst: Ort.Tensor;
  readonly #melWindow: Ort.Tensor;
  /** The last scaled mel rows written (a view; tests compare it with the reference). */
  #lastMelRows: Float32Array;
  #lastMelRaw: Float32Array = new Float32Array(0);
  readonly embeddingFrames: number;

  constructor(
    ort: OrtModule,
    readonly models: FeatureModels,
    options: AudioFeaturesOptions,
  ) {
    checkFeatureModels(models);
    const n = options.embeddingFrames;
    if (!Number.isInteger(n) || n < 1)
      throw new RangeError(`embeddingFrames must be a positive integer, not ${n}`);
    const init = options.startupEmbeddings;
    if (init.length % EMBEDDING_SIZE !== 0 || init.length / EMBEDDING_SIZE < n) {
      throw new RangeError(
        `startupEmbeddings holds ${init.length / EMBEDDING_SIZE} embeddings of ${EMBEDDING_SIZE}; ${n} are needed`,
      );
    }
    this.embeddingFrames = n;
    this.#embeddings = init.slice(init.length - n * EMBEDDING_SIZE);
    this.#melFull = new ort.Tensor('float32', this.#raw, [1, this.#raw.length]);
    this.#melFirst = new ort.Tensor('float32', this.#raw.subarray(MEL_CONTEXT_SAMPLES), [1, FRAME_SAMPLES]);
    this.#melWindow = new ort.Tensor('float32', this.#mel, [1, MEL_WINDOW, MEL_BINS, 1]);
    this.#lastMelRows = this.#mel.subarray(0, 0);
  }

  /**
   * One 1280-sample frame: utils.py `_streaming_features` with `accumulated_samples == 1280`, i.e.
   * `_streaming_melspectrogram(1280)` (mel of `raw_data_buffer[-1280-480:]`, only 1280 on the first
   * frame, appended to the mel buffer), then one `embedding_model_predict` on the last 76 rows,
   * appended to the feature buffer.
   */
  async pushFrame(frame: Int16Array): Promise<void> {
    if (frame.length !== FRAME_SAMPLES)
      throw new RangeError(`a frame is ${FRAME_SAMPLES} samples, not ${frame.length}`);
    const raw = this.#raw;
    raw.copyWithin(0, FRAME_SAMPLES);
    const at = raw.length - FRAME_SAMPLES;
    for (let i = 0; i < FRAME_SAMPLES; i++) raw[at + i] = frame[i] ?? 0;
    this.#rawCount = Math.min(raw.length, this.#rawCount + FRAME_SAMPLES);

    const mel = this.models.melspectrogram;
    const first = this.#rawCount < raw.length;
    const melOut = firstOutput(
      await mel.session.run({ [mel.input.name]: first ? this.#melFirst : this.#melFull }),
      mel,
    );
    const rows = melRows(first ? FRAME_SAMPLES : raw.length);
    if (melOut.length !== rows * MEL_BINS) {
      throw new WakeWordError(
        'model-shape',
        `${mel.path} returned ${melOut.length} values for ${rows} rows of ${MEL_BINS}`,
        'use openWakeWord melspectrogram.onnx',
      );
    }
    const m = this.#mel;
    m.copyWithin(0, rows * MEL_BINS);
    const melAt = m.length - rows * MEL_BINS;
    for (let j = 0; j < rows * MEL_BINS; j++) m[melAt + j] = scaleMel(melOut[j] ?? 0);
    this.#lastMelRows = m.subarray(melAt);
    this.#lastMelRaw = melOut;

    const emb = this.models.embedding;
    const embOut = firstOutput(await emb.session.run({ [emb.input.name]: this.#melWindow }), emb);
    if (embOut.length !== EMBEDDING_SIZE) {
      throw new WakeWordError(
        'model-shape',
        `${emb.path} returned ${embOut.length} values, not one embedding of ${EMBEDDING_SIZE}`,
        'use openWakeWord embedding_model.onnx',
      );
    }
    const e = this.#embeddings;
    e.copyWithin(0, EMBEDDING_SIZE);
    e.set(embOut, e.length - EMBEDDING_SIZE);
  }

  /**
   * The last n embeddings, oldest first, as a view (utils.py `get_features(n)`); valid until the
   * next pushFrame.
   */
  features(n: number): Float32Array {
    if (n > this.embeddingFrames)
      throw new RangeError(`only ${this.embeddingFrames} embeddings are kept, not ${n}`);
    return this.#embeddings.subarray(this.#embeddings.length - n * EMBEDDING_SIZE);
  }

  /** The mel rows of the last frame before and after x/10+2, and the last embedding (for tests and tools). */
  lastFrame(): { melRaw: Float32Array; melScaled: Float32Array; embedding: Float32Array } {
    return { melRaw: this.#lastMelRaw, melScaled: this.#lastMelRows, embedding: this.features(1) };
  }
}
