/**
 * Keeps the device's own "listening" chime out of the uplink (issue 15 §1): the chime plays right
 * after a press, while the uplink is open, and the mic hears it. Sent as is, a press followed by
 * silence gives the server ~80 ms of tone that its VAD can take for the start of speech.
 *
 * Why not a time window ("mute the mic while the chime plays", wyoming-satellite's
 * --mic-seconds-to-mute-after-awake-wav, 0.5 s by default): the moment the chime is heard is not
 * known to the uplink. Press → chime at the speaker is 15–49 ms p50, 40–106 ms p95 on the test rig
 * (test/integration/earcon-latency.test.ts) and differs per card, and arecord hands the mic over in
 * periods (125 ms by default), so a frame's capture time is known only to ±one period. A window
 * wide enough to be sure mutes ~300–450 ms after every press, and with it the first syllable of a
 * person who speaks with the press — what the pre-roll exists for.
 *
 * Instead the chime is found in the audio itself. We know exactly what we played, so a matched
 * filter (normalized cross-correlation with the chime as played, at the mic rate) finds where it
 * lies in the mic signal to the sample, whatever the latency; only those samples (plus a short
 * tail for the room's echo) are replaced by silence. Two properties follow from the normalization:
 * - chime over silence or room noise: correlation ≈ 0.9 → gated; nothing of it reaches the server;
 * - a person speaking over the chime: the speech dominates, correlation falls below the threshold →
 *   nothing is gated and the server gets the speech (with the chime under it, which an ASR ignores
 *   like any background). The gate never cuts speech to remove a tone.
 *
 * Causal and frame by frame: `filter()` returns each frame at once (never delays the uplink). The
 * chime's first `minOverlapMs` can pass before it is recognised; the chime's own 5 ms fade-in
 * makes that part quiet (measured in the test: the leak).
 *
 * Cost: while searching (at most `searchMs` after `arm()`), one frame costs the correlation at every
 * lag. Done directly that is (frame + chime) × chime ≈ 2.9 M multiply-adds: 78 ms per 60 ms frame
 * on the shared test machine, more than real time. Through the FFT (fft.js, indutny's radix-4:
 * one 4096-point real transform and one inverse per frame, the chime's spectrum computed once)
 * it is a fraction of a millisecond; measured in the unit test.
 */
import FFT from 'fft.js';
import { CAPTURE_RATE, FRAME_SAMPLES } from '../audio/audio-port.js';

export interface ChimeGateOptions {
  /** Normalized correlation at or above which the chime is taken as found. */
  readonly threshold?: number;
  /** After arm(), how long the chime is searched for before the gate gives up (ms of uplink audio). */
  readonly searchMs?: number;
  /** Silence added after the chime for the room's echo of it. */
  readonly tailMs?: number;
  /** Shortest part of the chime that must be in view before a match counts. */
  readonly minOverlapMs?: number;
}

export const DEFAULT_GATE_THRESHOLD = 0.6;
/** Covers the p95 press → speaker latency (≤ 106 ms in our runs) three times over, plus the chime. */
export const DEFAULT_GATE_SEARCH_MS = 600;
export const DEFAULT_GATE_TAIL_MS = 40;
export const DEFAULT_GATE_MIN_OVERLAP_MS = 15;

/** idle: frames pass. searching: armed, looking for the chime. gating: found; zeroing until its end. */
export type ChimeGateState = 'idle' | 'searching' | 'gating';

