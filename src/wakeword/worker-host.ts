/**
 * The main thread's side of the wake-word worker (worker.ts): spawns it, cuts the capture's 60 ms
 * frames into the 1280-sample (80 ms) frames openWakeWord scores, hands them over through a shared
 * ring (frame-ring.ts: a copy and an Atomics.notify, no message per frame), and watches it.
 *
 * - Bounded: the ring has `maxQueuedFrames` slots. A worker that falls further behind gets no
 *   more: the new frame is dropped and counted, and a warning says how many at most every
 *   DROP_LOG_MS. Memory never grows with a slow worker.
 * - A worker that dies (an uncaught error, a failed model run, an exit nobody asked for) is a fault
 *   (E_WAKEWORD) and is started again after a full-jitter backoff (core/backoff.ts, as the mic's
 *   recorder), forever; the rest of the daemon, the button included, keeps running meanwhile.
 * - The first start is different: a model that does not load is the operator's to fix (exit 78),
 *   so start() reports it and does not retry.
 * - close() asks the worker to release its sessions and waits for its exit (bounded), then
 *   terminates it.
 */
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { Backoff } from '../core/backoff.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import { describeError, ErrorCode, type Fault, fault } from '../core/errors.js';
import { isPlainObject } from '../core/json.js';
import type { Random } from '../core/random.js';
import { StateCell } from '../core/state.js';
import { FRAME_SAMPLES } from './features.js';
import { FrameRing } from './frame-ring.js';
import type { FromWorker, ToWorker, WorkerConfig } from './worker.js';

/** About 1 s of audio (13 × 80 ms) may wait for the worker; a detection later than that is useless. */
export const MAX_QUEUED_FRAMES = 13;
/** Loading the models takes well under a second on a desktop and a few on a Pi Zero 2 W. */
export const START_TIMEOUT_MS = 30_000;
/** close(): how long the worker gets to release its sessions before it is terminated. */
export const CLOSE_WAIT_MS = 2_000;
/** At most one "frames dropped" warning this often. */
export const DROP_LOG_MS = 10_000;
const RESTART_BASE_MS = 1_000;
const RESTART_CAP_MS = 60_000;
/** A worker that ran this long was healthy: the next death starts the backoff from its base. */
const STABLE_RUN_MS = 30_000;

export type WorkerHostState = 'idle' | 'starting' | 'running' | 'backoff' | 'failed' | 'closed';

export interface RawDetection {
  readonly index: number;
  readonly score: number;
  readonly frame: number;
  readonly audio: Int16Array;
}

export interface WorkerHostEvents {
  detection: [d: RawDetection];
  /** A running worker died (it is restarted), or a restart failed (it is tried again). */
  fault: [f: Fault];
}

export interface WorkerHostOptions {
  readonly config: Omit<WorkerConfig, 'seed' | 'logLevel' | 'ring'>;
  readonly clock: Clock;
  readonly random: Random;
  /** The component logger; the worker logs through it at its level. */
  readonly log: Logger;
  /** The worker's entry (tests: a stand-in that crashes or stalls). */
  readonly entry?: URL;
  readonly maxQueuedFrames?: number;
  readonly startTimeoutMs?: number;
}

/** One spawned worker, from new Worker() to its 'exit'. */
interface Generation {
  readonly worker: Worker;
  /** A fresh ring per worker: a dead one's unscored frames are not the next one's. */
  readonly frames: FrameRing;
  readyAt: number | undefined;
  /** What it said or threw before it ended: the fault's words. */
  error: string | undefined;
  /** We asked it to end: its exit is no fault. */
  deliberate: boolean;
  readonly exited: Promise<void>;
}

const PINO_LEVELS: Record<number, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

export class WorkerHost extends EventEmitter<WorkerHostEvents> {
  readonly #o: WorkerHostOptions;
  readonly #cell: StateCell<WorkerHostState>;
  readonly #backoff: Backoff;
  readonly #entry: URL;
  readonly #maxQueued: number;
  #gen: Generation | undefined;
  #keywords: readonly string[] = [];
  #timer: TimerHandle | undefined;
  /** The frame being filled from the capture's 60 ms frames; copied into the ring when full. */
  readonly #frame = new Int16Array(FRAME_SAMPLES);
  /** The same memory as bytes, for Buffer.copy from the capture's frames. */
  readonly #frameBytes = Buffer.from(this.#frame.buffer);
  #fill = 0;
  #dropped = 0;
  #droppedSinceLog = 0;
  #lastDropLog = Number.NEGATIVE_INFINITY;
  /** Settles the pending start(): the first ready, or the first failure. */
  #settleStart: ((f: Fault | undefined) => void) | undefined;

