/**
 * The dev-server's "TTS": the user's own utterance, resampled from the 16 kHz uplink rate to the
 * downlink rate (24 kHz like xinnan, protocol.md §4.3) and cut into 60 ms Opus packets. The
 * daemon's OpusEncoder (src/audio/opus.ts) is fixed at 16 kHz, so the downlink encoder lives here.
 */
import OpusScript from 'opusscript';
import { FRAME_MS } from '../audio/audio-port.js';
import { isOpusRate, type OPUS_RATES } from '../audio/opus.js';

export type OpusRate = (typeof OPUS_RATES)[number];

/** Linear-interpolation resampling of S16_LE mono PCM: good enough for an echo test. */
export function resampleLinear(pcm: Buffer, fromRate: number, toRate: number): Buffer {
  const n = Math.floor(pcm.length / 2);
  if (n === 0 || fromRate === toRate) return pcm.subarray(0, n * 2);
  const outN = Math.floor((n * toRate) / fromRate);
  const out = Buffer.alloc(outN * 2);
  const step = fromRate / toRate;
  for (let i = 0; i < outN; i++) {
    const pos = i * step;
    const i0 = Math.floor(pos);
    const a = pcm.readInt16LE(i0 * 2);
    const b = i0 + 1 < n ? pcm.readInt16LE((i0 + 1) * 2) : a;
    out.writeInt16LE(Math.round(a + (b - a) * (pos - i0)), i * 2);
  }
  return out;
}

/** One Opus encoder at the downlink rate, 60 ms frames, VOIP application (like the firmware's uplink). */
export class TtsEncoder {
  readonly frameSamples: number;
  #opus: OpusScript | undefined;

  constructor(readonly rate: OpusRate) {
    this.frameSamples = (rate * FRAME_MS) / 1000;
    this.#opus = new OpusScript(rate, 1, OpusScript.Application.VOIP);
  }

  /** Encodes exactly one 60 ms frame (frameSamples × 2 bytes). */
  encode(frame: Buffer): Buffer {
    if (!this.#opus) throw new Error('TtsEncoder used after delete()');
    if (frame.length !== this.frameSamples * 2) {
      throw new RangeError(`expected ${this.frameSamples * 2} bytes, got ${frame.length}`);
    }
    return this.#opus.encode(frame, this.frameSamples);
  }

  /** Frees the wasm memory; opusscript has no finaliser. */
  delete(): void {
    this.#opus?.delete();
    this.#opus = undefined;
  }
}

/**
 * 16 kHz PCM → 60 ms Opus packets at `rate`. The last frame is padded with silence. The encoder
 * lives only for this call, so a reply leaves nothing behind.
 */
export function encodeTtsPackets(pcm16k: Buffer, rate: number): Buffer[] {
  if (!isOpusRate(rate)) throw new RangeError(`${rate} Hz is not an Opus rate`);
  const pcm = resampleLinear(pcm16k, 16000, rate);
  if (pcm.length === 0) return [];
  const encoder = new TtsEncoder(rate);
  try {
    const frameBytes = encoder.frameSamples * 2;
    const packets: Buffer[] = [];
    for (let off = 0; off < pcm.length; off += frameBytes) {
      let frame = pcm.subarray(off, off + frameBytes);
      if (frame.length < frameBytes) {
        const padded = Buffer.alloc(frameBytes);
        frame.copy(padded);
        frame = padded;
      }
      packets.push(encoder.encode(frame));
    }
    return packets;
  } finally {
    encoder.delete();
  }
}
