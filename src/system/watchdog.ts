/**
 * The health-gated systemd watchdog (design.md §3.6). Every interval (half of WATCHDOG_USEC) it runs
 * named health checks and sends WATCHDOG=1 only when all pass — never from a blind interval, so a
 * daemon that is alive but wedged gets restarted by systemd. What failed is logged (warn) in the
 * evaluation that withholds the first ping, i.e. well before systemd kills the process.
 *
 * A fully blocked event loop needs no check: this pinger runs on the loop and simply stops. The
 * checks catch what is alive but not working: a very slow loop, a silent mic, a timer that never
 * fires, a state that outlived its own deadline. None looks at the network: offline is healthy.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../core/clock.js';
import { describeError } from '../core/errors.js';
import { MessageId } from './message-ids.js';
import type { Notifier } from './notify.js';

export type CheckResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

export interface HealthCheck {
  /** Short and stable: it is what the operator greps for ("mic", "event-loop", "progress"). */
  readonly name: string;
  check(now: number): CheckResult;
  /** Called by Watchdog.start()/stop(), for checks that sample (a histogram, a probe timer). */
  start?(): void;
  stop?(): void;
}

export type WatchdogState = 'stopped' | 'healthy' | 'failing';

/** While pings are withheld, a reminder line at most this often (plus one per check that starts failing). */
export const REMIND_MS = 30_000;

export interface WatchdogDeps {
  readonly clock: Clock;
  /** Ping interval: readWatchdogUsec(env) (notify.ts). */
  readonly intervalMs: number;
  readonly checks: readonly HealthCheck[];
  readonly notifier: Pick<Notifier, 'watchdog'>;
  readonly log: Logger;
  readonly remindMs?: number;
}

const ok: CheckResult = { ok: true };

function describe(failing: ReadonlyMap<string, string>): string {
  return [...failing].map(([name, reason]) => `${name}: ${reason}`).join('; ');
}

export class Watchdog {
  readonly #d: WatchdogDeps;
  #state: WatchdogState = 'stopped';
  #timer: TimerHandle | undefined;
  /** Check name → reason, for the checks failing at the last evaluation. */
  #failing = new Map<string, string>();
  #lastPingAt: number | undefined;
  #remindedAt = 0;
  /** WATCHDOG=1 sent since construction. */
  pings = 0;

  constructor(deps: WatchdogDeps) {
    this.#d = deps;
  }

  get state(): WatchdogState {
    return this.#state;
  }

  /** Starts the checks, evaluates at once (a first ping right after READY=1), then every interval. Idempotent. */
  start(): void {
    if (this.#state !== 'stopped') return;
    for (const c of this.#d.checks) c.start?.();
    this.#transition('healthy', `pinging every ${this.#d.intervalMs} ms while all checks pass`, {
      checks: this.#d.checks.map((c) => c.name),
    });
    this.#evaluate();
  }