  constructor(options: WorkerHostOptions) {
    super();
    this.#o = options;
    this.#cell = new StateCell<WorkerHostState>('idle', options.log, 'wakeword_worker');
    this.#backoff = new Backoff({ baseMs: RESTART_BASE_MS, capMs: RESTART_CAP_MS }, options.random);
    this.#entry = options.entry ?? new URL('./worker.js', import.meta.url);
    this.#maxQueued = options.maxQueuedFrames ?? MAX_QUEUED_FRAMES;
  }

  get state(): WorkerHostState {
    return this.#cell.value;
  }

  /** The keyword models' names, in config order, once a worker was ready. */
  get keywords(): readonly string[] {
    return this.#keywords;
  }

  /** Frames dropped because the worker was behind by maxQueuedFrames. */
  get droppedFrames(): number {
    return this.#dropped;
  }

  /** Frames handed to the worker and not yet scored (≤ maxQueuedFrames). */
  get queued(): number {
    return this.#gen?.frames.queued ?? 0;
  }

  /** Spawns the worker and waits until its models are loaded: undefined, or the fault. */
  start(): Promise<Fault | undefined> {
    if (this.#cell.value !== 'idle') {
      return Promise.reject(new Error(`wake-word worker start() in state ${this.#cell.value}`));
    }
    const settled = new Promise<Fault | undefined>((resolve) => {
      this.#settleStart = resolve;
    });
    this.#spawn('start');
    return settled;
  }

