/**
 * The fleet report's aggregation (issue 13 §4), pure: journal entries in (journal-json.ts), one
 * summary per DEVICE_ID out. The entries are the ones speakerd writes natively
 * (notes/journal-contract.md): link transitions (SPEAKERD_LINK_FROM/_TO/REASON, MESSAGE_ID
 * LinkUp/LinkDown), one TurnEnded record per turn (SPEAKERD_TURN_OUTCOME,
 * SPEAKERD_TURN_MILESTONES_*), error records with SPEAKERD_CODE and their code's MESSAGE_ID.
 *
 * Memory is bounded per device whatever the journal holds: counters, a bounded map of causes and
 * outcomes, and a bounded random sample of reply latencies (reservoir sampling), never entries.
 * Entries are expected in time order per device (journalctl interleaves its files by time); one
 * that goes back in time adds no online time rather than a negative one.
 */

import { replyLatencyMs } from '../conversation/turn-timeline.js';
import { ErrorCode } from '../core/errors.js';
import type { Random } from '../core/random.js';
import { CodeMessageId, MessageId } from '../system/message-ids.js';
import type { JournalEntry } from './journal-json.js';

/** Reply latencies kept per device: exact percentiles up to this many turns, a uniform sample after. */
export const LATENCY_SAMPLE = 512;
/** Distinct reconnect causes (and turn outcomes) counted per device; the rest count as "(other)". */
export const MAX_KEYS = 32;
/** Devices followed; entries of further devices are counted, not reported (a bound on memory). */
export const MAX_DEVICES = 100_000;
const OTHER = '(other)';

/** The report's window in µs since the epoch; an end left open is the last entry's time. */
export interface ReportWindow {
  readonly sinceUs?: number;
  readonly untilUs?: number;
}

export interface Turns {
  readonly total: number;
  readonly replies: number;
  readonly lost: number;
  /** Outcomes `deadline` (a turn deadline fired) and `connect-timeout` (no link in time after a press). */
  readonly timedOut: number;
  /** Every outcome seen, with its count. */
  readonly byOutcome: Readonly<Record<string, number>>;
}

export interface LastError {
  readonly atUs: number;
  readonly priority: number;
  readonly messageId: string | undefined;
  readonly code: string | undefined;
  readonly message: string;
}

export interface DeviceReport {
  readonly deviceId: string;
  readonly hostname: string | undefined;
  readonly entries: number;
  readonly firstSeenUs: number;
  readonly lastSeenUs: number;
  /** The last SPEAKERD_LINK_TO; undefined when no link change was seen. */
  readonly link: string | undefined;
  /** Time in `ready` within the window, ms; undefined when the link state is unknown (no change seen). */
  readonly onlineMs: number | undefined;
  /** onlineMs over the window's length, 0..1. */
  readonly onlineRatio: number | undefined;
  /** Times the link left `ready` (a daemon stop excluded). */
  readonly reconnects: number;
  /** Causes of those, most frequent first. */
  readonly causes: readonly { readonly cause: string; readonly count: number }[];
  readonly tokenRefusals: number;
  readonly micFaults: number;
  readonly speakerFaults: number;
  readonly turns: Turns;
  /**
   * Reply latency, first audio − (released ?? stt) of each turn whose reply started: nearest-rank
   * percentiles in ms; `count` turns had one, `sampled` of them were kept (all, up to LATENCY_SAMPLE;
   * a uniform sample of that many past it).
   */
  readonly latency:
    | { readonly count: number; readonly sampled: number; readonly p50: number; readonly p95: number }
    | undefined;
  readonly lastError: LastError | undefined;
}

export interface FleetReport {
  readonly window: { readonly startUs: number; readonly endUs: number } | undefined;
  readonly devices: readonly DeviceReport[];
  /** Lines read (entries and malformed lines). */
  readonly lines: number;
  readonly entries: number;
  readonly malformed: number;
  /** The first few malformed lines: their line number and what was wrong. */
  readonly malformedExamples: readonly { readonly line: number; readonly error: string }[];
  /** Entries not counted: another SYSLOG_IDENTIFIER, no DEVICE_ID, outside the window, past MAX_DEVICES. */
  readonly skipped: {
    readonly otherIdentifier: number;
    readonly noDeviceId: number;
    readonly outsideWindow: number;
    readonly tooManyDevices: number;
  };
}

