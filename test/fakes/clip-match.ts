/**
 * Finding the prompt clips in what a speaker played (the sounds' end-to-end tests): sounding
 * stretches are cut at quiet gaps, and each is matched against the bank's clips by normalized
 * cross-correlation over a few ms of lag around its onset. Played bit-exact, a clip scores 1.0;
 * another clip, or speech, scores far lower.
 */
import { DIGITS, type Digit, digitClip, type SoundLanguage } from '../../src/sounds/clips.js';
import type { SoundBank } from '../../src/sounds/sound-bank.js';

/** Normalized cross-correlation of `clip` against `x` at offset `at`. */
export function ncc(x: Int16Array, at: number, clip: Int16Array): number {
  let dot = 0;
  let ex = 0;
  let ec = 0;
  for (let i = 0; i < clip.length; i++) {
    const a = x[at + i] ?? 0;
    const b = clip[i] ?? 0;
    dot += a * b;
    ex += a * a;
    ec += b * b;
  }
  return ex === 0 || ec === 0 ? 0 : dot / Math.sqrt(ex * ec);
}

export function samples(pcm: Buffer): Int16Array {
  const out = new Int16Array(pcm.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = pcm.readInt16LE(i * 2);
  return out;
}

/** Sounding stretches of `x` at `rate` (a 10 ms window above −50 dBFS), split at ≥ `gapMs` of quiet. */
export function segments(x: Int16Array, rate: number, gapMs: number): { from: number; to: number }[] {
  const win = rate / 100;
  const out: { from: number; to: number }[] = [];
  let quiet = Number.POSITIVE_INFINITY;
  for (let w = 0; w * win < x.length; w++) {
    let peak = 0;
    for (let i = w * win; i < Math.min(x.length, (w + 1) * win); i++)
      peak = Math.max(peak, Math.abs(x[i] ?? 0));
    if (peak < 100) {
      quiet += 10;
      continue;
    }
    const last = out[out.length - 1];
    if (last && quiet < gapMs) last.to = (w + 1) * win;
    else out.push({ from: w * win, to: (w + 1) * win });
    quiet = 0;
  }
  return out;
}

/**
 * The digits spoken in `played`: each sounding stretch is matched against every digit clip of
 * `language` by normalized cross-correlation over a small range of lags around its onset (the
 * clip's own trimmed edges start within a window of it); the best clip must score ≥ 0.9.
 */
export function spokenDigits(
  played: Buffer,
  bank: SoundBank,
  language: SoundLanguage,
): { digits: string; scores: number[] } {
  const rate = bank.rate;
  const x = samples(played);
  const clips = DIGITS.map((d) => [d, samples(bank.get(digitClip(language, d)).pcm)] as const);
  let digits = '';
  const scores: number[] = [];
  for (const seg of segments(x, rate, 150)) {
    let best: { d: Digit; score: number } | undefined;
    for (const [d, clip] of clips) {
      for (let lag = -rate / 50; lag <= rate / 50; lag++) {
        const at = seg.from + lag;
        if (at < 0) continue;
        const score = ncc(x, at, clip);
        if (!best || score > best.score) best = { d, score };
      }
    }
    if (best && best.score >= 0.9) {
      digits += best.d;
      scores.push(Number(best.score.toFixed(4)));
    }
  }
  return { digits, scores };
}

/** Where `clipPcm` lies in `played` (best normalized correlation), both at `rate`. */
export function findClip(played: Buffer, clipPcm: Buffer, rate: number): { at: number; score: number } {
  const x = samples(played);
  const clip = samples(clipPcm);
  let best = { at: -1, score: 0 };
  // Only sounding onsets are candidates: the clip starts within 20 ms after quiet turns to sound.
  for (const seg of segments(x, rate, 50)) {
    for (let at = Math.max(0, seg.from - rate / 50); at < seg.from + rate / 50; at++) {
      const score = ncc(x, at, clip);
      if (score > best.score) best = { at, score };
    }
  }
  return best;
}