  /** Clears the timer and stops the checks. Idempotent. */
  stop(): void {
    if (this.#state === 'stopped') return;
    this.#d.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const c of this.#d.checks) c.stop?.();
    this.#failing = new Map();
    this.#transition('stopped', 'stop requested');
  }

  #evaluate(): void {
    this.#timer = undefined;
    const { clock, notifier } = this.#d;
    const now = clock.now();
    const previous = this.#failing;
    const failing = new Map<string, string>();
    for (const c of this.#d.checks) {
      const r = this.#run(c, now);
      if (!r.ok) failing.set(c.name, r.reason);
    }
    this.#failing = failing;
    const withheld: Record<string, number> =
      this.#lastPingAt === undefined ? {} : { last_ping_ms_ago: now - this.#lastPingAt };
    if (failing.size === 0) {
      if (this.#state === 'failing') {
        this.#transition('healthy', `all checks pass again (${[...previous.keys()].join(', ')} recovered)`);
      }
      notifier.watchdog();
      this.#lastPingAt = now;
      this.pings++;
    } else if (this.#state === 'healthy') {
      this.#remindedAt = now;
      this.#transition('failing', `${describe(failing)}; WATCHDOG=1 withheld`, {
        failing: Object.fromEntries(failing),
        ...withheld,
      });
    } else {
      this.#changes(previous, failing, now, withheld);
    }
    this.#timer = clock.setTimeout(() => this.#evaluate(), this.#d.intervalMs);
  }

  /** Still failing: say which checks joined or left, and remind now and then, never every interval. */
  #changes(
    previous: ReadonlyMap<string, string>,
    failing: ReadonlyMap<string, string>,
    now: number,
    withheld: Record<string, number>,
  ): void {
    const { log } = this.#d;
    const joined = new Map([...failing].filter(([name]) => !previous.has(name)));
    const left = [...previous.keys()].filter((name) => !failing.has(name));
    if (left.length > 0) log.info({ recovered: left }, `watchdog check ${left.join(', ')} passes again`);
    if (joined.size > 0) {
      this.#remindedAt = now;
      log.warn({ failing: Object.fromEntries(failing), ...withheld }, `watchdog check ${describe(joined)}`);
    } else if (now - this.#remindedAt >= (this.#d.remindMs ?? REMIND_MS)) {
      this.#remindedAt = now;
      log.warn(
        { failing: Object.fromEntries(failing), ...withheld },
        `watchdog still failing: ${describe(failing)}; WATCHDOG=1 withheld`,
      );
    }
  }

  #run(c: HealthCheck, now: number): CheckResult {
    try {
      return c.check(now);
    } catch (err) {
      // A check that throws is a bug, but the watchdog's answer is the same: no ping, and the
      // reason in the log before systemd acts. Crashing from a timer would lose that line.
      return { ok: false, reason: `check threw: ${describeError(err)}` };
    }
  }

  /** The one place the state changes: failing is a warning (journalctl -p warning), the rest info. */
  #transition(to: WatchdogState, reason: string, extra?: Record<string, unknown>): void {
    const from = this.#state;
    if (from === to) return;
    this.#state = to;
    const line = { ...extra, watchdog_from: from, watchdog_to: to, reason };
    const msg = `watchdog ${from} → ${to}: ${reason}`;
    // Only the move to failing is the operator's event: the reminders repeat it, the recovery ends it.
    if (to === 'failing') this.#d.log.warn({ message_id: MessageId.WatchdogFailing, ...line }, msg);
    else this.#d.log.info(line, msg);
  }
}

// ------------------------------------------------------------------------------------ checks

/** What eventLoopCheck reads; node's IntervalHistogram fits (values in nanoseconds). */
export interface DelayHistogram {
  readonly max: number;
  percentile(p: number): number;
  reset(): void;
  enable(): void;
  disable(): void;
}

/**
 * Sampling period of the loop-delay histogram. Each sample is the time between two ticks of a
 * timer of this period, so it is at least this; the check subtracts it and judges the lateness.
 * 100 ms rather than Node's 10 (or the 20 first used here): the bounds are 250 ms and 2 s, and the
 * finer timer was about half of the daemon's idle CPU (README, bench "idle CPU").
 */
export const LOOP_RESOLUTION_MS = 100;

export interface EventLoopCheckOptions {
  /** p99 of the loop's lateness over one interval above this → failing (a loop that is slow all along). */
  readonly maxDelayMs: number;
  /** One lateness above this → failing (a long stall that still let the pinger run); none if absent. */
  readonly maxStallMs?: number;
  /** Tests inject one; default monitorEventLoopDelay({ resolution: resolutionMs }). */
  readonly histogram?: DelayHistogram;
  /** The histogram's sampling period, subtracted from every reading; default LOOP_RESOLUTION_MS. */
  readonly resolutionMs?: number;
}

/** Event-loop lateness over the window since the previous evaluation (the histogram is reset each time). */
export function eventLoopCheck(o: EventLoopCheckOptions): HealthCheck {
  const resolutionMs = o.resolutionMs ?? LOOP_RESOLUTION_MS;
  const h = o.histogram ?? monitorEventLoopDelay({ resolution: resolutionMs });
  // An empty window (percentile and max 0) reads as 0, not as a negative lateness.
  const late = (ns: number) => Math.max(0, Math.round(ns / 1e6) - resolutionMs);
  return {
    name: 'event-loop',
    start: () => {
      h.reset();
      h.enable();
    },
    stop: () => h.disable(),
    check: () => {
      const p99 = late(h.percentile(99));
      const max = late(h.max);
      h.reset();
      if (p99 > o.maxDelayMs) {
        return { ok: false, reason: `event loop delay p99 ${p99} ms > ${o.maxDelayMs} ms (max ${max} ms)` };
      }
      if (o.maxStallMs !== undefined && max > o.maxStallMs) {
        return { ok: false, reason: `event loop stalled ${max} ms > ${o.maxStallMs} ms` };
      }
      return ok;
    },
  };
}

