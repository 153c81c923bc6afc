/**
 * `speakerd doctor`'s wake-word check (issue 14, hardware.md §10): with `wakeWord.enabled`, loads
 * onnxruntime-node and every model exactly as the daemon does (WakeWordEngine.create: the feature
 * models from wakeWord.featureModelDir, default the first model's directory, and each keyword
 * model), then runs one second of generated silence through the whole pipeline. That proves the
 * sessions run on this board, and times them: the time per 80 ms frame is what the board spends
 * on the wake word for every 80 ms of audio it hears. A model that fires on silence is a failure:
 * it would wake the speaker in an empty room.
 */
import type { Config } from '../config/schema.js';
import { describeError } from '../core/errors.js';
import type { Random } from '../core/random.js';
import { createLogger, type Logger } from '../system/logger.js';
import type { WakeWordEngine } from '../wakeword/engine.js';
import { FRAME_SAMPLES, SAMPLE_RATE } from '../wakeword/features.js';
import { type OrtImporter, WakeWordError } from '../wakeword/onnx.js';
import { engineForConfig, explainWakeWordError, featureModelDirOf } from '../wakeword/preflight.js';
import { type CheckResult, failed, pass, skip } from './check.js';

export const WAKE_WORD_CHECK = 'wake word';

/** One second of 16 kHz silence: 12 complete 80 ms frames, the first 5 of them the warm-up. */
const PROBE_SAMPLES = SAMPLE_RATE;

export interface WakeWordCheckDeps {
  /** Tests: an importer that fails like a platform without onnxruntime-node. */
  readonly importOrt?: OrtImporter;
  /** The start-up embeddings' random audio; seeded by default so two runs print the same scores. */
  readonly random?: Random;
  readonly log?: Logger;
}

/**
 * A load or run failure in check-config's words (preflight.ts explainWakeWordError: a runtime with
 * no build for this platform is said as "needs a 64-bit OS"), its fix in the result's own field.
 */
function failure(err: unknown): CheckResult {
  const line = explainWakeWordError(err).replace(/^wake word: /, '');
  const at = line.lastIndexOf('; fix: ');
  let fix = at < 0 ? undefined : line.slice(at + '; fix: '.length);
  // deploy/install.sh --no-wake-word leaves the package out on purpose; its own flag puts it back.
  if (err instanceof WakeWordError && err.kind === 'runtime-missing')
    fix = `${fix ?? err.fix}; installed with deploy/install.sh --no-wake-word: run it again with --wake-word`;
  return failed(WAKE_WORD_CHECK, at < 0 ? line : line.slice(0, at), fix);
}

export async function checkWakeWord(
  config: Readonly<Config>,
  deps: WakeWordCheckDeps = {},
): Promise<CheckResult> {
  const w = config.wakeWord;
  if (!w.enabled) return skip(WAKE_WORD_CHECK, 'wakeWord.enabled is false: the button only');
  const featureModelDir = featureModelDirOf(w);
  const log =
    deps.log ?? createLogger({ level: 'silent', format: 'json', destination: { write: () => undefined } });
  const t0 = performance.now();
  let engine: WakeWordEngine;
  try {
    engine = await engineForConfig(w, {
      log,
      ...(deps.random === undefined ? {} : { random: deps.random }),
      ...(deps.importOrt === undefined ? {} : { importOrt: deps.importOrt }),
    });
  } catch (err) {
    return failure(err);
  }
  const loadMs = performance.now() - t0;
  try {
    const max = new Float32Array(w.models.length);
    const frameTimes: number[] = [];
    let last = performance.now();
    await engine.feed(new Int16Array(PROBE_SAMPLES), (_frame, scores) => {
      const now = performance.now();
      frameTimes.push(now - last);
      last = now;
      scores.forEach((s, i) => {
        max[i] = Math.max(max[i] ?? 0, s);
      });
    });
    const frames = frameTimes.length;
    // The median: a session's first runs are slower (allocation), and the board's steady state is
    // what the wake word costs while the speaker listens.
    const perFrame = frameTimes.sort((a, b) => a - b)[Math.floor(frames / 2)] ?? Number.NaN;
    const frameMs = (FRAME_SAMPLES / SAMPLE_RATE) * 1000;
    const names = engine.keywords;
    const firing = w.models.flatMap((m, i) =>
      (max[i] ?? 0) >= m.threshold ? [`${names[i]} scores ${(max[i] ?? 0).toFixed(3)} ≥ ${m.threshold}`] : [],
    );
    if (firing.length > 0) {
      return failed(
        WAKE_WORD_CHECK,
        `on one second of silence ${firing.join(', ')}: it would wake the speaker with nobody speaking`,
        "raise that model's wakeWord.models[].threshold (see `speakerd wakeword score`) or use another model",
      );
    }
    const models = w.models.map((m, i) => `${names[i]} "${m.phrase}" (threshold ${m.threshold})`).join(', ');
    return pass(
      WAKE_WORD_CHECK,
      `onnxruntime-node loaded on ${process.platform}/${process.arch}; ${w.models.length} model${w.models.length === 1 ? '' : 's'}: ${models}, features from ${featureModelDir}; loaded in ${Math.round(loadMs)} ms; 1 s of silence scored in ${frames} frames: median ${perFrame.toFixed(2)} ms per ${frameMs} ms frame (${((perFrame / frameMs) * 100).toFixed(1)} % of real time, one thread), max score ${Math.max(...max).toFixed(4)}`,
    );
  } catch (err) {
    // The models loaded but a run failed (an output of an unexpected shape…).
    if (err instanceof WakeWordError) return failure(err);
    return failed(
      WAKE_WORD_CHECK,
      `the models loaded but scoring failed: ${describeError(err)}`,
      'check that wakeWord.models are openWakeWord keyword models; `speakerd wakeword score FILE.wav` shows the same error',
    );
  } finally {
    await engine.close();
  }
}
