/**
 * Metrics where fleets already look (issue 13 §5): node_exporter's textfile collector reads a file
 * of Prometheus text exposition format; speakerd rewrites it (system/metrics-textfile.ts). This
 * file holds the metric set and its wiring to the daemon's existing events, in one place.
 *
 * prom-client (the Prometheus client for Node) keeps the registry and writes the text format.
 * Importing it takes 240–370 ms on the CI machine (its index pulls in @opentelemetry/api and the
 * cluster aggregator; more on a Pi), so main.ts imports this file only when `metrics.textfile` is
 * set and a device without metrics does not start slower. Its memory is small: the daemon's RSS
 * with metrics on was within 1 MB of off (3 runs side by side, 10 s after start: 69.3 vs 70.2 MiB).
 *
 * Names follow Prometheus' naming rules (prometheus.io/docs/practices/naming): `speakerd_` prefix,
 * `_total` on counters, base units (seconds, ratios). No device label: node_exporter's target
 * (the `instance` label) is the device. Every label has a closed set of values, all of them
 * exported from the start (0), so a rate() over a cause never starts from a missing series.
 */
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { replyLatencyMs, type TurnOutcome, type TurnTimeline } from '../conversation/turn-timeline.js';
import type { Clock } from '../core/clock.js';
import type { Fault } from '../core/errors.js';
import { LINK_STATES, type LinkState } from '../session/session-port.js';
import type { ReplaceFs } from './atomic-file.js';
import { MetricsTextfile } from './metrics-textfile.js';
import type { WatchdogState } from './watchdog.js';

// A record over the closed union: the compiler refuses a missing or unknown member, so a new
// outcome cannot be forgotten here.
export const TURN_OUTCOMES = Object.keys({
  reply: 0,
  cancelled: 0,
  'barge-in': 0,
  lost: 0,
  'send-failed': 0,
  deadline: 0,
  'no-follow-up': 0,
  'connect-timeout': 0,
  reconnect: 0,
  fault: 0,
  activating: 0,
  stopped: 0,
} satisfies Record<TurnOutcome, 0>) as readonly TurnOutcome[]; // Object.keys types its keys as string[]

/**
 * Why the link connects again: the closed set of the `cause` label. The supervisor's reasons are
 * sentences with numbers and addresses in them (unbounded); reconnectCause maps them here.
 */
export const RECONNECT_CAUSES = [
  'server-closed', // 1000/1001/1005 after a session: the server's routine end (protocol.md §8)
  'server-error', // any other close code, a close before the hello, 1009
  'connection-lost', // 1006: the TCP connection ended without a close frame
  'heartbeat', // no frame or pong within the heartbeat's bound (core/heartbeat.ts)
  'hello-timeout', // no server hello within connection.helloTimeoutMs
  'auth', // the server refused the token (HTTP 401/403, or text + close: protocol.md §2.5)
  'http', // the upgrade was answered with another HTTP status
  'network', // connect errors: refused, unreachable, DNS, the handshake timing out, a reset
  'tls', // certificate or TLS errors
  'send-failed', // a write to an open socket failed
  'stale', // a stale session replaced on purpose (connection.staleSessionMs)
  'requested', // a long press: reconnect with fresh credentials
  'other',
] as const;
export type ReconnectCause = (typeof RECONNECT_CAUSES)[number];

/** Link states a connection exists in, or is being made in: leaving them for backoff is a reconnect. */
const CONNECTED: ReadonlySet<LinkState> = new Set([
  'connecting',
  'handshaking',
  'ready',
  'renewing',
  'closing',
]);

/**
 * The reconnect a link transition means, or undefined when it is none. A reconnect is the link
 * giving up a connection (or an attempt at one) and going for the next: into `backoff` from a
 * connection state (the reason is the end's cause: session/link-policy.ts describeEnd, attempt.ts
 * fail(), supervisor.ts #afterEnd / #onRefused), a stale session renewed (`ready → renewing`),
 * a long press (`→ closing`), or a refused token refreshed at once (`→ connecting` with
 * "refreshing credentials (token refused…)"). Not one: the first connect, an on-demand press from
 * idle, a routine close in on-demand mode (→ idle, nothing reconnects until a press).
 * Known gap: an HTTP 401/403 on the upgrade answered by an immediate refresh never leaves
 * `connecting`, so no state event shows it; it shows in speakerd_connection_attempts_total.
 * The strings are matched here rather than carried as data because the supervisor's event has
 * only its reason; test/unit/metrics.test.ts builds them with the producers' own functions.
 */
