/** Small statistics and formatting helpers for `npm run bench`. */

/** Median of a non-empty sample (the mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  return percentile(xs, 50);
}

/**
 * Percentile by linear interpolation between closest ranks (the common "type 7" definition): with
 * 50 samples p95 lies between the 47th and 48th smallest, so one outlier does not decide it alone.
 */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) throw new RangeError('percentile of an empty sample');
  const s = [...xs].sort((a, b) => a - b);
  const pos = ((s.length - 1) * p) / 100;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = s[lo] ?? 0;
  const b = s[hi] ?? a;
  return a + (b - a) * (pos - lo);
}

export const MB = 1024 * 1024;

/** Mebibytes with one decimal, e.g. "61.3 MB" (RSS is reported in MiB, as `ps` and `top` do). */
export function mb(bytes: number): string {
  return `${(bytes / MB).toFixed(1)} MB`;
}

/** "PASS" or "over" against a goal (a missed goal is reported; only an absurd result fails the run, run.ts). */
export function mark(ok: boolean): string {
  return ok ? 'PASS' : 'over';
}

/** A part that cannot run on this machine (a tool missing): reported with the reason; the run fails (exit 1), as its number is missing. */
export class Skipped extends Error {}
