/**
 * The device side of the latency and memory benches: the real daemon composition (Daemon:
 * supervisor + conversation + opusscript, the real `ws` client), as main.ts builds it, with the
 * simulated audio ports and the injected clock of the bench. Kept free of test and dev-server
 * imports: the memory bench measures this process's RSS, and only the daemon's code belongs in it.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import type { AudioSink, AudioSinkEvents, AudioSource } from '../src/audio/audio-port.js';
import { NullSink, readPcmFile } from '../src/audio/file-audio.js';
import { configSchema } from '../src/config/schema.js';
import type { Clock, TimerHandle } from '../src/core/clock.js';
import { systemRandom } from '../src/core/random.js';
import { Daemon } from '../src/daemon.js';
import type { CredentialSource, Credentials } from '../src/session/credentials.js';
import type { LinkState } from '../src/session/session-port.js';
import { createLogger, type Logger } from '../src/system/logger.js';
import { wsConnector } from '../src/transport/ws-connector.js';

export const SPEECH_FILE = fileURLToPath(new URL('../../assets/speech16k.raw', import.meta.url));
export const DEVICE_ID = '02:00:00:00:00:be';

/** The spoken command of a turn: the first 1.4 s of the fixture, as in the integration rig. */
export function turnSpeech(): Buffer {
  return readPcmFile(SPEECH_FILE).subarray(0, 16000 * 2 * 1.4);
}

export function wsUrl(port: number): string {
  return `ws://127.0.0.1:${port}/xiaozhi/v1/`;
}

/** Credentials that never change (the dev-server runs without auth here). */
export function fixedCredentials(url: string): CredentialSource {
  const creds: Credentials = { url, token: '' };
  return { current: () => creds, refresh: async () => creds };
}

/**
 * The daemon's production logger (info, JSON, synchronous) writing to /dev/null: formatting and
 * writing each line is part of what a turn costs on the device, printing it is not.
 */
export function deviceLogger(): Logger {
  return createLogger({
    level: 'info',
    format: 'json',
    deviceId: DEVICE_ID,
    destination: pino.destination({ dest: '/dev/null', sync: true }),
  });
}

/**
 * A speaker that plays nowhere but takes as long as a real one: every stream plays from the moment
 * its first sample arrives at its sample rate on the injected clock, and 'drained' comes when the
 * last written sample would have played, as aplay's drain does (src/audio/playback.ts) — not at once
 * like NullSink's. Auto mode listens again only after 'drained' (turn-context.ts playOut), so with
 * this sink a bench turn includes the reply's play-out as on a device.
 */
export class PacedNullSink extends EventEmitter<AudioSinkEvents> implements AudioSink {
  readonly name = 'paced-null';
  #state: 'closed' | 'open' | 'draining' = 'closed';
  #bytesPerMs = 0;
  /** Clock time at which everything written so far will have played. */
  #playsUntil = 0;
  #timer: TimerHandle | undefined;
  bytes = 0;
  streams = 0;
  aborts = 0;

  constructor(private readonly clock: Clock) {
    super();
  }

  begin(sampleRate: number): void {
    this.#stopTimer();
    this.#state = 'open';
    this.#bytesPerMs = (sampleRate * 2) / 1000;
    this.#playsUntil = this.clock.now();
    this.streams++;
  }

