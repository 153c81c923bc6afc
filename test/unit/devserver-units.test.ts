import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { farewellChime } from '../../src/devserver/farewell.js';
import { BACKSTOP_EXTRA_MS, NoVoiceTimer } from '../../src/devserver/no-voice-timer.js';
import { encodeTtsPackets, resampleLinear } from '../../src/devserver/tts-audio.js';
import { TtsPlayer } from '../../src/devserver/tts-player.js';
import { describe, UtteranceCollector } from '../../src/devserver/utterance.js';
import { EnergyVad, peakDbfs, rmsDbfs } from '../../src/devserver/vad.js';
import { captureLogger } from '../fakes/capture-logger.js';
import { silence, voiced } from './devserver-harness.js';

const FRAME = 1920; // 60 ms at 16 kHz

function frames(pcm: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < pcm.length; off += FRAME) out.push(pcm.subarray(off, off + FRAME));
  return out;
}

/** Low-level noise at roughly `dbfs` RMS (deterministic). */
function noise(ms: number, dbfs: number): Buffer {
  const n = (16000 * ms) / 1000;
  const amp = 32767 * 10 ** (dbfs / 20) * Math.sqrt(3);
  const out = Buffer.alloc(n * 2);
  let seed = 1;
  for (let i = 0; i < n; i++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    out.writeInt16LE(Math.round(amp * ((seed / 2147483648) * 2 - 1)), i * 2);
  }
  return out;
}

test('levels: a -12 dBFS peak tone measures so; digital silence is the floor value', () => {
  assert.equal(Math.round(peakDbfs(voiced(120, -12))), -12);
  assert.ok(rmsDbfs(voiced(120, -12)) < -12 && rmsDbfs(voiced(120, -12)) > -20);
  assert.equal(rmsDbfs(silence(60)), -120);
});

test('VAD: ends after silenceMs of silence that follows enough speech', () => {
  const vad = new EnergyVad({ silenceMs: 300, minSpeechMs: 300, sampleRate: 16000 });
  const verdicts = frames(Buffer.concat([voiced(600), silence(600)])).map((f) => vad.push(f));
  assert.deepEqual(
    verdicts.map((v) => v.voiced),
    [...Array(10).fill(true), ...Array(10).fill(false)],
  );
  const endAt = verdicts.findIndex((v) => v.end);
  assert.equal(endAt, 10 + 4, 'the 5th silent frame reaches 300 ms');
});

test('VAD: a blip shorter than minSpeechMs does not end anything', () => {
  const vad = new EnergyVad({ silenceMs: 300, minSpeechMs: 300, sampleRate: 16000 });
  const verdicts = frames(Buffer.concat([voiced(120), silence(600), voiced(240), silence(600)])).map((f) =>
    vad.push(f),
  );
  assert.equal(
    verdicts.some((v) => v.end),
    false,
  );
});

test('VAD: the noise floor learns steady background noise', () => {
  const vad = new EnergyVad({ silenceMs: 300, minSpeechMs: 300, sampleRate: 16000 });
  const noisy = frames(noise(12_000, -42)).map((f) => vad.push(f));
  assert.ok(
    noisy.slice(0, 10).every((v) => v.voiced),
    'louder than the initial threshold at first',
  );
  assert.ok(
    noisy.slice(-20).every((v) => !v.voiced),
    'background once learnt',
  );
  assert.ok(Math.abs(vad.noiseFloorDbfs - -42) < 2, `floor ${vad.noiseFloorDbfs}`);
  assert.ok(
    frames(voiced(300, -12)).every((f) => vad.push(f).voiced),
    'speech still stands out',
  );
});