export class ChimeGate {
  readonly #t: Float64Array;
  readonly #tEnergyPrefix: Float64Array;
  readonly #fft: FFT;
  /** Spectrum of the zero-padded chime, conjugated: correlation = IFFT(X · conj(T)). */
  readonly #tSpecConj: Float64Array;
  readonly #scratch: {
    readonly input: Float64Array;
    readonly spec: Float64Array;
    readonly corr: Float64Array;
  };
  readonly #threshold: number;
  readonly #searchSamples: number;
  readonly #tailSamples: number;
  readonly #minOverlap: number;
  /** The last samples seen (chime length + one frame), oldest first; `#seen` counts all of them. */
  #hist: Float64Array;
  #seen = 0;
  #state: ChimeGateState = 'idle';
  /** Absolute sample position (in `#seen` terms) where searching stops / gating ends. */
  #until = 0;
  /** Where the chime was found (absolute sample position), for tests and logs. */
  foundAt: number | undefined;
  /** The best correlation seen in the last search. */
  bestScore = 0;

  /** `chime`: the earcon as played, mono S16_LE at the mic rate (16 kHz). */
  constructor(chime: Buffer, options: ChimeGateOptions = {}) {
    const n = Math.floor(chime.length / 2);
    if (n < 64) throw new RangeError(`chime of ${n} samples is too short to match`);
    this.#t = new Float64Array(n);
    for (let i = 0; i < n; i++) this.#t[i] = chime.readInt16LE(i * 2) / 32768;
    this.#tEnergyPrefix = prefixSquares(this.#t);
    this.#threshold = options.threshold ?? DEFAULT_GATE_THRESHOLD;
    const ms = (v: number) => Math.round((v * CAPTURE_RATE) / 1000);
    this.#searchSamples = ms(options.searchMs ?? DEFAULT_GATE_SEARCH_MS);
    this.#tailSamples = ms(options.tailMs ?? DEFAULT_GATE_TAIL_MS);
    this.#minOverlap = Math.min(n, ms(options.minOverlapMs ?? DEFAULT_GATE_MIN_OVERLAP_MS));
    this.#hist = new Float64Array(0);
    // History (chime + one frame) plus the chime, so the circular correlation never wraps.
    let size = 2;
    while (size < 2 * n + FRAME_SAMPLES) size *= 2;
    this.#fft = new FFT(size);
    this.#scratch = {
      input: new Float64Array(size),
      spec: new Float64Array(2 * size),
      corr: new Float64Array(2 * size),
    };
    this.#tSpecConj = this.#spectrum(this.#t);
    for (let k = 1; k < this.#tSpecConj.length; k += 2) this.#tSpecConj[k] = -(this.#tSpecConj[k] ?? 0);
  }

  /** Full complex spectrum (interleaved re, im) of `x` zero-padded to the FFT size; a new array. */
  #spectrum(x: Float64Array): Float64Array {
    const { input } = this.#scratch;
    input.fill(0);
    input.set(x.subarray(0, input.length));
    const out = new Float64Array(2 * this.#fft.size);
    this.#fft.realTransform(out, input);
    this.#fft.completeSpectrum(out);
    return out;
  }

  get state(): ChimeGateState {
    return this.#state;
  }

  /** Samples filtered so far: the clock `foundAt` is counted on. */
  get position(): number {
    return this.#seen;
  }

  /** The chime is about to play: look for it in the next `searchMs` of uplink audio. */
  arm(): void {
    this.#state = 'searching';
    this.#until = this.#seen + this.#searchSamples;
    this.foundAt = undefined;
    this.bestScore = 0;
  }

  /** Stop gating (the turn ended, muted…). */
  disarm(): void {
    this.#state = 'idle';
  }

  /** One uplink frame (S16_LE mono, 16 kHz) in, the frame to send out: the same buffer, or a gated copy. */
  filter(frame: Buffer): Buffer {
    const samples = Math.floor(frame.length / 2);
    const x = new Float64Array(samples);
    for (let i = 0; i < samples; i++) x[i] = frame.readInt16LE(i * 2) / 32768;
    const start = this.#seen;
    this.#push(x);
    if (this.#state === 'idle') return frame;
    if (this.#state === 'searching') {
      this.#search();
      if (this.#state === 'searching' && this.#seen >= this.#until) this.#state = 'idle';
    }
    if (this.#state !== 'gating' || this.foundAt === undefined) return frame;
    // Zero [foundAt, #until) where it falls in this frame.
    const from = Math.max(0, this.foundAt - start);
    const to = Math.min(samples, this.#until - start);
    if (this.#seen >= this.#until) this.#state = 'idle';
    if (to <= from) return frame;
    const out = Buffer.from(frame);
    out.fill(0, from * 2, to * 2);
    return out;
  }

  #push(x: Float64Array): void {
    const keep = this.#t.length + Math.max(FRAME_SAMPLES, x.length);
    const merged = new Float64Array(Math.min(keep, this.#hist.length + x.length));
    const old = merged.length - x.length;
    merged.set(this.#hist.subarray(this.#hist.length - old), 0);
    merged.set(x, old);
    this.#hist = merged;
    this.#seen += x.length;
  }

  /** Normalized correlation of the chime's first L samples with the history at each onset p. */
  #search(): void {
    const h = this.#hist;
    const t = this.#t;
    const hPrefix = prefixSquares(h);
    const base = this.#seen - h.length; // absolute position of h[0]
    let best = 0;
    let bestP = -1;
    // dot(p) = Σ_i t[i]·h[p+i] for every p at once; beyond h's end the padding is zero, which is
    // exactly the partial overlap of a chime that has only begun.
    const spec = this.#spectrum(h);
    const tc = this.#tSpecConj;
    const prod = this.#scratch.spec;
    for (let k = 0; k < prod.length; k += 2) {
      const a = spec[k] ?? 0;
      const b = spec[k + 1] ?? 0;
      const c = tc[k] ?? 0;
      const d = tc[k + 1] ?? 0;
      prod[k] = a * c - b * d;
      prod[k + 1] = a * d + b * c;
    }
    const corr = this.#scratch.corr;
    this.#fft.inverseTransform(corr, prod);
    for (let p = 0; p + this.#minOverlap <= h.length; p++) {
      const dot = corr[2 * p] ?? 0;
      if (dot <= 0) continue;
      const len = Math.min(t.length, h.length - p);
      const et = this.#tEnergyPrefix[len] ?? 0;
      const ex = (hPrefix[p + len] ?? 0) - (hPrefix[p] ?? 0);
      // A near-silent stretch cannot be the chime; its ratio would only be rounding noise.
      if (et <= 0 || ex <= 1e-9) continue;
      const score = dot / Math.sqrt(et * ex);
      if (score > best) {
        best = score;
        bestP = p;
      }
    }
    this.bestScore = Math.max(this.bestScore, best);
    if (best >= this.#threshold && bestP >= 0) {
      this.foundAt = base + bestP;
      this.#until = this.foundAt + t.length + this.#tailSamples;
      this.#state = 'gating';
    }
  }
}

function prefixSquares(x: Float64Array): Float64Array {
  const out = new Float64Array(x.length + 1);
  for (let i = 0; i < x.length; i++) out[i + 1] = (out[i] ?? 0) + (x[i] ?? 0) ** 2;
  return out;
}
