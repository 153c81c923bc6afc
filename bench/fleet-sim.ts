/**
 * A fleet in one process for `npm run bench:fleet` and its integration test: N real
 * SessionSupervisors (each with its own Device-Id/Client-Id, the real `ws` client, SystemClock, its
 * own random source) against one dev-server that can be stopped and started again on the same port.
 * Every connection attempt, every entry into `ready` and every credential refresh is timestamped.
 */
import { randomUUID } from 'node:crypto';
import pino, { type Logger } from 'pino';
import { type ConnectionConfig, connectionSchema } from '../src/config/schema.js';
import { SystemClock } from '../src/core/clock.js';
import { type Random, seededRandom, systemRandom } from '../src/core/random.js';
import { DevServer, type DevServerOptions } from '../src/devserver/index.js';
import type { CredentialSource, Credentials } from '../src/session/credentials.js';
import { SessionSupervisor } from '../src/session/supervisor.js';
import type { Connector } from '../src/transport/connection.js';
import { wsConnector } from '../src/transport/ws-connector.js';

/**
 * shipped: the shipped policy (core/backoff.ts: after a routine close a phase over
 * routineReconnectMs, then that period while refused, for restartRetryForMs; faults: full jitter
 * 500 ms → 30 s).
 * before: the policy before issue 13 §6, as configuration of the same code: the first attempt after
 * a routine close within 1 s (routineReconnectMs 1000), every refusal on the exponential with full
 * jitter 500 ms → 30 s from the first (restartRetryForMs 0). Same draws as that code made.
 * naive: the same supervisor with base = cap = routine = 1 s, no restart schedule and a constant
 * random source: full jitter is `random × ceiling`, so every retry comes 999 ms after the last
 * failure, and a fleet dropped by one server stop retries in lockstep, as a fixed-interval client does.
 */
export type FleetKind = 'shipped' | 'before' | 'naive';

const NAIVE_INTERVAL_MS = 1000;

/** The connection config of each kind (beyond the shipped defaults). */
const KIND_CONNECTION: Readonly<Record<FleetKind, Partial<ConnectionConfig>>> = {
  shipped: {},
  before: { routineReconnectMs: 1000, restartRetryForMs: 0 },
  naive: {
    backoffBaseMs: NAIVE_INTERVAL_MS,
    backoffCapMs: NAIVE_INTERVAL_MS,
    routineReconnectMs: NAIVE_INTERVAL_MS,
    restartRetryForMs: 0,
  },
};

/** Just under 1, as a Random must be: floor(x × 1000) = 999. */
const NAIVE_RANDOM: Random = () => 1 - 2 ** -20;
/** Timestamps kept per device and kind: far more than any scenario makes, bounded all the same. */
const MAX_EVENTS = 10_000;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves when `pred` holds (checked every 20 ms); rejects after `ms` with `context()`. */
export async function waitUntil(
  what: string,
  pred: () => boolean,
  ms: number,
  context: () => string,
): Promise<void> {
  const t0 = performance.now();
  while (!pred()) {
    if (performance.now() - t0 > ms)
      throw new Error(`timed out after ${ms} ms waiting for ${what} (${context()})`);
    await sleep(20);
  }
}

function push(list: number[], t: number): void {
  if (list.length < MAX_EVENTS) list.push(t);
}

/** Issues a token for a device, as the OTA endpoint would; undefined: hand back the same one. */
export type TokenIssuer = (clientId: string, deviceId: string) => string;

/** A credential source that counts its refreshes and returns whatever the fleet's "OTA" issues. */
class CountingCredentials implements CredentialSource {
  #creds: Credentials;

  constructor(
    url: string,
    token: string,
    private readonly issue: () => string | undefined,
    private readonly refreshes: number[],
    private readonly clock: SystemClock,
  ) {
    this.#creds = { url, token };
  }

  current(): Credentials {
    return this.#creds;
  }

  async refresh(): Promise<Credentials> {
    push(this.refreshes, this.clock.now());
    const token = this.issue();
    if (token !== undefined) this.#creds = { url: this.#creds.url, token };
    return this.#creds;
  }
}

export class SimDevice {
  readonly clientId = randomUUID();
  readonly deviceId: string;
  /** clock.now() of every connect call. */
  readonly attempts: number[] = [];
  /** clock.now() of every entry into `ready`. */
  readonly ready: number[] = [];
  /** clock.now() of every exit from `ready` (the device saw its session end). */
  readonly lost: number[] = [];
  /** clock.now() of every credential refresh. */
  readonly refreshes: number[] = [];
  readonly supervisor: SessionSupervisor;

  constructor(n: number, fleet: Fleet, config: ConnectionConfig, random: Random, log: Logger) {
    // A locally administered unicast MAC per device: 02:00:00:00:xx:yy.
    const hex = (b: number): string => b.toString(16).padStart(2, '0');
    this.deviceId = `02:00:00:00:${hex((n >> 8) & 0xff)}:${hex(n & 0xff)}`;
    const clock = fleet.clock;
    const connector: Connector = (request) => {
      push(this.attempts, clock.now());
      return wsConnector(request);
    };
    const token = fleet.issuer?.(this.clientId, this.deviceId) ?? '';
    const credentials = new CountingCredentials(
      fleet.url,
      token,
      () => fleet.issuer?.(this.clientId, this.deviceId),
      this.refreshes,
      clock,
    );
    this.supervisor = new SessionSupervisor({
      connector,
      credentials,
      identity: { deviceId: this.deviceId, clientId: this.clientId },
      config,
      clock,
      random,
      log,
    });
    this.supervisor.on('state', (to, from) => {
      if (to === 'ready') push(this.ready, clock.now());
      else if (from === 'ready') push(this.lost, clock.now());
    });
  }

