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
 *
 * This file holds the sink: its state machine, its timers (pre-buffer, pacing, drain) and its
 * faults. Split out so each part reads on its own: one stream's aplay child (spawn, stdin, kill,
 * reap) in aplay-run.ts, the queue and the `playsUntil` arithmetic in pacing.ts.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../core/clock.js';
import { ErrorCode, fault } from '../core/errors.js';
import { StateCell } from '../core/state.js';
import { AplayRun, aplayArgs, type RunExit } from './aplay-run.js';
import type { AudioSink, AudioSinkEvents } from './audio-port.js';
import { defaultSpawn, type SpawnFn } from './child.js';
import { PacedQueue } from './pacing.js';

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
/**
 * Longest wait for the pre-buffer after the first audio: a reply shorter than the pre-buffer, or
 * one trickling in slower than real time, still starts — a jitter guard must not become silence.
 */
export const PREBUFFER_MAX_WAIT_MS = 500;

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
interface Stream {
  readonly id: number;
  /** The aplay child; its `phase` is the stream's one lifecycle field. */
  readonly run: AplayRun;
  readonly queue: PacedQueue;
  paceTimer: TimerHandle | undefined;
  /** Bounds the wait for the pre-buffer (see PREBUFFER_MAX_WAIT_MS). */
  prebufferTimer: TimerHandle | undefined;
  drainTimer: TimerHandle | undefined;
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
  #current: Stream | undefined;
  readonly #live = new Set<AplayRun>();
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
    const queue = this.#current?.queue;
    return {
      streams: this.#streams,
      handedBytes: queue?.handed ?? 0,
      queuedBytes: queue?.queued ?? 0,
      aheadMs: queue ? queue.aheadMs(this.#d.clock.now()) : 0,
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
    if (prev?.run.live) this.#kill(prev, 'replaced by a new stream');
    this.#current = undefined;

    const id = ++this.#streams;
    const d = this.#d;
    const run = new AplayRun(
      {
        id,
        spawn: this.#spawn,
        command: d.command ?? 'aplay',
        args: aplayArgs(sampleRate, d.device, d.maxQueueMs, d.extraArgs),
        env: d.env ?? process.env,
        clock: d.clock,
        log: d.log,
        killGraceMs: this.#killGraceMs,
        stallMs: this.#stallMs,
      },
      // The run calls these on its child's events, never while it is constructed: `stream` is set.
      {
        resume: () => this.#pump(stream),
        inputLost: () => this.#clearTimers(stream),
        fail: (message) => this.#failAndKill(stream, message),
        exited: (exit) => this.#onExit(stream, exit),
      },
    );
    const stream: Stream = {
      id,
      run,
      queue: new PacedQueue(sampleRate, d.maxQueueMs, this.#maxBufferedMs),
      paceTimer: undefined,
      prebufferTimer: undefined,
      drainTimer: undefined,
    };
    this.#live.add(run);
    this.#current = stream;
    this.#cell.transition('buffering', `stream ${id} begins`, {
      stream: id,
      rate: sampleRate,
      pid: run.pid,
    });
  }

