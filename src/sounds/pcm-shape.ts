/**
 * Shaping of prompt audio in the generator: trim a TTS clip's silence, normalize its peak,
 * convert between S16_LE and floats. Pure; the generator (scripts/make-sounds.ts) and the tests
 * use it.
 */

/** S16_LE bytes → floats in −1…1. An odd trailing byte is a caller's error. */
export function s16ToFloat(pcm: Buffer): Float64Array {
  if (pcm.length % 2 !== 0) throw new RangeError(`S16 PCM has an odd length ${pcm.length}`);
  const out = new Float64Array(pcm.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = pcm.readInt16LE(i * 2) / 32768;
  return out;
}

/** Floats → S16_LE, rounded and clipped. */
export function floatToS16(samples: Float64Array): Buffer {
  const out = Buffer.alloc(samples.length * 2);
  for (let i = 0; i < samples.length; i++) {
    const v = Math.round((samples[i] ?? 0) * 32768);
    out.writeInt16LE(Math.min(32767, Math.max(-32768, v)), i * 2);
  }
  return out;
}

export interface TrimOptions {
  readonly rate: number;
  /** Level (dBFS, peak within a 5 ms window) below which the edges count as silence. */
  readonly thresholdDbfs: number;
  /** Kept around the sound so a soft onset/decay is not cut. */
  readonly marginMs: number;
  /** Raised-cosine fade at both new edges. */
  readonly fadeMs: number;
}

/**
 * Cuts the leading and trailing silence (espeak-ng pads its output with ~100 ms of each), so
 * digits follow one another at the pace the scheduler decides, not the TTS's.
 */
export function trimSilence(samples: Float64Array, o: TrimOptions): Float64Array {
  const win = Math.max(1, Math.round((o.rate * 5) / 1000));
  const threshold = 10 ** (o.thresholdDbfs / 20);
  let first = -1;
  let last = -1;
  for (let start = 0; start < samples.length; start += win) {
    let peak = 0;
    const end = Math.min(samples.length, start + win);
    for (let i = start; i < end; i++) peak = Math.max(peak, Math.abs(samples[i] ?? 0));
    if (peak >= threshold) {
      if (first < 0) first = start;
      last = end;
    }
  }
  if (first < 0) return new Float64Array(0);
  const margin = Math.round((o.rate * o.marginMs) / 1000);
  const from = Math.max(0, first - margin);
  const to = Math.min(samples.length, last + margin);
  const out = samples.slice(from, to);
  const fade = Math.min(Math.round((o.rate * o.fadeMs) / 1000), Math.floor(out.length / 2));
  for (let i = 0; i < fade; i++) {
    const g = 0.5 - 0.5 * Math.cos((Math.PI * i) / fade);
    out[i] = (out[i] ?? 0) * g;
    const j = out.length - 1 - i;
    out[j] = (out[j] ?? 0) * g;
  }
  return out;
}

/** Scales so the largest sample is `peak` (0…1); silence stays silence. */
export function normalizePeak(samples: Float64Array, peak: number): Float64Array {
  let max = 0;
  for (const v of samples) max = Math.max(max, Math.abs(v));
  if (max === 0) return samples.slice();
  const g = peak / max;
  return samples.map((v) => v * g);
}
