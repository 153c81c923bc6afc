/**
 * Scoring whole clips the way the daemon scores the mic, and `speakerd wakeword score`, the command
 * for people tuning a threshold or checking a model (issue 14). The padding and chunking are
 * openWakeWord's `Model.predict_clip(clip, padding=1, chunk_size=1280)` (model.py): 1 s of zeros
 * before and after, 1280-sample chunks, the trailing partial chunk not fed.
 */
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { EX_CONFIG, formatConfigErrors, loadConfig } from '../config/load.js';
import { describeError } from '../core/errors.js';
import { type Random, seededRandom } from '../core/random.js';
import { WakeWordEngine } from './engine.js';
import { FRAME_SAMPLES, SAMPLE_RATE } from './features.js';
import { WakeWordError } from './onnx.js';
import { Trigger } from './trigger.js';
import { parseWav16kMono } from './wav.js';

/** predict_clip's default padding=1: one second of zeros on each side. */
export const CLIP_PADDING_SAMPLES = SAMPLE_RATE;
export const DEFAULT_THRESHOLD = 0.5;
export const DEFAULT_REFRACTORY_MS = 2_000;

/** The clip as predict_clip feeds it: padded, and cut to whole chunks (`range(0, len - 1280, 1280)`). */
export function clipFrames(samples: number, padSamples: number): number {
  const total = samples + 2 * padSamples;
  return Math.max(0, Math.ceil((total - FRAME_SAMPLES) / FRAME_SAMPLES));
}

/**
 * Every 80 ms score of a clip, per keyword (outer index as engine.keywords). The engine should be
 * fresh: a clip is scored from the start-up state, as predict_clip on a new Model.
 */
export async function scoreClip(
  engine: WakeWordEngine,
  pcm: Int16Array,
  padSamples: number,
): Promise<Float32Array[]> {
  const frames = clipFrames(pcm.length, padSamples);
  const traces = engine.keywords.map(() => new Float32Array(frames));
  const padded = new Int16Array(pcm.length + 2 * padSamples);
  padded.set(pcm, padSamples);
  const first = engine.frames;
  await engine.feed(padded.subarray(0, frames * FRAME_SAMPLES), (frame, scores) => {
    const at = frame - first;
    for (let i = 0; i < traces.length; i++) {
      const trace = traces[i];
      if (trace !== undefined) trace[at] = scores[i] ?? 0;
    }
  });
  return traces;
}

/** The frames of a trace that fire (trigger.ts: threshold crossing, then refractoryMs). */
export function detections(trace: ArrayLike<number>, threshold: number, refractoryMs: number): number[] {
  const out: number[] = [];
  const trigger = new Trigger(threshold, refractoryMs);
  for (let k = 0; k < trace.length; k++) if (trigger.push(trace[k] ?? 0)) out.push(k);
  return out;
}

export interface ModelArg {
  readonly path: string;
  readonly phrase: string | undefined;
  readonly threshold: number;
}

/** `--model PATH[:phrase[:threshold]]`. */
export function parseModelArg(arg: string): ModelArg {
  const [path = '', phrase, threshold, ...rest] = arg.split(':');
  if (path === '' || rest.length > 0)
    throw new Error(`--model ${JSON.stringify(arg)}: expected PATH[:phrase[:threshold]]`);
  const t = threshold === undefined || threshold === '' ? DEFAULT_THRESHOLD : Number(threshold);
  if (!Number.isFinite(t) || t <= 0 || t > 1) {
    throw new Error(`--model ${JSON.stringify(arg)}: the threshold must be a number in (0, 1]`);
  }
  return { path, phrase: phrase === '' ? undefined : phrase, threshold: t };
}

/** Scores for reading: 4 decimals, and tiny ones as 9.3e-5 rather than 0.0000. */
const fmt = (x: number) => (x === 0 || x >= 0.001 ? x.toFixed(4) : x.toExponential(1));
/** A float32 score written so that it reads back as the same float32 (9 significant digits). */
const f32 = (x: number) => Number(x.toPrecision(9));