  write(pcm: Buffer): void {
    if (this.#state !== 'open') return;
    this.bytes += pcm.length;
    // An underrun (the network slower than the speaker) plays the next chunk when it arrives.
    this.#playsUntil = Math.max(this.#playsUntil, this.clock.now()) + pcm.length / this.#bytesPerMs;
  }

  end(): void {
    if (this.#state !== 'open') return;
    this.#state = 'draining';
    this.#timer = this.clock.setTimeout(
      () => {
        this.#timer = undefined;
        this.#state = 'closed';
        this.emit('drained');
      },
      Math.max(0, this.#playsUntil - this.clock.now()),
    );
  }

  abort(): void {
    if (this.#state !== 'closed') this.aborts++;
    this.#stopTimer();
    this.#state = 'closed';
  }

  async close(): Promise<void> {
    this.#stopTimer();
    this.#state = 'closed';
  }

  #stopTimer(): void {
    this.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

export interface DeviceOptions {
  readonly url: string;
  readonly clock: Clock;
  readonly source: AudioSource;
  /** The speaker; a NullSink (drained at once) by default. */
  readonly sink?: AudioSink;
  /** Config overrides (connection, conversation); the shipped defaults otherwise. */
  readonly connection?: Record<string, unknown>;
  readonly conversation?: Record<string, unknown>;
}

export interface Device {
  readonly daemon: Daemon;
  readonly sink: AudioSink;
}

export function composeDevice(o: DeviceOptions): Device {
  const clientId = randomUUID();
  const config = configSchema.parse({
    server: { websocketUrl: o.url },
    hardware: 'simulated',
    identity: { deviceId: DEVICE_ID, clientId },
    stateDir: '/nonexistent',
    connection: { ...o.connection },
    conversation: { ...o.conversation },
  });
  const sink = o.sink ?? new NullSink();
  const daemon = new Daemon({
    config,
    identity: { deviceId: DEVICE_ID, clientId },
    credentials: fixedCredentials(o.url),
    connector: wsConnector,
    source: o.source,
    sink,
    leds: { render: () => undefined },
    clock: o.clock,
    random: systemRandom,
    log: deviceLogger(),
  });
  return { daemon, sink };
}

/**
 * Resolves when `pred` holds, checked on every conversation and link state change (no polling: a
 * thousand turns cannot afford a 10 ms poll per step); rejects after `ms` of real time, or at the
 * first check where `failed` says why the wait is pointless (a turn that ended the wrong way).
 */
export function waitFor(
  daemon: Daemon,
  what: string,
  pred: () => boolean,
  ms: number,
  failed: () => string | undefined = () => undefined,
): Promise<void> {
  const why = failed();
  if (why !== undefined) return Promise.reject(new Error(`waiting for ${what}: ${why}`));
  if (pred()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const check = (): void => {
      const why = failed();
      if (why !== undefined) {
        cleanup();
        reject(new Error(`waiting for ${what}: ${why}`));
        return;
      }
      if (!pred()) return;
      cleanup();
      resolve();
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(
        new Error(
          `timed out after ${ms} ms waiting for ${what} (link ${daemon.supervisor.state}, conversation ${daemon.conversation.state})`,
        ),
      );
    }, ms);
    const cleanup = (): void => {
      clearTimeout(timer);
      daemon.conversation.off('state', check);
      daemon.supervisor.off('state', check);
    };
    daemon.conversation.on('state', check);
    daemon.supervisor.on('state', check);
  });
}

/**
 * Resolves with `now()` taken in the supervisor's first state change that satisfies `pred` (in the
 * event itself, not by polling), or at once if it already holds; rejects after `ms` of real time.
 */
export function whenLink(
  sup: Daemon['supervisor'],
  what: string,
  pred: (s: LinkState) => boolean,
  ms: number,
  now: () => number = () => performance.now(),
): Promise<number> {
  if (pred(sup.state)) return Promise.resolve(now());
  return new Promise((resolve, reject) => {
    const onState = (to: LinkState): void => {
      if (!pred(to)) return;
      const at = now();
      cleanup();
      resolve(at);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${ms} ms waiting for ${what} (link ${sup.state})`));
    }, ms);
    const cleanup = (): void => {
      clearTimeout(timer);
      sup.off('state', onState);
    };
    sup.on('state', onState);
  });
}

export function idleAndReady(daemon: Daemon): boolean {
  return daemon.supervisor.state === 'ready' && daemon.conversation.state === 'idle';
}
