/**
 * One `speakerd doctor` check result and how results are printed (hardware.md §10): one line per
 * check with ✓/✗ and the fix, a summary line, or one JSON object for scripts.
 */

/** `'skip'`: the check does not apply here (simulated hardware, ws:// without TLS, an earlier failure). */
export type CheckStatus = boolean | 'skip';

export interface CheckResult {
  readonly name: string;
  readonly ok: CheckStatus;
  /** What was found, or why the check was skipped. */
  readonly detail: string;
  /** What to do about a failure, as a command or a config key where possible. */
  readonly fix?: string;
  /** How long the check took. */
  readonly ms?: number;
}

export const pass = (name: string, detail: string): CheckResult => ({ name, ok: true, detail });
export const skip = (name: string, why: string): CheckResult => ({ name, ok: 'skip', detail: why });
export const failed = (name: string, detail: string, fix?: string): CheckResult =>
  fix === undefined ? { name, ok: false, detail } : { name, ok: false, detail, fix };

/** Runs one check and stamps its duration on the result. */
export async function timed(run: () => Promise<CheckResult> | CheckResult): Promise<CheckResult> {
  const t0 = performance.now();
  const result = await run();
  return { ...result, ms: Math.round(performance.now() - t0) };
}

export function formatCheck(c: CheckResult): string {
  if (c.ok === 'skip') return `- ${c.name}: skipped (${c.detail})`;
  if (c.ok) return `✓ ${c.name}: ${c.detail}`;
  return `✗ ${c.name}: ${c.detail}${c.fix === undefined ? '' : ` — fix: ${c.fix}`}`;
}

export function anyFailed(checks: readonly CheckResult[]): boolean {
  return checks.some((c) => c.ok === false);
}

export function formatSummary(checks: readonly CheckResult[]): string {
  const failedN = checks.filter((c) => c.ok === false).length;
  const skipped = checks.filter((c) => c.ok === 'skip').length;
  const passed = checks.length - failedN - skipped;
  const tail = skipped > 0 ? `, ${skipped} skipped` : '';
  return failedN > 0
    ? `doctor: ${failedN} of ${checks.length} checks failed (${passed} passed${tail})`
    : `doctor: all checks passed (${passed} passed${tail})`;
}

/** `--json`: one object on one line. */
export function formatJson(checks: readonly CheckResult[]): string {
  return JSON.stringify({ ok: !anyFailed(checks), checks });
}

/** A duration for a detail: whole ms below 10 s. */
export function ms(n: number): string {
  return `${Math.round(n)} ms`;
}