export interface ScoreIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

export const SCORE_USAGE = `usage: speakerd wakeword score FILE.wav… [--model PATH[:phrase[:threshold]]]… [options]

Scores each file as the daemon scores the mic (openWakeWord: 1280-sample chunks, 1 s of zeros
before and after) and prints, per file and model, the max score, its frame and the detections.
Without --model, the models of the config's wakeWord section (enabled or not).

options:
  --model PATH[:phrase[:threshold]]   a keyword model (.onnx); repeatable; threshold default ${DEFAULT_THRESHOLD}
  --config F                          the config to take wakeWord.* from (default as for run)
  --feature-model-dir DIR             melspectrogram.onnx + embedding_model.onnx (default: wakeWord.featureModelDir,
                                      else the first model's directory)
  --refractory-ms N                   detections closer than this count once (default: wakeWord.refractoryMs, ${DEFAULT_REFRACTORY_MS})
  --no-pad                            score the file as it is, without the 2 × 1 s of silence
  --json                              one JSON document with the per-frame trace of every model
files: 16 kHz mono 16-bit PCM WAV (convert others with sox or ffmpeg, the error says how)`;

export interface ScoreDeps {
  readonly log: Logger;
  /** For the config (SPEAKERD_CONFIG and the other overrides) when no --model is given. */
  readonly env: NodeJS.ProcessEnv;
  readonly random?: Random;
}

/** `speakerd wakeword <subcommand>`; `score` is the only one. */
export async function runWakeword(argv: readonly string[], io: ScoreIo, deps: ScoreDeps): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'score') return runWakewordScore(rest, io, deps);
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') {
    io.out(SCORE_USAGE);
    return 0;
  }
  io.err(`speakerd wakeword: unknown subcommand ${JSON.stringify(sub)}\n\n${SCORE_USAGE}`);
  return 2;
}