test('collector: bounded by maxMs; playback keeps 300 ms around the speech', () => {
  const vad = new EnergyVad({ silenceMs: 300, minSpeechMs: 300, sampleRate: 16000 });
  const auto = new UtteranceCollector({ auto: true, maxMs: 15_000, sampleRate: 16000 });
  let end: string | undefined;
  for (const f of frames(Buffer.concat([silence(1200), voiced(600), silence(1200)]))) {
    end = auto.push(f, vad.push(f));
    if (end) break;
  }
  assert.equal(end, 'vad');
  const u = auto.finish('vad');
  assert.equal(u.speechMs, 600);
  assert.equal(u.playback.length, (300 + 600 + 300) * 32);
  assert.equal(u.text, 'heard 0.60 s of speech (peak -12 dBFS)');

  const manualVad = new EnergyVad({ silenceMs: 300, minSpeechMs: 300, sampleRate: 16000 });
  const manual = new UtteranceCollector({ auto: false, maxMs: 300, sampleRate: 16000 });
  const results = frames(voiced(600)).map((f) => manual.push(f, manualVad.push(f)));
  assert.equal(results.indexOf('max'), 4);
  assert.equal(manual.bytes, 300 * 32);
  // Manual mode: the VAD's end of speech does not end the utterance.
  const late = new UtteranceCollector({ auto: false, maxMs: 15_000, sampleRate: 16000 });
  const v2 = new EnergyVad({ silenceMs: 300, minSpeechMs: 300, sampleRate: 16000 });
  const ends = frames(Buffer.concat([voiced(600), silence(600)])).map((f) => late.push(f, v2.push(f)));
  assert.deepEqual(
    ends.filter((e) => e !== undefined),
    [],
  );
});

test('describe: no audio, nothing loud, speech', () => {
  assert.equal(describe(0, 0, -120), 'heard no audio');
  assert.equal(describe(2100, 0, -120), 'heard nothing loud enough (2.10 s of audio, peak silence)');
  assert.equal(describe(2100, 1420, -11.6), 'heard 1.42 s of speech (peak -12 dBFS)');
});

test('resample 16→24 kHz: 3/2 the samples, same shape', () => {
  const pcm = voiced(60);
  const out = resampleLinear(pcm, 16000, 24000);
  assert.equal(out.length, 1440 * 2);
  assert.equal(out.readInt16LE(0), pcm.readInt16LE(0));
  assert.equal(out.readInt16LE(3 * 2), pcm.readInt16LE(2 * 2), 'sample 3 at 24k = sample 2 at 16k');
  assert.equal(Math.round(peakDbfs(out)), -12);
  assert.equal(encodeTtsPackets(voiced(1000), 24000).length, 17, '1 s → 16.7 → 17 packets of 60 ms');
  assert.deepEqual(encodeTtsPackets(Buffer.alloc(0), 24000), []);
});

test('player: 5 packets at once, then one per 60 ms, tail, done', () => {
  const clock = new ManualClock();
  const player = new TtsPlayer(clock, { frameMs: 60, prebufferPackets: 5, tailMs: 120 });
  const sent: number[] = [];
  let doneAt: number | undefined;
  const packets = Array.from({ length: 8 }, (_, i) => Buffer.from([i]));
  player.play(packets, { send: () => sent.push(clock.now()), done: () => (doneAt = clock.now()) });
  assert.deepEqual(sent, [0, 0, 0, 0, 0]);
  clock.advance(1000);
  assert.deepEqual(sent, [0, 0, 0, 0, 0, 60, 120, 180]);
  assert.equal(doneAt, 300);
  assert.equal(clock.pending, 0);
});

test('player: limit stops without done; cancel clears the timer', () => {
  const clock = new ManualClock();
  const player = new TtsPlayer(clock, { frameMs: 60, prebufferPackets: 2, tailMs: 100 });
  let sent = 0;
  let limited = 0;
  const packets = Array.from({ length: 10 }, () => Buffer.alloc(1));
  const hooks = { send: () => sent++, done: () => assert.fail('no done'), limitReached: () => limited++ };
  player.play(packets, hooks, 3);
  clock.advance(1000);
  assert.deepEqual([sent, limited, player.active, clock.pending], [3, 1, false, 0]);
  sent = 0;
  player.play(packets, hooks);
  player.cancel();
  clock.advance(1000);
  assert.deepEqual([sent, clock.pending], [2, 0]);
});

