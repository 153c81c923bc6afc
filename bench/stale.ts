/**
 * Stale sessions (issue 12 §2): what each `connection.staleSessionPolicy` costs a fleet, idle.
 * N devices per policy (the real daemon composition, the real `ws` client) against a dev-server
 * that keeps xinnan's no-voice timer (close_connection_no_voice_time 120 s from connect, reset by
 * voice and TTS; with no audio at all a close at 120 + 60 s, checked every 10 s: 180–190 s;
 * protocol.md §8.1 rows 3–4), for one simulated hour at SPEEDUP× (one ScaledClock for both sides).
 * Counts connection attempts after each device's first ready: handshakes per device per hour.
 *
 *  - renew-at-rest (shipped): the device replaces its session at staleSessionMs (100 s) of no TTS;
 *  - reconnect-on-press: it keeps the session until the server's backstop closes it (a routine
 *    close, reconnect within routineReconnectMs), and a press on a stale session reconnects first.
 *
 * The other cost, the press on a stale session, is bench/latency.ts with a short staleSessionMs.
 */
import pino from 'pino';
import { DevServer } from '../src/devserver/index.js';
import { composeDevice, type Device, waitFor, wsUrl } from './device.js';
import { pcmFileSource } from './latency.js';
import { ScaledClock } from './scaled-clock.js';

export const STALE_SPEEDUP = 120;
const HOUR_MS = 3_600_000;

export type StalePolicy = 'renew-at-rest' | 'reconnect-on-press';

export interface StaleCost {
  readonly policy: StalePolicy;
  readonly devices: number;
  readonly simulatedHours: number;
  /** Connection attempts after the first ready, per device per simulated hour. */
  readonly handshakesPerHour: number;
  readonly farewells: number;
  readonly renewals: number;
}

/**
 * Every device idle (no press) for `hours` simulated hours. The heartbeat is slowed to 60 s / 30 s
 * so that a compressed 4 s pong timeout (33 ms of real time) on a busy machine does not add
 * reconnects the policy did not cause; nothing else differs from the shipped config.
 */
export async function measureStaleCost(policy: StalePolicy, devices = 10, hours = 1): Promise<StaleCost> {
  const clock = new ScaledClock(STALE_SPEEDUP);
  const server = new DevServer(
    { host: '127.0.0.1', port: 0, noVoiceCloseMs: 120_000, noVoiceCheckMs: 10_000, closeGraceMs: 60_000 },
    pino({ level: 'warn' }, pino.destination({ dest: 2, sync: true })),
    clock,
  );
  let farewells = 0;
  server.on('farewell', () => farewells++);
  const { port } = await server.start();
  const fleet: Device[] = [];
  try {
    for (let i = 0; i < devices; i++) {
      fleet.push(
        composeDevice({
          url: wsUrl(port),
          clock,
          source: pcmFileSource(clock),
          connection: { staleSessionPolicy: policy, pingIntervalMs: 60_000, pongTimeoutMs: 30_000 },
        }),
      );
    }
    await Promise.all(fleet.map((d) => d.daemon.start()));
    await Promise.all(
      fleet.map((d) => waitFor(d.daemon, 'ready', () => d.daemon.supervisor.state === 'ready', 10_000)),
    );
    const base = fleet.map((d) => d.daemon.supervisor.stats.attempts);
    const renewals0 = fleet.map((d) => d.daemon.supervisor.stats.renewals);
    await new Promise((r) => setTimeout(r, (hours * HOUR_MS) / STALE_SPEEDUP));
    const attempts = fleet.reduce((n, d, i) => n + d.daemon.supervisor.stats.attempts - (base[i] ?? 0), 0);
    const renewals = fleet.reduce(
      (n, d, i) => n + d.daemon.supervisor.stats.renewals - (renewals0[i] ?? 0),
      0,
    );
    return {
      policy,
      devices,
      simulatedHours: hours,
      handshakesPerHour: attempts / devices / hours,
      farewells,
      renewals,
    };
  } finally {
    await Promise.all(fleet.map((d) => d.daemon.stop()));
    await server.stop();
  }
}
