/**
 * Re-authentication after a server restart with a new auth key (issue 12 §4), with the shipped
 * connection defaults: the real daemon composition (Daemon: supervisor + conversation, the real
 * `ws` client) taking its credentials from the real OTA source (provisioning.ts: OtaClient over
 * HTTP, the cache in a temporary state dir), against the real dev-server with token auth and its
 * OTA endpoint, in this process.
 *
 * The server stops (1001 to the device), stays down `downMs` while the device's backoff grows on
 * refused connects, and starts again on the same port with a NEW key: a xinnan restart without a
 * fixed `auth_key` (protocol.md §2.5 step 5). The device's next attempt hears `认证失败`, refreshes
 * from OTA and reconnects. Measured from the new server listening to the device `ready`, and split:
 *  - discovery: listening → the refusal, the backoff's next attempt after the outage; the restart
 *    policy decides it (the `restart` part's model, bench/link.ts restartModel, set beside it);
 *  - re-auth: the refusal → ready: the OTA request and one more handshake, no wait on top
 *    (session/supervisor.ts #onRefused).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NullSink, PcmSource } from '../src/audio/file-audio.js';
import { configSchema } from '../src/config/schema.js';
import { SystemClock } from '../src/core/clock.js';
import { ErrorCode } from '../src/core/errors.js';
import { systemRandom } from '../src/core/random.js';
import { Daemon } from '../src/daemon.js';
import { DevServer } from '../src/devserver/index.js';
import { attachProvisioning, openCredentials } from '../src/provisioning/provisioning.js';
import { wsConnector } from '../src/transport/ws-connector.js';
import { captureLogger, type LogLine } from '../test/fakes/capture-logger.js';
import { whenLink } from './device.js';
import { type RestartModel, restartModel } from './link.js';
import { median } from './stats.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface ReauthOptions {
  /** Devices, each with its own server, restarted at the same moment. */
  readonly runs?: number;
  /** Server down this long: the device's backoff grows meanwhile. */
  readonly downMs?: number;
  /** Connection settings over the shipped defaults (the integration test shortens the settle time). */
  readonly connection?: Record<string, unknown>;
}

export interface ReauthRun {
  /** The new server listening → the device ready. */
  readonly readyMs: number;
  /** The new server listening → the refusal (the restart policy's wait). */
  readonly discoveryMs: number;
  /** The refusal → ready (OTA refresh + handshake). */
  readonly reauthMs: number;
  /** The close the device saw → the new server listening. */
  readonly outageMs: number;
  /** E_AUTH_REJECTED lines after the restart (1: one refusal, one line). */
  readonly refusals: number;
  /** Credential refreshes after the restart. */
  readonly refreshes: number;
  /** Whether the device's token after the restart differs from the one before (OTA issued a new one). */
  readonly tokenChanged: boolean;
}

export interface ReauthResult {
  readonly runs: ReauthRun[];
  readonly downMs: number;
  readonly medianMs: number;
  readonly maxMs: number;
  readonly discoveryMedianMs: number;
  readonly reauthMedianMs: number;
  readonly reauthMaxMs: number;
  /** Median measured outage (close seen → listening). */
  readonly outageMs: number;
  /** The policy's wait for the first attempt after that outage (the discovery part). */
  readonly model: RestartModel;
  readonly refreshMinIntervalMs: number;
}

