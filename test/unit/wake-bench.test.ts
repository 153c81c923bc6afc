/**
 * The pure parts of the wake-word benchmarks: the corpus's seeded noise, levels, mixing, prose and
 * plans (scripts/wake-corpus.ts), how the accuracy bench places clips and reads windows
 * (bench/wakeword-accuracy.ts), and how the device bench builds its mic and pairs detections with
 * wake words (bench/wakeword-device.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import FFT from 'fft.js';
import { detectedIn, frameEnd, leadToPhase, locate } from '../../bench/wakeword-accuracy.js';
import { latencyCycle, matchDetections, soundEnd } from '../../bench/wakeword-device.js';
import type { CorpusFile } from '../../scripts/make-wake-corpus.js';
import {
  activeRms,
  fromS16,
  mixAtSnr,
  POSITIVE_PHRASES,
  partSeed,
  pinkNoise,
  positivePlans,
  prose,
  rms,
  segmentPlan,
  splitOnSilence,
  toS16,
  WAKE_PATTERN,
  wavBytes,
  whiteNoise,
} from '../../scripts/wake-corpus.js';
import { seededRandom } from '../../src/core/random.js';
import { parseWav16kMono } from '../../src/wakeword/wav.js';

const hash = (x: Float64Array): string => x.join(',');

test('white and pink noise are the same for the same seed and differ for another', () => {
  for (const gen of [whiteNoise, pinkNoise]) {
    const a = gen(seededRandom(7), 4096);
    const b = gen(seededRandom(7), 4096);
    const c = gen(seededRandom(8), 4096);
    assert.equal(hash(a), hash(b), `${gen.name}: same seed, other samples`);
    assert.notEqual(hash(a), hash(c), `${gen.name}: another seed, same samples`);
  }
});

test('white noise has zero mean and unit variance; pink noise unit RMS', () => {
  const w = whiteNoise(seededRandom(1), 200_000);
  const mean = w.reduce((s, x) => s + x, 0) / w.length;
  assert.ok(Math.abs(mean) < 0.01, `mean ${mean}`);
  assert.ok(Math.abs(rms(w) - 1) < 0.01, `white RMS ${rms(w)}`);
  assert.ok(Math.abs(rms(pinkNoise(seededRandom(1), 50_000)) - 1) < 1e-12);
});

/** Mean power per FFT bin between lo and hi Hz, averaged over 4096-sample blocks at 16 kHz. */
function bandPower(x: Float64Array, lo: number, hi: number): number {
  const n = 4096;
  const fft = new FFT(n);
  const out = fft.createComplexArray() as number[];
  let sum = 0;
  let count = 0;
  for (let at = 0; at + n <= x.length; at += n) {
    fft.realTransform(out, Array.from(x.subarray(at, at + n)));
    for (let k = Math.ceil((lo * n) / 16000); k < (hi * n) / 16000; k++) {
      sum += (out[2 * k] ?? 0) ** 2 + (out[2 * k + 1] ?? 0) ** 2;
      count++;
    }
  }
  return sum / count;
}

test('pink noise falls 3 dB an octave (equal power per octave); white noise is flat', () => {
  const n = 4096 * 40;
  const pink = pinkNoise(seededRandom(3), n);
  const white = whiteNoise(seededRandom(3), n);
  // Per-bin power: pink halves each octave up, so 3 octaves up is 1/8; white stays the same.
  const pinkRatio = bandPower(pink, 200, 400) / bandPower(pink, 1600, 3200);
  const whiteRatio = bandPower(white, 200, 400) / bandPower(white, 1600, 3200);
  assert.ok(
    pinkRatio > 8 / 1.5 && pinkRatio < 8 * 1.5,
    `pink 200–400 Hz / 1.6–3.2 kHz per bin = ${pinkRatio}`,
  );
  assert.ok(whiteRatio > 0.8 && whiteRatio < 1.25, `white ratio ${whiteRatio}`);
});

test('activeRms is the level of the sound, not of the pauses around it', () => {
  const x = new Float64Array(16000 * 3);
  for (let i = 0; i < 8000; i++) x[16000 + i] = i % 2 === 0 ? 0.1 : -0.1;
  assert.ok(Math.abs(activeRms(x) - 0.1) < 1e-12, `${activeRms(x)}`);
  assert.ok(rms(x) < 0.05, 'the plain RMS is diluted by the silence');
  assert.equal(activeRms(new Float64Array(16000)), 0);
});