const AUDIO_SOURCE = ErrorCode.AudioSource;
const AUDIO_SINK = ErrorCode.AudioSink;
const AUTH_REJECTED = ErrorCode.AuthRejected;
const AUTH_MESSAGE_ID = CodeMessageId[ErrorCode.AuthRejected];
const MAX_EXAMPLES = 5;
const MAX_MESSAGE = 200;

/** A count per key with at most `max` keys; later new keys count under "(other)". */
class BoundedCounter {
  readonly #counts = new Map<string, number>();

  constructor(private readonly max: number) {}

  add(key: string): void {
    const k = this.#counts.has(key) || this.#counts.size < this.max - 1 ? key : OTHER;
    this.#counts.set(k, (this.#counts.get(k) ?? 0) + 1);
  }

  get(key: string): number {
    return this.#counts.get(key) ?? 0;
  }

  /** Most frequent first; ties by name, so the output is stable. */
  sorted(): { key: string; count: number }[] {
    return [...this.#counts]
      .map(([key, count]) => ({ key, count }))
      .sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
}

/** Algorithm R (Vitter 1985): a uniform sample of at most `capacity` of the values seen. */
class Reservoir {
  readonly #values: number[] = [];
  #seen = 0;

  constructor(
    private readonly capacity: number,
    private readonly random: Random,
  ) {}

  add(value: number): void {
    this.#seen++;
    if (this.#values.length < this.capacity) {
      this.#values.push(value);
      return;
    }
    const j = Math.floor(this.random() * this.#seen);
    if (j < this.capacity) this.#values[j] = value;
  }

  get seen(): number {
    return this.#seen;
  }

  get kept(): number {
    return this.#values.length;
  }

  /** Nearest-rank percentile (the smallest value with at least p % of the sample at or below it). */
  percentiles(ps: readonly number[]): number[] {
    const sorted = [...this.#values].sort((a, b) => a - b);
    return ps.map((p) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN);
  }
}

class DeviceAcc {
  entries = 0;
  firstUs = Number.POSITIVE_INFINITY;
  lastUs = Number.NEGATIVE_INFINITY;
  hostname: string | undefined;
  /** The link state after the last transition seen, and when it began. */
  link: string | undefined;
  linkAtUs = 0;
  /** The state before the first transition seen (its SPEAKERD_LINK_FROM) and that transition's time. */
  initialLink: string | undefined;
  firstTransitionUs = 0;
  /** Time in ready between the first and the last transition, µs. */
  readyUs = 0;
  reconnects = 0;
  readonly causes = new BoundedCounter(MAX_KEYS);
  tokenRefusals = 0;
  micFaults = 0;
  speakerFaults = 0;
  readonly outcomes = new BoundedCounter(MAX_KEYS);
  turns = 0;
  readonly latency: Reservoir;
  lastError: LastError | undefined;

  constructor(
    readonly id: string,
    random: Random,
  ) {
    this.latency = new Reservoir(LATENCY_SAMPLE, random);
  }
}

/** Folds entries into per-device counters; `report()` at the end. */
export class FleetAggregator {
  readonly #devices = new Map<string, DeviceAcc>();
  #lines = 0;
  #entries = 0;
  #malformed = 0;
  readonly #examples: { line: number; error: string }[] = [];
  #otherIdentifier = 0;
  #noDeviceId = 0;
  #outsideWindow = 0;
  #tooManyDevices = 0;
  #firstUs = Number.POSITIVE_INFINITY;
  #lastUs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly window: ReportWindow,
    private readonly random: Random,
  ) {}

  /** A line that is no entry (journal-json.ts says why). */
  malformed(error: string): void {
    this.#lines++;
    this.#malformed++;
    if (this.#examples.length < MAX_EXAMPLES) this.#examples.push({ line: this.#lines, error });
  }

  add(e: JournalEntry): void {
    this.#lines++;
    this.#entries++;
    // Input from stdin may hold anything `journalctl -o json` printed (other units, systemd's own
    // lines); run with -D/--file, journalctl already matched SYSLOG_IDENTIFIER=speakerd.
    if (e.get('SYSLOG_IDENTIFIER') !== 'speakerd') {
      this.#otherIdentifier++;
      return;
    }
    const t = e.realtimeUs;
    const { sinceUs, untilUs } = this.window;
    if ((sinceUs !== undefined && t < sinceUs) || (untilUs !== undefined && t > untilUs)) {
      this.#outsideWindow++;
      return;
    }
    const id = e.get('DEVICE_ID');
    if (id === undefined || id === '') {
      // Lines before the identity is known (a config error at start-up) carry no DEVICE_ID.
      this.#noDeviceId++;
      return;
    }
    let d = this.#devices.get(id);
    if (d === undefined) {
      if (this.#devices.size >= MAX_DEVICES) {
        this.#tooManyDevices++;
        return;
      }
      d = new DeviceAcc(id, this.random);
      this.#devices.set(id, d);
    }
    this.#firstUs = Math.min(this.#firstUs, t);
    this.#lastUs = Math.max(this.#lastUs, t);
    d.entries++;
    d.firstUs = Math.min(d.firstUs, t);
    d.lastUs = Math.max(d.lastUs, t);
    d.hostname = e.get('_HOSTNAME') ?? d.hostname;
    const messageId = e.get('MESSAGE_ID');
    const rawCode = e.get('SPEAKERD_CODE');
    // SPEAKERD_CODE also holds WebSocket close codes (`code: 1001`); only E_* is an error code.
    const code = rawCode?.startsWith('E_') ? rawCode : undefined;
    linkChange(d, e, t, messageId, code);
    // A turn record is TurnEnded by its MESSAGE_ID, or by its outcome field where the writer set
    // no id (the `{ turn }` record of turn-context.ts carries one either way).
    if (messageId === MessageId.TurnEnded || e.get('SPEAKERD_TURN_OUTCOME') !== undefined) turnEnded(d, e);
    if (code === AUTH_REJECTED || (code === undefined && messageId === AUTH_MESSAGE_ID)) d.tokenRefusals++;
    // The conversation logs every fault the audio adapters report, once (conversation.ts #fault);
    // the adapter's own line about the same fault (component capture/playback) is not counted again.
    if (e.get('SPEAKERD_COMPONENT') === 'conversation') {
      if (code === AUDIO_SOURCE) d.micFaults++;
      if (code === AUDIO_SINK) d.speakerFaults++;
    }
    const priority = Number(e.get('PRIORITY'));
    if (Number.isInteger(priority) && priority <= 3 && t >= (d.lastError?.atUs ?? Number.NEGATIVE_INFINITY)) {
      d.lastError = {
        atUs: t,
        priority,
        messageId,
        code,
        message: (e.get('MESSAGE') ?? '').slice(0, MAX_MESSAGE),
      };
    }
  }

  report(): FleetReport {
    const startUs = this.window.sinceUs ?? this.#firstUs;
    const endUs = this.window.untilUs ?? this.#lastUs;
    const window = Number.isFinite(startUs) && Number.isFinite(endUs) ? { startUs, endUs } : undefined;
    const devices = [...this.#devices.values()]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((d) => deviceReport(d, window));
    return {
      window,
      devices,
      lines: this.#lines,
      entries: this.#entries,
      malformed: this.#malformed,
      malformedExamples: [...this.#examples],
      skipped: {
        otherIdentifier: this.#otherIdentifier,
        noDeviceId: this.#noDeviceId,
        outsideWindow: this.#outsideWindow,
        tooManyDevices: this.#tooManyDevices,
      },
    };
  }
}

function linkChange(
  d: DeviceAcc,
  e: JournalEntry,
  t: number,
  messageId: string | undefined,
  code: string | undefined,
): void {
  const to = e.get('SPEAKERD_LINK_TO');
  if (to === undefined) return;
  const from = e.get('SPEAKERD_LINK_FROM');
  if (d.link === undefined) {
    d.initialLink = from;
    d.firstTransitionUs = t;
  } else if (d.link === 'ready') {
    // Whatever the next transition says it came from (a restarted daemon starts at offline), the
    // last state the journal showed is all that is known until then.
    d.readyUs += Math.max(0, t - d.linkAtUs);
  }
  d.link = to;
  d.linkAtUs = Math.max(d.linkAtUs, t);
  const down = messageId === MessageId.LinkDown || (from === 'ready' && to !== 'ready');
  // A daemon that stops leaves ready on purpose; that is no reconnect.
  if (!down || to === 'stopped') return;
  d.reconnects++;
  d.causes.add(causeOf(code, e.get('SPEAKERD_REASON')));
}

/**
 * The key a reconnect is counted under: the error code when the record has one, else the reason
 * up to its first ": " (details follow there: "heartbeat timeout: no frame or pong for 30012 ms")
 * with durations and attempt numbers replaced by N, so one cause is one key.
 */
export function causeOf(code: string | undefined, reason: string | undefined): string {
  if (code !== undefined) return code;
  if (reason === undefined || reason === '') return '(no reason)';
  const head = reason.split(': ')[0] ?? reason;
  return head
    .replace(/\b\d+(?:\.\d+)? ?(ms|s)\b/g, 'N $1')
    .replace(/\battempt \d+/g, 'attempt N')
    .slice(0, 80);
}

function turnEnded(d: DeviceAcc, e: JournalEntry): void {
  d.turns++;
  d.outcomes.add(e.get('SPEAKERD_TURN_OUTCOME') ?? '(none)');
  const ms = (m: string): number | undefined => {
    const text = e.get(`SPEAKERD_TURN_MILESTONES_${m}`);
    const n = text === undefined || text === '' ? Number.NaN : Number(text);
    return Number.isFinite(n) ? n : undefined;
  };
  const latency = replyLatencyMs({ firstAudio: ms('FIRST_AUDIO'), released: ms('RELEASED'), stt: ms('STT') });
  if (latency !== undefined) d.latency.add(latency);
}

function deviceReport(d: DeviceAcc, window: FleetReport['window']): DeviceReport {
  let onlineMs: number | undefined;
  let onlineRatio: number | undefined;
  if (d.link !== undefined && window !== undefined) {
    let readyUs = d.readyUs;
    // Before the first transition the device was in the state it left then; after the last one it
    // stays in the state it entered, up to the window's end.
    if (d.initialLink === 'ready') readyUs += Math.max(0, d.firstTransitionUs - window.startUs);
    if (d.link === 'ready') readyUs += Math.max(0, window.endUs - d.linkAtUs);
    const spanUs = window.endUs - window.startUs;
    onlineMs = readyUs / 1000;
    onlineRatio = spanUs > 0 ? Math.min(1, readyUs / spanUs) : d.link === 'ready' ? 1 : 0;
  }
  const [p50, p95] = d.latency.percentiles([50, 95]);
  const outcomes = d.outcomes.sorted();
  const byOutcome = Object.fromEntries(outcomes.map((o) => [o.key, o.count]));
  return {
    deviceId: d.id,
    hostname: d.hostname,
    entries: d.entries,
    firstSeenUs: d.firstUs,
    lastSeenUs: d.lastUs,
    link: d.link,
    onlineMs,
    onlineRatio,
    reconnects: d.reconnects,
    causes: d.causes.sorted().map((c) => ({ cause: c.key, count: c.count })),
    tokenRefusals: d.tokenRefusals,
    micFaults: d.micFaults,
    speakerFaults: d.speakerFaults,
    turns: {
      total: d.turns,
      replies: d.outcomes.get('reply'),
      lost: d.outcomes.get('lost'),
      timedOut: d.outcomes.get('deadline') + d.outcomes.get('connect-timeout'),
      byOutcome,
    },
    latency:
      d.latency.seen > 0 && p50 !== undefined && p95 !== undefined
        ? { count: d.latency.seen, sampled: d.latency.kept, p50, p95 }
        : undefined,
    lastError: d.lastError,
  };
}

/**
 * The fields the report reads, for journalctl's --output-fields (journalctl(1): the __* address
 * fields such as __REALTIME_TIMESTAMP are always printed): less to print and parse per entry.
 */
export const REPORT_FIELDS: readonly string[] = [
  'SYSLOG_IDENTIFIER',
  'DEVICE_ID',
  '_HOSTNAME',
  'MESSAGE',
  'MESSAGE_ID',
  'PRIORITY',
  'SPEAKERD_CODE',
  'SPEAKERD_COMPONENT',
  'SPEAKERD_LINK_FROM',
  'SPEAKERD_LINK_TO',
  'SPEAKERD_REASON',
  'SPEAKERD_TURN_OUTCOME',
  'SPEAKERD_TURN_MILESTONES_FIRST_AUDIO',
  'SPEAKERD_TURN_MILESTONES_RELEASED',
  'SPEAKERD_TURN_MILESTONES_STT',
];
