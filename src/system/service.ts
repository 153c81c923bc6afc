/**
 * The daemon as a systemd service (design.md §3.6): READY=1 once config, hardware and capture are
 * up (never waiting for the network: a device without Wi-Fi is running, just offline), STATUS= on
 * every change of the daemon's status line, STOPPING=1 first on shutdown, and WATCHDOG=1 only
 * while the health checks pass. main.ts opens it before anything else, so a missing sd-notify
 * binding under systemd is an exit 78, not a start timeout.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { ConversationState } from '../conversation/conversation-state.js';
import type { Clock } from '../core/clock.js';
import type { Fault } from '../core/errors.js';
import type { LinkState } from '../session/session-port.js';
import { MessageId } from './message-ids.js';
import { type Notifier, openNotifier, readWatchdogUsec } from './notify.js';
import {
  eventLoopCheck,
  type HealthCheck,
  type HealthSource,
  progressCheck,
  type Wait,
  Watchdog,
  type WatchdogState,
} from './watchdog.js';

/** A p99 loop delay above this over one interval: the daemon is too slow to keep audio flowing. */
const MAX_LOOP_DELAY_MS = 250;
/** One stall above this: something blocked the loop for seconds (sync I/O, swap, a runaway loop). */
const MAX_LOOP_STALL_MS = 2_000;
/** A probe timer firing this late, or a state outliving its own deadline by this much: wedged. */
const TIMER_SLACK_MS = 5_000;
const WAIT_MARGIN_MS = 10_000;
/** closing waits for the peer's close frame; attempt.ts terminates it well before this. */
const CLOSING_LIMIT_MS = 10_000;

/** What the service reads from the daemon: its status line and the two state machines. */
export interface ServedDaemon {
  readonly status: string;
  on(event: 'status', listener: (status: string) => void): unknown;
  readonly supervisor: { on(event: 'state', listener: (to: LinkState) => void): unknown };
  readonly conversation: { on(event: 'state', listener: (to: ConversationState) => void): unknown };
}

/** The running microphone, when there is one (audio/capture.ts). */
export interface ServedMic extends HealthSource {
  readonly state: string;
}

export interface ServiceDeps {
  readonly env: NodeJS.ProcessEnv;
  readonly clock: Clock;
  readonly log: Logger;
}

export type ServiceState = 'opened' | 'ready' | 'stopping';

export class Service {
  readonly #notifier: Notifier;
  readonly #d: ServiceDeps;
  readonly #intervalMs: number | undefined;
  #watchdog: Watchdog | undefined;
  #state: ServiceState = 'opened';

  private constructor(notifier: Notifier, deps: ServiceDeps) {
    this.#notifier = notifier;
    this.#d = deps;
    this.#intervalMs = readWatchdogUsec(deps.env);
  }

  /** The notifier for this environment, or the fault that must stop the start (exit 78). */
  static open(deps: ServiceDeps): { ok: true; service: Service } | { ok: false; fault: Fault } {
    const opened = openNotifier(deps.env, deps.log);
    if (!opened.ok) return { ok: false, fault: opened.fault };
    return { ok: true, service: new Service(opened.notifier, deps) };
  }

  get state(): ServiceState {
    return this.#state;
  }

  /** The health-gated watchdog's state (metrics); undefined while none runs (no WatchdogSec=, not ready yet). */
  get watchdogState(): WatchdogState | undefined {
    return this.#watchdog?.state;
  }

  get watchdogIntervalMs(): number | undefined {
    return this.#intervalMs;
  }

  /** READY=1 with the current status, STATUS= from now on, the watchdog started. Once. */
  ready(daemon: ServedDaemon, config: Readonly<Config>, mic?: ServedMic): void {
    if (this.#state !== 'opened') return;
    this.#state = 'ready';
    this.#notifier.ready(daemon.status);
    daemon.on('status', (status) => {
      if (this.#state === 'ready') this.#notifier.status(status);
    });
    this.#d.log.info(
      { message_id: MessageId.Ready, status: daemon.status, watchdog_ms: this.#intervalMs ?? null },
      'ready',
    );
    if (this.#intervalMs === undefined) return;
    this.#watchdog = new Watchdog({
      clock: this.#d.clock,
      intervalMs: this.#intervalMs,
      checks: this.#checks(daemon, config, mic),
      notifier: this.#notifier,
      log: this.#d.log,
    });
    this.#watchdog.start();
  }

  /** STOPPING=1 first, then no more pings or statuses. Idempotent. */
  stopping(): void {
    if (this.#state === 'stopping') return;
    this.#state = 'stopping';
    this.#notifier.stopping();
    this.#watchdog?.stop();
  }

  #checks(daemon: ServedDaemon, config: Readonly<Config>, mic?: ServedMic): HealthCheck[] {
    const { clock } = this.#d;
    const link = since<LinkState>(clock, 'offline');
    daemon.supervisor.on('state', link.set);
    const conv = since<ConversationState>(clock, 'idle');
    daemon.conversation.on('state', conv.set);
    const c = config.connection;
    const linkLimit: Partial<Record<LinkState, number>> = {
      connecting: c.handshakeTimeoutMs,
      handshaking: c.helloTimeoutMs,
      // The stale session's close (≤ 1 s grace, attempt.ts) and the fresh one's handshake and hello.
      renewing: c.handshakeTimeoutMs + c.helloTimeoutMs + CLOSING_LIMIT_MS,
      // A refused token may hold the next attempt back to refreshMinIntervalMs (supervisor.ts).
      backoff: Math.max(c.backoffCapMs, c.refreshMinIntervalMs),
      closing: CLOSING_LIMIT_MS,
    };
    // Listening and speaking re-arm their deadlines on activity; these two never do.
    const convLimit: Partial<Record<ConversationState, number>> = {
      connecting: config.conversation.listenDeadlineMs,
      error: config.conversation.errorDisplayMs,
    };
    const waits: Array<() => Wait | undefined> = [
      () => ({ what: `link ${link.value}`, since: link.since, limitMs: linkLimit[link.value] }),
      () => ({ what: `conversation ${conv.value}`, since: conv.since, limitMs: convLimit[conv.value] }),
    ];
    const checks: HealthCheck[] = [
      eventLoopCheck({ maxDelayMs: MAX_LOOP_DELAY_MS, maxStallMs: MAX_LOOP_STALL_MS }),
      progressCheck({ clock, timerSlackMs: TIMER_SLACK_MS, marginMs: WAIT_MARGIN_MS, waits }),
    ];
    if (mic) checks.push(micStallCheck(mic));
    return checks;
  }
}

/**
 * Mic frames arriving — judged only while arecord is running: a recorder that is alive and
 * delivers nothing is wedged, and a restart of the daemon is the remedy. A mic that is missing or
 * dying is being restarted by capture itself with backoff (design.md §3.4); restarting the whole
 * daemon for it would only take the button and the speaker down with it.
 */
export function micStallCheck(mic: ServedMic): HealthCheck {
  return {
    name: 'mic',
    check: (now) => {
      if (mic.state !== 'running') return { ok: true };
      const h = mic.health(now);
      return h.ok ? { ok: true } : { ok: false, reason: h.reason ?? 'no frames' };
    },
  };
}

/** A state and when it was entered, fed by a 'state' event. */
function since<S extends string>(clock: Clock, initial: S) {
  const box = {
    value: initial,
    since: clock.now(),
    set: (to: S) => {
      box.value = to;
      box.since = clock.now();
    },
  };
  return box;
}