test('mixAtSnr puts the noise exactly the asked dB below the active speech level', () => {
  const speech = new Float64Array(16000 * 2);
  for (let i = 4000; i < 20000; i++) speech[i] = ((i * 7919) % 200) / 1000 - 0.1;
  const noise = pinkNoise(seededRandom(5), speech.length);
  for (const snr of [10, 20, 30] as const) {
    const mixed = mixAtSnr(speech, noise, snr);
    const added = mixed.map((x, i) => x - (speech[i] ?? 0));
    const db = 20 * Math.log10(activeRms(speech) / rms(added));
    assert.ok(Math.abs(db - snr) < 1e-9, `asked ${snr} dB, got ${db}`);
  }
  assert.throws(() => mixAtSnr(speech, noise.subarray(0, 10), 20), /shorter/);
});

test('toS16 rounds and clips; wavBytes is a WAV the wake word reads back sample for sample', () => {
  assert.deepEqual(
    [...toS16(Float64Array.from([0, 0.5, -1, 1.5, -2, 1 / 32768]))],
    [0, 16384, -32768, 32767, -32768, 1],
  );
  const pcm = Int16Array.from([0, 1, -1, 32767, -32768, 1234]);
  const wav = wavBytes(pcm);
  assert.equal(wav.length, 44 + 12);
  assert.deepEqual([...parseWav16kMono(wav, 'x.wav')], [...pcm]);
});

test('splitOnSilence: sounding spans separated by long enough pauses only', () => {
  const x = new Int16Array(1400);
  x.fill(1000, 0, 100);
  x.fill(1000, 1100, 1150);
  x.fill(1000, 1350, 1400); // 200 quiet samples before: shorter than the gap, same span
  x[600] = 2; // at the level: still quiet
  assert.deepEqual(splitOnSilence(x, 500, 2), [
    [0, 100],
    [1100, 1400],
  ]);
  assert.deepEqual(splitOnSilence(new Int16Array(100), 10, 2), []);
});

test('prose is seeded, holds no wake word, and the Mandarin is hanzi', () => {
  assert.equal(prose('en', seededRandom(9), 5), prose('en', seededRandom(9), 5));
  assert.notEqual(prose('en', seededRandom(9), 5), prose('en', seededRandom(10), 5));
  for (let seed = 0; seed < 300; seed++) {
    const en = prose('en', seededRandom(seed), 6);
    const zh = prose('zh', seededRandom(seed), 6);
    assert.doesNotMatch(en, WAKE_PATTERN);
    assert.doesNotMatch(zh, WAKE_PATTERN);
    assert.doesNotMatch(zh, /[A-Za-z]/, zh);
  }
});

test('segment plans: a prefix does not depend on the corpus length, voices avoid f2/f3/f5, both languages', () => {
  assert.deepEqual(segmentPlan(14, 37), segmentPlan(14, 37));
  assert.notDeepEqual(segmentPlan(14, 37), segmentPlan(14, 38));
  assert.notEqual(partSeed(14, 1), partSeed(14, 2));
  const plans = Array.from({ length: 500 }, (_, i) => segmentPlan(14, i));
  for (const p of plans) {
    assert.doesNotMatch(p.voice, /\+f[235]$/, p.voice);
    assert.ok(p.speed >= 120 && p.speed <= 210 && p.pitch >= 25 && p.pitch <= 75);
  }
  const zh = plans.filter((p) => p.language === 'zh').length;
  assert.ok(zh > 150 && zh < 250, `${zh} of 500 segments are Mandarin`);
  assert.ok(new Set(plans.map((p) => p.voice)).size > 30, 'voices vary');
  assert.ok(new Set(plans.map((p) => `${p.noise} ${p.snr}`)).size >= 7, 'noise kinds and levels vary');
});

