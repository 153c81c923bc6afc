/**
 * Energy-based end-of-speech detection for the dev-server (design.md §3.8), standing in for
 * xinnan's silero VAD (700 ms of silence ends a turn, protocol.md §5.2). Frame by frame: RMS level
 * in dBFS against a threshold a margin above an adaptive noise floor; the utterance ends after
 * `silenceMs` of silence that follows at least `minSpeechMs` of speech.
 */
import { dbfs, rms } from '../audio/pcm.js';

/** Level reported for digital silence, where log10(0) would be -Infinity. */
export const SILENCE_DBFS = -120;

/** Speech must be this far above the noise floor. */
const MARGIN_DB = 12;
/** …and never quieter than this, so a dead-quiet line does not turn hiss into speech. */
const MIN_THRESHOLD_DBFS = -50;
/**
 * Where the floor starts: a quiet room. It falls at once to anything quieter and rises slowly
 * (RISE_DB_PER_S) towards anything louder, so steady background noise is learnt within seconds
 * while a 15 s utterance (maxUtteranceMs) cannot lift it to speech level.
 */
const INITIAL_FLOOR_DBFS = -60;
const RISE_DB_PER_S = 3;

function toDbfs(amplitude: number): number {
  return amplitude <= 0 ? SILENCE_DBFS : Math.max(SILENCE_DBFS, 20 * Math.log10(amplitude / 32768));
}

/** RMS level of S16_LE mono PCM in dBFS (a full-scale square wave is 0 dBFS). */
export function rmsDbfs(pcm: Buffer): number {
  return Math.max(SILENCE_DBFS, dbfs(rms(pcm)));
}

/** Peak level of S16_LE mono PCM in dBFS. */
export function peakDbfs(pcm: Buffer): number {
  let peak = 0;
  for (let i = 0; i + 1 < pcm.length; i += 2) peak = Math.max(peak, Math.abs(pcm.readInt16LE(i)));
  return toDbfs(peak);
}

export interface VadOptions {
  /** Silence after speech that ends the utterance (xinnan default 700 ms). */
  readonly silenceMs: number;
  /** Speech shorter than this (a click, a cough) does not count as an utterance. */
  readonly minSpeechMs: number;
  readonly sampleRate: number;
}

export interface VadVerdict {
  readonly voiced: boolean;
  readonly levelDbfs: number;
  /** End of speech: enough speech, then enough silence. */
  readonly end: boolean;
}

export class EnergyVad {
  #floor = INITIAL_FLOOR_DBFS;
  /** Speech in the current run (short pauses inside it are allowed). */
  #speechMs = 0;
  /** Silence since the last voiced frame. */
  #silenceMs = 0;

  constructor(private readonly options: VadOptions) {}

  get noiseFloorDbfs(): number {
    return this.#floor;
  }

  get thresholdDbfs(): number {
    return Math.max(this.#floor + MARGIN_DB, MIN_THRESHOLD_DBFS);
  }

  /** Feeds one decoded packet (any length; 60 ms from the firmware, 20 ms from py-xiaozhi). */
  push(pcm: Buffer): VadVerdict {
    const ms = (Math.floor(pcm.length / 2) / this.options.sampleRate) * 1000;
    const levelDbfs = rmsDbfs(pcm);
    const voiced = levelDbfs > this.thresholdDbfs;
    if (levelDbfs < this.#floor) this.#floor = levelDbfs;
    else this.#floor = Math.min(levelDbfs, this.#floor + (RISE_DB_PER_S * ms) / 1000);

    let end = false;
    if (voiced) {
      this.#speechMs += ms;
      this.#silenceMs = 0;
    } else {
      this.#silenceMs += ms;
      if (this.#silenceMs >= this.options.silenceMs) {
        if (this.#speechMs >= this.options.minSpeechMs) end = true;
        // A blip too short to be speech is forgotten once silence has followed it.
        else this.#speechMs = 0;
      }
    }
    return { voiced, levelDbfs, end };
  }
}