function noVoiceTimer(closeMs: number, checkMs: number) {
  const clock = new ManualClock();
  const { log, lines } = captureLogger('debug');
  const backstops: number[] = [];
  const timer = new NoVoiceTimer(clock, log, { closeMs, checkMs }, () => backstops.push(clock.now()));
  return { clock, lines, backstops, timer };
}

test('no-voice timer: a silent frame past the timeout makes the farewell due, once', () => {
  const { clock, timer, lines } = noVoiceTimer(1000, 100);
  timer.start();
  clock.advance(1000);
  assert.equal(timer.frame(false), undefined, 'not more than the timeout yet (xinnan: >)');
  clock.advance(1);
  assert.equal(timer.frame(true), undefined, 'voice is activity, never a farewell');
  clock.advance(1001);
  assert.equal(timer.frame(false), 1001);
  assert.equal(timer.state, 'farewell');
  clock.advance(5000);
  assert.equal(timer.frame(false), undefined, 'only once per connection');
  assert.ok(
    lines.some(
      (l) =>
        l.msg === 'devserver_no_voice counting → farewell: a frame without voice after the no-voice timeout',
    ),
  );
});

test('no-voice timer: activity() pushes the farewell back', () => {
  const { clock, timer } = noVoiceTimer(1000, 100);
  timer.start();
  clock.advance(900);
  timer.activity();
  clock.advance(900);
  assert.equal(timer.frame(false), undefined);
  clock.advance(101);
  assert.equal(timer.frame(false), 1001);
});

test('no-voice timer: the backstop closes at timeout + 60 s, on its check interval', () => {
  const { clock, timer, backstops } = noVoiceTimer(1000, 10_000);
  timer.start();
  clock.advance(1000 + BACKSTOP_EXTRA_MS);
  assert.deepEqual(backstops, [], '61 s is not more than 61 s');
  clock.advance(8999);
  assert.deepEqual(backstops, [], 'the check at 60 s found 60 s');
  clock.advance(1);
  assert.deepEqual(backstops, [70_000], 'the first check past 61 s (xinnan: 180–190 s by default)');
  assert.equal(timer.state, 'stopped');
  assert.equal(clock.pending, 0);
});

test('no-voice timer: activity moves the backstop too; stop() leaves no timer; 0 is off', () => {
  const { clock, timer, backstops } = noVoiceTimer(1000, 500);
  timer.start();
  clock.advance(30_000);
  timer.activity();
  clock.advance(61_000);
  assert.deepEqual(backstops, []);
  clock.advance(500);
  assert.deepEqual(backstops, [91_500]);

  const again = noVoiceTimer(1000, 500);
  again.timer.start();
  again.timer.stop();
  assert.equal(again.clock.pending, 0);

  const off = noVoiceTimer(0, 0);
  off.timer.start();
  off.clock.advance(10 * 60_000);
  assert.equal(off.timer.frame(false), undefined);
  assert.deepEqual([off.timer.state, off.clock.pending, off.backstops.length], ['off', 0, 0]);
  assert.throws(() => noVoiceTimer(1000, 0), /check interval/);
});

test('farewell chime: ~1 s, audible, two tones far from a voice (200 Hz fixtures) — not an echo', () => {
  const pcm = farewellChime();
  assert.equal(pcm.length, 16000 * 2);
  assert.equal(Math.round(peakDbfs(pcm)), -12);
  assert.ok(rmsDbfs(pcm) > -30, `level ${rmsDbfs(pcm)} dBFS`);
  // Zero crossings of the first note's first 100 ms: ~880 Hz → ~176 crossings.
  let crossings = 0;
  for (let i = 1; i < 1600; i++)
    if (pcm.readInt16LE(i * 2) >= 0 !== pcm.readInt16LE((i - 1) * 2) >= 0) crossings++;
  assert.ok(crossings > 150 && crossings < 200, `${crossings} crossings`);
  assert.equal(encodeTtsPackets(pcm, 24000).length, 17);
});
