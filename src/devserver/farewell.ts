/**
 * The farewell of xinnan's no-voice timeout (protocol.md §8.1 row 3). xinnan has its LLM say a
 * goodbye ("时间过得真快…", `end_prompt`) and speaks it with its TTS
 * [SRV core/handle/receiveAudioHandle.py · no_voice_close_connect]; the dev-server has neither, so it
 * plays a short chime instead: audible, about as long as a short sentence, and unlike anything a
 * microphone sends up, so a listener (or a test) can tell the farewell from an echoed reply.
 */
import { CAPTURE_RATE } from '../audio/audio-port.js';

/** Close this long after the farewell's `tts stop`: xinnan closes right after sending it (issue 12: ~3 ms). */
export const CLOSE_AFTER_TTS_STOP_MS = 3;

/** The sentence the farewell's `sentence_start` carries (xinnan sends one per spoken sentence). */
export function farewellText(silentForMs: number): string {
  return `goodbye: no voice for ${(silentForMs / 1000).toFixed(1)} s (dev-server farewell chime)`;
}

/** Two notes, high then low ("ding-dong"), each struck and decaying like a bell. */
const FAREWELL_NOTES_HZ = [880, 659.25] as const;
/** The answer to a wake-word greeting: the farewell's notes rising ("dong-ding", wake.ts). */
export const GREETING_NOTES_HZ = [659.25, 880] as const;
/** The answer to a `listen detect` text that is no wake word: three rising notes (wake.ts). */
export const CHAT_NOTES_HZ = [523.25, 659.25, 783.99] as const;
const NOTE_MS = 500;
const ATTACK_MS = 8;
/** Decay time constant: a note falls by ~30 dB before the next one. */
const DECAY_MS = 140;
/** Peak level: clearly audible, well below clipping. */
const PEAK_DBFS = -12;

/** About 1 s of chime, 16 kHz mono S16_LE (the rate the TTS path resamples from, tts-audio.ts). */
export function farewellChime(rate = CAPTURE_RATE): Buffer {
  return chime(FAREWELL_NOTES_HZ, rate);
}

/**
 * 500 ms per note, 16 kHz mono S16_LE. The dev-server's stand-in for spoken TTS: each kind of
 * answer has its own notes so a listener (or a test) can tell them apart from an echoed reply.
 */
export function chime(notesHz: readonly number[], rate = CAPTURE_RATE): Buffer {
  const noteSamples = Math.round((rate * NOTE_MS) / 1000);
  const wave = new Float64Array(noteSamples * notesHz.length);
  let max = 0;
  notesHz.forEach((hz, note) => {
    for (let i = 0; i < noteSamples; i++) {
      const ms = (i * 1000) / rate;
      const envelope = Math.min(1, ms / ATTACK_MS) * Math.exp(-ms / DECAY_MS);
      const phase = (2 * Math.PI * hz * i) / rate;
      // A quiet second partial makes it a chime rather than a test tone.
      const s = envelope * (0.8 * Math.sin(phase) + 0.2 * Math.sin(2 * phase));
      wave[note * noteSamples + i] = s;
      max = Math.max(max, Math.abs(s));
    }
  });
  const scale = (32767 * 10 ** (PEAK_DBFS / 20)) / (max || 1);
  const out = Buffer.alloc(wave.length * 2);
  for (let i = 0; i < wave.length; i++) out.writeInt16LE(Math.round((wave[i] ?? 0) * scale), i * 2);
  return out;
}
