/**
 * The listening chime and the uplink (issue 15 §1), measured offline on the real PCM: the chime as
 * decoded from the committed pack, the speech fixture, and the dev-server's energy VAD as the
 * judge of "reaches the server as speech". The mic is modelled as room noise plus the chime through
 * a direct path and two reflections, at the press → speaker latencies measured on the rig
 * (earcon-latency.test.ts: p50 49 ms, p95 106 ms), at couplings from 0 dB (mic beside the
 * speaker, a HAT) to −20 dB.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FRAME_BYTES, FRAME_SAMPLES } from '../../src/audio/audio-port.js';
import { EnergyVad, rmsDbfs } from '../../src/devserver/vad.js';
import { DEFAULT_SOUND_PACK, loadSoundBank } from '../../src/sounds/sound-bank.js';
import { ChimeGate } from '../../src/sounds/uplink-echo.js';

const RATE = 16000;
const SPEECH = readFileSync(fileURLToPath(new URL('../../../assets/speech16k.raw', import.meta.url)));
const measured: string[] = [];
after(() => {
  for (const m of measured) console.log(`# measured: ${m}`);
});

function lcg(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32 - 0.5;
  };
}

interface Scene {
  /** Press → chime at the speaker (ms). */
  readonly latencyMs: number;
  /** Chime level at the mic relative to what was played (dB). */
  readonly couplingDb: number;
  /** Speech starting this long before the press (ms), or none. */
  readonly speechLeadMs?: number;
  readonly seed: number;
}

const PREROLL_FRAMES = 5; // 300 ms (audio.prerollMs)
const LIVE_FRAMES = 15;

/** The mic signal from 300 ms before the press to 900 ms after; the press at sample PRE. */
function micSignal(chime: Float64Array, s: Scene): { mic: Float64Array; echo: Float64Array } {
  const pre = PREROLL_FRAMES * FRAME_SAMPLES;
  const n = (PREROLL_FRAMES + LIVE_FRAMES) * FRAME_SAMPLES;
  const mic = new Float64Array(n);
  const echo = new Float64Array(n);
  const rnd = lcg(s.seed);
  for (let i = 0; i < n; i++) mic[i] = rnd() * 0.002; // room noise ≈ −60 dBFS
  const g = 10 ** (s.couplingDb / 20);
  const at = pre + Math.round((s.latencyMs * RATE) / 1000);
  // Direct path, a reflection 3 ms later at −6 dB, one 11 ms later at −10 dB.
  for (const [delay, gain] of [
    [0, 1],
    [48, 0.5],
    [176, 0.32],
  ] as const) {
    for (let i = 0; i < chime.length && at + delay + i < n; i++)
      echo[at + delay + i] = (echo[at + delay + i] ?? 0) + g * gain * (chime[i] ?? 0);
  }
  if (s.speechLeadMs !== undefined) {
    const from = pre - Math.round((s.speechLeadMs * RATE) / 1000);
    for (let i = 0; from + i < n && i * 2 + 1 < SPEECH.length; i++)
      mic[from + i] = (mic[from + i] ?? 0) + SPEECH.readInt16LE(i * 2) / 32768;
  }
  for (let i = 0; i < n; i++) mic[i] = (mic[i] ?? 0) + (echo[i] ?? 0);
  return { mic, echo };
}

function frames(x: Float64Array): Buffer[] {
  const out: Buffer[] = [];
  for (let f = 0; f * FRAME_SAMPLES < x.length; f++) {
    const b = Buffer.alloc(FRAME_BYTES);
    for (let i = 0; i < FRAME_SAMPLES; i++) {
      const v = Math.round((x[f * FRAME_SAMPLES + i] ?? 0) * 32768);
      b.writeInt16LE(Math.max(-32768, Math.min(32767, v)), i * 2);
    }
    out.push(b);
  }
  return out;
}

/** What the server gets (pre-roll, then live frames through the gate if any) and how its VAD judges it. */
function uplink(mic: Float64Array, gate: ChimeGate | undefined) {
  const all = frames(mic);
  const sent: Buffer[] = [];
  const searchMs: number[] = [];
  for (const [i, f] of all.entries()) {
    if (i < PREROLL_FRAMES || !gate) {
      // The gate sees the pre-roll too (its history), but it is armed only at the press.
      gate?.filter(f);
      sent.push(f);
      continue;
    }
    if (i === PREROLL_FRAMES) gate.arm();
    const searching = gate.state === 'searching';
    const t0 = performance.now();
    sent.push(gate.filter(f));
    if (searching) searchMs.push(performance.now() - t0);
  }
  const vad = new EnergyVad({ silenceMs: 700, minSpeechMs: 0, sampleRate: RATE });
  const voiced = sent.map((f) => vad.push(f).voiced);
  return { sent, voicedLive: voiced.slice(PREROLL_FRAMES).filter(Boolean).length, searchMs };
}

/** dBFS of what is left of the echo in the sent audio (sent − the mic without echo). */
function leakDbfs(sent: Buffer[], mic: Float64Array, echo: Float64Array): number {
  let sum = 0;
  let n = 0;
  sent.forEach((f, fi) => {
    for (let i = 0; i < FRAME_SAMPLES; i++) {
      const at = fi * FRAME_SAMPLES + i;
      if ((echo[at] ?? 0) === 0) continue;
      const clean = (mic[at] ?? 0) - (echo[at] ?? 0);
      const left = f.readInt16LE(i * 2) / 32768 - clean;
      // Zeroed samples leave −clean (the room noise), not echo: count only what is echo-like.
      if (f.readInt16LE(i * 2) !== 0) sum += left * left;
      n++;
    }
  });
  return n === 0 ? -120 : 10 * Math.log10(sum / n + 1e-12);
}

