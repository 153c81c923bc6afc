/**
 * ONNX Runtime for the wake word (issue 14): loading `onnxruntime-node` (an optional dependency:
 * 32-bit ARM has no binary for it) and the models, with every failure turned into one error that
 * says what is wrong and how to fix it.
 */
import { access, constants } from 'node:fs/promises';
import type * as Ort from 'onnxruntime-node';
import { describeError, errnoCode } from '../core/errors.js';

export type OrtModule = typeof Ort;
export type OrtSession = Ort.InferenceSession;

/** What went wrong, so a caller (check-config, doctor, tests) can tell "cannot run here" apart. */
export type WakeWordErrorKind =
  /** onnxruntime-node is not in node_modules. */
  | 'runtime-missing'
  /** It is installed but its native binding does not load on this platform (e.g. linux/arm). */
  | 'runtime-unloadable'
  /** A model file does not exist or cannot be read. */
  | 'model-missing'
  /** ONNX Runtime refused the file (not an ONNX model, truncated…). */
  | 'model-corrupt'
  /** A valid model whose inputs or outputs are not what openWakeWord's pipeline feeds it. */
  | 'model-shape'
  /** Audio the pipeline cannot take (not 16 kHz mono s16). */
  | 'bad-audio';

export class WakeWordError extends Error {
  constructor(
    readonly kind: WakeWordErrorKind,
    message: string,
    /** One sentence: what the user does about it. */
    readonly fix: string,
    options?: { cause?: unknown },
  ) {
    super(`${message}; fix: ${fix}`, options);
    this.name = 'WakeWordError';
  }
}

/**
 * The platforms for which onnxruntime-node 1.31 ships a binary in its npm package
 * (bin/napi-v6/<platform>/<arch>). Only there is a failure to load it a defect and not a limit.
 */
export const ORT_PLATFORMS: readonly string[] = [
  'linux/x64',
  'linux/arm64',
  'darwin/arm64',
  'win32/x64',
  'win32/arm64',
];

export function ortSupportsPlatform(
  platform: string = process.platform,
  arch: string = process.arch,
): boolean {
  return ORT_PLATFORMS.includes(`${platform}/${arch}`);
}

export type OrtImporter = () => Promise<OrtModule>;

const importOrt: OrtImporter = () => import('onnxruntime-node');

/**
 * Loads onnxruntime-node. Its index requires the native binding at import time
 * (dist/binding.js: `require(\`../bin/napi-v6/${platform}/${arch}/onnxruntime_binding.node\`)`), so
 * an unsupported platform fails here, not at the first session.
 */
export async function loadOrt(importer: OrtImporter = importOrt): Promise<OrtModule> {
  try {
    return await importer();
  } catch (err) {
    const msg = describeError(err);
    if (errnoCode(err) === 'ERR_MODULE_NOT_FOUND' && msg.includes("'onnxruntime-node'")) {
      throw new WakeWordError(
        'runtime-missing',
        'onnxruntime-node is not installed',
        'run `npm install onnxruntime-node` in the speakerd directory (it is an optional dependency: npm leaves it out where it cannot install), or set wakeWord.enabled=false',
        { cause: err },
      );
    }
    const where = `${process.platform}/${process.arch}`;
    throw new WakeWordError(
      'runtime-unloadable',
      `onnxruntime-node does not load on ${where}: ${msg}`,
      ortSupportsPlatform()
        ? 'reinstall it (`npm ci`) — its native binding for this platform is missing or broken'
        : `it ships binaries only for ${ORT_PLATFORMS.join(', ')}: use a 64-bit OS (e.g. 64-bit Raspberry Pi OS), or set wakeWord.enabled=false`,
      { cause: err },
    );
  }
}

/**
 * One intra-op thread and sequential execution, as openWakeWord's Model and AudioFeatures set
 * (model.py: `intra_op_num_threads = 1`, `inter_op_num_threads = 1`): the board has few cores and
 * the daemon's own work must not wait behind a thread pool. Graph optimisation "all" is Python
 * onnxruntime's default (ORT_ENABLE_ALL), which the reference used.
 */
export const SESSION_OPTIONS: Ort.InferenceSession.SessionOptions = {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
};

export interface TensorShape {
  readonly name: string;
  /** Dimensions; a string is a symbolic (free) dimension such as a batch size. */
  readonly shape: readonly (number | string)[];
}

export interface LoadedModel {
  readonly path: string;
  readonly session: OrtSession;
  readonly input: TensorShape;
  readonly output: TensorShape;
}

function tensorShape(
  meta: Ort.InferenceSession.ValueMetadata | undefined,
  what: string,
  path: string,
): TensorShape {
  if (meta === undefined || !meta.isTensor || meta.type !== 'float32') {
    throw new WakeWordError(
      'model-shape',
      `${path}: its ${what} is not one float32 tensor`,
      'use an openWakeWord ONNX model (melspectrogram.onnx, embedding_model.onnx or a keyword model)',
    );
  }
  return { name: meta.name, shape: meta.shape };
}

/** Creates a session for one model file; missing, unreadable and corrupt files are WakeWordErrors. */
export async function loadModel(ort: OrtModule, path: string): Promise<LoadedModel> {
  try {
    await access(path, constants.R_OK);
  } catch (err) {
    throw new WakeWordError(
      'model-missing',
      `cannot read model ${path}: ${describeError(err)}`,
      'check the path in wakeWord.models / wakeWord.featureModelDir (or --model); see the README "Wake word" section for where models come from',
      { cause: err },
    );
  }
  let session: OrtSession;
  try {
    session = await ort.InferenceSession.create(path, SESSION_OPTIONS);
  } catch (err) {
    throw new WakeWordError(
      'model-corrupt',
      `ONNX Runtime cannot load ${path}: ${describeError(err)}`,
      'the file is not a valid ONNX model (truncated download?): fetch it again and compare its sha256',
      { cause: err },
    );
  }
  if (session.inputMetadata.length !== 1 || session.outputMetadata.length !== 1) {
    await session.release();
    throw new WakeWordError(
      'model-shape',
      `${path} has ${session.inputMetadata.length} inputs and ${session.outputMetadata.length} outputs, not 1 and 1`,
      'use an openWakeWord ONNX model',
    );
  }
  try {
    return {
      path,
      session,
      input: tensorShape(session.inputMetadata[0], 'input', path),
      output: tensorShape(session.outputMetadata[0], 'output', path),
    };
  } catch (err) {
    await session.release();
    throw err;
  }
}

/** The first output of a run as float32 data (the models here all have exactly one). */
export function firstOutput(result: Ort.InferenceSession.OnnxValueMapType, model: LoadedModel): Float32Array {
  const value = result[model.output.name];
  if (value === undefined || !(value.data instanceof Float32Array)) {
    throw new WakeWordError(
      'model-shape',
      `${model.path} returned no float32 output ${JSON.stringify(model.output.name)}`,
      'use an openWakeWord ONNX model',
    );
  }
  return value.data;
}