/** The shape of AlsaCapture.health() (audio/capture.ts), kept structural so system/ needs no audio/. */
export interface HealthSource {
  health(now: number): { readonly ok: boolean; readonly reason?: string | undefined };
}

/**
 * Mic frames arriving: capture's own verdict (running with a frame within STALL_MS, or stopped).
 * Note capture reports failed/backoff (mic unplugged, retrying) as unhealthy too.
 */
export function micCheck(source: HealthSource, name = 'mic'): HealthCheck {
  return {
    name,
    check: (now) => {
      const h = source.health(now);
      return h.ok ? ok : { ok: false, reason: h.reason ?? 'unhealthy' };
    },
  };
}

/** A wait in progress that has a deadline of its own (a supervisor state, a conversation deadline). */
export interface Wait {
  /** For the log: "link connecting", "conversation listen deadline". */
  readonly what: string;
  /** Clock time the wait began: the state was entered, or its deadline was last (re-)armed. */
  readonly since: number;
  /** How long the owner lets it last before its own timer ends it; undefined = may last forever. */
  readonly limitMs: number | undefined;
}

export interface ProgressCheckOptions {
  /** The clock the daemon's timers run on; the probe timer is armed on it. */
  readonly clock: Clock;
  /** A probe timer (armed with delay 0 at each evaluation) that has not fired this long after → failing. */
  readonly timerSlackMs: number;
  /** Current waits, read at each evaluation; one older than its limit + marginMs is wedged. */
  readonly waits?: ReadonlyArray<() => Wait | undefined>;
  /** Time a wait's own deadline gets to fire before the wait counts as wedged. */
  readonly marginMs: number;
}

interface Probe {
  readonly armedAt: number;
  firedAt: number | undefined;
  handle: TimerHandle | undefined;
}

/**
 * The daemon makes progress: (1) timers fire — a probe armed at one evaluation must have fired by
 * the next (within timerSlackMs); (2) no wait outlives its own deadline by more than marginMs, which
 * would mean the timer meant to end it was lost (a wedged state).
 */
export function progressCheck(o: ProgressCheckOptions): HealthCheck {
  let probe: Probe | undefined;
  const arm = (): void => {
    const p: Probe = { armedAt: o.clock.now(), firedAt: undefined, handle: undefined };
    p.handle = o.clock.setTimeout(() => {
      p.firedAt = o.clock.now();
    }, 0);
    probe = p;
  };
  return {
    name: 'progress',
    start: () => {
      probe = undefined;
    },
    stop: () => {
      o.clock.clearTimeout(probe?.handle);
      probe = undefined;
    },
    check: (now) => {
      const problems: string[] = [];
      const p = probe;
      if (p) {
        const t = o.clock.now();
        if (p.firedAt === undefined && t - p.armedAt > o.timerSlackMs) {
          problems.push(`a timer armed ${Math.round(t - p.armedAt)} ms ago has not fired`);
        } else if (p.firedAt !== undefined && p.firedAt - p.armedAt > o.timerSlackMs) {
          problems.push(`a timer fired ${Math.round(p.firedAt - p.armedAt)} ms late`);
        }
      }
      // One probe at a time: a lost one is reported at every evaluation, never stacked up.
      if (!p || p.firedAt !== undefined) arm();
      for (const read of o.waits ?? []) {
        const w = read();
        if (!w || w.limitMs === undefined) continue;
        const age = now - w.since;
        if (age > w.limitMs + o.marginMs) {
          problems.push(`${w.what} for ${Math.round(age)} ms, past its ${w.limitMs} ms deadline`);
        }
      }
      return problems.length === 0 ? ok : { ok: false, reason: problems.join('; ') };
    },
  };
}
