/**
 * `--since`/`--until` for the fleet report: the subset of journalctl's time syntax
 * (systemd.time(7), "PARSING TIMESTAMPS") that the report can apply itself to entries read from
 * stdin, resolved once to an absolute time so the report and journalctl (given `@SECONDS`, which
 * systemd.time(7) documents as seconds since the epoch) use the same instant:
 *   - `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS]`, the same with `T`, and with `Z` or ±HH:MM: local
 *     time unless a zone is given, as journalctl reads them;
 *   - `@SECONDS` (fractions allowed);
 *   - `now`, `today`, `yesterday`, `tomorrow` (midnight, local time);
 *   - relative: `-1h`, `+30min`, `-2d`, `-1h 30min`, `2 days ago`, with systemd's units
 *     us, ms, s/sec/second(s), m/min/minute(s), h/hr/hour(s), d/day(s), w/week(s).
 */

const UNIT_MS: Readonly<Record<string, number>> = {
  us: 0.001,
  usec: 0.001,
  ms: 1,
  msec: 1,
  s: 1000,
  sec: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hr: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
  w: 604_800_000,
  week: 604_800_000,
  weeks: 604_800_000,
};

/** A span like `1h 30min` in ms, or undefined. */
function parseSpan(text: string): number | undefined {
  const parts = text.trim().matchAll(/(\d+(?:\.\d+)?)\s*([a-z]+)\s*/gy);
  let total = 0;
  let consumed = 0;
  let any = false;
  for (const p of parts) {
    const unit = UNIT_MS[p[2] ?? ''];
    if (unit === undefined) return undefined;
    total += Number(p[1]) * unit;
    consumed += p[0].length;
    any = true;
  }
  return any && consumed === text.trim().length ? total : undefined;
}

/** Midnight (local time) of the day `nowMs` is in, shifted by `days`. */
function midnight(nowMs: number, days: number): number {
  const d = new Date(nowMs);
  return new Date(d.getFullYear(), d.getMonth(), d.getDate() + days).getTime();
}

/** Resolves a time spec to µs since the epoch, or an error sentence. */
export function parseTimeSpec(spec: string, nowMs: number): number | string {
  const s = spec.trim();
  const fail = `cannot read the time ${JSON.stringify(spec)} (use e.g. "2026-12-06 10:00", "-1h", "today" or "@1765000000")`;
  if (s === 'now') return nowMs * 1000;
  if (s === 'today') return midnight(nowMs, 0) * 1000;
  if (s === 'yesterday') return midnight(nowMs, -1) * 1000;
  if (s === 'tomorrow') return midnight(nowMs, 1) * 1000;
  if (s.startsWith('@')) {
    const sec = Number(s.slice(1));
    return /^@\d+(\.\d+)?$/.test(s) && Number.isFinite(sec) ? Math.round(sec * 1e6) : fail;
  }
  if (s.startsWith('-') || s.startsWith('+')) {
    const span = parseSpan(s.slice(1));
    if (span === undefined) return fail;
    return Math.round((nowMs + (s.startsWith('-') ? -span : span)) * 1000);
  }
  if (s.endsWith(' ago')) {
    const span = parseSpan(s.slice(0, -4));
    return span === undefined ? fail : Math.round((nowMs - span) * 1000);
  }
  const m =
    /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?\s*(Z|UTC|[+-]\d{2}:?\d{2})?$/.exec(
      s,
    );
  if (!m) return fail;
  const [, y, mo, d, h = '0', mi = '0', sec = '0', frac = '', zone] = m;
  const fracUs = Number(frac.padEnd(6, '0'));
  const fields = [Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec)] as const;
  // Reject what Date silently rolls over (2026-02-31 → March 3, 25:00 → the next day).
  const asUtc = new Date(Date.UTC(...fields));
  if (
    asUtc.getUTCMonth() !== fields[1] ||
    asUtc.getUTCDate() !== fields[2] ||
    asUtc.getUTCHours() !== fields[3] ||
    asUtc.getUTCMinutes() !== fields[4] ||
    asUtc.getUTCSeconds() !== fields[5]
  )
    return fail;
  let ms = asUtc.getTime();
  if (zone === undefined) ms = new Date(...fields).getTime();
  else if (zone !== 'Z' && zone !== 'UTC') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    ms -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000;
  }
  return ms * 1000 + fracUs;
}

/** The `@SECONDS` form journalctl reads exactly (systemd.time(7)). */
export function journalctlTime(us: number): string {
  const sec = Math.floor(us / 1e6);
  const rest = us - sec * 1e6;
  return `@${sec}.${String(Math.round(rest)).padStart(6, '0')}`;
}
