/**
 * The wake-word detector as the daemon sees it: an input of detections it can pause. This is the
 * interface agreed with the detector's own file (src/wakeword/detector.ts, branch wake-detector),
 * copied here until that lands; then this file re-exports from there, or goes.
 */

export interface WakeDetection {
  /** What `listen detect` sends (wakeWord.models[].phrase). */
  readonly phrase: string;
  /** The keyword model that fired (its file name without .onnx). */
  readonly model: string;
  /** Its score, 0–1, at the frame it fired. */
  readonly score: number;
  /** ~1.5 s of 16 kHz mono S16_LE up to the detection: the wake word itself. */
  readonly audio: Buffer;
  /** When it fired. */
  readonly at: number;
}

export interface WakeWordInput {
  on(event: 'detection', listener: (d: WakeDetection) => void): unknown;
  off(event: 'detection', listener: (d: WakeDetection) => void): unknown;
  /** Stops detections for `reason` until resume with the same reason (the daemon pairs them). */
  pause(reason: string): void;
  resume(reason: string): void;
}
