/**
 * The microphone (design.md §3.4): `arecord` spawned by node-record-lpcm16, running continuously,
 * cut into exact 60 ms frames. A missing, busy or dead mic is an event, never a throw: 'fault',
 * then a restart with full-jitter backoff, forever. A mic that stays alive but delivers nothing
 * is a fault too ('recovered' when frames come back), and `health()` reports it to the watchdog.
 */
import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import lpcm16, { type RecordOptions } from 'node-record-lpcm16';
import type { Logger } from 'pino';
import { Backoff } from '../core/backoff.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import { describeError, ErrorCode, type Fault, fault } from '../core/errors.js';
import type { Random } from '../core/random.js';
import { StateCell } from '../core/state.js';
import { CAPTURE_RATE } from './audio-port.js';
import { FrameAssembler } from './frames.js';
import { StderrTail } from './stderr-tail.js';

/** First backoff ceiling (design.md §3.4 follows the supervisor's §3.2 policy). */
const RESTART_BASE_MS = 500;
/** A run that delivered frames this long was healthy: the next failure starts from the base delay. */
const STABLE_RUN_MS = 30_000;
/** Running with no frame this long = a silent mic (the watchdog's "capture frames arriving"). */
export const STALL_MS = 2_000;
/** stop(): SIGTERM, then SIGKILL after this long, then give up waiting after as long again. */
const KILL_AFTER_MS = 1_000;
/** Stderr lines kept for the log and `doctor`; one line is cut at MAX_LINE chars. */
const STDERR_LINES = 10;
const MAX_LINE = 300;
/** Stderr lines quoted in a fault message: ALSA's reason is in the last two or three. */
const FAULT_LINES = 3;

export type CaptureState = 'stopped' | 'starting' | 'running' | 'failed' | 'backoff';

export interface CaptureEvents {
  /** Exactly FRAME_BYTES of 16 kHz mono S16_LE. */
  frame: [pcm: Buffer];
  /** The mic died, could not start, or went silent (ErrorCode.AudioSource). */
  fault: [fault: Fault];
  /** Frames arrive again after a fault. */
  recovered: [];
}

/** The child as this adapter uses it; node's ChildProcess fits, unit tests pass a fake. */
export interface RecorderProcess {
  readonly pid?: number | undefined;
  readonly stderr: Readable | null;
  kill(signal?: NodeJS.Signals): boolean;
  on(event: 'spawn', listener: () => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: 'close', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
}

export interface Recording {
  readonly process: RecorderProcess;
  stream(): Readable;
}

/** arecord-env-recorder.cjs, by absolute path: node-record-lpcm16 resolves recorders with path.resolve. */
const ENV_RECORDER = fileURLToPath(new URL('./arecord-env-recorder.cjs', import.meta.url));

export type RecordFn = (options: RecordOptions) => Recording;

export interface AlsaCaptureDeps {
  /** ALSA capture PCM (config audio.captureDevice). */
  readonly device: string;
  /** Backoff cap (config audio.captureRestartMaxMs, ≥ 500). */
  readonly restartMaxMs: number;
  readonly clock: Clock;
  readonly random: Random;
  readonly log: Logger;
  /** node-record-lpcm16's `record` unless a test fakes it. */
  readonly record?: RecordFn;
  /** The recorder's environment, read at every spawn; process.env when absent. */
  readonly env?: NodeJS.ProcessEnv;
}

export interface Health {
  readonly ok: boolean;
  readonly reason?: string;
}

/** One spawned recorder, from record() to its 'close'. */
interface Run {
  readonly recording: Recording;
  readonly startedAt: number;
  firstFrameAt: number | undefined;
  spawnError: string | undefined;
  /** We asked it to end: its exit is no fault. */
  deliberate: boolean;
  closed: boolean;
  readonly stderr: StderrTail;
  killTimer: TimerHandle | undefined;
  /** Resolves at 'close', or when waiting for it was given up (bounded). */
  readonly gone: Promise<void>;
  release: () => void;
}

export class AlsaCapture extends EventEmitter<CaptureEvents> {
  readonly #d: AlsaCaptureDeps;
  readonly #cell: StateCell<CaptureState>;
  readonly #backoff: Backoff;
  readonly #assembler = new FrameAssembler();
  readonly #record: RecordFn;
  #run: Run | undefined;
  #lastStderr: readonly string[] = [];
  #retryTimer: TimerHandle | undefined;
  #stallTimer: TimerHandle | undefined;
  /** Bumped by start() and stop(): a deferred launch or retry from an older epoch is void. */
  #epoch = 0;
  #lastFrameAt: number | undefined;
  /** When start() was called: a mic that never delivers is unhealthy 2 s after it, restarts or not. */
  #startedAt = 0;
  /** A fault was emitted and no frame has arrived since. */
  #faulted = false;
  #stalled = false;
  #lastFault: string | undefined;
  /** Frames delivered since construction. */
  frames = 0;
  /** Recorders that ended without being asked to. */
  deaths = 0;

