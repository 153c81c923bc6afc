import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { dbfs, rms } from '../../src/audio/pcm.js';
import { ALL_CLIPS, EARCONS, earconClip } from '../../src/sounds/clips.js';
import { EARCON_PEAK, earconMs, synthEarcon } from '../../src/sounds/earcon-synth.js';
import { floatToS16, normalizePeak, s16ToFloat, trimSilence } from '../../src/sounds/pcm-shape.js';
import { DEFAULT_SOUND_PACK, loadSoundBank } from '../../src/sounds/sound-bank.js';
import { encodePack, PACK_MAGIC, parsePack, SoundAssetError } from '../../src/sounds/sound-pack.js';

test('the committed pack loads at 24 kHz with every clip, each of a sane length and level', async () => {
  const bank = await loadSoundBank(DEFAULT_SOUND_PACK, 24000);
  assert.equal(bank.rate, 24000);
  assert.deepEqual([...bank.clips.keys()].sort(), [...ALL_CLIPS].sort());
  for (const clip of bank.clips.values()) {
    const level = dbfs(rms(clip.pcm));
    if (clip.name.startsWith('digit-')) {
      assert.ok(clip.ms > 200 && clip.ms < 700, `${clip.name}: ${clip.ms} ms`);
    } else {
      assert.ok(clip.ms >= 50 && clip.ms <= 350, `${clip.name}: ${clip.ms} ms`);
    }
    assert.ok(level > -30 && level < -3, `${clip.name}: ${level.toFixed(1)} dBFS`);
  }
  // The earcons last exactly what the synthesis says (pre-skip removed, padding cut).
  for (const e of EARCONS) assert.equal(Math.round(bank.get(earconClip(e)).ms), earconMs(e));
});

/** SNR (dB) of `got` against `want` with `got` shifted by `offset` samples. */
function snrAt(want: Float64Array, got: Float64Array, offset: number): number {
  let signal = 0;
  let noise = 0;
  for (let i = 10; i < want.length - 10; i++) {
    const w = want[i] ?? 0;
    signal += w * w;
    noise += (w - (got[i + offset] ?? 0)) ** 2;
  }
  return 10 * Math.log10(signal / noise);
}

test('decoded earcons match their synthesis: Opus kept the waveform, and the pre-skip is right', async () => {
  const bank = await loadSoundBank(DEFAULT_SOUND_PACK, 16000);
  for (const e of EARCONS) {
    const want = synthEarcon(e, 16000);
    const got = s16ToFloat(bank.get(earconClip(e)).pcm);
    assert.equal(got.length, want.length, e);
    const offsets = [-3, -2, -1, 0, 1, 2, 3];
    const snrs = offsets.map((o) => snrAt(want, got, o));
    const best = Math.max(...snrs);
    const bestOffset = offsets[snrs.indexOf(best)];
    assert.ok(best > 15, `${e}: SNR ${best.toFixed(1)} dB`);
    // The encoder's VOIP high-pass delays low tones (the 300 Hz error pulses) by a sample or two;
    // the tones at 660 Hz and up show the alignment itself: exact.
    if (e === 'listening' || e === 'volume')
      assert.equal(bestOffset, 0, `${e}: ${snrs.map((x) => x.toFixed(1))}`);
    else assert.ok(Math.abs(bestOffset ?? 9) <= 2, `${e}: best offset ${bestOffset}`);
  }
});

test('earcons: within the peak, silent at both ends (no clicks), listening the shortest but the blip', () => {
  for (const e of EARCONS) {
    const s = synthEarcon(e, 16000);
    let peak = 0;
    for (const v of s) peak = Math.max(peak, Math.abs(v));
    assert.ok(peak <= EARCON_PEAK + 1e-9 && peak > EARCON_PEAK * 0.7, `${e}: peak ${peak}`);
    assert.ok(Math.abs(s[0] ?? 1) < 0.01 && Math.abs(s[s.length - 1] ?? 1) < 0.05, `${e}: edges`);
    assert.deepEqual(synthEarcon(e, 16000), s, `${e} is deterministic`);
  }
  assert.ok(earconMs('listening') <= 100);
});

test('trimSilence cuts the silence around a sound and keeps the margin; normalizePeak scales', () => {
  const rate = 16000;
  const x = new Float64Array(rate); // 1 s
  for (let i = 8000; i < 9600; i++) x[i] = 0.5 * Math.sin(i / 3); // 100 ms of sound at 0.5 s
  const t = trimSilence(x, { rate, thresholdDbfs: -40, marginMs: 10, fadeMs: 5 });
  // 100 ms of sound + 10 ms each side, rounded to the 5 ms analysis windows.
  assert.ok(t.length >= 1920 && t.length <= 2080, `${t.length}`);
  assert.equal(t[0], 0);
  assert.equal(
    trimSilence(new Float64Array(100), { rate, thresholdDbfs: -40, marginMs: 10, fadeMs: 5 }).length,
    0,
  );
  const n = normalizePeak(Float64Array.from([0.1, -0.2]), 0.8);
  assert.deepEqual([...n], [0.4, -0.8]);
  assert.deepEqual([...s16ToFloat(floatToS16(Float64Array.from([0.5, -1, 2])))], [0.5, -1, 32767 / 32768]);
});

test('a missing file, a foreign file, a damaged body, a missing clip: each a SoundAssetError naming the file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sounds-'));
  try {
    const missing = join(dir, 'nope.pack');
    await assert.rejects(loadSoundBank(missing, 24000), (err: unknown) => {
      assert.ok(err instanceof SoundAssetError);
      assert.match(err.message, /nope\.pack: cannot read: .*ENOENT/);
      assert.match(err.message, /npm run sounds/);
      return true;
    });

    const foreign = join(dir, 'foreign.pack');
    await writeFile(foreign, 'RIFF....WAVEfmt ');
    await assert.rejects(loadSoundBank(foreign, 24000), /foreign\.pack: not a speakerd sound pack/);

    const good = await import('node:fs/promises').then((f) => f.readFile(DEFAULT_SOUND_PACK));
    const damaged = Buffer.from(good);
    damaged[damaged.length - 10] = (damaged[damaged.length - 10] ?? 0) ^ 0xff;
    assert.throws(() => parsePack(damaged, 'x.pack'), /x\.pack: checksum mismatch/);
    assert.throws(() => parsePack(good.subarray(0, good.length - 100), 'x.pack'), /checksum mismatch/);

    // A well-formed pack that lacks clips: refused at load, with the names.
    const partialFile = join(dir, 'partial.pack');
    const packet = Buffer.from([0xf8, 0xff, 0xfe]); // a valid Opus packet (TOC of a 20 ms CELT frame)
    await writeFile(
      partialFile,
      encodePack({ rate: 16000, frameSamples: 960, preSkip: 104 }, [
        { name: 'earcon-volume', samples: 800, packets: [packet] },
      ]),
    );
    await assert.rejects(loadSoundBank(partialFile, 24000), /missing clips: digit-zh-0, digit-zh-1,/);

    const badHeader = Buffer.concat([PACK_MAGIC, Buffer.from([2, 0, 0, 0]), Buffer.from('{}')]);
    assert.throws(() => parsePack(badHeader, 'h.pack'), /h\.pack: bad header: format/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
