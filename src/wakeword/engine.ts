/**
 * The wake-word engine (issue 14): openWakeWord's Model.predict() over AudioFeatures, fed PCM
 * chunks of any size. A plain class with no I/O besides the ONNX sessions, so the daemon can run it
 * inside a worker_threads worker and post it the capture's frames.
 *
 * Ported from dscripka/openWakeWord openwakeword/model.py (Apache-2.0), `Model.predict` for
 * 1280-sample input: features first, then every keyword model on the last `model_inputs[mdl]`
 * embeddings (its input's dim 1), the score is output[0][0], forced to 0 while fewer than 5
 * predictions are in the model's prediction buffer. Chunks of other sizes are cut into 1280-sample
 * frames here, with the remainder kept for the next chunk (utils.py `_streaming_features` keeps
 * the same remainder); unlike predict() on a multi-frame chunk, which returns the max over its
 * frames, every 80 ms frame gets its own score, exactly the one predict() returns for that frame
 * when fed 1280 at a time, which is how the reference traces were made.
 */
import type * as Ort from 'onnxruntime-node';
import type { Logger } from 'pino';
import type { Random } from '../core/random.js';
import {
  AudioFeatures,
  checkFeatureModels,
  EMBEDDING_SIZE,
  type FeatureModels,
  FRAME_SAMPLES,
  INIT_RANDOM_SAMPLES,
  MEL_WINDOW,
  melRows,
  randomStartupEmbeddings,
} from './features.js';
import { firstOutput, type LoadedModel, loadModel, loadOrt, type OrtModule, WakeWordError } from './onnx.js';

/** model.py: `if len(self.prediction_buffer[cls]) < 5: predictions[cls] = 0.0`. */
export const WARMUP_FRAMES = 5;
/** The start-up state has this many embeddings (AudioFeatures.__init__, 4 s of random audio). */
export const STARTUP_EMBEDDINGS = Math.floor((melRows(INIT_RANDOM_SAMPLES) - MEL_WINDOW) / 8) + 1;

export interface KeywordSpec {
  /** Path of the keyword .onnx model. */
  readonly path: string;
  /** The name scores are reported under (default: the file name without .onnx, as model.py does). */
  readonly name?: string;
}

export interface EngineOptions {
  /** Directory holding melspectrogram.onnx and embedding_model.onnx. */
  readonly featureModelDir: string;
  readonly keywords: readonly KeywordSpec[];
  /** For the start-up embeddings of random audio (core/random.ts). */
  readonly random: Random;
  /** Start-up embeddings to use instead of random audio's (tests: the reference's seed-0 rows). */
  readonly startupEmbeddings?: Float32Array;
  readonly log: Logger;
  /** How onnxruntime-node is imported (tests: a failing importer). */
  readonly importOrt?: () => Promise<OrtModule>;
}

interface Keyword {
  readonly name: string;
  readonly model: LoadedModel;
  readonly frames: number;
  readonly input: Ort.Tensor;
}

export type EngineState = 'ready' | 'busy' | 'closed';

/** Called once per 80 ms frame. `scores[i]` is keyword i's; the array is reused: copy to keep it. */
export type FrameListener = (frame: number, scores: Float32Array) => void;

/** The model name openWakeWord reports: the file's base name without its extension (model.py). */
export function modelName(path: string): string {
  const base = path.split(/[\\/]/).pop() ?? path;
  return base.replace(/\.onnx$/i, '');
}

export class WakeWordEngine {
  #state: EngineState = 'ready';
  readonly #log: Logger;
  readonly #features: AudioFeatures;
  readonly #keywords: readonly Keyword[];
  readonly #scores: Float32Array;
  /** Samples of an incomplete frame, carried to the next chunk (bounded: < 1280). */
  readonly #pending = new Int16Array(FRAME_SAMPLES);
  #pendingCount = 0;
  #frame = 0;

  private constructor(features: AudioFeatures, keywords: readonly Keyword[], log: Logger) {
    this.#features = features;
    this.#keywords = keywords;
    this.#scores = new Float32Array(keywords.length);
    this.#log = log;
  }

