/**
 * The wake-word detector the daemon listens to (issue 14). The capture's frames (the same
 * AlsaCapture the pre-roll reads, no second arecord: it runs `arecord -r 16000 -c 1 -t raw
 * -f S16_LE` through node-record-lpcm16's recorders/arecord.js and emits 1920-byte frames, which
 * is openWakeWord's input format) go to a worker_threads worker that scores them (worker-host.ts,
 * worker.ts); a detection comes back with the wake word's own audio and is reported here, unless
 * the detector is paused (while the device talks: no echo cancellation). Paused, the frames are
 * still scored so the rolling feature buffers stay current, and the triggers keep following the
 * scores: a score that rose while paused does not fire on resume.
 *
 * Per model: its threshold and wakeWord.refractoryMs, with trigger.ts, the one definition
 * `speakerd wakeword score` uses too, so the daemon fires where the command reports a detection.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { WakeWordConfig } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import type { Fault } from '../core/errors.js';
import type { Random } from '../core/random.js';
import { StateCell } from '../core/state.js';
import { modelName } from './engine.js';
import { featureModelDirOf } from './preflight.js';
import { WAKE_AUDIO_SAMPLES } from './wake-audio.js';
import { type RawDetection, WorkerHost, type WorkerHostState } from './worker-host.js';

export interface WakeDetection {
  readonly phrase: string; // the config phrase of the model that fired (sent as listen detect text)
  readonly model: string; // the model's name
  readonly score: number;
  /** The wake word's own audio: the last ~1.5 s of 16 kHz mono s16le PCM up to the end of the frame
   * that fired (firmware CONFIG_SEND_WAKE_WORD_DATA, protocol.md §11 item 10). */
  readonly audio: Buffer;
  /** clock.now() when the detection reached the main thread. */
  readonly at: number;
}

export interface WakeWordEvents {
  detection: [d: WakeDetection];
  fault: [f: Fault];
}

/** What the daemon needs of a wake word (DaemonDeps.wakeWord): detections, and pausing them. */
export interface WakeWordInput {
  on(event: 'detection', listener: (d: WakeDetection) => void): unknown;
  off(event: 'detection', listener: (d: WakeDetection) => void): unknown;
  pause(reason: string): void;
  resume(reason: string): void;
}

/** What the detector needs of the mic: AlsaCapture on a device, a fake in tests. */
export interface WakeCapture {
  on(event: 'frame', listener: (pcm: Buffer) => void): unknown;
  on(event: 'fault', listener: (f: Fault) => void): unknown;
  off(event: 'frame', listener: (pcm: Buffer) => void): unknown;
  off(event: 'fault', listener: (f: Fault) => void): unknown;
}

/**
 * stopped: not started (or start failed: see start()'s fault); listening: detections reported;
 * paused: scored, not reported; closed: the worker is gone. Whether the worker is up right now
 * (starting, restarting after a crash) is the worker's own state: `workerState`.
 */
export type DetectorState = 'stopped' | 'listening' | 'paused' | 'closed';

export type StartResult = { readonly ok: true } | { readonly ok: false; readonly fault: Fault };

export interface DetectorDeps {
  readonly config: Pick<WakeWordConfig, 'models' | 'featureModelDir' | 'refractoryMs'>;
  readonly capture: WakeCapture;
  readonly clock: Clock;
  readonly random: Random;
  readonly log: Logger;
  /** The worker's entry (tests: a stand-in that crashes or stalls). */
  readonly workerEntry?: URL;
  readonly maxQueuedFrames?: number;
}

export class WakeWordDetector extends EventEmitter<WakeWordEvents> implements WakeWordInput {
  readonly #d: DetectorDeps;
  readonly #cell: StateCell<DetectorState>;
  readonly #host: WorkerHost;
  readonly #onFrame = (pcm: Buffer) => this.#host.push(pcm);
  readonly #onCaptureFault = () => this.#host.resetFrame();
  #suppressed = 0;

