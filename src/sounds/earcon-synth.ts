/**
 * Earcons synthesized in code (issue 15 §1: our own assets, nothing copied from the firmware).
 * Each earcon is a few tones or chirps (a sine with a little second harmonic, so a small speaker
 * that cannot reproduce the fundamental well still sounds its pitch) under a raised-cosine
 * attack/release envelope: no clicks at the edges, which on a one-watt speaker sound like faults.
 *
 * Pure and deterministic: the same rate gives the same samples on every machine (V8's Math.sin is
 * a port of fdlibm), so the generator's output is reproducible byte for byte.
 *
 * The shapes follow common earcon conventions (rising = start/positive, falling = stop/negative,
 * low pulses = error). Durations are short on purpose; 'listening' is the shortest of all because
 * it plays right when the person starts to speak and the mic hears it (see uplink-echo.ts).
 */
import type { Earcon } from './clips.js';

/** One tone: a frequency glide from `fromHz` to `toHz` over `ms`, then `gapMs` of silence. */
export interface Tone {
  readonly fromHz: number;
  readonly toHz: number;
  readonly ms: number;
  readonly gapMs?: number;
  /** Linear peak amplitude 0…1 of full scale (default EARCON_PEAK). */
  readonly peak?: number;
}

/** −6 dBFS: loud enough to hear over a room at the volume of speech, with headroom. */
export const EARCON_PEAK = 0.5;
const ATTACK_MS = 5;
/** Release: at least this long; long releases sound softer and hide the end of the tone. */
const RELEASE_MS = 25;
/** Level of the second harmonic relative to the fundamental. */
const HARMONIC = 0.25;

export const EARCON_TONES: Readonly<Record<Earcon, readonly Tone[]>> = {
  // One short rising chirp: "go ahead". 80 ms keeps it inside two 60 ms uplink frames.
  listening: [{ fromHz: 660, toHz: 1050, ms: 80 }],
  // Two falling notes: "cannot".
  'link-down': [
    { fromHz: 620, toHz: 620, ms: 110, gapMs: 30 },
    { fromHz: 415, toHz: 415, ms: 160 },
  ],
  // Two rising notes (a fifth): "back".
  reconnected: [
    { fromHz: 523, toHz: 523, ms: 90, gapMs: 20 },
    { fromHz: 784, toHz: 784, ms: 130 },
  ],
  // Three low pulses.
  error: [
    { fromHz: 310, toHz: 290, ms: 70, gapMs: 45 },
    { fromHz: 310, toHz: 290, ms: 70, gapMs: 45 },
    { fromHz: 310, toHz: 290, ms: 90 },
  ],
  // A falling glide, a rising glide: closing and opening.
  'mute-on': [{ fromHz: 880, toHz: 440, ms: 160 }],
  'mute-off': [{ fromHz: 440, toHz: 880, ms: 160 }],
  // One neutral blip, played at the new volume so the person hears the level they chose.
  volume: [{ fromHz: 1000, toHz: 1000, ms: 60 }],
};

/** Total length of an earcon in ms (tones and gaps). */
export function earconMs(earcon: Earcon): number {
  return EARCON_TONES[earcon].reduce((sum, t) => sum + t.ms + (t.gapMs ?? 0), 0);
}

/** The earcon as float samples in −1…1 at `rate`. */
export function synthEarcon(earcon: Earcon, rate: number): Float64Array {
  if (!Number.isInteger(rate) || rate < 8000) throw new RangeError(`invalid sample rate ${rate}`);
  const tones = EARCON_TONES[earcon];
  const total = tones.reduce((n, t) => n + samplesOf(t.ms, rate) + samplesOf(t.gapMs ?? 0, rate), 0);
  const out = new Float64Array(total);
  let at = 0;
  for (const tone of tones) {
    renderTone(tone, rate, out, at);
    at += samplesOf(tone.ms, rate) + samplesOf(tone.gapMs ?? 0, rate);
  }
  return out;
}

function samplesOf(ms: number, rate: number): number {
  return Math.round((ms * rate) / 1000);
}

function renderTone(tone: Tone, rate: number, out: Float64Array, at: number): void {
  const n = samplesOf(tone.ms, rate);
  const attack = Math.min(samplesOf(ATTACK_MS, rate), Math.floor(n / 2));
  const release = Math.min(Math.max(samplesOf(RELEASE_MS, rate), Math.floor(n / 3)), n - attack);
  const peak = (tone.peak ?? EARCON_PEAK) / (1 + HARMONIC);
  let phase = 0;
  for (let i = 0; i < n; i++) {
    // Linear glide of the instantaneous frequency; the phase is its running integral.
    const f = tone.fromHz + ((tone.toHz - tone.fromHz) * i) / n;
    phase += (2 * Math.PI * f) / rate;
    let env = 1;
    if (i < attack) env = 0.5 - 0.5 * Math.cos((Math.PI * i) / attack);
    else if (i >= n - release) env = 0.5 - 0.5 * Math.cos((Math.PI * (n - i)) / release);
    out[at + i] = peak * env * (Math.sin(phase) + HARMONIC * Math.sin(2 * phase));
  }
}