  /**
   * The one place the state changes. ready ↔ busy happens for every chunk (12 a second), so it is
   * logged at trace; closing is logged at info.
   */
  #transition(to: EngineState, reason: string): void {
    const from = this.#state;
    if (from === to) return;
    this.#state = to;
    const line = { wakeword_from: from, wakeword_to: to, reason };
    if (to === 'closed') this.#log.info(line, `wakeword ${from} → ${to}: ${reason}`);
    else this.#log.trace(line, `wakeword ${from} → ${to}: ${reason}`);
  }

  /** Loads onnxruntime-node and every model; any failure is a WakeWordError with its fix. */
  static async create(options: EngineOptions): Promise<WakeWordEngine> {
    if (options.keywords.length === 0) {
      throw new WakeWordError(
        'model-missing',
        'no keyword model given',
        'list at least one in wakeWord.models (or --model)',
      );
    }
    const ort = await loadOrt(options.importOrt);
    const loaded: LoadedModel[] = [];
    try {
      const dir = options.featureModelDir.replace(/\/+$/, '');
      const features: FeatureModels = {
        melspectrogram: await track(loaded, loadModel(ort, `${dir}/melspectrogram.onnx`)),
        embedding: await track(loaded, loadModel(ort, `${dir}/embedding_model.onnx`)),
      };
      checkFeatureModels(features);
      const specs: { spec: KeywordSpec; model: LoadedModel; frames: number }[] = [];
      for (const spec of options.keywords) {
        const model = await track(loaded, loadModel(ort, spec.path));
        specs.push({ spec, model, frames: keywordFrames(model) });
      }
      const embeddingFrames = Math.max(...specs.map((s) => s.frames));
      const startup =
        options.startupEmbeddings ?? (await randomStartupEmbeddings(ort, features, options.random));
      const audio = new AudioFeatures(ort, features, { embeddingFrames, startupEmbeddings: startup });
      const keywords = specs.map(({ spec, model, frames }) => ({
        name: spec.name ?? modelName(spec.path),
        model,
        frames,
        input: new ort.Tensor('float32', audio.features(frames), [1, frames, EMBEDDING_SIZE]),
      }));
      options.log.info(
        { keywords: keywords.map((k) => k.name), featureModelDir: dir, intraOpThreads: 1 },
        'wake-word models loaded',
      );
      return new WakeWordEngine(audio, keywords, options.log);
    } catch (err) {
      await Promise.all(loaded.map((m) => m.session.release()));
      throw err;
    }
  }

  get state(): EngineState {
    return this.#state;
  }

  /** Keyword names, in score order. */
  get keywords(): readonly string[] {
    return this.#keywords.map((k) => k.name);
  }

  /** Frames scored so far. */
  get frames(): number {
    return this.#frame;
  }

  /** The feature stage (tests compare its intermediates with the reference). */
  get audioFeatures(): AudioFeatures {
    return this.#features;
  }

  /**
   * Feeds PCM (16 kHz mono s16, any length); `onFrame` is called for every complete 1280-sample
   * frame. One feed at a time: a second while one runs is a caller bug and throws.
   */
  async feed(pcm: Int16Array, onFrame: FrameListener): Promise<void> {
    if (this.#state !== 'ready') {
      throw new Error(`wake-word engine is ${this.#state}: feed() needs it ready (one feed at a time)`);
    }
    this.#transition('busy', 'feed');
    try {
      let at = 0;
      while (at < pcm.length) {
        const take = Math.min(FRAME_SAMPLES - this.#pendingCount, pcm.length - at);
        this.#pending.set(pcm.subarray(at, at + take), this.#pendingCount);
        this.#pendingCount += take;
        at += take;
        if (this.#pendingCount < FRAME_SAMPLES) break;
        this.#pendingCount = 0;
        await this.#scoreFrame();
        onFrame(this.#frame - 1, this.#scores);
      }
    } finally {
      // A failed run leaves the engine usable for the next chunk; the error goes to the caller.
      if (this.state === 'busy') this.#transition('ready', 'fed');
    }
  }

  async #scoreFrame(): Promise<void> {
    await this.#features.pushFrame(this.#pending);
    const warm = this.#frame >= WARMUP_FRAMES;
    for (let i = 0; i < this.#keywords.length; i++) {
      const k = this.#keywords[i];
      if (k === undefined) continue;
      const out = firstOutput(await k.model.session.run({ [k.model.input.name]: k.input }), k.model);
      this.#scores[i] = warm ? (out[0] ?? 0) : 0;
    }
    this.#frame++;
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#transition('closed', 'close');
    await Promise.all([
      this.#features.models.melspectrogram.session.release(),
      this.#features.models.embedding.session.release(),
      ...this.#keywords.map((k) => k.model.session.release()),
    ]);
  }
}

async function track(loaded: LoadedModel[], pending: Promise<LoadedModel>): Promise<LoadedModel> {
  const model = await pending;
  loaded.push(model);
  return model;
}

/** model.py `model_inputs[mdl] = get_inputs()[0].shape[1]`: a keyword model takes [1, N, 96]. */
function keywordFrames(model: LoadedModel): number {
  const [batch, frames, size] = model.input.shape;
  if (
    model.input.shape.length !== 3 ||
    typeof frames !== 'number' ||
    size !== EMBEDDING_SIZE ||
    (typeof batch === 'number' && batch !== 1) ||
    frames < 1 ||
    frames > STARTUP_EMBEDDINGS
  ) {
    throw new WakeWordError(
      'model-shape',
      `${model.path} takes ${JSON.stringify(model.input.shape)}, not a keyword model's [1, N ≤ ${STARTUP_EMBEDDINGS}, ${EMBEDDING_SIZE}]`,
      'wakeWord.models must be openWakeWord keyword models (e.g. hey_jarvis_v0.1.onnx or one you trained)',
    );
  }
  return frames;
}