  write(pcm: Buffer): void {
    const stream = this.#current;
    // After end/abort/fault the stream takes nothing until the next begin (interface contract).
    if (!stream || (this.state !== 'buffering' && this.state !== 'playing')) return;
    const data = stream.queue.align(pcm);
    if (data.length === 0) return;
    this.#enqueue(stream, data);
    const queue = stream.queue;
    if (this.state === 'buffering' && queue.queued >= queue.bytes(this.#d.prebufferMs)) {
      this.#startPlaying(stream, 'pre-buffer full');
    } else if (this.state === 'buffering' && !stream.prebufferTimer) {
      stream.prebufferTimer = this.#d.clock.setTimeout(() => {
        stream.prebufferTimer = undefined;
        if (stream === this.#current && this.state === 'buffering') {
          this.#startPlaying(stream, `pre-buffer not full after ${PREBUFFER_MAX_WAIT_MS} ms`);
        }
      }, PREBUFFER_MAX_WAIT_MS);
    } else if (this.state === 'playing') {
      this.#pump(stream);
    }
  }

  end(): void {
    const stream = this.#current;
    if (!stream || (this.state !== 'buffering' && this.state !== 'playing')) return;
    if (stream.run.phase === 'buffering') {
      this.#startPlaying(stream, 'stream ended before the pre-buffer filled');
    }
    stream.run.markEnding();
    const queue = stream.queue;
    const remainingMs = queue.aheadMs(this.#d.clock.now()) + queue.queued / queue.bytesPerMs;
    this.#cell.transition('draining', `stream ${stream.id} ended`, {
      stream: stream.id,
      remaining_ms: Math.round(remainingMs),
    });
    const limit = Math.ceil(remainingMs + this.#drainSlackMs);
    stream.drainTimer = this.#d.clock.setTimeout(() => {
      stream.drainTimer = undefined;
      this.#failAndKill(stream, `aplay did not finish within ${limit} ms after the stream ended`);
    }, limit);
    this.#pump(stream);
  }

  abort(): void {
    const stream = this.#current;
    if (!stream?.run.live) return;
    this.#kill(stream, 'abort');
  }

  async close(): Promise<void> {
    if (this.state !== 'closed') {
      const stream = this.#current;
      if (stream?.run.live) this.#kill(stream, 'sink closed');
      this.#cell.transition('closed', 'closed');
    }
    const waits = [...this.#live].map((run) => run.whenClosed());
    await Promise.all(waits);
  }

  // ── queue and pacing ──────────────────────────────────────────────────────────────────────

  /** Queues whole samples; a full queue drops its oldest audio, logged once per stream. */
  #enqueue(stream: Stream, data: Buffer): void {
    const firstDrop = stream.queue.dropped === 0;
    const dropped = stream.queue.push(data);
    if (dropped > 0) {
      if (firstDrop) {
        this.#d.log.warn(
          { stream: stream.id, max_buffered_ms: this.#maxBufferedMs },
          'playback queue full: dropping the oldest audio; further drops are counted',
        );
      }
      this.#dropped += dropped;
    }
  }

  #startPlaying(stream: Stream, reason: string): void {
    stream.run.markPlaying();
    this.#d.clock.clearTimeout(stream.prebufferTimer);
    stream.prebufferTimer = undefined;
    this.#cell.transition('playing', reason, {
      stream: stream.id,
      queued_ms: Math.round(stream.queue.queued / stream.queue.bytesPerMs),
    });
    this.#pump(stream);
  }

  /** Hands over as much as the pacing allows; schedules the next hand-over for the rest. */
  #pump(stream: Stream): void {
    const clock = this.#d.clock;
    clock.clearTimeout(stream.paceTimer);
    stream.paceTimer = undefined;
    const { run, queue } = stream;
    const handing = run.phase === 'playing' || run.phase === 'ending';
    if (stream !== this.#current || !handing || !run.accepting) return;
    while (queue.queued > 0 && !run.blocked) {
      const piece = queue.take(clock.now());
      if (!piece) break;
      run.write(this.#gain(piece));
    }
    if (queue.queued === 0) {
      if (run.phase === 'ending' && !run.blocked) {
        // Everything is with aplay: EOF makes it play out its buffer and exit 0.
        run.closeInput();
      }
      return;
    }
    if (run.blocked) return;
    stream.paceTimer = clock.setTimeout(() => {
      stream.paceTimer = undefined;
      this.#pump(stream);
    }, queue.wakeInMs(clock.now()));
  }

  // ── ending a stream ───────────────────────────────────────────────────────────────────────

  /** Ends the stream on purpose: queue dropped, aplay killed; the caller never waits. */
  #kill(stream: Stream, reason: string): void {
    if (!stream.run.live) return;
    this.#clearTimers(stream);
    stream.queue.clear();
    if (stream === this.#current && this.state !== 'closed') {
      this.#cell.transition('aborting', `stream ${stream.id}: ${reason}`, {
        stream: stream.id,
      });
    }
    stream.run.kill();
  }

  /** An operational failure we detected ourselves: one fault now, then the child is killed. */
  #failAndKill(stream: Stream, message: string): void {
    if (stream !== this.#current || !stream.run.live) return;
    const text = `${this.name}: ${message}${stream.run.stderrSuffix()}`;
    this.#kill(stream, message);
    this.#d.log.warn({ stream: stream.id, code: ErrorCode.AudioSink }, text);
    this.emit('fault', fault(ErrorCode.AudioSink, text));
  }

  /** aplay has exited: the stream is over — drained, killed by us, or else a fault. */
  #onExit(stream: Stream, exit: RunExit): void {
    const { code, signal, how, clean, killed } = exit;
    const queue = stream.queue;
    this.#clearTimers(stream);
    this.#live.delete(stream.run);
    const current = stream === this.#current;
    this.#d.log.info(
      {
        stream: stream.id,
        pid: stream.run.pid,
        code,
        signal,
        handed_ms: Math.round(queue.handed / queue.bytesPerMs),
        dropped_ms: Math.round(queue.dropped / queue.bytesPerMs),
      },
      `aplay for stream ${stream.id} ${how}`,
    );
    if (current) {
      this.#current = undefined;
      if (this.state !== 'closed') {
        this.#cell.transition('idle', clean ? `stream ${stream.id} drained` : `aplay ${how}`, {
          stream: stream.id,
        });
      }
      if (clean) {
        this.emit('drained');
      } else if (!killed) {
        const stdin = stream.run.stdinError ? ` (stdin: ${stream.run.stdinError})` : '';
        const text = `${this.name}: aplay ${how} while a stream was playing${stdin}${stream.run.stderrSuffix()}`;
        this.#d.log.warn({ stream: stream.id, code: ErrorCode.AudioSink }, text);
        this.emit('fault', fault(ErrorCode.AudioSink, text));
      }
    }
  }

  /** The stream's own timers; the run clears its stall and kill timers itself. */
  #clearTimers(stream: Stream): void {
    const clock = this.#d.clock;
    clock.clearTimeout(stream.paceTimer);
    clock.clearTimeout(stream.prebufferTimer);
    clock.clearTimeout(stream.drainTimer);
    stream.paceTimer = undefined;
    stream.prebufferTimer = undefined;
    stream.drainTimer = undefined;
  }
}