  constructor(deps: AlsaCaptureDeps) {
    super();
    this.#d = deps;
    this.#record = deps.record ?? lpcm16.record;
    this.#cell = new StateCell<CaptureState>('stopped', deps.log, 'capture');
    this.#backoff = new Backoff({ baseMs: RESTART_BASE_MS, capMs: deps.restartMaxMs }, deps.random);
  }

  get state(): CaptureState {
    return this.#cell.value;
  }

  /** Clock time of the last frame, from any run. */
  get lastFrameAt(): number | undefined {
    return this.#lastFrameAt;
  }

  /** The last stderr lines of the most recent recorder that wrote any (for the log and `doctor`). */
  get stderrTail(): readonly string[] {
    const live = this.#run?.stderr.lines ?? [];
    return live.length > 0 ? live : this.#lastStderr;
  }

  get pid(): number | undefined {
    return this.#run && !this.#run.closed ? this.#run.recording.process.pid : undefined;
  }

  /** Failures in a row since the last healthy run: the backoff's attempt counter. */
  get failures(): number {
    return this.#backoff.attempt;
  }

  health(now: number): Health {
    const state = this.#cell.value;
    if (state === 'stopped') return { ok: true };
    if (state === 'failed' || state === 'backoff') {
      return { ok: false, reason: `mic ${state}: ${this.#lastFault ?? 'not running'}` };
    }
    const since = now - Math.max(this.#startedAt, this.#lastFrameAt ?? this.#startedAt);
    return since >= STALL_MS ? { ok: false, reason: `no frames for ${Math.round(since)} ms` } : { ok: true };
  }

  /** Starts the recorder (and keeps it running). Idempotent; a fresh start forgets past failures. */
  start(): void {
    if (this.#cell.value !== 'stopped') return;
    this.#epoch++;
    this.#backoff.reset();
    this.#startedAt = this.#d.clock.now();
    this.#cell.transition('starting', 'start requested', { device: this.#d.device });
    const prev = this.#run;
    if (!prev || prev.closed) {
      this.#launch();
      return;
    }
    // The previous arecord may still hold the device (a restart would fail "busy"): wait for it.
    const epoch = this.#epoch;
    void prev.gone.then(() => {
      if (epoch === this.#epoch && this.#cell.value === 'starting') this.#launch();
    });
  }

  /** Ends the recorder: SIGTERM, SIGKILL after 1 s; resolves when it is reaped (bounded). Idempotent. */
  async stop(): Promise<void> {
    this.#epoch++;
    this.#d.clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#disarmStall();
    this.#assembler.reset();
    this.#cell.transition('stopped', 'stop requested');
    const run = this.#run;
    if (!run || run.closed) return;
    this.#terminate(run);
    await run.gone;
  }

  #launch(): void {
    const { device, log } = this.#d;
    const env = this.#d.env;
    const options: RecordOptions = {
      // The library's own arecord recorder, unless the child needs its own environment.
      recorder: env ? ENV_RECORDER : 'arecord',
      audioType: 'raw',
      sampleRate: CAPTURE_RATE,
      channels: 1,
      device,
      ...(env ? { env } : {}),
    };
    let recording: Recording;
    try {
      recording = this.#record(options);
    } catch (err) {
      // spawn() throws synchronously only for unusable arguments; still an event, not a crash.
      this.#died(undefined, `cannot start arecord: ${describeError(err)}`);
      return;
    }
    // Replaced by the executor below, which runs synchronously.
    let release: () => void = () => undefined;
    const gone = new Promise<void>((resolve) => {
      release = resolve;
    });
    const run: Run = {
      recording,
      startedAt: this.#d.clock.now(),
      firstFrameAt: undefined,
      spawnError: undefined,
      deliberate: false,
      closed: false,
      stderr: new StderrTail(STDERR_LINES, MAX_LINE),
      killTimer: undefined,
      gone,
      release,
    };
    this.#run = run;
    const child = recording.process;
    // All listeners in this tick: a missing arecord (ENOENT) is an 'error' event that would
    // otherwise crash the daemon, and the stream's string 'error' on exit likewise.
    child.on('error', (err) => {
      run.spawnError = describeError(err);
      log.debug({ err: run.spawnError }, 'recorder process error');
    });
    child.on('spawn', () => {
      if (run !== this.#run || run.deliberate || this.#cell.value !== 'starting') return;
      this.#cell.transition('running', `arecord pid ${child.pid ?? '?'} on ${device}`);
      this.#armStall(STALL_MS);
    });
    child.on('close', (code, signal) => this.#onClose(run, code, signal));
    child.stderr?.on('data', (chunk: Buffer | string) => this.#onStderr(run, String(chunk)));
    const stream = recording.stream();
    stream.on('data', (chunk: Buffer | string) => this.#onData(run, chunk));
    stream.on('error', (err: unknown) => {
      if (typeof err === 'string') {
        // node-record-lpcm16's note on every non-zero exit, after a stop() too: the 'close'
        // handler has already judged the exit (deliberate or a death); nothing more to do.
        log.debug({ note: err.split('\n')[0] }, 'recorder stream note');
        return;
      }
      log.warn({ err: describeError(err) }, 'recorder stdout failed: ending it');
      child.kill('SIGTERM');
    });
  }

  #onData(run: Run, chunk: Buffer | string): void {
    if (run !== this.#run || run.deliberate || this.#cell.value !== 'running') return;
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'binary') : chunk;
    this.#assembler.push(buf, (frame) => {
      const now = this.#d.clock.now();
      this.#lastFrameAt = now;
      run.firstFrameAt ??= now;
      this.frames++;
      if (this.#faulted) {
        this.#faulted = false;
        this.#stalled = false;
        this.#d.log.info({ device: this.#d.device }, 'mic recovered: frames arrive again');
        this.emit('recovered');
      }
      if (!this.#stallTimer) this.#armStall(STALL_MS);
      this.emit('frame', frame);
    });
  }

  #onStderr(run: Run, text: string): void {
    // ALSA overrun notes and the like: detail for debugging, the fault carries what matters.
    run.stderr.push(text, (line) => this.#d.log.debug({ stderr: line }, 'arecord stderr'));
  }

  #onClose(run: Run, code: number | null, signal: NodeJS.Signals | null): void {
    run.stderr.flush((line) => this.#d.log.debug({ stderr: line }, 'arecord stderr'));
    run.closed = true;
    this.#d.clock.clearTimeout(run.killTimer);
    run.release();
    if (run.stderr.lines.length > 0) this.#lastStderr = run.stderr.lines;
    if (run !== this.#run) return;
    if (run.deliberate) {
      this.#d.log.debug({ code, signal }, 'arecord ended after stop');
      return;
    }
    const how = run.spawnError
      ? `cannot run arecord: ${run.spawnError}`
      : signal
        ? `arecord killed by ${signal}`
        : `arecord exited with code ${code ?? '?'}`;
    this.#died(run, how);
  }

  /** A recorder ended unasked, or could not start: fault, then a restart after a backoff delay. */
  #died(run: Run | undefined, how: string): void {
    const { clock, device, log } = this.#d;
    const now = clock.now();
    this.deaths++;
    this.#disarmStall();
    this.#assembler.reset();
    if (run?.firstFrameAt !== undefined && now - run.firstFrameAt >= STABLE_RUN_MS) this.#backoff.reset();
    const tail = run?.stderr.lines ?? [];
    const quoted = tail.slice(-FAULT_LINES).join(' | ');
    const message = `mic ${device}: ${how}${quoted ? `: ${quoted}` : ''}`;
    this.#lastFault = message;
    this.#cell.transition('failed', how);
    log.warn({ code: ErrorCode.AudioSource, device, stderr: tail }, message);
    this.#faulted = true;
    this.emit('fault', fault(ErrorCode.AudioSource, message));
    // A fault listener may have stopped (or restarted) the capture meanwhile: its call wins.
    if (this.#cell.value !== 'failed') return;
    const delay = this.#backoff.next();
    this.#cell.transition('backoff', `restart in ${delay} ms (failure ${this.#backoff.attempt})`);
    const epoch = this.#epoch;
    this.#retryTimer = clock.setTimeout(() => {
      this.#retryTimer = undefined;
      if (epoch !== this.#epoch || this.#cell.value !== 'backoff') return;
      this.#cell.transition('starting', 'restart after backoff');
      this.#launch();
    }, delay);
  }

  #terminate(run: Run): void {
    if (run.deliberate) return;
    run.deliberate = true;
    const { clock, log } = this.#d;
    const child = run.recording.process;
    child.kill('SIGTERM');
    // Checked after each kill: a fake (or a very quick) child may have closed inside kill().
    if (run.closed) return;
    run.killTimer = clock.setTimeout(() => {
      if (run.closed) return;
      log.warn({ pid: child.pid }, `arecord still running ${KILL_AFTER_MS} ms after SIGTERM: SIGKILL`);
      child.kill('SIGKILL');
      if (run.closed) return;
      run.killTimer = clock.setTimeout(() => {
        if (run.closed) return;
        // Unkillable (stuck in the kernel): waiting longer would wedge stop(); say so and move on.
        log.error({ pid: child.pid }, 'arecord not reaped after SIGKILL; no longer waiting for it');
        run.release();
      }, KILL_AFTER_MS);
    }, KILL_AFTER_MS);
  }

  /** For the stall fault, silence counts from the last frame or the start of this run. */
  #activityAt(now: number): number {
    const since = this.#run?.startedAt ?? now;
    return Math.max(since, this.#lastFrameAt ?? since);
  }

  #armStall(ms: number): void {
    this.#disarmStall();
    this.#stallTimer = this.#d.clock.setTimeout(() => this.#checkStall(), ms);
  }

  #disarmStall(): void {
    this.#d.clock.clearTimeout(this.#stallTimer);
    this.#stallTimer = undefined;
  }

  /** One timer per stall window, re-armed for the rest of it, instead of one timer per frame. */
  #checkStall(): void {
    this.#stallTimer = undefined;
    if (this.#cell.value !== 'running' || this.#stalled) return;
    const now = this.#d.clock.now();
    const since = now - this.#activityAt(now);
    if (since < STALL_MS) {
      this.#armStall(STALL_MS - since);
      return;
    }
    // Once per silence: the next frame re-arms the timer and reports 'recovered'.
    this.#stalled = true;
    this.#faulted = true;
    const message = `mic ${this.#d.device}: no audio for ${Math.round(since)} ms (arecord pid ${this.pid ?? '?'} alive)`;
    this.#lastFault = message;
    this.#d.log.warn({ code: ErrorCode.AudioSource }, message);
    this.emit('fault', fault(ErrorCode.AudioSource, message));
  }
}
