import { EventEmitter } from 'node:events';
import type { WakeDetection, WakeWordInput } from '../../src/wakeword/detector.js';

/** 16 kHz mono S16_LE: a 440 Hz tone of `ms` milliseconds (stands in for the wake word's audio). */
export function wakeAudio(ms = 1500): Buffer {
  const samples = (16000 * ms) / 1000;
  const pcm = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++)
    pcm.writeInt16LE(Math.round(6000 * Math.sin((2 * Math.PI * 440 * i) / 16000)), i * 2);
  return pcm;
}

export function detection(over: Partial<WakeDetection> = {}): WakeDetection {
  return { phrase: 'alexa', model: 'alexa_v0.1', score: 0.93, audio: wakeAudio(), at: 0, ...over };
}

/**
 * A detector the test fires by hand. Like a real one it says nothing while paused; `fire` returns
 * whether the detection was delivered. Pauses are kept per reason, and every call is recorded.
 */
export class FakeWakeWord extends EventEmitter<{ detection: [WakeDetection] }> implements WakeWordInput {
  readonly #paused = new Set<string>();
  readonly calls: string[] = [];

  get paused(): boolean {
    return this.#paused.size > 0;
  }

  pause(reason: string): void {
    this.calls.push(`pause ${reason}`);
    this.#paused.add(reason);
  }

  resume(reason: string): void {
    this.calls.push(`resume ${reason}`);
    this.#paused.delete(reason);
  }

  fire(d: WakeDetection = detection()): boolean {
    if (this.paused) return false;
    this.emit('detection', d);
    return true;
  }

  /** A detection already on its way when the pause came (a worker's message in flight). */
  fireInFlight(d: WakeDetection = detection()): void {
    this.emit('detection', d);
  }
}