/** One device and its server: boot through OTA, settle, restart the server with a new key. */
async function oneRun(i: number, downMs: number, connection: Record<string, unknown>): Promise<ReauthRun> {
  const stateDir = mkdtempSync(join(tmpdir(), 'speakerd-reauth-'));
  const { log: serverLog } = captureLogger('warn');
  const serverOptions = { host: '127.0.0.1', port: 0, ota: true } as const;
  let server = new DevServer(
    { ...serverOptions, auth: { key: randomBytes(32).toString('base64url') } },
    serverLog,
  );
  const { port } = await server.start();
  const identity = { deviceId: `02:00:00:00:52:${i.toString(16).padStart(2, '0')}`, clientId: randomUUID() };
  const config = configSchema.parse({
    server: { otaUrl: `http://127.0.0.1:${port}/xiaozhi/ota/` },
    stateDir,
    hardware: 'simulated',
    identity,
    connection,
  });
  const clock = new SystemClock();
  // Lines carry pino's `time` (Date.now()): the refusal is timed by its own log line.
  const { log, lines } = captureLogger('info');
  const credentials = openCredentials({
    config,
    identity,
    env: () => ({}),
    version: '0.0.0-bench',
    clock,
    random: systemRandom,
    log: log.child({ component: 'ota' }),
  });
  if (credentials.kind !== 'ota') throw new Error('bench reauth: expected the OTA credential source');
  const daemon = new Daemon({
    config,
    identity,
    credentials: credentials.source,
    connector: wsConnector,
    source: new PcmSource('bench-mic', Buffer.alloc(0), clock),
    sink: new NullSink(),
    leds: { render: () => undefined },
    clock,
    random: systemRandom,
    log,
  });
  let provisioning: ReturnType<typeof attachProvisioning> | undefined;
  try {
    await daemon.start();
    provisioning = attachProvisioning(credentials.source, daemon);
    await whenLink(daemon.supervisor, 'first ready', (s) => s === 'ready', 20_000, Date.now);
    // A settled session (past authFailureWindowMs): the server's 1001 is routine, as on a quiet day.
    await sleep(config.connection.authFailureWindowMs + 500);
    const tokenBefore = credentials.source.current().token;
    const lost = whenLink(daemon.supervisor, 'the close seen', (s) => s !== 'ready', 10_000, Date.now);
    await server.stop();
    const tLost = await lost;
    await sleep(downMs);
    server = new DevServer(
      { ...serverOptions, port, auth: { key: randomBytes(32).toString('base64url') } },
      serverLog,
    );
    await server.start();
    const tUp = Date.now();
    const from = lines.length;
    const refreshesBefore = daemon.supervisor.stats.credentialRefreshes;
    const tReady = await whenLink(
      daemon.supervisor,
      'ready with a new token',
      (s) => s === 'ready',
      60_000,
      Date.now,
    );
    const after: LogLine[] = lines.slice(from);
    const refused = after.filter((l) => l.code === ErrorCode.AuthRejected);
    const first = refused[0];
    if (first === undefined)
      throw new Error('bench reauth: ready again without a refusal (the key did not change?)');
    const tRefused = Number(first.time);
    return {
      readyMs: tReady - tUp,
      discoveryMs: tRefused - tUp,
      reauthMs: tReady - tRefused,
      outageMs: tUp - tLost,
      refusals: refused.length,
      refreshes: daemon.supervisor.stats.credentialRefreshes - refreshesBefore,
      tokenChanged: credentials.source.current().token !== tokenBefore,
    };
  } finally {
    await daemon.stop();
    await provisioning?.stop();
    await server.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

/**
 * `runs` devices in parallel, each with its own server, all restarted at the same moment (each
 * device's backoff is its own: the samples are independent draws of the policy).
 */
export async function measureReauth(o: ReauthOptions = {}): Promise<ReauthResult> {
  const runs = o.runs ?? 10;
  const downMs = o.downMs ?? 2000;
  const connection = o.connection ?? {};
  const all = await Promise.all(Array.from({ length: runs }, (_, i) => oneRun(i, downMs, connection)));
  const cfg = configSchema.parse({ connection }).connection;
  const outageMs = median(all.map((r) => r.outageMs));
  const readyMs = all.map((r) => r.readyMs);
  const reauthMs = all.map((r) => r.reauthMs);
  return {
    runs: all,
    downMs,
    medianMs: median(readyMs),
    maxMs: Math.max(...readyMs),
    discoveryMedianMs: median(all.map((r) => r.discoveryMs)),
    reauthMedianMs: median(reauthMs),
    reauthMaxMs: Math.max(...reauthMs),
    outageMs,
    model: restartModel(cfg, outageMs, runs),
    refreshMinIntervalMs: cfg.refreshMinIntervalMs,
  };
}
