/**
 * The speaker (design.md §3.4): one `aplay` per TTS stream, fed from a bounded queue.
 *
 * Timing model. `aplay` reads stdin as fast as the device takes it, so whatever we write is, to a
 * first approximation, queued in front of the loudspeaker. We therefore keep our own estimate of
 * when the audio handed over so far will have been played (`playsUntil`, on the injected clock)
 * and hand over more only while that is less than `maxQueueMs` ahead of now. The rest waits in our
 * queue, where `abort()` can drop it instantly; what aplay holds can only be dropped by killing it.
 * Before the first hand-over we gather `prebufferMs` so network jitter right at the start does not
 * starve the device. A starved device (queue empty, network late) is modelled by restarting the
 * estimate from "now" on the next hand-over.
 *
 * Lifecycle of one stream: `begin` spawns aplay at once (opening a device takes time; it overlaps
 * with the pre-buffer), `end` hands over the rest and closes stdin, aplay plays out and exits 0 →
 * 'drained'. `abort` drops the queue and kills aplay (SIGTERM, SIGKILL after a short grace: an
 * aplay blocked in open() ignores SIGTERM, test-infra.md §1.7). An aplay that exits on its own,
 * stops taking audio, or does not finish after `end` ends the stream with one 'fault'.
 */
import { EventEmitter } from 'node:events';
import type { Writable } from 'node:stream';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../core/clock.js';
import { describeError, ErrorCode, fault } from '../core/errors.js';
import { StateCell } from '../core/state.js';
import type { AudioSink, AudioSinkEvents } from './audio-port.js';
import { type ChildLike, defaultSpawn, type SpawnFn } from './child.js';
import { StderrTail } from './stderr-tail.js';

// AplaySinkDeps takes a SpawnFn: the sink's users (and its tests) find the child types here too.
export { type ChildLike, defaultSpawn, type SpawnFn, type SpawnOptionsLike } from './child.js';

export type PlaybackState = 'idle' | 'buffering' | 'playing' | 'draining' | 'aborting' | 'closed';

export interface AplaySinkDeps {
  /** ALSA playback PCM (`-D`), config audio.playbackDevice. */
  readonly device: string;
  /** Audio gathered before the first hand-over to aplay (config audio.playbackPrebufferMs). */
  readonly prebufferMs: number;
  /** Most audio ever handed to aplay ahead of the estimated play position (audio.playbackMaxQueueMs). */
  readonly maxQueueMs: number;
  readonly clock: Clock;
  readonly log: Logger;
  /** Applied to each piece as it is handed to aplay, so a volume change is heard within maxQueueMs. */
  readonly gain?: (pcm: Buffer) => Buffer;
  readonly spawn?: SpawnFn;
  /** The children's environment (tests pass ALSA_CONFIG_PATH here). */
  readonly env?: NodeJS.ProcessEnv;
  readonly command?: string;
  /** Extra aplay options placed before `-` (e.g. `--period-time`), for tuning on a given board. */
  readonly extraArgs?: readonly string[];
  /** SIGTERM → SIGKILL grace on abort. */
  readonly killGraceMs?: number;
  /** Bound of our own queue (audio not yet handed over); beyond it the oldest audio is dropped. */
  readonly maxBufferedMs?: number;
  /** aplay not taking stdin for this long while we have audio for it → fault. */
  readonly stallMs?: number;
  /** After `end`, aplay must exit within the audio still to play plus this → else fault. */
  readonly drainSlackMs?: number;
}

/**
 * 50 ms. SIGTERM lets aplay close the PCM properly (on a card that drops what is queued); but an
 * aplay blocked in open() or in a write — both measured on the test rig — ignores it, and the
 * SIGKILL then still keeps abort-to-silence within 100 ms.
 */
export const DEFAULT_KILL_GRACE_MS = 50;
/** 30 s of audio: TTS servers send replies faster than real time; longer replies are rare. */
export const DEFAULT_MAX_BUFFERED_MS = 30_000;
export const DEFAULT_STALL_MS = 3_000;
export const DEFAULT_DRAIN_SLACK_MS = 2_000;
/** Lines of aplay's stderr kept for a fault message (the last ones say what went wrong). */
const STDERR_LINES = 5;
const STDERR_LINE_MAX = 300;
/** After SIGKILL, a child that still has not exited is stuck in the kernel; close() stops waiting. */
const CLOSE_WAIT_AFTER_KILL_MS = 2_000;
/**
 * Longest wait for the pre-buffer after the first audio: a reply shorter than the pre-buffer, or
 * one trickling in slower than real time, still starts — a jitter guard must not become silence.
 */