  /** Whether it entered `ready` at or after `t`. */
  readySince(t: number): boolean {
    const last = this.ready[this.ready.length - 1];
    return last !== undefined && last >= t;
  }

  /** First entry into `ready` at or after `t`. */
  firstReadyAfter(t: number): number | undefined {
    return this.ready.find((r) => r >= t);
  }
}

export interface FleetOptions {
  readonly kind: FleetKind;
  readonly devices: number;
  readonly url: string;
  /** Number of the first device (Device-Id); keeps two fleets' ids apart. */
  readonly firstId?: number;
  /** shipped and before: device i draws from seededRandom(seed + i); Math.random when absent. */
  readonly seed?: number;
  /** shipped and before: ConnectionConfig values on top of the kind's (the test's auth run). */
  readonly connection?: Partial<ConnectionConfig>;
  /** The initial tokens, and what a refresh hands out (undefined: the same token again). */
  readonly issuer?: TokenIssuer;
}

export class Fleet {
  readonly clock = new SystemClock();
  readonly devices: SimDevice[] = [];
  readonly kind: FleetKind;
  readonly url: string;
  readonly config: ConnectionConfig;
  /** What a credential refresh returns; swapped by the auth scenario. */
  issuer: TokenIssuer | undefined;

  constructor(o: FleetOptions) {
    this.kind = o.kind;
    this.url = o.url;
    this.issuer = o.issuer;
    this.config = connectionSchema.parse(
      o.kind === 'naive' ? KIND_CONNECTION.naive : { ...KIND_CONNECTION[o.kind], ...o.connection },
    );
    // One silent logger: the bench measures the connection policy, not log formatting.
    const log = pino({ level: 'silent' });
    const first = o.firstId ?? 1;
    for (let i = 0; i < o.devices; i++) {
      const random =
        o.kind === 'naive' ? NAIVE_RANDOM : o.seed === undefined ? systemRandom : seededRandom(o.seed + i);
      this.devices.push(new SimDevice(first + i, this, this.config, random, log));
    }
  }

  start(): void {
    for (const d of this.devices) d.supervisor.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.devices.map((d) => d.supervisor.stop()));
  }

  count(pred: (d: SimDevice) => boolean): number {
    let n = 0;
    for (const d of this.devices) if (pred(d)) n++;
    return n;
  }

  /** Waits until every device entered `ready` at or after `t`. */
  async allReadySince(t: number, ms: number, what: string): Promise<void> {
    await waitUntil(
      what,
      () => this.devices.every((d) => d.readySince(t)),
      ms,
      () => this.describe(),
    );
  }

  /** e.g. "ready 480, backoff 20" */
  describe(): string {
    const by = new Map<string, number>();
    for (const d of this.devices) by.set(d.supervisor.state, (by.get(d.supervisor.state) ?? 0) + 1);
    return [...by].map(([s, n]) => `${s} ${n}`).join(', ');
  }

  /** Every attempt of every device, one flat list. */
  allAttempts(): number[] {
    return this.devices.flatMap((d) => d.attempts);
  }

  /** Bound for "every device back": the longest backoff delay plus one handshake and hello. */
  recoveryBoundMs(): number {
    return this.config.backoffCapMs + this.config.handshakeTimeoutMs + this.config.helloTimeoutMs + 5000;
  }
}

/**
 * The dev-server on a fixed port that can go away and come back: `restart()` makes a new server on
 * the same port, as a process restart would. Its stop closes every client (1001, terminated after a
 * short grace), so every device sees its session end.
 */
export class FleetServer {
  #server: DevServer;
  readonly #options: DevServerOptions;
  readonly #log: Logger;
  #port = 0;

  private constructor(server: DevServer, options: DevServerOptions, log: Logger) {
    this.#server = server;
    this.#options = options;
    this.#log = log;
  }

  static async start(options: DevServerOptions = {}): Promise<FleetServer> {
    const log = pino({ level: 'silent' });
    // Server pings off: the devices' own heartbeat is what the bench is about, and 500 sessions
    // need no second keepalive in one process.
    const o: DevServerOptions = { host: '127.0.0.1', port: 0, pingIntervalMs: 0, ...options };
    const fs = new FleetServer(new DevServer(o, log), o, log);
    fs.#port = (await fs.#server.start()).port;
    return fs;
  }

  get server(): DevServer {
    return this.#server;
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.#port}/xiaozhi/v1/`;
  }

  async stop(): Promise<void> {
    await this.#server.stop();
  }

  /** A new server on the same port (call after stop). */
  async restart(): Promise<void> {
    this.#server = new DevServer({ ...this.#options, port: this.#port }, this.#log);
    await this.#server.start();
  }
}
