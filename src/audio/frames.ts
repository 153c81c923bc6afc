/**
 * Exact 60 ms frames (1920 bytes of 16 kHz mono S16_LE, protocol.md §4.1) out of whatever chunk
 * sizes the recorder delivers. At most one partial frame is held: memory is bounded by design.
 */
import { FRAME_BYTES } from './audio-port.js';

export class FrameAssembler {
  #partial = Buffer.alloc(FRAME_BYTES);
  #fill = 0;

  constructor(private readonly frameBytes = FRAME_BYTES) {
    if (frameBytes !== FRAME_BYTES) this.#partial = Buffer.alloc(frameBytes);
  }

  /** Bytes waiting for the rest of their frame. */
  get pending(): number {
    return this.#fill;
  }

  /** Feeds a chunk; calls `emit` once per completed frame, each a fresh Buffer it may keep. */
  push(chunk: Buffer, emit: (frame: Buffer) => void): void {
    let off = 0;
    const size = this.frameBytes;
    if (this.#fill > 0) {
      const take = Math.min(size - this.#fill, chunk.length);
      chunk.copy(this.#partial, this.#fill, 0, take);
      this.#fill += take;
      off = take;
      if (this.#fill < size) return;
      emit(Buffer.from(this.#partial));
      this.#fill = 0;
    }
    while (chunk.length - off >= size) {
      // A copy, not a view: the recorder may reuse its chunk, and a frame may outlive it in the pre-roll.
      emit(Buffer.from(chunk.subarray(off, off + size)));
      off += size;
    }
    if (off < chunk.length) {
      chunk.copy(this.#partial, 0, off);
      this.#fill = chunk.length - off;
    }
  }

  /** Drops a partial frame (the recorder restarted: its tail belongs to no frame). */
  reset(): void {
    this.#fill = 0;
  }
}
