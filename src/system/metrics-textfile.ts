/**
 * Rewrites the metrics file for node_exporter's textfile collector every interval and once at
 * stop (issue 13 §5), atomically (atomic-file.ts replaceFile). A write that fails is logged once
 * per kind of error (ENOENT: the directory is missing; EACCES: not ours to write; …) until a write
 * succeeds again, and never reaches the daemon: metrics are for the operator, the device works on
 * without them. At most one write is in flight: a tick that finds the previous one still running
 * (a slow SD card) is skipped, so writes never pile up.
 */
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../core/clock.js';
import { describeError } from '../core/errors.js';
import { StateCell } from '../core/state.js';
import { type ReplaceError, type ReplaceFs, replaceFile } from './atomic-file.js';

/** Readable by node_exporter's user (`prometheus`) whatever the unit's UMask. */
const FILE_MODE = 0o644;

export interface MetricsTextfileDeps {
  readonly file: string;
  readonly intervalMs: number;
  readonly clock: Clock;
  readonly log: Logger;
  /** The exposition text, made afresh for each write. */
  readonly text: () => Promise<string>;
  readonly fs?: ReplaceFs;
}

export type MetricsTextfileState = 'created' | 'running' | 'stopped';

export class MetricsTextfile {
  readonly #d: MetricsTextfileDeps;
  readonly #state: StateCell<MetricsTextfileState>;
  #timer: TimerHandle | undefined;
  #inFlight: Promise<void> | undefined;
  /** Kinds of write error logged since the last good write: each is logged once. */
  readonly #reported = new Set<string>();
  /** Files written since start. */
  writes = 0;
  /** Writes that failed since start. */
  failures = 0;

  constructor(deps: MetricsTextfileDeps) {
    this.#d = deps;
    this.#state = new StateCell<MetricsTextfileState>('created', deps.log, 'metrics');
  }

  get state(): MetricsTextfileState {
    return this.#state.value;
  }

  /** Writes now (the file exists from the start on), then every interval. Idempotent. */
  start(): void {
    if (this.state !== 'created') return;
    this.#state.transition('running', `writing ${this.#d.file} every ${this.#d.intervalMs} ms`);
    this.#tick();
  }

  /** No more ticks; waits for a write in flight, then writes the last values once. Idempotent. */
  async stop(): Promise<void> {
    if (this.state === 'created') this.#state.transition('stopped', 'stopped before it started');
    if (this.state !== 'running') return;
    this.#d.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#state.transition('stopped', 'daemon stopping: last write');
    await this.#inFlight;
    await this.#write();
  }

  /** Resolves when the write in flight (if any) is done; for tests driving a ManualClock. */
  async settled(): Promise<void> {
    await this.#inFlight;
  }

  #tick(): void {
    this.#timer = this.#d.clock.setTimeout(() => this.#tick(), this.#d.intervalMs);
    if (this.#inFlight) {
      this.#d.log.debug({ file: this.#d.file }, 'metrics: previous write still running; this one skipped');
      return;
    }
    const run = this.#write().finally(() => {
      if (this.#inFlight === run) this.#inFlight = undefined;
    });
    this.#inFlight = run;
  }

  async #write(): Promise<void> {
    let failure: ReplaceError | undefined;
    try {
      const text = await this.#d.text();
      failure = await replaceFile(this.#d.file, text, FILE_MODE, this.#d.fs);
    } catch (err) {
      // prom-client's collect callbacks are ours and do not throw; a bug there is still not the
      // daemon's end.
      failure = { kind: 'collect', message: describeError(err) };
    }
    if (failure === undefined) {
      this.writes++;
      if (this.#reported.size > 0) {
        this.#d.log.info({ file: this.#d.file }, 'metrics file written again');
        this.#reported.clear();
      }
      return;
    }
    this.failures++;
    const log = { file: this.#d.file, kind: failure.kind, err: failure.message, failures: this.failures };
    if (this.#reported.has(failure.kind)) {
      this.#d.log.debug(log, 'metrics file not written');
      return;
    }
    this.#reported.add(failure.kind);
    this.#d.log.warn(
      log,
      `metrics file not written (${hint(failure.kind)}); retrying every interval, said once`,
    );
  }
}

function hint(kind: string): string {
  switch (kind) {
    case 'ENOENT':
      return "its directory does not exist: node_exporter's textfile directory?";
    case 'EACCES':
    case 'EPERM':
      return 'no permission to write in its directory';
    case 'EROFS':
      return "read-only file system: the unit's ReadWritePaths= must name the directory";
    default:
      return kind;
  }
}
