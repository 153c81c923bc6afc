/**
 * Rates of connection attempts for the fleet bench (bench/fleet.ts): how hard a fleet hits a server
 * that has just come back. Pure functions over timestamps (milliseconds, any origin).
 */
import { percentile } from './stats.js';

/** Sampling step of the sliding-window rate series. */
export const RATE_STEP_MS = 10;

/**
 * The highest rate in any window of `windowMs` (half-open, anywhere on the time line, so a burst is
 * never split between two aligned buckets), in events per second.
 */
export function peakRate(times: readonly number[], windowMs: number): number {
  const s = [...times].sort((a, b) => a - b);
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < s.length; hi++) {
    const t = s[hi] ?? 0;
    while ((s[lo] ?? t) <= t - windowMs) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return (best * 1000) / windowMs;
}

/**
 * Events per second seen through a sliding window of `windowMs`, sampled every RATE_STEP_MS from
 * `from` until the window has passed the last event: the load curve a server sees after `from`.
 */
export function rateSeries(times: readonly number[], from: number, windowMs: number): number[] {
  const s = times.filter((t) => t >= from).sort((a, b) => a - b);
  const last = s[s.length - 1];
  if (last === undefined) return [0];
  const out: number[] = [];
  let lo = 0;
  let hi = 0;
  for (let t = from + RATE_STEP_MS; t < last + windowMs + RATE_STEP_MS; t += RATE_STEP_MS) {
    while (hi < s.length && (s[hi] ?? t) <= t) hi++;
    while (lo < hi && (s[lo] ?? t) <= t - windowMs) lo++;
    out.push(((hi - lo) * 1000) / windowMs);
  }
  return out;
}

export interface RateFigures {
  /** Highest rate through a 1 s window, attempts/s. */
  readonly peak1s: number;
  /** Highest rate through a 100 ms window, as attempts/s. */
  readonly peak100ms: number;
  /** 99th percentile of the 1 s sliding-window series. */
  readonly p99_1s: number;
  /** 99th percentile of the 100 ms sliding-window series, as attempts/s. */
  readonly p99_100ms: number;
  /** First to last attempt, ms. */
  readonly spreadMs: number;
}

/** The rate figures of the attempts made at or after `from`. */
export function rateFigures(times: readonly number[], from: number): RateFigures {
  const after = times.filter((t) => t >= from);
  return {
    peak1s: peakRate(after, 1000),
    peak100ms: peakRate(after, 100),
    p99_1s: percentile(rateSeries(after, from, 1000), 99),
    p99_100ms: percentile(rateSeries(after, from, 100), 99),
    spreadMs: after.length === 0 ? 0 : Math.max(...after) - Math.min(...after),
  };
}

/**
 * Events per minute in consecutive minutes from `from` to `to`; a last part shorter than 10 s is
 * folded into the minute before it, and a part that is not a full minute is scaled to one.
 */
export function perMinute(times: readonly number[], from: number, to: number): number[] {
  const span = to - from;
  let minutes = Math.floor(span / 60_000);
  if (minutes === 0 || span - minutes * 60_000 >= 10_000) minutes++;
  const out: number[] = [];
  for (let m = 0; m < minutes; m++) {
    const a = from + m * 60_000;
    const b = m === minutes - 1 ? to : a + 60_000;
    const n = times.filter((t) => t >= a && t < b).length;
    out.push(b > a ? (n * 60_000) / (b - a) : 0);
  }
  return out;
}
