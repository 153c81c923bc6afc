/**
 * One `aplay` child for one TTS stream: its spawn (every listener in the same tick), the stdin
 * writes with back-pressure and a stall bound, the kill (SIGTERM, SIGKILL after a short grace: an
 * aplay blocked in open() ignores SIGTERM, test-infra.md §1.7) and the reap on 'close', with a
 * bounded wait for it. Split from playback.ts, whose `AplaySink` decides what goes into the child
 * and when (queue, pacing, its state machine): the run judges nothing itself — a stall, a dead
 * stdin and the exit are reported to the sink through `AplayRunOwner`, and the sink makes the fault.
 */
import type { Writable } from 'node:stream';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../core/clock.js';
import { describeError } from '../core/errors.js';
import type { ChildLike, SpawnFn } from './child.js';
import { StderrTail } from './stderr-tail.js';

/** Lines of aplay's stderr kept for a fault message (the last ones say what went wrong). */
const STDERR_LINES = 5;
const STDERR_LINE_MAX = 300;
/** After SIGKILL, a child that still has not exited is stuck in the kernel; close() stops waiting. */
const CLOSE_WAIT_AFTER_KILL_MS = 2_000;
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

/**
 * The stream's one lifecycle field: gathering the pre-buffer, playing, ended (the rest is being
 * handed over, then stdin closes), killed on purpose (abort, replaced, stall), or aplay exited.
 */
export type RunPhase = 'buffering' | 'playing' | 'ending' | 'killed' | 'exited';

/** How an aplay ended, as its owner is told at 'close'. */
export interface RunExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** `could not start: …`, `was killed by SIGTERM`, `exited with code 1`. */
  readonly how: string;
  /** Ended by the stream's end, exit code 0, and it did start: all was played out. */
  readonly clean: boolean;
  /** We ended this stream on purpose (abort, replaced, stall): its exit is not a fault. */
  readonly killed: boolean;
}

/** What a run reports to the sink that owns it. */
export interface AplayRunOwner {
  /** stdin drained after back-pressure: hand over more. */
  resume(): void;
  /** stdin failed (EPIPE…): nothing more can be handed over, the owner's timers are void. */
  inputLost(): void;
  /** aplay took no audio for too long, or lingers without input: the owner faults and kills the run. */
  fail(message: string): void;
  /** aplay has exited and is reaped (stderr read to the end). */
  exited(exit: RunExit): void;
}

export interface AplayRunOptions {
  /** The stream's number, for the log. */
  readonly id: number;
  readonly spawn: SpawnFn;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly clock: Clock;
  readonly log: Logger;
  /** SIGTERM → SIGKILL grace on kill. */
  readonly killGraceMs: number;
  /** aplay not taking stdin for this long while we have audio for it → `fail`. */
  readonly stallMs: number;
}

/** One spawned aplay, from spawn to its 'close'. Spawns in the constructor. */
export class AplayRun {
  readonly id: number;
  readonly #o: AplayRunOptions;
  readonly #owner: AplayRunOwner;
  readonly #child: ChildLike;
  #phase: RunPhase = 'buffering';
  #stdinClosed = false;
  /** stdin.write returned false: hold back until 'drain'. */
  #blocked = false;
  #spawnError: string | undefined;
  #stdinError: string | undefined;
  readonly #stderr = new StderrTail(STDERR_LINES, STDERR_LINE_MAX);
  /** Bounds back-pressure (stallMs), or the exit after a stdin error (STDIN_ERROR_EXIT_WAIT_MS). */
  #stallTimer: TimerHandle | undefined;
  #killTimer: TimerHandle | undefined;
  /** close() waiters, called at 'close'. */
  readonly #closeWaiters: Array<() => void> = [];

