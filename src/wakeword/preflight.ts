/**
 * Where the wake word cannot run (issue 14, "Where it cannot run"): with `wakeWord.enabled: true`,
 * `speakerd check-config` and the daemon's start fail with exit 78 (EX_CONFIG) and the fix when
 * onnxruntime-node cannot load (32-bit ARM: no binary; not installed) or a model is missing,
 * corrupt or not an openWakeWord model. With it false nothing here runs and nothing is imported.
 *
 * The check is the engine's own load (WakeWordEngine.create: the runtime, the two feature models,
 * every keyword model and their shapes), so it cannot pass where the daemon's worker would fail,
 * and the words are the same in both places (the worker formats its load failure with
 * `explainWakeWordError` too).
 */
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { WakeWordConfig } from '../config/schema.js';
import { describeError } from '../core/errors.js';
import { type Random, seededRandom } from '../core/random.js';
import { modelName, WakeWordEngine } from './engine.js';
import { type OrtImporter, ortSupportsPlatform, WakeWordError } from './onnx.js';

/** What locates the models: wakeWord's `featureModelDir` and `models` (or the worker's copy of them). */
export interface ModelPaths {
  readonly featureModelDir?: string | undefined;
  readonly models: readonly { readonly path: string }[];
}

/** wakeWord.featureModelDir, else the first model's directory (the schema's documented default). */
export function featureModelDirOf(w: ModelPaths): string {
  return w.featureModelDir ?? dirname(w.models[0]?.path ?? '.');
}

/**
 * One line for the operator: what is wrong and what to do. A runtime that does not load on a
 * platform onnxruntime-node ships no binary for is said as what it is (a 32-bit OS), not as a
 * broken install.
 */
export function explainWakeWordError(
  err: unknown,
  platform: string = process.platform,
  arch: string = process.arch,
): string {
  if (!(err instanceof WakeWordError)) return `wake word: ${describeError(err)}`;
  if (err.kind === 'runtime-unloadable' && !ortSupportsPlatform(platform, arch)) {
    const is32 = arch === 'arm' || arch === 'ia32';
    return (
      `wake word: onnxruntime-node has no build for ${platform}/${arch}` +
      (is32 ? ': the wake word needs a 64-bit OS' : '') +
      `; fix: ${is32 ? 'install the 64-bit Raspberry Pi OS (arm64), ' : 'use a platform it ships (linux/x64, linux/arm64), '}or set wakeWord.enabled=false`
    );
  }
  return `wake word: ${err.message}`;
}

export type PreflightResult =
  | { readonly ok: true; readonly summary: string }
  | { readonly ok: false; readonly kind: WakeWordError['kind'] | 'other'; readonly message: string };

export interface PreflightDeps {
  readonly log: Logger;
  /** How onnxruntime-node is imported (tests: a failing importer). */
  readonly importOrt?: OrtImporter;
  /** The start-up embeddings' random audio; seeded by default (the check keeps no state). */
  readonly random?: Random;
}

/**
 * The engine as the daemon's worker builds it from the config (the feature models from
 * featureModelDirOf, every keyword model): what check-config and doctor load. Throws as
 * WakeWordEngine.create does.
 */
export function engineForConfig(w: ModelPaths, deps: PreflightDeps): Promise<WakeWordEngine> {
  return WakeWordEngine.create({
    featureModelDir: featureModelDirOf(w),
    keywords: w.models.map((m) => ({ path: m.path })),
    random: deps.random ?? seededRandom(0),
    log: deps.log,
    ...(deps.importOrt === undefined ? {} : { importOrt: deps.importOrt }),
  });
}

/** Loads the runtime and every configured model once, then releases them. */
export async function preflightWakeWord(w: WakeWordConfig, deps: PreflightDeps): Promise<PreflightResult> {
  const featureModelDir = featureModelDirOf(w);
  let engine: WakeWordEngine;
  try {
    engine = await engineForConfig(w, deps);
  } catch (err) {
    return {
      ok: false,
      kind: err instanceof WakeWordError ? err.kind : 'other',
      message: explainWakeWordError(err),
    };
  }
  await engine.close();
  const names = w.models.map((m) => `${modelName(m.path)} "${m.phrase}" ≥ ${m.threshold}`);
  return {
    ok: true,
    summary: `wake word: onnxruntime-node loads; feature models in ${featureModelDir}; ${names.join(', ')}`,
  };
}