  /** A capture frame (16 kHz mono s16le, any even length). Dropped unless a worker is running. */
  push(pcm: Buffer): void {
    if (pcm.length % 2 !== 0) throw new RangeError(`odd PCM length ${pcm.length}: s16 samples are 2 bytes`);
    let at = 0;
    while (at < pcm.length) {
      // Little-endian bytes into the Int16Array's memory: s16le on a little-endian host (arm64, x64).
      const n = Math.min(pcm.length - at, (FRAME_SAMPLES - this.#fill) * 2);
      pcm.copy(this.#frameBytes, this.#fill * 2, at, at + n);
      at += n;
      this.#fill += n / 2;
      if (this.#fill === FRAME_SAMPLES) {
        this.#fill = 0;
        this.#handOver();
      }
    }
  }

  /** The audio stopped and starts again later (a mic fault): no frame spans the gap. */
  resetFrame(): void {
    this.#fill = 0;
  }

  #handOver(): void {
    const g = this.#gen;
    if (g === undefined || this.#cell.value !== 'running') return;
    if (!g.frames.write(this.#frame)) {
      this.#dropped++;
      this.#droppedSinceLog++;
      const now = this.#o.clock.now();
      if (now - this.#lastDropLog >= DROP_LOG_MS) {
        this.#o.log.warn(
          { dropped_frames: this.#droppedSinceLog, dropped_total: this.#dropped, queued: this.queued },
          `wake-word worker behind by ${this.#maxQueued} frames: ${this.#droppedSinceLog} frame(s) of 80 ms dropped`,
        );
        this.#lastDropLog = now;
        this.#droppedSinceLog = 0;
      }
    }
  }

  #spawn(why: string): void {
    const { config, clock, random, log } = this.#o;
    this.#cell.transition('starting', why);
    const frames = FrameRing.create(this.#maxQueued);
    const data: WorkerConfig = {
      ...config,
      // The worker's start-up embeddings come from the injected randomness too.
      seed: Math.floor(random() * 2 ** 32),
      logLevel: log.level,
      ring: frames.buffers,
    };
    let worker: Worker;
    try {
      worker = new Worker(this.#entry, { workerData: data });
    } catch (err) {
      // new Worker() throws only for an unusable entry or options: a fault like a crash.
      this.#ended(undefined, `cannot start the wake-word worker: ${describeError(err)}`);
      return;
    }
    let exited: () => void = () => undefined;
    const gen: Generation = {
      worker,
      frames,
      readyAt: undefined,
      error: undefined,
      deliberate: false,
      exited: new Promise<void>((resolve) => {
        exited = resolve;
      }),
    };
    this.#gen = gen;
    worker.on('message', (m: FromWorker) => this.#onMessage(gen, m));
    worker.on('error', (err) => {
      gen.error ??= describeError(err);
      log.debug({ err: describeError(err) }, 'wake-word worker error');
    });
    worker.on('exit', (code) => {
      exited();
      this.#onExit(gen, code);
    });
    const timeout = this.#o.startTimeoutMs ?? START_TIMEOUT_MS;
    this.#timer = clock.setTimeout(() => {
      this.#timer = undefined;
      if (gen !== this.#gen || this.#cell.value !== 'starting') return;
      gen.error = `the models did not load within ${timeout} ms`;
      void worker.terminate();
    }, timeout);
  }

  #onMessage(gen: Generation, m: FromWorker): void {
    const log = this.#o.log;
    switch (m.type) {
      case 'log':
        this.#relog(m.line);
        return;
      case 'ready':
        if (gen !== this.#gen || this.#cell.value !== 'starting') return;
        this.#o.clock.clearTimeout(this.#timer);
        this.#timer = undefined;
        gen.readyAt = this.#o.clock.now();
        this.#keywords = m.keywords;
        this.#fill = 0;
        this.#cell.transition('running', `models loaded: ${m.keywords.join(', ')}`);
        this.#settleStart?.(undefined);
        this.#settleStart = undefined;
        return;
      case 'load-failed':
        // The worker ends by itself after this; its exit is judged in #onExit.
        gen.error = m.message;
        return;
      case 'detection':
        if (gen !== this.#gen || this.#cell.value !== 'running') return;
        this.emit('detection', { index: m.index, score: m.score, frame: m.frame, audio: m.audio });
        return;
      case 'closed':
        log.debug('wake-word worker released its sessions');
        return;
    }
  }

  /** A line the worker's pino wrote, logged again here (component, device id and all). */
  #relog(line: string): void {
    const log = this.#o.log;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (err) {
      log.warn({ line, err: describeError(err) }, 'wake-word worker wrote a log line that is not JSON');
      return;
    }
    if (!isPlainObject(record)) {
      log.warn({ line }, 'wake-word worker wrote a log line that is not an object');
      return;
    }
    // pino's own fields are the main logger's to write again.
    const { level, msg, time: _time, pid: _pid, hostname: _host, ...fields } = record;
    const method = (typeof level === 'number' ? PINO_LEVELS[level] : undefined) ?? 'info';
    log[method](fields, typeof msg === 'string' ? msg : 'wake-word worker');
  }

  #onExit(gen: Generation, code: number): void {
    if (gen !== this.#gen) return;
    this.#gen = undefined;
    if (gen.deliberate) {
      this.#o.log.debug({ code }, 'wake-word worker ended after close');
      return;
    }
    const now = this.#o.clock.now();
    if (gen.readyAt !== undefined && now - gen.readyAt >= STABLE_RUN_MS) this.#backoff.reset();
    this.#ended(gen, gen.error ?? `the wake-word worker exited with code ${code}`);
  }

  /** A worker ended unasked or could not start: the first start fails; otherwise restart later. */
  #ended(gen: Generation | undefined, why: string): void {
    const { clock, log } = this.#o;
    clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    const wasRunning = gen?.readyAt !== undefined;
    const f = fault(ErrorCode.WakeWord, wasRunning ? `wake-word worker died: ${why}` : why);
    const settle = this.#settleStart;
    if (settle !== undefined) {
      this.#settleStart = undefined;
      // The caller reports it (main.ts: fatal, exit 78); the transition line keeps the reason.
      this.#cell.transition('failed', why);
      settle(f);
      return;
    }
    log.warn({ code: f.code }, `${f.message}; the button still works`);
    this.emit('fault', f);
    // A fault listener may have closed the host meanwhile: its call wins.
    if (this.#cell.value === 'closed') return;
    const delay = this.#backoff.next();
    this.#cell.transition('backoff', `restart in ${delay} ms (failure ${this.#backoff.attempt})`);
    this.#timer = clock.setTimeout(() => {
      this.#timer = undefined;
      if (this.#cell.value === 'backoff') this.#spawn('restart after backoff');
    }, delay);
  }

  /** Releases the worker (bounded wait, then terminate). Idempotent. */
  async close(): Promise<void> {
    if (this.#cell.value === 'closed') return;
    this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#cell.transition('closed', 'close requested');
    const settle = this.#settleStart;
    this.#settleStart = undefined;
    settle?.(fault(ErrorCode.WakeWord, 'closed before the wake-word models were loaded'));
    const gen = this.#gen;
    if (gen === undefined) return;
    gen.deliberate = true;
    const m: ToWorker = { type: 'close' };
    gen.worker.postMessage(m);
    let timer: TimerHandle | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = this.#o.clock.setTimeout(() => resolve('late'), CLOSE_WAIT_MS);
    });
    const how = await Promise.race([gen.exited.then(() => 'exited' as const), late]);
    this.#o.clock.clearTimeout(timer);
    if (how === 'late') {
      this.#o.log.warn(`wake-word worker still running ${CLOSE_WAIT_MS} ms after close: terminating it`);
      await gen.worker.terminate();
    }
  }
}