export function reconnectCause(to: LinkState, from: LinkState, reason: string): ReconnectCause | undefined {
  if (to === 'renewing' && from === 'ready') return 'stale';
  if (to === 'closing') return 'requested';
  if (to === 'connecting' && /^refreshing credentials \(token refused/.test(reason)) return 'auth';
  if (to !== 'backoff' || !CONNECTED.has(from)) return undefined;
  return causeOf(reason);
}

function causeOf(reason: string): ReconnectCause {
  if (/^token refused/.test(reason)) return 'auth';
  if (/^heartbeat timeout/.test(reason)) return 'heartbeat';
  if (/^no server hello within/.test(reason)) return 'hello-timeout';
  if (/^upgrade refused with HTTP (401|403)\b/.test(reason)) return 'auth';
  if (/^upgrade refused with HTTP/.test(reason)) return 'http';
  if (/^send failed/.test(reason)) return 'send-failed';
  if (/^connection lost \(1006\)/.test(reason)) return 'connection-lost';
  // "server closed 1000" (routine) or "server closed 1005 1200 ms after hello" (a short session).
  if (/^server closed 100[015](?: \d+ ms after hello)?$/.test(reason)) return 'server-closed';
  if (/^server closed/.test(reason) || /^server said /.test(reason)) return 'server-error';
  if (/certificate|\bTLS\b|\bSSL\b|self[- ]signed/i.test(reason)) return 'tls';
  // Node's errno codes (connect ECONNREFUSED 10.0.0.5:8000, getaddrinfo ENOTFOUND …) and ws's
  // "Opening handshake has timed out".
  if (/\bE[A-Z]{3,}\b|handshake has timed out|socket hang up/.test(reason)) return 'network';
  return 'other';
}

/** Seconds; replies on a Pi take from a few hundred ms (dev-server) to several s (an LLM's). */
const LATENCY_BUCKETS = [0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 8, 13];

/** What the metrics read from the running daemon; every part exists already (main.ts). */
export interface MetricsSources {
  readonly supervisor: {
    readonly state: LinkState;
    readonly stats: { readonly attempts: number };
    on(event: 'state', listener: (to: LinkState, from: LinkState, reason: string) => void): unknown;
  };
  readonly turns: { on(event: 'turn', listener: (t: TurnTimeline) => void): unknown };
  readonly mic: { on(event: 'fault', listener: (f: Fault) => void): unknown };
  readonly speaker: { on(event: 'fault', listener: (f: Fault) => void): unknown };
  /** The mic's digital-silence detection; absent for the simulated mic. */
  readonly micMute?: { readonly state: 'sound' | 'muted' };
  /** Speaker volume 0–100. */
  readonly volume: () => number;
  /** The systemd watchdog's state; undefined while none runs (not under WatchdogSec=). */
  readonly watchdog: () => WatchdogState | undefined;
}

export interface MetricsInfo {
  readonly clock: Clock;
  readonly version: string;
}

const WATCHDOG_METRIC = 'speakerd_watchdog_healthy';

/** The registry of speakerd's metrics, fed by the daemon's events through attach(). */
export class SpeakerMetrics {
  readonly #registry = new Registry();
  readonly #startedAt: number;
  readonly #watchdog: Gauge;
  #watchdogState: () => WatchdogState | undefined = () => undefined;
  readonly link: Gauge<'state'>;
  readonly reconnects: Counter<'cause'>;
  readonly turns: Counter<'outcome'>;
  readonly replyLatency: Histogram;
  readonly micFaults: Counter;
  readonly speakerFaults: Counter;

  constructor(readonly info: MetricsInfo) {
    const registers = [this.#registry];
    this.#startedAt = info.clock.now();
    new Gauge({
      name: 'speakerd_build_info',
      help: 'Always 1; the labels say which speakerd and which Node.js run.',
      labelNames: ['version', 'nodejs'],
      registers,
    }).set({ version: info.version, nodejs: process.version }, 1);
    const clock = info.clock;
    const startedAt = this.#startedAt;
    new Gauge({
      name: 'speakerd_uptime_seconds',
      help: 'Seconds since speakerd started (its monotonic clock).',
      registers,
      collect() {
        this.set((clock.now() - startedAt) / 1000);
      },
    });
    this.link = new Gauge({
      name: 'speakerd_link_state',
      help: 'The connection supervisor state: 1 for the current state, 0 for the others (ready = online).',
      labelNames: ['state'],
      registers,
    });
    this.reconnects = new Counter({
      name: 'speakerd_reconnects_total',
      help: 'Connections given up and attempted again, by cause (a closed set; see README "Metrics").',
      labelNames: ['cause'],
      registers,
    });
    for (const cause of RECONNECT_CAUSES) this.reconnects.inc({ cause }, 0);
    this.turns = new Counter({
      name: 'speakerd_turns_total',
      help: 'Conversation turns ended, by outcome (reply, lost, deadline, cancelled, …).',
      labelNames: ['outcome'],
      registers,
    });
    for (const outcome of TURN_OUTCOMES) this.turns.inc({ outcome }, 0);
    this.replyLatency = new Histogram({
      name: 'speakerd_reply_latency_seconds',
      help: 'Reply latency of turns that got reply audio: first TTS audio minus the end of speech (the button release in push-to-talk, else the stt message).',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.micFaults = new Counter({
      name: 'speakerd_mic_faults_total',
      help: 'Microphone faults (recorder failed to start, died or delivered nothing).',
      registers,
    });
    this.speakerFaults = new Counter({
      name: 'speakerd_speaker_faults_total',
      help: 'Speaker faults (player failed, stalled or did not finish).',
      registers,
    });
    // Registered only while a watchdog runs (text()): absent says "no watchdog", 0 says "failing".
    this.#watchdog = new Gauge({
      name: WATCHDOG_METRIC,
      help: 'Whether the systemd watchdog health checks pass (1) or WATCHDOG=1 is withheld (0).',
      registers: [],
    });
  }

  /** Subscribes to the daemon's events and reads the rest when the text is made. */
  attach(s: MetricsSources): void {
    const registers = [this.#registry];
    this.#setLink(s.supervisor.state);
    s.supervisor.on('state', (to, from, reason) => {
      this.#setLink(to);
      const cause = reconnectCause(to, from, reason);
      if (cause !== undefined) this.reconnects.inc({ cause });
    });
    const supervisor = s.supervisor;
    new Counter({
      name: 'speakerd_connection_attempts_total',
      help: 'Connection attempts since start, the first included (the supervisor keeps the count).',
      registers,
      collect() {
        // The supervisor's own count is the truth; a counter that only goes up, re-read each time.
        this.reset();
        this.inc(supervisor.stats.attempts);
      },
    });
    s.turns.on('turn', (t) => this.recordTurn(t));
    s.mic.on('fault', () => this.micFaults.inc());
    s.speaker.on('fault', () => this.speakerFaults.inc());
    const volume = s.volume;
    new Gauge({
      name: 'speakerd_volume_ratio',
      help: 'Speaker volume: the 0–100 level divided by 100.',
      registers,
      collect() {
        this.set(volume() / 100);
      },
    });
    const mute = s.micMute;
    if (mute)
      new Gauge({
        name: 'speakerd_mic_muted',
        help: 'Whether the mic delivers only digital silence (a muted or dead input): 1, else 0.',
        registers,
        collect() {
          this.set(mute.state === 'muted' ? 1 : 0);
        },
      });
    this.#watchdogState = s.watchdog;
  }

  recordTurn(t: TurnTimeline): void {
    this.turns.inc({ outcome: t.outcome });
    const ms = replyLatencyMs(t.milestones);
    if (ms !== undefined) this.replyLatency.observe(ms / 1000);
  }

  /** The exposition text (Prometheus text format 0.0.4). */
  async text(): Promise<string> {
    const w = this.#watchdogState();
    if (w === 'healthy' || w === 'failing') {
      if (!this.#registry.getSingleMetric(WATCHDOG_METRIC)) this.#registry.registerMetric(this.#watchdog);
      this.#watchdog.set(w === 'healthy' ? 1 : 0);
    } else {
      this.#registry.removeSingleMetric(WATCHDOG_METRIC);
    }
    return this.#registry.metrics();
  }

  #setLink(current: LinkState): void {
    for (const state of LINK_STATES) this.link.set({ state }, state === current ? 1 : 0);
  }
}

export interface AttachedMetrics {
  readonly metrics: SpeakerMetrics;
  readonly textfile: MetricsTextfile;
  /** The last write, after the daemon has stopped (its final link state and turns in it). */
  stop(): Promise<void>;
}

/**
 * The one place metrics meet the daemon (main.ts calls it before daemon.start(), so the first
 * link transitions count): builds the registry, subscribes it to `sources`, and starts rewriting
 * `textfile` every `intervalMs`.
 */
export function attachMetrics(
  config: { readonly textfile: string; readonly intervalMs: number },
  sources: MetricsSources,
  deps: MetricsInfo & { readonly log: Logger; readonly fs?: ReplaceFs },
): AttachedMetrics {
  const metrics = new SpeakerMetrics({ clock: deps.clock, version: deps.version });
  metrics.attach(sources);
  const textfile = new MetricsTextfile({
    file: config.textfile,
    intervalMs: config.intervalMs,
    clock: deps.clock,
    log: deps.log,
    text: () => metrics.text(),
    ...(deps.fs ? { fs: deps.fs } : {}),
  });
  textfile.start();
  return { metrics, textfile, stop: () => textfile.stop() };
}
