import { EventEmitter } from 'node:events';
import type {
  AudioSink,
  AudioSinkEvents,
  AudioSource,
  AudioSourceEvents,
  SourceStartOptions,
} from '../../src/audio/audio-port.js';
import { FRAME_SAMPLES } from '../../src/audio/audio-port.js';
import type { Fault } from '../../src/core/errors.js';

/** One 60 ms frame of a 440 Hz tone at 16 kHz, S16_LE: something Opus has to work on. */
export function toneFrame(amplitude = 8000, hz = 440, rate = 16000): Buffer {
  const pcm = Buffer.alloc(FRAME_SAMPLES * 2);
  for (let i = 0; i < FRAME_SAMPLES; i++) {
    pcm.writeInt16LE(Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / rate)), i * 2);
  }
  return pcm;
}

/** A mic the test controls: frames on demand, and a record of start/stop. */
export class FakeSource extends EventEmitter<AudioSourceEvents> implements AudioSource {
  readonly name = 'fake-mic';
  running = false;
  starts = 0;
  stops = 0;
  closed = false;
  /** The `preroll` option of every start, in order (undefined: the default, pre-roll on). */
  readonly prerolls: (boolean | undefined)[] = [];

  start(options?: SourceStartOptions): void {
    this.starts++;
    this.prerolls.push(options?.preroll);
    this.running = true;
  }

  stop(): void {
    this.stops++;
    this.running = false;
  }

  async close(): Promise<void> {
    this.running = false;
    this.closed = true;
  }

  /** Delivers one frame if running (a real source says nothing while stopped); returns whether it did. */
  emitFrame(pcm: Buffer = toneFrame()): boolean {
    if (!this.running) return false;
    this.emit('frame', pcm);
    return true;
  }

  /** A frame still in flight after stop(): real capture pipes can do that. */
  emitStrayFrame(pcm: Buffer = toneFrame()): void {
    this.emit('frame', pcm);
  }

  fail(fault: Fault): void {
    this.emit('fault', fault);
  }
}

/** A speaker that keeps everything: what was begun, written, ended, aborted, and the audio's size and RMS. */
export class MemorySink extends EventEmitter<AudioSinkEvents> implements AudioSink {
  readonly name = 'memory-sink';
  open = false;
  rate: number | undefined;
  begins = 0;
  ends = 0;
  aborts = 0;
  writes = 0;
  /** Writes that came while no stream was open: a bug in the caller. */
  writesWhileClosed = 0;
  totalBytes = 0;
  /** begin/write/end/abort in order. */
  readonly calls: string[] = [];
  #sumSquares = 0;
  #samples = 0;

  begin(sampleRate: number): void {
    this.calls.push('begin');
    this.begins++;
    this.open = true;
    this.rate = sampleRate;
  }

  write(pcm: Buffer): void {
    this.calls.push('write');
    this.writes++;
    if (!this.open) this.writesWhileClosed++;
    this.totalBytes += pcm.length;
    for (let i = 0; i + 1 < pcm.length; i += 2) {
      const s = pcm.readInt16LE(i);
      this.#sumSquares += s * s;
      this.#samples++;
    }
  }

  end(): void {
    this.calls.push('end');
    this.ends++;
    this.open = false;
  }

  abort(): void {
    this.calls.push('abort');
    this.aborts++;
    this.open = false;
  }

  async close(): Promise<void> {
    this.open = false;
  }

  /** Root mean square of every sample written, in S16 units (0 when nothing was written). */
  get rms(): number {
    return this.#samples === 0 ? 0 : Math.sqrt(this.#sumSquares / this.#samples);
  }

  fail(fault: Fault): void {
    this.emit('fault', fault);
  }

  drain(): void {
    this.emit('drained');
  }
}