export const PREBUFFER_MAX_WAIT_MS = 500;
/** EPIPE on stdin normally means aplay has died; its exit is expected well within this. */
const STDIN_ERROR_EXIT_WAIT_MS = 1_000;

/**
 * aplay's own ALSA buffer, at most 100 ms and never more than half the window. It is part of
 * what is queued in front of the speaker, and aplay only starts the device once it is full (its
 * default start threshold), so with aplay's default (up to 500 ms) nothing would be heard until
 * 500 ms had been handed over — more than the whole window: the start would lag and the real
 * queue grow to ~680 ms (measured on the test rig, whose file plugin also holds one buffer back).
 * 100 ms (25 ms periods) is ample for a process that does nothing but copy stdin to the card.
 */
export function aplayBufferMs(maxQueueMs: number): number {
  return Math.max(10, Math.min(100, Math.floor(maxQueueMs / 2)));
}

/** `aplay -q -t raw -f S16_LE -r <rate> -c 1 -D <device> --buffer-time=<µs> [extra] -`. */
export function aplayArgs(
  rate: number,
  device: string,
  maxQueueMs: number,
  extraArgs: readonly string[] = [],
): string[] {
  return [
    '-q',
    '-t',
    'raw',
    '-f',
    'S16_LE',
    '-r',
    String(rate),
    '-c',
    '1',
    '-D',
    device,
    `--buffer-time=${aplayBufferMs(maxQueueMs) * 1000}`,
    ...extraArgs,
    '-',
  ];
}

export interface PlaybackStats {
  /** Streams begun since construction. */
  readonly streams: number;
  /** Audio of the current stream handed to aplay, and waiting in our queue (bytes). */
  readonly handedBytes: number;
  readonly queuedBytes: number;
  /** Estimated audio in front of the speaker (handed over, not yet played), ms. */
  readonly aheadMs: number;
  /** Bytes dropped because our queue was full, since construction. */
  readonly droppedBytes: number;
  /** aplay processes that have not exited yet. */
  readonly liveChildren: number;
}

/** One TTS stream: its aplay child and the audio queued for it. */
type RunPhase = 'buffering' | 'playing' | 'ending' | 'killed' | 'exited';

/** Whether the stream still belongs to us: neither killed on purpose nor exited. */
function isLive(run: { readonly phase: RunPhase }): boolean {
  return run.phase !== 'killed' && run.phase !== 'exited';
}

interface Run {
  readonly id: number;
  readonly bytesPerMs: number;
  readonly child: ChildLike;
  readonly queue: Buffer[];
  queued: number;
  /** An odd trailing byte (half a sample) waiting for the next write. */
  carry: Buffer | undefined;
  handed: number;
  /** Clock time at which everything handed over will have been played (estimate). */
  playsUntil: number;
  /**
   * The stream's one lifecycle field: gathering the pre-buffer, playing, ended (the rest is being
   * handed over, then stdin closes), killed on purpose (abort, replaced, stall), or aplay exited.
   */
  phase: RunPhase;
  stdinClosed: boolean;
  /** stdin.write returned false: hold back until 'drain'. */
  blocked: boolean;
  /** We ended this stream on purpose (abort, replaced, stall): its exit is not a fault. */
  dropped: number;
  spawnError: string | undefined;
  stdinError: string | undefined;
  readonly stderr: StderrTail;
  paceTimer: TimerHandle | undefined;
  /** Bounds the wait for the pre-buffer (see PREBUFFER_MAX_WAIT_MS). */
  prebufferTimer: TimerHandle | undefined;
  stallTimer: TimerHandle | undefined;
  drainTimer: TimerHandle | undefined;
  killTimer: TimerHandle | undefined;
  readonly onClose: Array<() => void>;
}

