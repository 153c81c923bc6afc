/**
 * Pre-roll (design.md §3.4): the mic runs all the time and the last `prerollMs` are kept, so the
 * syllable said with the press is sent first instead of being lost while arecord would start.
 * An AudioSource for the conversation on top of a continuous capture.
 */
import { EventEmitter } from 'node:events';
import type { Fault } from '../core/errors.js';
import { type AudioSource, type AudioSourceEvents, FRAME_MS, type SourceStartOptions } from './audio-port.js';

/** What the pre-roll needs of the mic: AlsaCapture on a device, a fake in tests. */
export interface ContinuousCapture {
  on(event: 'frame', listener: (pcm: Buffer) => void): unknown;
  on(event: 'fault', listener: (fault: Fault) => void): unknown;
  off(event: 'frame', listener: (pcm: Buffer) => void): unknown;
  off(event: 'fault', listener: (fault: Fault) => void): unknown;
  start(): void;
  stop(): Promise<void>;
}

export interface PrerollOptions {
  readonly name: string;
  /** config audio.prerollMs; 0 keeps nothing. */
  readonly prerollMs: number;
}

/** Frames kept for `prerollMs` (whole 60 ms frames, rounded up). */
export function prerollFrames(prerollMs: number): number {
  if (!Number.isFinite(prerollMs) || prerollMs < 0) throw new RangeError(`invalid prerollMs ${prerollMs}`);
  return Math.ceil(prerollMs / FRAME_MS);
}

/** A fixed-size ring of frames: the oldest is overwritten, so memory never passes the bound. */
export class FrameRing {
  readonly #slots: (Buffer | undefined)[];
  #head = 0;
  #size = 0;

  constructor(readonly capacity: number) {
    this.#slots = new Array<Buffer | undefined>(capacity).fill(undefined);
  }

  get size(): number {
    return this.#size;
  }

  push(frame: Buffer): void {
    if (this.capacity === 0) return;
    this.#slots[(this.#head + this.#size) % this.capacity] = frame;
    if (this.#size < this.capacity) this.#size++;
    else this.#head = (this.#head + 1) % this.capacity;
  }

  /** The frames, oldest first; the ring is empty afterwards and holds no references. */
  drain(): Buffer[] {
    const out: Buffer[] = [];
    for (let i = 0; i < this.#size; i++) {
      const at = (this.#head + i) % this.capacity;
      const frame = this.#slots[at];
      if (frame) out.push(frame);
      this.#slots[at] = undefined;
    }
    this.#head = 0;
    this.#size = 0;
    return out;
  }

  /** Slots holding a frame (a test hook for the bound). */
  get referenced(): number {
    return this.#slots.filter((s) => s !== undefined).length;
  }
}

/**
 * closed: not listening to the capture · buffering: mic on, frames go to the ring · live: a turn ·
 * muted: the privacy mute; mic on (its health and digital-silence watches keep working), every
 * frame dropped, the ring empty.
 */
export type PrerollState = 'closed' | 'buffering' | 'live' | 'muted';

export class PrerollSource extends EventEmitter<AudioSourceEvents> implements AudioSource {
  readonly name: string;
  readonly #ring: FrameRing;
  #state: PrerollState = 'closed';

  constructor(
    private readonly capture: ContinuousCapture,
    options: PrerollOptions,
  ) {
    super();
    this.name = options.name;
    this.#ring = new FrameRing(prerollFrames(options.prerollMs));
  }

  get state(): PrerollState {
    return this.#state;
  }

  /** Frames waiting in the pre-roll. */
  get buffered(): number {
    return this.#ring.size;
  }

  /** The mic runs from now on and the ring fills (daemon start, before READY). Idempotent. */
  open(): void {
    if (this.#state !== 'closed') return;
    this.#state = 'buffering';
    this.capture.on('frame', this.#onFrame);
    this.capture.on('fault', this.#onFault);
    this.capture.start();
  }

  /**
   * A turn starts: the pre-roll goes out first, synchronously, then live frames; with
   * `preroll: false` the ring is dropped and only live frames go. Idempotent.
   */
  start(options?: SourceStartOptions): void {
    // Not opened (wiring without open()): start the mic now; only this turn misses its pre-roll.
    if (this.#state === 'closed') this.open();
    // Muted: nothing leaves (the daemon starts no turn then; this is the second lock).
    if (this.#state === 'live' || this.#state === 'muted') return;
    this.#state = 'live';
    const buffered = this.#ring.drain();
    if (options?.preroll === false) return;
    for (const frame of buffered) {
      this.emit('frame', frame);
      // A listener may have ended the turn inside emit: the rest of the pre-roll is dropped with it.
      if (this.#state !== 'live') return;
    }
  }

  /** The turn ends: no frame is forwarded after this; the ring fills again. Idempotent. */
  stop(): void {
    if (this.#state === 'live') this.#state = 'buffering';
  }

  /**
   * The privacy mute: muted, the ring is emptied at once (what was said before the mute must not go
   * out with the next press) and nothing is kept or forwarded until unmuted; a live turn gets no
   * further frame. Unmuted, the ring fills again from now on. Idempotent. A closed source holds
   * nothing and stays closed (the daemon mutes after open(), at its start, and on every change).
   */
  mute(muted: boolean): void {
    if (muted) {
      this.#ring.drain();
      if (this.#state !== 'closed') this.#state = 'muted';
    } else if (this.#state === 'muted') {
      this.#state = 'buffering';
    }
  }

  /** Stops the mic and forgets the pre-roll (daemon stop). Idempotent. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.capture.off('frame', this.#onFrame);
    this.capture.off('fault', this.#onFault);
    this.#ring.drain();
    await this.capture.stop();
  }

  readonly #onFrame = (pcm: Buffer): void => {
    if (this.#state === 'live') this.emit('frame', pcm);
    else if (this.#state === 'buffering') this.#ring.push(pcm);
  };

  readonly #onFault = (f: Fault): void => {
    this.emit('fault', f);
  };
}