  constructor(options: AplayRunOptions, owner: AplayRunOwner) {
    this.id = options.id;
    this.#o = options;
    this.#owner = owner;
    const child = options.spawn(options.command, options.args, {
      env: options.env,
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    this.#child = child;
    // Listeners in the same tick as spawn: a missing aplay reports ENOENT via 'error' right after.
    child.on('error', (err: unknown) => this.#onChildError(err));
    child.on('close', (code: number | null, signal: NodeJS.Signals | null) => this.#onClose(code, signal));
    child.stdin?.on('error', (err: unknown) => this.#onStdinError(err));
    child.stderr?.on('data', (chunk: Buffer) => this.#onStderr(chunk));
  }

  get phase(): RunPhase {
    return this.#phase;
  }

  /** Whether the stream still belongs to us: neither killed on purpose nor exited. */
  get live(): boolean {
    return this.#phase !== 'killed' && this.#phase !== 'exited';
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** stdin is open: audio can still be handed over. */
  get accepting(): boolean {
    return !this.#stdinClosed && this.#child.stdin !== null;
  }

  /** stdin.write returned false: hold back until 'drain'. */
  get blocked(): boolean {
    return this.#blocked;
  }

  /** Why stdin failed (EPIPE…), for the fault message. */
  get stdinError(): string | undefined {
    return this.#stdinError;
  }

  /** The pre-buffer is done: the sink hands over audio from now on. */
  markPlaying(): void {
    this.#to('playing');
  }

  /** The stream has ended: the rest is handed over, then stdin closes and aplay plays out. */
  markEnding(): void {
    this.#to('ending');
  }

  /** Hands one piece to aplay; on back-pressure holds back until 'drain', and reports it if it lasts. */
  write(pcm: Buffer): void {
    const stdin = this.#child.stdin;
    if (stdin && !stdin.write(pcm)) this.#onBlocked(stdin);
  }

  /** Everything is with aplay: EOF makes it play out its buffer and exit 0. */
  closeInput(): void {
    this.#stdinClosed = true;
    this.#child.stdin?.end();
  }

  /** Ends the child on purpose: SIGTERM, SIGKILL after the grace; the caller never waits. */
  kill(): void {
    if (!this.live) return;
    this.#to('killed');
    this.#clearStall();
    // stdin stays open: EOF would make aplay play out its buffer instead of stopping.
    this.#child.kill('SIGTERM');
    this.#killTimer = this.#o.clock.setTimeout(() => {
      this.#killTimer = undefined;
      if (this.#phase === 'exited') return;
      this.#o.log.debug(
        { stream: this.id, pid: this.#child.pid },
        'aplay still alive after SIGTERM; SIGKILL',
      );
      this.#child.kill('SIGKILL');
    }, this.#o.killGraceMs);
  }

  /** Resolves when the child has exited; bounded, because a child stuck in the kernel never does. */
  whenClosed(): Promise<void> {
    if (this.#phase === 'exited') return Promise.resolve();
    const { clock, log } = this.#o;
    return new Promise<void>((resolve) => {
      const bound = clock.setTimeout(() => {
        log.error(
          { stream: this.id, pid: this.#child.pid },
          'aplay did not exit after SIGKILL; giving up waiting for it',
        );
        resolve();
      }, this.#o.killGraceMs + CLOSE_WAIT_AFTER_KILL_MS);
      this.#closeWaiters.push(() => {
        clock.clearTimeout(bound);
        resolve();
      });
    });
  }

  /** What aplay last said on stderr, as a suffix for a fault message ('' if nothing). */
  stderrSuffix(): string {
    const lines = this.#stderr.latest;
    return lines.length ? ` — aplay said: ${lines.join(' | ')}` : '';
  }

  /**
   * The one place `phase` changes. It logs nothing itself: the sink logs the state transition
   * that goes with each change (playing, draining, aborting), and the exit has its own line.
   */
  #to(phase: RunPhase): void {
    this.#phase = phase;
  }

  /** aplay is not reading stdin (device blocked?): hold back, and give up if it lasts. */
  #onBlocked(stdin: Writable): void {
    this.#blocked = true;
    stdin.once('drain', () => {
      this.#blocked = false;
      this.#clearStall();
      this.#owner.resume();
    });
    this.#stallTimer = this.#o.clock.setTimeout(() => {
      this.#stallTimer = undefined;
      this.#owner.fail(`aplay took no audio for ${this.#o.stallMs} ms (device blocked or busy?)`);
    }, this.#o.stallMs);
  }

  #onChildError(err: unknown): void {
    const msg = describeError(err);
    if (this.#child.pid === undefined) {
      // Never started (ENOENT, EACCES…): Node follows with 'close'; the message goes into the fault.
      this.#spawnError = msg;
      return;
    }
    // A failed kill() (EPERM…) on a running child: rare, and the SIGKILL timer still stands.
    this.#o.log.warn({ stream: this.id, err: msg }, 'aplay child error');
  }

  #onStdinError(err: unknown): void {
    // EPIPE: aplay is gone or closed stdin. Its 'close' follows and says how it ended.
    this.#stdinError = describeError(err);
    this.#stdinClosed = true;
    this.#clearStall();
    this.#owner.inputLost();
    if (!this.live) return;
    // An aplay that closed stdin but lives on would hold the stream open forever: bounded.
    this.#stallTimer = this.#o.clock.setTimeout(() => {
      this.#stallTimer = undefined;
      this.#owner.fail(`aplay stopped reading its input (${this.#stdinError}) but did not exit`);
    }, STDIN_ERROR_EXIT_WAIT_MS);
  }

  #onStderr(chunk: Buffer): void {
    // aplay prints underruns here ("underrun!!! (at least … ms long)"): worth seeing when debugging.
    this.#stderr.push(chunk.toString('utf8'), (line) =>
      this.#o.log.debug({ stream: this.id, pid: this.#child.pid }, `aplay: ${line}`),
    );
  }

  /** 'close': the child is reaped; tells the owner how it ended, then releases close() waiters. */
  #onClose(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#phase === 'exited') return;
    const ended = this.#phase === 'ending';
    const killed = this.#phase === 'killed';
    this.#to('exited');
    this.#clearStall();
    this.#o.clock.clearTimeout(this.#killTimer);
    this.#killTimer = undefined;
    const how = this.#spawnError
      ? `could not start: ${this.#spawnError}`
      : signal
        ? `was killed by ${signal}`
        : `exited with code ${code}`;
    const clean = ended && code === 0 && !this.#spawnError;
    this.#owner.exited({ code, signal, how, clean, killed });
    for (const fn of this.#closeWaiters.splice(0)) fn();
  }

  #clearStall(): void {
    this.#o.clock.clearTimeout(this.#stallTimer);
    this.#stallTimer = undefined;
  }
}