test('positives: 36 a phrase, half at 20 dB, white and pink, unique names', () => {
  const plans = positivePlans(14);
  assert.equal(plans.length, 36 * POSITIVE_PHRASES.length);
  assert.equal(new Set(plans.map((p) => p.name)).size, plans.length);
  for (const { phrase } of POSITIVE_PHRASES) {
    const mine = plans.filter((p) => p.phrase === phrase);
    assert.equal(mine.length, 36);
    assert.equal(mine.filter((p) => p.noise === 'none').length, 18);
    assert.equal(mine.filter((p) => p.noise === 'pink').length, 9);
    assert.equal(mine.filter((p) => p.noise === 'white').length, 9);
  }
});

test('accuracy bench: positives start where predict_clip starts them in the 80 ms grid', () => {
  for (const pos of [0, 1, 639, 640, 641, 1279, 1280, 35_200, 123_457]) {
    const lead = leadToPhase(pos);
    assert.ok(lead >= 0 && lead < 1280);
    assert.equal((pos + lead) % 1280, 16000 % 1280);
    for (const phase of [0, 320, 960]) assert.equal((pos + leadToPhase(pos, phase)) % 1280, phase);
  }
});

test('accuracy bench: a detection counts only in frames overlapping the window', () => {
  const trace = new Float32Array(20);
  trace[10] = 0.9; // samples [12800, 14080)
  assert.equal(frameEnd(10), 14080);
  assert.equal(detectedIn(trace, 12000, 12801, 0.5), true, 'overlaps by one sample');
  assert.equal(detectedIn(trace, 14080, 20000, 0.5), false, 'starts after the frame');
  assert.equal(detectedIn(trace, 0, 12800, 0.5), false, 'ends where the frame starts');
  assert.equal(detectedIn(trace, 0, 20000, 0.95), false, 'under the threshold');
});

test('accuracy bench: a false accept is traced to its file, time and segment', () => {
  const seg = (index: number, start: number, text: string) => ({
    ...segmentPlan(1, index),
    text,
    start,
    samples: 16000,
  });
  const files: CorpusFile[] = [
    { name: 'a.wav', samples: 32000, sha256: '', segments: [seg(0, 0, 'one'), seg(1, 16000, 'two')] },
    { name: 'b.wav', samples: 16000, sha256: '', segments: [seg(2, 0, 'three')] },
  ];
  const starts = [1000, 33000];
  assert.equal(locate(files, starts, 500), undefined, 'before the corpus');
  assert.deepEqual(
    { ...locate(files, starts, 1000 + 16000 + 8000), voice: '' },
    { file: 'a.wav', at: 1.5, voice: '', text: 'two' },
  );
  assert.equal(locate(files, starts, 33000 + 10)?.text, 'three');
});

test('device bench: the wake word ends at its last sounding sample; the cycle holds it over quiet noise', () => {
  const clip = new Int16Array(3000);
  clip.fill(8000, 100, 2000);
  clip[2500] = 300; // under −40 dBFS: not the word
  assert.equal(soundEnd(clip), 2000);
  assert.equal(soundEnd(new Int16Array(10)), 0);
  const { pcm, endSample } = latencyCycle(clip, 3);
  assert.equal(endSample, 2 * 16000 + 2000);
  assert.equal(pcm.length, 3 * 16000 * 2);
  const s = new Int16Array(pcm.buffer, pcm.byteOffset, pcm.length / 2);
  const bed = rms(fromS16(s.subarray(0, 16000)));
  assert.ok(bed > 0, 'the room is never digital silence');
  // 45 dB under the word's level (8000/32768), within the s16 rounding of so quiet a bed.
  const db = 20 * Math.log10(8000 / 32768 / bed);
  assert.ok(Math.abs(db - 45) < 1.5, `bed ${db.toFixed(2)} dB under the word`);
  assert.throws(() => latencyCycle(clip, 2.1), /cannot hold/);
});

test('device bench: each detection pairs with the one wake word it answers', () => {
  const ends = [10, 18, 26, 34];
  // 10.05 → first; a second detect of the same word is no sample; 25.9 (early) → third; 40 → none.
  assert.deepEqual(
    matchDetections(ends, [10.05, 10.5, 25.9, 40], 0.3, 2).map((x) => Math.round(x)),
    [50, -100],
  );
  assert.deepEqual(matchDetections(ends, [], 0.3, 2), []);
});