export class AplaySink extends EventEmitter<AudioSinkEvents> implements AudioSink {
  readonly name: string;
  readonly #d: AplaySinkDeps;
  readonly #cell: StateCell<PlaybackState>;
  readonly #spawn: SpawnFn;
  readonly #gain: (pcm: Buffer) => Buffer;
  readonly #killGraceMs: number;
  readonly #maxBufferedMs: number;
  readonly #stallMs: number;
  readonly #drainSlackMs: number;
  #current: Run | undefined;
  readonly #live = new Set<Run>();
  #streams = 0;
  #dropped = 0;

  constructor(deps: AplaySinkDeps) {
    super();
    if (!(deps.maxQueueMs > 0)) throw new RangeError(`maxQueueMs must be > 0, got ${deps.maxQueueMs}`);
    if (!(deps.prebufferMs >= 0)) throw new RangeError(`prebufferMs must be ≥ 0, got ${deps.prebufferMs}`);
    this.#d = deps;
    this.name = `aplay:${deps.device}`;
    this.#cell = new StateCell<PlaybackState>('idle', deps.log, 'playback');
    this.#spawn = deps.spawn ?? defaultSpawn;
    this.#gain = deps.gain ?? ((pcm) => pcm);
    this.#killGraceMs = deps.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
    this.#maxBufferedMs = deps.maxBufferedMs ?? DEFAULT_MAX_BUFFERED_MS;
    this.#stallMs = deps.stallMs ?? DEFAULT_STALL_MS;
    this.#drainSlackMs = deps.drainSlackMs ?? DEFAULT_DRAIN_SLACK_MS;
  }

  get state(): PlaybackState {
    return this.#cell.value;
  }

