/**
 * The wake-word corpus with the real espeak-ng and sox (scripts/test.sh installs them): a few
 * segments and one voice's positives rendered twice are the same bytes (no clock-seeded voice
 * variant, no dither), a noisy segment's pause holds noise at the planned level, and one espeak-ng
 * run per voice splits into exactly its three phrases. The whole corpus is made by the bench's
 * short form (bench/wakeword-accuracy.ts), so this stays small: about a second.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderPositives, renderSegment } from '../../scripts/make-wake-corpus.js';
import {
  activeRms,
  fromS16,
  POSITIVE_PHRASES,
  positivePlans,
  rms,
  SNR_AMPLITUDE,
  segmentPlan,
} from '../../scripts/wake-corpus.js';

const bytes = (x: Int16Array): Buffer => Buffer.from(x.buffer, x.byteOffset, x.byteLength);

test('corpus segments render byte for byte the same twice, in both languages', () => {
  const plans = Array.from({ length: 12 }, (_, i) => segmentPlan(14, i)).filter(
    (p, i, all) =>
      all.findIndex((q) => q.language === p.language && (q.noise === 'none') === (p.noise === 'none')) === i,
  );
  assert.ok(plans.some((p) => p.language === 'zh') && plans.some((p) => p.language === 'en'));
  for (const p of plans) {
    const a = renderSegment(p);
    const b = renderSegment(p);
    assert.ok(a.length > 16000, `${p.voice}: ${a.length} samples`);
    assert.ok(bytes(a).equals(bytes(b)), `${p.voice} at ${p.speed} wpm: two renderings differ`);
  }
});

test("a noisy segment's pause holds its noise at the planned SNR below the speech", () => {
  const plan = Array.from({ length: 40 }, (_, i) => segmentPlan(14, i)).find(
    (p) => p.noise !== 'none' && p.gapMs >= 800 && p.gain === 1,
  );
  assert.ok(plan, 'no noisy segment with a long pause among the first 40');
  const pcm = fromS16(renderSegment(plan));
  const gap = Math.round((plan.gapMs * 16000) / 1000);
  // The pause is noise only; speech's active level is SNR dB above it (s16 rounding aside).
  const noiseRms = rms(pcm.subarray(pcm.length - gap + 400));
  const speechLevel = activeRms(pcm.subarray(0, pcm.length - gap));
  const ratio = speechLevel / noiseRms;
  const want = SNR_AMPLITUDE[plan.snr];
  assert.ok(
    Math.abs(ratio / want - 1) < 0.15,
    `speech/noise ${ratio.toFixed(2)}, planned ${want.toFixed(2)}`,
  );
});

test('positives: one espeak-ng run per voice and speed splits into its three phrases, reproducibly', () => {
  const first = positivePlans(14).filter((p) => p.voice === 'en-us' && p.speed === 160);
  assert.equal(first.length, 2 * POSITIVE_PHRASES.length);
  const a = renderPositives(first);
  const b = renderPositives(first);
  assert.equal(a.size, first.length);
  for (const p of first) {
    const x = a.get(p.name);
    const y = b.get(p.name);
    assert.ok(x && y, p.name);
    // A phrase is under 2 s; the SSML break between phrases is 1.5 s, so a merged pair would be longer.
    assert.ok(x.length > 0.3 * 16000 && x.length < 2 * 16000, `${p.name}: ${x.length} samples`);
    assert.ok(bytes(x).equals(bytes(y)), `${p.name}: two renderings differ`);
  }
});
