/**
 * The dev-server's "TTS": the user's own utterance, resampled from the 16 kHz uplink rate to the
 * downlink rate (24 kHz like xinnan, protocol.md §4.3) and cut into 60 ms Opus packets.
 */
import { isOpusRate, OpusEncoder } from '../audio/opus.js';

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

/**
 * 16 kHz PCM → 60 ms Opus packets at `rate`. The last frame is padded with silence. The encoder
 * lives only for this call, so a reply leaves nothing behind.
 */
export function encodeTtsPackets(pcm16k: Buffer, rate: number): Buffer[] {
  if (!isOpusRate(rate)) throw new RangeError(`${rate} Hz is not an Opus rate`);
  const pcm = resampleLinear(pcm16k, 16000, rate);
  if (pcm.length === 0) return [];
  // VOIP, 60 ms, libopus' default complexity: the firmware's uplink settings, at the downlink rate.
  const encoder = new OpusEncoder({ rate });
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
