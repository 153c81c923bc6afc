/**
 * The composition root's builder for the wake word (main.ts calls it when wakeWord.enabled): a
 * detector on the running capture, started. A start that fails (runtime or models) is a Fault for
 * main.ts to end with exit 78, as check-config would (preflight.ts has the same words).
 */
import type { AlsaCapture } from '../audio/capture.js';
import type { Config } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import type { Fault } from '../core/errors.js';
import { systemRandom } from '../core/random.js';
import type { Logger } from '../system/logger.js';
import { WakeWordDetector } from './detector.js';

export async function openWakeWord(
  config: Readonly<Config>,
  capture: AlsaCapture,
  clock: Clock,
  log: Logger,
): Promise<
  { readonly ok: true; readonly detector: WakeWordDetector } | { readonly ok: false; readonly fault: Fault }
> {
  const detector = new WakeWordDetector({
    config: config.wakeWord,
    capture,
    clock,
    random: systemRandom,
    log: log.child({ component: 'wakeword' }),
  });
  const started = await detector.start();
  if (!started.ok) {
    await detector.close();
    return { ok: false, fault: started.fault };
  }
  return { ok: true, detector };
}
