/**
 * File and null twins of the audio ports, for `--sim`, the demo and tests (design.md §5.5). The
 * ALSA implementations come with the audio issue; these keep the same timing contract: a source
 * delivers one 60 ms frame every 60 ms of the injected clock.
 */
import { EventEmitter } from 'node:events';
import { appendFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { Clock, TimerHandle } from '../core/clock.js';
import { describeError, ErrorCode, fault } from '../core/errors.js';
import {
  type AudioSink,
  type AudioSinkEvents,
  type AudioSource,
  type AudioSourceEvents,
  FRAME_BYTES,
  FRAME_MS,
} from './audio-port.js';
import { rms } from './pcm.js';

/** A PCM fixture bigger than this is a mistake, not a microphone (≈ 5 min at 16 kHz). */
const MAX_PCM_FILE_BYTES = 10 * 1024 * 1024;

/** Reads a raw 16 kHz mono S16_LE file; throws a readable error (a startup, not runtime, check). */
export function readPcmFile(path: string): Buffer {
  const size = statSync(path).size;
  if (size > MAX_PCM_FILE_BYTES) throw new Error(`${path}: ${size} bytes is more than ${MAX_PCM_FILE_BYTES}`);
  return readFileSync(path);
}

/**
 * A microphone that says the same thing on every turn: each `start()` plays `pcm` from its
 * beginning, then silence (a quiet room), paced in real time by the clock.
 */
export class PcmSource extends EventEmitter<AudioSourceEvents> implements AudioSource {
  #state: 'stopped' | 'running' = 'stopped';
  #timer: TimerHandle | undefined;
  #frame = 0;
  #t0 = 0;
  /** Frames delivered since construction (for tests and health checks). */
  frames = 0;

  constructor(
    readonly name: string,
    private readonly pcm: Buffer,
    private readonly clock: Clock,
  ) {
    super();
  }

  start(): void {
    if (this.#state === 'running') return;
    this.#state = 'running';
    this.#frame = 0;
    this.#t0 = this.clock.now();
    this.#schedule();
  }

  stop(): void {
    this.#state = 'stopped';
    this.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async close(): Promise<void> {
    this.stop();
  }

  #schedule(): void {
    // Frame n is due at t0 + (n+1)·60 ms: scheduling against t0 keeps the pace free of drift.
    const due = this.#t0 + (this.#frame + 1) * FRAME_MS;
    this.#timer = this.clock.setTimeout(() => this.#tick(), due - this.clock.now());
  }

  #tick(): void {
    if (this.#state !== 'running') return;
    const off = this.#frame * FRAME_BYTES;
    const frame = Buffer.alloc(FRAME_BYTES);
    if (off < this.pcm.length) this.pcm.copy(frame, 0, off, Math.min(off + FRAME_BYTES, this.pcm.length));
    this.#frame++;
    this.frames++;
    this.emit('frame', frame);
    if (this.#state === 'running') this.#schedule();
  }
}

/** Counts what would have been played; keeps the level so tests can tell speech from silence. */
/** Applied to every PCM chunk before it is written: the speaker volume (audio/volume.ts). */
export type Gain = (pcm: Buffer) => Buffer;

export class NullSink extends EventEmitter<AudioSinkEvents> implements AudioSink {
  readonly name: string = 'null';
  #state: 'closed' | 'open' = 'closed';
  bytes = 0;
  streams = 0;
  aborts = 0;
  rate = 0;
  #sumSquares = 0;
  #samples = 0;

  constructor(private readonly gain?: Gain) {
    super();
  }

  get isOpen(): boolean {
    return this.#state === 'open';
  }

  /** RMS level of everything written so far (0…1). */
  get level(): number {
    return this.#samples ? Math.sqrt(this.#sumSquares / this.#samples) : 0;
  }

  begin(sampleRate: number): void {
    this.#state = 'open';
    this.rate = sampleRate;
    this.streams++;
  }

  write(chunk: Buffer): void {
    if (this.#state !== 'open') return;
    const pcm = this.gain ? this.gain(chunk) : chunk;
    this.output(pcm);
    this.bytes += pcm.length;
    const r = rms(pcm);
    const n = pcm.length / 2;
    this.#sumSquares += r * r * n;
    this.#samples += n;
  }

  /** Where the (gained) audio goes: nowhere here; FileSink appends it to its file. */
  protected output(_pcm: Buffer): void {
    // The null speaker: counted above, then dropped.
  }

  end(): void {
    if (this.#state !== 'open') return;
    this.#state = 'closed';
    queueMicrotask(() => this.emit('drained'));
  }

  abort(): void {
    if (this.#state === 'open') this.aborts++;
    this.#state = 'closed';
  }

  async close(): Promise<void> {
    this.#state = 'closed';
  }
}

/** Appends every TTS stream to one raw PCM file (sim mode: listen with `aplay -r 24000 -f S16_LE`). */
export class FileSink extends NullSink {
  override readonly name: string;

  constructor(
    private readonly path: string,
    gain?: Gain,
  ) {
    super(gain);
    this.name = `file:${path}`;
  }

  override begin(sampleRate: number): void {
    if (this.streams === 0) {
      // The file holds this run's speech only: truncated at the first stream, appended after.
      try {
        writeFileSync(this.path, Buffer.alloc(0));
      } catch (err) {
        this.emit('fault', fault(ErrorCode.AudioSink, `${this.path}: ${describeError(err)}`));
      }
    }
    super.begin(sampleRate);
  }

  protected override output(pcm: Buffer): void {
    try {
      appendFileSync(this.path, pcm);
    } catch (err) {
      this.emit('fault', fault(ErrorCode.AudioSink, `${this.path}: ${describeError(err)}`));
    }
  }
}
