/** The soak's report as a compact table for a terminal (`--json` prints the object itself). */
import type { SoakReport } from './soak-run.js';

function pct(xs: readonly number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
}

const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const pad = (s: string, n: number) => s.padEnd(n);
const lpad = (s: string | number, n: number) => String(s).padStart(n);

export function formatReport(r: SoakReport): string {
  const out: string[] = [];
  const { start, end } = r.resources;
  const mark = (ok: boolean) => (ok ? '✓' : '✗');
  out.push(
    `speakerd soak · ${r.attempted} turns · seed ${r.seed} · ${r.buttonMode} · audio ${r.audio} · ${r.durationS.toFixed(0)} s · ${r.turnsPerMin.toFixed(1)} turns/min`,
  );
  out.push('');
  out.push(
    `${mark(r.completed === r.attempted)} turns completed / attempted   ${r.completed} / ${r.attempted}`,
  );
  out.push(
    `  turns that needed > 1 press after the fault cleared   ${r.multiPress}   (completed by the press made during the fault: ${r.completedByDuringPress}; presses after clears: ${r.presses})`,
  );
  out.push(
    `${mark(r.crashes.length === 0 && r.fatalLines === 0)} crashes                      ${r.crashes.length} (fatal lines ${r.fatalLines})`,
  );
  out.push(`${mark(r.stuck.length === 0)} states past their deadline   ${r.stuck.length}`);
  out.push(
    `${mark(r.mismatches.length === 0)} idle/listening/speaking without a link > 250 ms   ${r.mismatches.length}`,
  );
  out.push(
    `${mark(r.unexpectedErrors.length === 0 && r.invariantLines === 0)} unexpected error lines       ${r.unexpectedErrors.length} (refused tokens during auth rotation: ${r.expectedAuthErrors}; invariant lines: ${r.invariantLines})`,
  );
  out.push(
    `  RSS                          ${start.rssKb} kB → ${end.rssKb} kB (${end.rssKb >= start.rssKb ? '+' : ''}${end.rssKb - start.rssKb} kB)`,
  );
  out.push(
    `${mark(end.fds <= start.fds + r.fdTolerance)} file descriptors             ${start.fds} → ${end.fds} (tolerance +${r.fdTolerance})`,
  );
  out.push(
    `${mark(end.children.length <= start.children.length)} child processes              ${start.children.length} → ${end.children.length}${
      end.children.length > 0 ? ` (${end.children.join(', ')})` : ''
    }`,
  );
  out.push(
    `  open at the end (this side)  ${r.peerEnd.serverClients} dev-server session(s), ${r.peerEnd.proxyPairs} proxied connection(s)`,
  );
  out.push(
    `${mark(r.stop.code === 0)} SIGTERM at the end           exit ${r.stop.code ?? r.stop.signal} in ${r.stop.ms} ms`,
  );
  out.push(
    `  auth rotation                via DevServer.${r.authRotation}() + a fresh token in the device's config`,
  );
  if (r.audio === 'alsa') {
    out.push(
      `  test sound card              ${r.rig.streams} TTS streams played; drain restarts ${r.rig.drainRestarts}`,
    );
  }
  out.push('');
  out.push(
    `${pad('fault', 18)} ${lpad('turns', 6)} ${lpad('done', 6)} ${lpad('>1 press', 9)} ${lpad('0 press', 8)} ${lpad('p50', 7)} ${lpad('p95', 7)} ${lpad('max', 7)}  missed presses`,
  );
  for (const [name, s] of Object.entries(r.byFault).sort()) {
    const missed = Object.entries(s.missed)
      .map(([k, v]) => `${k} ×${v}`)
      .join(', ');
    out.push(
      `${pad(name, 18)} ${lpad(s.n, 6)} ${lpad(s.completed, 6)} ${lpad(s.multiPress, 9)} ${lpad(s.byDuringPress, 8)} ${lpad(sec(pct(s.recoveryMs, 50)), 7)} ${lpad(sec(pct(s.recoveryMs, 95)), 7)} ${lpad(sec(pct(s.recoveryMs, 100)), 7)}  ${missed}`,
    );
  }
  out.push('');
  out.push('longest time in each state (limit = its deadline; stuck = longer than limit + margin):');
  for (const [key, v] of Object.entries(r.longestStates)) {
    out.push(
      `  ${pad(key, 26)} ×${lpad(v.n, 6)}  max ${lpad(v.maxMs, 6)} ms${v.limitMs === null ? '' : `  (limit ${v.limitMs} ms)`}`,
    );
  }
  out.push('');
  out.push(
    `every turn line (trigger → outcome): ${Object.entries(r.outcomes)
      .map(([k, v]) => `${k} ×${v}`)
      .join(', ')}`,
  );
  const warnings = Object.entries(r.warnings).slice(0, 8);
  if (warnings.length > 0) {
    out.push('');
    out.push('warnings (top):');
    for (const [msg, n] of warnings) out.push(`  ${lpad(n, 6)}  ${msg}`);
  }
  const details = (title: string, lines: string[]) => {
    if (lines.length === 0) return;
    out.push('');
    out.push(title);
    for (const l of lines.slice(0, 20)) out.push(`  ${l}`);
    if (lines.length > 20) out.push(`  … ${lines.length - 20} more (--json has them all)`);
  };
  details(
    'states past their deadline:',
    r.stuck.map(
      (s) =>
        `${s.machine} ${s.state} for ${s.ms} ms (limit ${s.limitMs}) from ${s.since}, ended by "${s.endedBy}" — ${s.context}`,
    ),
  );
  details(
    'conversation without a link:',
    r.mismatches.map(
      (m) => `conversation ${m.conversation} / link ${m.link} for ${m.ms} ms from ${m.since} — ${m.context}`,
    ),
  );
  details(
    'turns that never completed:',
    r.failedTurns.map(
      (t) =>
        `#${t.n} ${t.fault}${t.variant ? ` (${t.variant})` : ''}: ${t.presses} presses: ${t.missed.join('; ')}`,
    ),
  );
  details(
    'turns that needed more than one press:',
    r.multiPressTurns.map(
      (t) => `#${t.n} ${t.fault}${t.variant ? ` (${t.variant})` : ''}: ${t.missed.join('; ')}`,
    ),
  );
  details(
    'unexpected error lines:',
    r.unexpectedErrors.map((e) => `${e.time} level ${e.level} ${e.code}: ${e.msg} — ${e.context}`),
  );
  details(
    'crashes:',
    r.crashes.map(
      (c) => `turn ${c.turn}: ${JSON.stringify(c.exit)}; stderr: ${c.stderr.slice(-5).join(' | ')}`,
    ),
  );
  details('dev-server errors:', [...r.serverErrors]);
  details('test sound card:', [...r.rig.errors]);
  out.push('');
  out.push(r.ok ? 'PASS' : `FAIL: ${r.problems.join('; ')}`);
  return out.join('\n');
}
