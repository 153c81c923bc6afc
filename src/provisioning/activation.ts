/**
 * One round of activation polling, as the firmware does it (protocol.md §7.3,
 * `[FW main/application.cc · CheckNewVersion]`, `[FW main/ota.cc · Activate]`): POST
 * `<ota>/activate`; 200 → activated; 202 (the user has not entered the code yet) → again after
 * 3 s; anything else → again after 10 s; after 10 tries the round ends and the caller runs the
 * OTA check again. Every wait goes through the injected Clock and ends at once on `signal` (a
 * button press skips activation, like the firmware; or the daemon stops).
 */
import type { Clock } from '../core/clock.js';
import type { Logger } from '../system/logger.js';
import type { ActivateAnswer } from './ota.js';

export interface ActivationTiming {
  /** Wait after a 202 (firmware: 3 s). */
  readonly pendingDelayMs: number;
  /** Wait after any other answer or a failed request (firmware: 10 s). */
  readonly retryDelayMs: number;
  /** Polls per round before the OTA check is repeated (firmware: 10). */
  readonly maxTries: number;
}

export const FIRMWARE_ACTIVATION_TIMING: ActivationTiming = Object.freeze({
  pendingDelayMs: 3_000,
  retryDelayMs: 10_000,
  maxTries: 10,
});

export type ActivationOutcome = 'activated' | 'exhausted' | 'aborted';

export interface PollActivationOptions {
  /** One POST to `<ota>/activate` (OtaClient.activate). */
  readonly attempt: (signal: AbortSignal) => Promise<ActivateAnswer>;
  /**
   * The OTA answer's challenge. The firmware polls only when one came; without it a round is one
   * `retryDelayMs` wait, then the OTA check again (the firmware would wait 10 × 10 s for nothing).
   */
  readonly challenge: string | undefined;
  readonly signal: AbortSignal;
  readonly clock: Clock;
  readonly timing?: ActivationTiming;
  readonly log: Logger;
}

export async function pollActivation(o: PollActivationOptions): Promise<ActivationOutcome> {
  const timing = o.timing ?? FIRMWARE_ACTIVATION_TIMING;
  if (o.challenge === undefined) {
    o.log.debug('activation: no challenge to answer; checking OTA again after a pause');
    return (await sleep(o.clock, timing.retryDelayMs, o.signal)) ? 'exhausted' : 'aborted';
  }
  for (let n = 1; n <= timing.maxTries; n++) {
    if (o.signal.aborted) return 'aborted';
    const answer = await o.attempt(o.signal);
    if (answer.kind === 'aborted' || o.signal.aborted) return 'aborted';
    if (answer.kind === 'activated') {
      o.log.info({ tries: n }, 'activation confirmed by the server');
      return 'activated';
    }
    if (answer.kind === 'pending') {
      o.log.debug({ try: n, of: timing.maxTries }, 'activation: code not entered yet (202)');
    } else {
      o.log.warn(
        { try: n, of: timing.maxTries, code: answer.fault.code, cause: answer.fault.message },
        'activation poll failed',
      );
    }
    const delay = answer.kind === 'pending' ? timing.pendingDelayMs : timing.retryDelayMs;
    if (!(await sleep(o.clock, delay, o.signal))) return 'aborted';
  }
  o.log.info({ tries: timing.maxTries }, 'activation not confirmed this round; checking OTA again');
  return 'exhausted';
}

/** Resolves true after `ms` on `clock`, false at once when `signal` aborts. Leaves no timer. */
export function sleep(clock: Clock, ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve(false);
      return;
    }
    const onAbort = (): void => {
      clock.clearTimeout(timer);
      resolve(false);
    };
    const timer = clock.setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