  constructor(deps: DetectorDeps) {
    super();
    this.#d = deps;
    this.#cell = new StateCell<DetectorState>('stopped', deps.log, 'wakeword_detector');
    const { models, refractoryMs } = deps.config;
    this.#host = new WorkerHost({
      config: {
        featureModelDir: featureModelDirOf(deps.config),
        models: models.map((m) => ({ path: m.path, threshold: m.threshold })),
        refractoryMs,
        wakeAudioSamples: WAKE_AUDIO_SAMPLES,
      },
      clock: deps.clock,
      random: deps.random,
      log: deps.log,
      ...(deps.workerEntry === undefined ? {} : { entry: deps.workerEntry }),
      ...(deps.maxQueuedFrames === undefined ? {} : { maxQueuedFrames: deps.maxQueuedFrames }),
    });
    this.#host.on('detection', (d) => this.#onDetection(d));
    this.#host.on('fault', (f) => this.emit('fault', f));
  }

  get state(): DetectorState {
    return this.#cell.value;
  }

  get workerState(): WorkerHostState {
    return this.#host.state;
  }

  /** Frames dropped because the worker was ~1 s behind. */
  get droppedFrames(): number {
    return this.#host.droppedFrames;
  }

  /** Detections not reported because the detector was paused. */
  get suppressed(): number {
    return this.#suppressed;
  }

  /** Frames waiting for the worker (bounded by maxQueuedFrames). */
  get queued(): number {
    return this.#host.queued;
  }

  /**
   * Spawns the worker and loads the models. A failure (runtime or model: the fault's message has
   * the fix) is the operator's: main.ts exits 78 on it; nothing is retried.
   */
  async start(): Promise<StartResult> {
    if (this.#cell.value === 'closed') throw new Error('wake-word detector start() after close()');
    this.#d.capture.on('frame', this.#onFrame);
    this.#d.capture.on('fault', this.#onCaptureFault);
    const failed = await this.#host.start();
    if (failed !== undefined) {
      this.#unsubscribe();
      return { ok: false, fault: failed };
    }
    // A pause() that came while the models loaded stands.
    if (this.#cell.value === 'stopped') this.#cell.transition('listening', 'models loaded');
    return { ok: true };
  }

  pause(reason: string): void {
    if (this.#cell.value === 'listening' || this.#cell.value === 'stopped')
      this.#cell.transition('paused', reason);
  }

  resume(reason: string): void {
    if (this.#cell.value !== 'paused') return;
    const started = this.#host.state !== 'idle' && this.#host.state !== 'failed';
    this.#cell.transition(started ? 'listening' : 'stopped', reason);
  }

  async close(): Promise<void> {
    if (this.#cell.value === 'closed') return;
    this.#cell.transition('closed', 'close requested');
    this.#unsubscribe();
    await this.#host.close();
  }

  #unsubscribe(): void {
    this.#d.capture.off('frame', this.#onFrame);
    this.#d.capture.off('fault', this.#onCaptureFault);
  }

  #onDetection(raw: RawDetection): void {
    const spec = this.#d.config.models[raw.index];
    if (spec === undefined) {
      this.#d.log.error(
        { index: raw.index },
        'wake-word worker reported a model index that is not configured',
      );
      return;
    }
    const detection: WakeDetection = {
      phrase: spec.phrase,
      model: this.#host.keywords[raw.index] ?? modelName(spec.path),
      score: raw.score,
      // The worker transferred this buffer: the Buffer is a view of it, no copy.
      audio: Buffer.from(raw.audio.buffer, raw.audio.byteOffset, raw.audio.byteLength),
      at: this.#d.clock.now(),
    };
    const line = {
      phrase: detection.phrase,
      model: detection.model,
      score: detection.score,
      frame: raw.frame,
    };
    if (this.#cell.value !== 'listening') {
      this.#suppressed++;
      this.#d.log.debug(line, `wake word not reported: detector ${this.#cell.value}`);
      return;
    }
    this.#d.log.debug(line, 'wake word detected');
    this.emit('detection', detection);
  }
}