  get stats(): PlaybackStats {
    const r = this.#current;
    return {
      streams: this.#streams,
      handedBytes: r?.handed ?? 0,
      queuedBytes: r?.queued ?? 0,
      aheadMs: r ? Math.max(0, r.playsUntil - this.#d.clock.now()) : 0,
      droppedBytes: this.#dropped,
      liveChildren: this.#live.size,
    };
  }

  begin(sampleRate: number): void {
    if (this.state === 'closed') throw new Error('AplaySink.begin() after close()');
    if (!Number.isInteger(sampleRate) || sampleRate <= 0) {
      throw new RangeError(`sample rate must be a positive integer, got ${sampleRate}`);
    }
    const prev = this.#current;
    // A stream still draining (or never ended) is cut off: the new reply must not queue behind it.
    if (prev && isLive(prev)) this.#kill(prev, 'replaced by a new stream');
    this.#current = undefined;

    const id = ++this.#streams;
    const args = aplayArgs(sampleRate, this.#d.device, this.#d.maxQueueMs, this.#d.extraArgs);
    const child = this.#spawn(this.#d.command ?? 'aplay', args, {
      env: this.#d.env ?? process.env,
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    const run: Run = {
      id,
      bytesPerMs: (sampleRate * 2) / 1000,
      child,
      queue: [],
      queued: 0,
      carry: undefined,
      handed: 0,
      playsUntil: 0,
      phase: 'buffering',
      stdinClosed: false,
      blocked: false,
      dropped: 0,
      spawnError: undefined,
      stdinError: undefined,
      stderr: new StderrTail(STDERR_LINES, STDERR_LINE_MAX),
      paceTimer: undefined,
      prebufferTimer: undefined,
      stallTimer: undefined,
      drainTimer: undefined,
      killTimer: undefined,
      onClose: [],
    };
    // Listeners in the same tick as spawn: a missing aplay reports ENOENT via 'error' right after.
    child.on('error', (err: unknown) => this.#onChildError(run, err));
    child.on('close', (code: number | null, signal: NodeJS.Signals | null) =>
      this.#onClose(run, code, signal),
    );
    child.stdin?.on('error', (err: unknown) => this.#onStdinError(run, err));
    child.stderr?.on('data', (chunk: Buffer) => this.#onStderr(run, chunk));
    this.#live.add(run);
    this.#current = run;
    this.#cell.transition('buffering', `stream ${id} begins`, {
      stream: id,
      rate: sampleRate,
      pid: child.pid,
    });
  }

  write(pcm: Buffer): void {
    const run = this.#current;
    // After end/abort/fault the stream takes nothing until the next begin (interface contract).
    if (!run || (this.state !== 'buffering' && this.state !== 'playing')) return;
    let data = pcm;
    if (run.carry) {
      data = Buffer.concat([run.carry, data]);
      run.carry = undefined;
    }
    if (data.length % 2 === 1) {
      // Keep sample alignment: splitting for pacing must never cut a sample in two.
      run.carry = Buffer.from(data.subarray(data.length - 1));
      data = data.subarray(0, data.length - 1);
    }
    if (data.length === 0) return;
    this.#enqueue(run, data);
    if (this.state === 'buffering' && run.queued >= this.#bytes(run, this.#d.prebufferMs)) {
      this.#startPlaying(run, 'pre-buffer full');
    } else if (this.state === 'buffering' && !run.prebufferTimer) {
      run.prebufferTimer = this.#d.clock.setTimeout(() => {
        run.prebufferTimer = undefined;
        if (run === this.#current && this.state === 'buffering') {
          this.#startPlaying(run, `pre-buffer not full after ${PREBUFFER_MAX_WAIT_MS} ms`);
        }
      }, PREBUFFER_MAX_WAIT_MS);
    } else if (this.state === 'playing') {
      this.#pump(run);
    }
  }

  end(): void {
    const run = this.#current;
    if (!run || (this.state !== 'buffering' && this.state !== 'playing')) return;
    if (run.phase === 'buffering') this.#startPlaying(run, 'stream ended before the pre-buffer filled');
    run.phase = 'ending';
    const remainingMs = Math.max(0, run.playsUntil - this.#d.clock.now()) + run.queued / run.bytesPerMs;
    this.#cell.transition('draining', `stream ${run.id} ended`, {
      stream: run.id,
      remaining_ms: Math.round(remainingMs),
    });
    const limit = Math.ceil(remainingMs + this.#drainSlackMs);
    run.drainTimer = this.#d.clock.setTimeout(() => {
      run.drainTimer = undefined;
      this.#failAndKill(run, `aplay did not finish within ${limit} ms after the stream ended`);
    }, limit);
    this.#pump(run);
  }

  abort(): void {
    const run = this.#current;
    if (!run || !isLive(run)) return;
    this.#kill(run, 'abort');
  }

  async close(): Promise<void> {
    if (this.state !== 'closed') {
      const run = this.#current;
      if (run && isLive(run)) this.#kill(run, 'sink closed');
      this.#cell.transition('closed', 'closed');
    }
    const waits = [...this.#live].map((run) => this.#whenClosed(run));
    await Promise.all(waits);
  }

  // ── queue and pacing ──────────────────────────────────────────────────────────────────────

  /** Whole samples in `ms` of audio. */
  #bytes(run: Run, ms: number): number {
    return Math.floor((ms * run.bytesPerMs) / 2) * 2;
  }

  #enqueue(run: Run, data: Buffer): void {
    const bound = Math.max(this.#bytes(run, this.#maxBufferedMs), data.length);
    let dropped = 0;
    while (run.queued + data.length > bound) {
      const head = run.queue.shift();
      if (!head) break;
      run.queued -= head.length;
      dropped += head.length;
    }
    if (dropped > 0) {
      if (run.dropped === 0) {
        this.#d.log.warn(
          { stream: run.id, max_buffered_ms: this.#maxBufferedMs },
          'playback queue full: dropping the oldest audio; further drops are counted',
        );
      }
      run.dropped += dropped;
      this.#dropped += dropped;
    }
    run.queue.push(data);
    run.queued += data.length;
  }

  #startPlaying(run: Run, reason: string): void {
    run.phase = 'playing';
    this.#d.clock.clearTimeout(run.prebufferTimer);
    run.prebufferTimer = undefined;
    this.#cell.transition('playing', reason, {
      stream: run.id,
      queued_ms: Math.round(run.queued / run.bytesPerMs),
    });
    this.#pump(run);
  }

  /** Hands over as much as the pacing allows; schedules the next hand-over for the rest. */
  #pump(run: Run): void {
    const clock = this.#d.clock;
    clock.clearTimeout(run.paceTimer);
    run.paceTimer = undefined;
    const stdin = run.child.stdin;
    const handing = run.phase === 'playing' || run.phase === 'ending';
    if (run !== this.#current || !handing || run.stdinClosed || !stdin) return;
    const maxAhead = this.#bytes(run, this.#d.maxQueueMs);
    const halfWindow = this.#bytes(run, this.#d.maxQueueMs / 2);
    while (run.queued > 0 && !run.blocked) {
      const now = clock.now();
      const aheadBytes = Math.max(0, run.playsUntil - now) * run.bytesPerMs;
      const room = Math.floor((maxAhead - aheadBytes) / 2) * 2;
      const head = run.queue[0];
      // Whole packets (or half the window, if a write was bigger): a few writes per packet, not
      // a trickle of 2-byte writes each time the clock has moved a little.
      if (!head || room < Math.max(2, Math.min(head.length, halfWindow))) break;
      const piece = head.length <= room ? head : head.subarray(0, room);
      if (piece === head) run.queue.shift();
      else run.queue[0] = head.subarray(room);
      run.queued -= piece.length;
      run.handed += piece.length;
      run.playsUntil = Math.max(run.playsUntil, now) + piece.length / run.bytesPerMs;
      if (!stdin.write(this.#gain(piece))) this.#onBlocked(run, stdin);
    }
    if (run.queued === 0) {
      if (run.phase === 'ending' && !run.blocked) {
        // Everything is with aplay: EOF makes it play out its buffer and exit 0.
        run.stdinClosed = true;
        stdin.end();
      }
      return;
    }
    if (run.blocked) return;
    // Wake when there is room for the next piece (as above).
    const head = run.queue[0];
    const granuleMs = Math.min(head?.length ?? 0, halfWindow) / run.bytesPerMs;
    const aheadMs = Math.max(0, run.playsUntil - clock.now());
    const waitMs = Math.max(1, Math.ceil(aheadMs - (this.#d.maxQueueMs - granuleMs)));
    run.paceTimer = clock.setTimeout(() => {
      run.paceTimer = undefined;
      this.#pump(run);
    }, waitMs);
  }

  /** aplay is not reading stdin (device blocked?): hold back, and give up if it lasts. */
  #onBlocked(run: Run, stdin: Writable): void {
    run.blocked = true;
    stdin.once('drain', () => {
      run.blocked = false;
      this.#d.clock.clearTimeout(run.stallTimer);
      run.stallTimer = undefined;
      this.#pump(run);
    });
    run.stallTimer = this.#d.clock.setTimeout(() => {
      run.stallTimer = undefined;
      this.#failAndKill(run, `aplay took no audio for ${this.#stallMs} ms (device blocked or busy?)`);
    }, this.#stallMs);
  }

  // ── ending a child ────────────────────────────────────────────────────────────────────────

  /** Ends the stream on purpose: queue dropped, aplay killed; the caller never waits. */
  #kill(run: Run, reason: string): void {
    if (!isLive(run)) return;
    run.phase = 'killed';
    this.#clearTimers(run);
    run.queue.length = 0;
    run.queued = 0;
    if (run === this.#current && this.state !== 'closed') {
      this.#cell.transition('aborting', `stream ${run.id}: ${reason}`, {
        stream: run.id,
      });
    }
    // stdin stays open: EOF would make aplay play out its buffer instead of stopping.
    run.child.kill('SIGTERM');
    run.killTimer = this.#d.clock.setTimeout(() => {
      run.killTimer = undefined;
      if (run.phase === 'exited') return;
      this.#d.log.debug({ stream: run.id, pid: run.child.pid }, 'aplay still alive after SIGTERM; SIGKILL');
      run.child.kill('SIGKILL');
    }, this.#killGraceMs);
  }

  /** An operational failure we detected ourselves: one fault now, then the child is killed. */
  #failAndKill(run: Run, message: string): void {
    if (run !== this.#current || !isLive(run)) return;
    const text = `${this.name}: ${message}${this.#stderrSuffix(run)}`;
    this.#kill(run, message);
    this.#d.log.warn({ stream: run.id, code: ErrorCode.AudioSink }, text);
    this.emit('fault', fault(ErrorCode.AudioSink, text));
  }

  #onChildError(run: Run, err: unknown): void {
    const msg = describeError(err);
    if (run.child.pid === undefined) {
      // Never started (ENOENT, EACCES…): Node follows with 'close'; the message goes into the fault.
      run.spawnError = msg;
      return;
    }
    // A failed kill() (EPERM…) on a running child: rare, and the SIGKILL timer still stands.
    this.#d.log.warn({ stream: run.id, err: msg }, 'aplay child error');
  }

  #onStdinError(run: Run, err: unknown): void {
    // EPIPE: aplay is gone or closed stdin. Its 'close' follows and says how it ended.
    run.stdinError = describeError(err);
    run.stdinClosed = true;
    this.#clearTimers(run);
    if (!isLive(run)) return;
    // An aplay that closed stdin but lives on would hold the stream open forever: bounded.
    run.stallTimer = this.#d.clock.setTimeout(() => {
      run.stallTimer = undefined;
      this.#failAndKill(run, `aplay stopped reading its input (${run.stdinError}) but did not exit`);
    }, STDIN_ERROR_EXIT_WAIT_MS);
  }

  #onStderr(run: Run, chunk: Buffer): void {
    // aplay prints underruns here ("underrun!!! (at least … ms long)"): worth seeing when debugging.
    run.stderr.push(chunk.toString('utf8'), (line) =>
      this.#d.log.debug({ stream: run.id, pid: run.child.pid }, `aplay: ${line}`),
    );
  }

  #stderrSuffix(run: Run): string {
    const lines = run.stderr.latest;
    return lines.length ? ` — aplay said: ${lines.join(' | ')}` : '';
  }

  #onClose(run: Run, code: number | null, signal: NodeJS.Signals | null): void {
    if (run.phase === 'exited') return;
    const ended = run.phase === 'ending';
    const killed = run.phase === 'killed';
    run.phase = 'exited';
    this.#clearTimers(run);
    this.#d.clock.clearTimeout(run.killTimer);
    run.killTimer = undefined;
    this.#live.delete(run);
    const how = run.spawnError
      ? `could not start: ${run.spawnError}`
      : signal
        ? `was killed by ${signal}`
        : `exited with code ${code}`;
    const current = run === this.#current;
    const clean = ended && code === 0 && !run.spawnError;
    this.#d.log.info(
      {
        stream: run.id,
        pid: run.child.pid,
        code,
        signal,
        handed_ms: Math.round(run.handed / run.bytesPerMs),
        dropped_ms: Math.round(run.dropped / run.bytesPerMs),
      },
      `aplay for stream ${run.id} ${how}`,
    );
    if (current) {
      this.#current = undefined;
      if (this.state !== 'closed') {
        this.#cell.transition('idle', clean ? `stream ${run.id} drained` : `aplay ${how}`, {
          stream: run.id,
        });
      }
      if (clean) {
        this.emit('drained');
      } else if (!killed) {
        const stdin = run.stdinError ? ` (stdin: ${run.stdinError})` : '';
        const text = `${this.name}: aplay ${how} while a stream was playing${stdin}${this.#stderrSuffix(run)}`;
        this.#d.log.warn({ stream: run.id, code: ErrorCode.AudioSink }, text);
        this.emit('fault', fault(ErrorCode.AudioSink, text));
      }
    }
    for (const fn of run.onClose.splice(0)) fn();
  }

  #clearTimers(run: Run): void {
    const clock = this.#d.clock;
    clock.clearTimeout(run.paceTimer);
    clock.clearTimeout(run.prebufferTimer);
    clock.clearTimeout(run.stallTimer);
    clock.clearTimeout(run.drainTimer);
    run.paceTimer = undefined;
    run.prebufferTimer = undefined;
    run.stallTimer = undefined;
    run.drainTimer = undefined;
  }

  /** Resolves when the child has exited; bounded, because a child stuck in the kernel never does. */
  #whenClosed(run: Run): Promise<void> {
    if (run.phase === 'exited') return Promise.resolve();
    return new Promise<void>((resolve) => {
      const bound = this.#d.clock.setTimeout(() => {
        this.#d.log.error(
          { stream: run.id, pid: run.child.pid },
          'aplay did not exit after SIGKILL; giving up waiting for it',
        );
        resolve();
      }, this.#killGraceMs + CLOSE_WAIT_AFTER_KILL_MS);
      run.onClose.push(() => {
        this.#d.clock.clearTimeout(bound);
        resolve();
      });
    });
  }
}
