/**
 * Collects one user utterance (from `listen start` to its end) as 16 kHz PCM, bounded by
 * `maxMs` (design.md §5.11), and describes it: the dev-server's stand-in for speech recognition.
 * The voiced/end verdicts come from the connection's one VAD (turn.ts), as xinnan's ASR buffer is
 * fed by the connection's `conn.vad` [SRV core/handle/receiveAudioHandle.py · handleAudioMessage].
 */
import { peakDbfs, SILENCE_DBFS, type VadVerdict } from './vad.js';

/** What ended it: the VAD (auto/realtime), the device's `listen stop` (any mode), the length cap. */
export type UtteranceEnd = 'vad' | 'listen-stop' | 'max';

export interface Utterance {
  /** Everything decoded since `listen start` (16 kHz mono S16_LE). */
  readonly pcm: Buffer;
  readonly reason: UtteranceEnd;
  readonly durationMs: number;
  /** Time the VAD judged voiced. */
  readonly speechMs: number;
  readonly peakDbfs: number;
  /** What goes into `stt`, e.g. `heard 1.42 s of speech (peak -12 dBFS)`. */
  readonly text: string;
  /** The part worth playing back: the speech with a margin around it, or all of it if none. */
  readonly playback: Buffer;
}

export interface CollectorOptions {
  /** Auto mode: the VAD ends the utterance. Manual mode: only `listen stop` or `maxMs` do. */
  readonly auto: boolean;
  readonly maxMs: number;
  readonly sampleRate: number;
}

/** Audio kept before the first and after the last voiced frame in the playback. */
const PLAYBACK_MARGIN_MS = 300;

export class UtteranceCollector {
  readonly #chunks: Buffer[] = [];
  readonly #maxBytes: number;
  readonly #bytesPerMs: number;
  #bytes = 0;
  #speechMs = 0;
  #firstVoiced: number | undefined;
  #lastVoicedEnd = 0;

  constructor(private readonly options: CollectorOptions) {
    this.#bytesPerMs = (options.sampleRate * 2) / 1000;
    this.#maxBytes = Math.floor(options.maxMs * this.#bytesPerMs) & ~1;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Adds one decoded packet with the VAD's verdict on it; says whether the utterance has ended. */
  push(pcm: Buffer, verdict: VadVerdict): UtteranceEnd | undefined {
    const room = this.#maxBytes - this.#bytes;
    const part = pcm.length > room ? pcm.subarray(0, room) : pcm;
    if (part.length > 0) {
      this.#chunks.push(part);
      if (verdict.voiced) {
        this.#firstVoiced ??= this.#bytes;
        this.#lastVoicedEnd = this.#bytes + part.length;
        this.#speechMs += part.length / this.#bytesPerMs;
      }
      this.#bytes += part.length;
    }
    if (this.#bytes >= this.#maxBytes) return 'max';
    return this.options.auto && verdict.end ? 'vad' : undefined;
  }

  finish(reason: UtteranceEnd): Utterance {
    const pcm = Buffer.concat(this.#chunks, this.#bytes);
    const durationMs = this.#bytes / this.#bytesPerMs;
    const peak = peakDbfs(pcm);
    let playback = pcm;
    if (this.#firstVoiced !== undefined) {
      const margin = Math.floor(PLAYBACK_MARGIN_MS * this.#bytesPerMs) & ~1;
      playback = pcm.subarray(Math.max(0, this.#firstVoiced - margin), this.#lastVoicedEnd + margin);
    }
    return {
      pcm,
      reason,
      durationMs,
      speechMs: this.#speechMs,
      peakDbfs: peak,
      text: describe(durationMs, this.#speechMs, peak),
      playback,
    };
  }
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(2);
}

function dbfs(level: number): string {
  return level <= SILENCE_DBFS ? 'silence' : `${Math.round(level)} dBFS`;
}

export function describe(durationMs: number, speechMs: number, peak: number): string {
  if (durationMs === 0) return 'heard no audio';
  if (speechMs === 0)
    return `heard nothing loud enough (${seconds(durationMs)} s of audio, peak ${dbfs(peak)})`;
  return `heard ${seconds(speechMs)} s of speech (peak ${dbfs(peak)})`;
}