/** `speakerd wakeword score …`: 0 when every file was scored, 1 on a file or model error, 2 on usage. */
export async function runWakewordScore(
  argv: readonly string[],
  io: ScoreIo,
  deps: ScoreDeps,
): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    io.err(`speakerd wakeword score: ${describeError(err)}\n\n${SCORE_USAGE}`);
    return 2;
  }
  if (parsed === 'help') {
    io.out(SCORE_USAGE);
    return 0;
  }
  const { files, pad, json } = parsed;
  let { models, featureModelDir, refractoryMs } = parsed;
  if (models.length === 0) {
    // The configured models, as the daemon would run them.
    const loaded = loadConfig({
      ...(parsed.configPath === undefined ? {} : { path: parsed.configPath }),
      env: deps.env,
    });
    if (!loaded.ok) {
      io.err(formatConfigErrors(loaded.errors, loaded.source));
      return EX_CONFIG;
    }
    const w = loaded.config.wakeWord;
    models = w.models.map((m) => ({ path: m.path, phrase: m.phrase, threshold: m.threshold }));
    if (models.length === 0) {
      io.err(
        `speakerd wakeword score: no model: give --model PATH[:phrase[:threshold]] or set wakeWord.models in ${loaded.source}\n\n${SCORE_USAGE}`,
      );
      return 2;
    }
    featureModelDir ??= w.featureModelDir;
    refractoryMs ??= w.refractoryMs;
  }
  const featureDir = featureModelDir ?? dirname(models[0]?.path ?? '.');
  const refractory = refractoryMs ?? DEFAULT_REFRACTORY_MS;
  const report: unknown[] = [];
  let failed = false;
  for (const file of files) {
    let pcm: Int16Array;
    try {
      pcm = parseWav16kMono(await readFile(file), file);
    } catch (err) {
      failed = true;
      io.err(
        `speakerd wakeword score: ${err instanceof WakeWordError ? err.message : `${file}: ${describeError(err)}`}`,
      );
      continue;
    }
    // A fresh engine per file: every file starts from the start-up state, as predict_clip on a new
    // Model does. The random start-up audio is seeded so the output of frames 5–14 is reproducible.
    let engine: WakeWordEngine;
    try {
      engine = await WakeWordEngine.create({
        featureModelDir: featureDir,
        keywords: models.map((m) => ({ path: m.path })),
        random: deps.random ?? seededRandom(0),
        log: deps.log,
      });
    } catch (err) {
      io.err(`speakerd wakeword score: ${describeError(err)}`);
      return 1;
    }
    const padSamples = pad ? CLIP_PADDING_SAMPLES : 0;
    let traces: Float32Array[];
    try {
      traces = await scoreClip(engine, pcm, padSamples);
    } catch (err) {
      // A model that loads but fails to run (an unexpected output shape…): this file fails, the rest go on.
      failed = true;
      io.err(`speakerd wakeword score: ${file}: ${describeError(err)}`);
      continue;
    } finally {
      await engine.close();
    }
    const results = models.map((m, i) => {
      const trace = traces[i] ?? new Float32Array(0);
      let maxFrame = -1;
      let max = Number.NEGATIVE_INFINITY;
      trace.forEach((s, k) => {
        if (s > max) {
          max = s;
          maxFrame = k;
        }
      });
      return {
        model: engine.keywords[i] ?? m.path,
        path: m.path,
        phrase: m.phrase ?? null,
        threshold: m.threshold,
        max: trace.length > 0 ? f32(max) : null,
        maxFrame: trace.length > 0 ? maxFrame : null,
        detections: detections(trace, m.threshold, refractory),
        trace,
      };
    });
    const frames = clipFrames(pcm.length, padSamples);
    /** The end of frame k in seconds of the file (padding excluded). */
    const at = (k: number) => (((k + 1) * FRAME_SAMPLES - padSamples) / SAMPLE_RATE).toFixed(2);
    if (json) {
      report.push({
        file,
        samples: pcm.length,
        padSamples,
        frameSamples: FRAME_SAMPLES,
        frames,
        models: results.map(({ trace, ...r }) => ({ ...r, scores: Array.from(trace, f32) })),
      });
    } else {
      io.out(
        `${file}: ${(pcm.length / SAMPLE_RATE).toFixed(2)} s, ${frames} frames of 80 ms${pad ? ' (1 s of silence added before and after)' : ''}`,
      );
      for (const r of results) {
        const max =
          r.max === null || r.maxFrame === null
            ? 'no frame'
            : `max ${fmt(r.max)} at frame ${r.maxFrame} (${at(r.maxFrame)} s)`;
        const det =
          r.detections.length === 0
            ? 'no detection'
            : `${r.detections.length} detection${r.detections.length === 1 ? '' : 's'}: ${r.detections.map((k) => `frame ${k} (${at(k)} s)`).join(', ')}`;
        io.out(`  ${r.model}${r.phrase ? ` "${r.phrase}"` : ''}: ${max}; threshold ${r.threshold}: ${det}`);
      }
    }
  }
  if (json) io.out(JSON.stringify({ files: report }, null, 2));
  return failed ? 1 : 0;
}

function parse(argv: readonly string[]) {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      model: { type: 'string', multiple: true },
      config: { type: 'string' },
      'feature-model-dir': { type: 'string' },
      'refractory-ms': { type: 'string' },
      'no-pad': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help === true) return 'help' as const;
  if (positionals.length === 0) throw new Error('no WAV file given');
  const refractoryMs = values['refractory-ms'] === undefined ? undefined : Number(values['refractory-ms']);
  if (refractoryMs !== undefined && (!Number.isFinite(refractoryMs) || refractoryMs < 0)) {
    throw new Error('--refractory-ms must be a number ≥ 0');
  }
  return {
    files: positionals,
    models: (values.model ?? []).map(parseModelArg),
    configPath: values.config,
    featureModelDir: values['feature-model-dir'],
    refractoryMs,
    pad: values['no-pad'] !== true,
    json: values.json === true,
  };
}
