/** The fleet report's two outputs (issue 13 §4): a table for people, JSON for machines. */
import type { DeviceReport, FleetReport } from './report.js';

/** Causes shown per device in the table (--json has them all). */
const TABLE_CAUSES = 3;
/** Characters of the last error's MESSAGE in the table (--json has up to 200). */
const TABLE_MESSAGE = 60;

/** `2026-12-06 16:20:01` in UTC: one zone for a fleet that spans several. */
export function utc(us: number): string {
  return new Date(Math.floor(us / 1000)).toISOString().slice(0, 19).replace('T', ' ');
}

function iso(us: number): string {
  return new Date(Math.floor(us / 1000)).toISOString();
}

/** `4 h 12 min`, `35 s`: a window's length for the header. */
export function span(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const min = Math.floor(s / 60);
  if (min < 60) return `${min} min ${s % 60} s`;
  const h = Math.floor(min / 60);
  if (h < 48) return `${h} h ${min % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

function percent(ratio: number | undefined): string {
  return ratio === undefined ? '–' : `${(ratio * 100).toFixed(1)}%`;
}

function causes(d: DeviceReport): string {
  const top = d.causes.slice(0, TABLE_CAUSES).map((c) => `${c.cause} ×${c.count}`);
  const more = d.causes.length - TABLE_CAUSES;
  return [...top, ...(more > 0 ? [`+${more} more`] : [])].join(', ') || '–';
}

function lastError(d: DeviceReport): string {
  const e = d.lastError;
  if (e === undefined) return '–';
  const msg = e.message.length > TABLE_MESSAGE ? `${e.message.slice(0, TABLE_MESSAGE - 1)}…` : e.message;
  const what = [e.code, e.messageId ? `MESSAGE_ID=${e.messageId}` : undefined].filter((x) => x !== undefined);
  return `${utc(e.atUs)} ${what.join(' ')} ${JSON.stringify(msg)}`;
}

const HEADER = [
  'DEVICE',
  'LAST SEEN (UTC)',
  'LINK',
  'ONLINE',
  'RECONNECTS',
  'TOP CAUSES',
  'REFUSED',
  'MIC',
  'SPK',
  'TURNS',
  'REPLY/LOST/TIMEOUT',
  'LATENCY P50/P95',
  'LAST ERROR',
] as const;

function row(d: DeviceReport): string[] {
  const t = d.turns;
  return [
    d.deviceId,
    utc(d.lastSeenUs),
    d.link ?? '–',
    percent(d.onlineRatio),
    String(d.reconnects),
    causes(d),
    String(d.tokenRefusals),
    String(d.micFaults),
    String(d.speakerFaults),
    String(t.total),
    `${t.replies}/${t.lost}/${t.timedOut}`,
    d.latency ? `${Math.round(d.latency.p50)}/${Math.round(d.latency.p95)} ms` : '–',
    lastError(d),
  ];
}

/** Right-aligned: the numeric columns. */
const RIGHT = new Set([3, 4, 6, 7, 8, 9, 10, 11]);

export function formatTable(r: FleetReport): string {
  const lines: string[] = [];
  const n = r.devices.length;
  const window = r.window
    ? `${utc(r.window.startUs)} → ${utc(r.window.endUs)} UTC (${span((r.window.endUs - r.window.startUs) / 1000)})`
    : 'no entries';
  lines.push(`speakerd fleet report: ${n} device${n === 1 ? '' : 's'}, ${window}`);
  if (n > 0) {
    const rows = [[...HEADER], ...r.devices.map(row)];
    const widths = HEADER.map((_, i) => Math.max(...rows.map((cells) => (cells[i] ?? '').length)));
    for (const cells of rows) {
      const padded = cells.map((c, i) => {
        if (i === cells.length - 1) return c;
        const w = widths[i] ?? 0;
        return RIGHT.has(i) ? c.padStart(w) : c.padEnd(w);
      });
      lines.push(padded.join('  ').trimEnd());
    }
  }
  lines.push(inputSummary(r));
  return lines.join('\n');
}

function inputSummary(r: FleetReport): string {
  const s = r.skipped;
  const skipped = [
    s.otherIdentifier > 0 ? `${s.otherIdentifier} not from speakerd` : '',
    s.noDeviceId > 0 ? `${s.noDeviceId} without DEVICE_ID` : '',
    s.outsideWindow > 0 ? `${s.outsideWindow} outside the window` : '',
    s.tooManyDevices > 0 ? `${s.tooManyDevices} of devices past the limit` : '',
  ].filter((x) => x !== '');
  let text = `input: ${r.lines} lines, ${r.entries} entries`;
  if (skipped.length > 0) text += ` (skipped: ${skipped.join(', ')})`;
  if (r.malformed > 0) {
    const examples = r.malformedExamples.map((m) => `line ${m.line}: ${m.error}`).join('; ');
    text += `; ${r.malformed} malformed line${r.malformed === 1 ? '' : 's'} ignored (${examples}${r.malformed > r.malformedExamples.length ? '; …' : ''})`;
  }
  return text;
}

export function formatJson(r: FleetReport): string {
  return JSON.stringify(
    {
      window: r.window ? { start: iso(r.window.startUs), end: iso(r.window.endUs) } : null,
      devices: r.devices.map((d) => ({
        deviceId: d.deviceId,
        hostname: d.hostname ?? null,
        firstSeen: iso(d.firstSeenUs),
        lastSeen: iso(d.lastSeenUs),
        entries: d.entries,
        link: d.link ?? null,
        onlineMs: d.onlineMs === undefined ? null : Math.round(d.onlineMs),
        onlineRatio: d.onlineRatio ?? null,
        reconnects: d.reconnects,
        causes: d.causes,
        tokenRefusals: d.tokenRefusals,
        micFaults: d.micFaults,
        speakerFaults: d.speakerFaults,
        turns: d.turns,
        replyLatencyMs: d.latency ?? null,
        lastError: d.lastError
          ? {
              at: iso(d.lastError.atUs),
              priority: d.lastError.priority,
              messageId: d.lastError.messageId ?? null,
              code: d.lastError.code ?? null,
              message: d.lastError.message,
            }
          : null,
      })),
      input: {
        lines: r.lines,
        entries: r.entries,
        malformed: r.malformed,
        malformedExamples: r.malformedExamples,
        skipped: r.skipped,
      },
    },
    null,
    2,
  );
}
