import type { EventEmitter } from 'node:events';
import type { Fault } from '../core/errors.js';

/** Uplink PCM: 16 kHz mono S16_LE (protocol.md §4.1). */
export const CAPTURE_RATE = 16000;
/** One 60 ms frame at 16 kHz mono S16_LE = 960 samples = 1920 bytes (protocol.md §4.1). */
export const FRAME_SAMPLES = 960;
export const FRAME_BYTES = FRAME_SAMPLES * 2;
export const FRAME_MS = 60;

export interface AudioSourceEvents {
  /** Exactly FRAME_BYTES of PCM. */
  frame: [pcm: Buffer];
  /** The mic failed (missing, busy, unplugged); the source may recover by itself. */
  fault: [fault: Fault];
}

export interface SourceStartOptions {
  /**
   * Hand over the audio buffered before the start (the pre-roll, design.md §3.4) first. Default
   * true: a press catches the syllable said with it. False for auto mode's return to listening
   * after a reply: what the mic heard just before is the device's own voice.
   */
  readonly preroll?: boolean;
}

/** Where mic frames come from: ALSA on a device, a PCM file in sim mode and tests. */
export interface AudioSource extends EventEmitter<AudioSourceEvents> {
  readonly name: string;
  /** Begin delivering frames (a turn starts). Idempotent. Sources without a buffer ignore the options. */
  start(options?: SourceStartOptions): void;
  /** Stop delivering frames at once. Idempotent. */
  stop(): void;
  /** Release everything (daemon shutdown). */
  close(): Promise<void>;
  /**
   * The privacy mute (audio/privacy.ts): while muted a source with a buffer drops it and keeps
   * nothing, and delivers no frame even if started. Sources without a buffer need not implement it:
   * the daemon starts no turn while muted anyway.
   */
  mute?(muted: boolean): void;
}

export interface AudioSinkEvents {
  fault: [fault: Fault];
  /** Everything written since `begin` has been played (after `end`). */
  drained: [];
}

/** Where downlink PCM goes: aplay on a device, a file or nowhere in sim mode and tests. */
export interface AudioSink extends EventEmitter<AudioSinkEvents> {
  readonly name: string;
  /** A TTS stream starts at this sample rate (mono S16_LE). */
  begin(sampleRate: number): void;
  write(pcm: Buffer): void;
  /** No more audio for this stream: play out what is queued. */
  end(): void;
  /** Silence now: drop everything queued (abort, lost connection). */
  abort(): void;
  close(): Promise<void>;
}