async function chimeAt16k(): Promise<Float64Array> {
  const bank = await loadSoundBank(DEFAULT_SOUND_PACK, RATE);
  const pcm = bank.get('earcon-listening').pcm;
  return Float64Array.from({ length: pcm.length / 2 }, (_, i) => pcm.readInt16LE(i * 2) / 32768);
}

test('press then silence: the chime reaches the server as "speech" ungated; the gate removes it', async () => {
  const bank = await loadSoundBank(DEFAULT_SOUND_PACK, RATE);
  const chimePcm = bank.get('earcon-listening').pcm;
  const chime = await chimeAt16k();
  const searchMs: number[] = [];
  // One gate for every press, as in the daemon (built once at start, armed per press).
  const gate = new ChimeGate(chimePcm);
  for (const latencyMs of [49, 106, 23, 300]) {
    for (const couplingDb of [0, -10, -20]) {
      const scene = { latencyMs, couplingDb, seed: latencyMs * 100 - couplingDb };
      const { mic, echo } = micSignal(chime, scene);
      const raw = uplink(mic, undefined);
      const base = gate.position;
      const gated = uplink(mic, gate);
      const foundAt = gate.foundAt === undefined ? undefined : gate.foundAt - base;
      searchMs.push(...gated.searchMs);
      const peakRaw = Math.max(...raw.sent.slice(PREROLL_FRAMES).map(rmsDbfs));
      const leak = leakDbfs(gated.sent, mic, echo);
      const label = `latency ${latencyMs} ms, coupling ${couplingDb} dB`;
      measured.push(
        `${label}: ungated ${raw.voicedLive} live frame(s) voiced (loudest ${peakRaw.toFixed(1)} dBFS); gated ${gated.voicedLive}, chime found at ${((((foundAt ?? 0) - PREROLL_FRAMES * FRAME_SAMPLES) / RATE) * 1000).toFixed(1)} ms (score ${gate.bestScore.toFixed(2)}), leak ${leak.toFixed(1)} dBFS`,
      );
      assert.ok(raw.voicedLive >= 1, `${label}: the ungated chime should count as voice`);
      assert.equal(gated.voicedLive, 0, `${label}: the gated chime still reaches the VAD`);
      assert.ok(foundAt !== undefined, `${label}: not found`);
      // Gating starts at most 10 ms before the direct path (found on a partial view of the chime)
      // and at most 1 ms after it; it lasts past the last reflection (11 ms after the direct path).
      const onset = PREROLL_FRAMES * FRAME_SAMPLES + Math.round((latencyMs * RATE) / 1000);
      const found = foundAt ?? Number.NaN;
      assert.ok(found <= onset + 16 && found >= onset - 160, `${label}: found at ${found}, onset ${onset}`);
      assert.ok(found + chime.length + 640 >= onset + chime.length + 176, `${label}: gate ends too early`);
    }
  }
  const sorted = searchMs.sort((a, b) => a - b);
  const at = (q: number) =>
    sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
  measured.push(
    `gate CPU per searched 60 ms frame: p50 ${at(0.5).toFixed(2)} ms, p95 ${at(0.95).toFixed(2)} ms, max ${at(1).toFixed(2)} ms (${sorted.length} frames, one gate for all presses as in the daemon)`,
  );
});

test('speech through the press: the gate cuts none of it; the pre-roll is never touched', async () => {
  const bank = await loadSoundBank(DEFAULT_SOUND_PACK, RATE);
  const chimePcm = bank.get('earcon-listening').pcm;
  const chime = await chimeAt16k();
  for (const couplingDb of [-10, -20]) {
    const scene = { latencyMs: 49, couplingDb, speechLeadMs: 200, seed: 7 };
    const { mic } = micSignal(chime, scene);
    const gate = new ChimeGate(chimePcm);
    const gated = uplink(mic, gate);
    const raw = frames(mic);
    let zeroed = 0;
    gated.sent.forEach((f, fi) => {
      if (fi < PREROLL_FRAMES) assert.ok(f.equals(raw[fi] ?? Buffer.alloc(0)), 'pre-roll changed');
      for (let i = 0; i < FRAME_SAMPLES; i++)
        if (f.readInt16LE(i * 2) === 0 && (raw[fi]?.readInt16LE(i * 2) ?? 0) !== 0) zeroed++;
    });
    const zeroedMs = (zeroed / RATE) * 1000;
    measured.push(
      `speech from 200 ms before the press, chime at ${couplingDb} dB: ${zeroedMs.toFixed(1)} ms of the uplink zeroed (best score ${gate.bestScore.toFixed(2)})`,
    );
    assert.equal(zeroed, 0, `${couplingDb} dB: ${zeroedMs} ms of speech cut`);
  }
});

test('the gate passes frames untouched when idle, and gives up after searchMs', async () => {
  const bank = await loadSoundBank(DEFAULT_SOUND_PACK, RATE);
  const gate = new ChimeGate(bank.get('earcon-listening').pcm, { searchMs: 120 });
  const f = Buffer.alloc(FRAME_BYTES, 1);
  assert.equal(gate.filter(f), f);
  gate.arm();
  assert.equal(gate.state, 'searching');
  assert.equal(gate.filter(f), f);
  assert.equal(gate.filter(f), f);
  assert.equal(gate.state, 'idle');
  assert.equal(gate.foundAt, undefined);
  assert.throws(() => new ChimeGate(Buffer.alloc(10)), RangeError);
});
