/**
 * The integration rig: the real daemon composition (Daemon: supervisor + conversation + Opus) with
 * the real `ws` client, the dev-server on 127.0.0.1:0, and a TCP fault proxy between them. Audio is
 * the PCM-file twin (paced in real time) and a null sink that measures what was played.
 */

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach } from 'node:test';
import { NullSink, PcmSource, readPcmFile } from '../../src/audio/file-audio.js';
import { configSchema } from '../../src/config/schema.js';
import type { TurnTimeline } from '../../src/conversation/conversation.js';
import { formatTurn } from '../../src/conversation/turn-timeline.js';
import { SystemClock } from '../../src/core/clock.js';
import { type Random, seededRandom } from '../../src/core/random.js';
import { Daemon } from '../../src/daemon.js';
import { SPEECH_FIXTURE } from '../../src/demo.js';
import { DevServer, type DevServerOptions } from '../../src/devserver/index.js';
import type { Indicator } from '../../src/hardware/indicator.js';
import type { CredentialSource, Credentials } from '../../src/session/credentials.js';
import type { LinkState } from '../../src/session/session-port.js';
import type { Connection } from '../../src/transport/connection.js';
import { wsConnector } from '../../src/transport/ws-connector.js';
import { captureLogger, type LogLine } from '../fakes/capture-logger.js';
import { FAST_CONNECTION } from '../fakes/fast-timings.js';
import { FaultProxy } from '../fakes/fault-proxy.js';
import { pollUntil } from '../fakes/poll.js';

/** The first 1.4 s of the speech fixture: long enough for the dev-server's VAD, short for CI. */
export const MIC = readPcmFile(SPEECH_FIXTURE).subarray(0, 16000 * 2 * 1.4);

export const DEVICE_ID = '02:00:00:00:00:42';
export const CLIENT_ID = randomUUID();

/** A credential source whose answer the test controls (the OTA source arrives later). */
export class SwitchableCredentials implements CredentialSource {
  refreshes: string[] = [];
  onRefresh: (() => Credentials) | undefined;
  constructor(public creds: Credentials) {}
  current(): Credentials {
    return this.creds;
  }
  async refresh(reason: string): Promise<Credentials> {
    this.refreshes.push(reason);
    if (this.onRefresh) this.creds = this.onRefresh();
    return this.creds;
  }
}

export interface RigOptions {
  readonly server?: DevServerOptions;
  readonly connection?: Record<string, unknown>;
  readonly conversation?: Record<string, unknown>;
  readonly token?: string;
  /** Jitter source; a fixed seed by default so CI runs repeat. */
  readonly random?: Random;
  /** Use the shipped connection defaults (5 s ping, 4 s pong, 500 ms–30 s backoff) instead of the fast ones. */
  readonly productionTimings?: boolean;
}

const unhandled: unknown[] = [];
let watching = false;

/** One process-wide recorder: a rejection nobody handled fails the scenario that caused it. */
function watchUnhandled(): void {
  if (watching) return;
  watching = true;
  process.on('unhandledRejection', (err) => unhandled.push(err));
  process.on('uncaughtException', (err) => unhandled.push(err));
}

/**
 * One rig per test: `open()` creates it, and after each test it is closed and checked (no unhandled
 * rejection or exception, the supervisor stopped).
 */
export function rigPerTest(): (o?: RigOptions) => Promise<Rig> {
  let rig: Rig | undefined;
  afterEach(async () => {
    if (!rig) return;
    const r = rig;
    rig = undefined;
    await r.close();
    assert.deepEqual(r.unhandled, [], 'no unhandled rejection or exception');
    assert.equal(r.daemon.supervisor.state, 'stopped');
  });
  return async (o = {}) => {
    rig = await Rig.create(o);
    return rig;
  };
}

export class Rig {
  readonly clock = new SystemClock();
  readonly sink = new NullSink();
  readonly leds: Indicator[] = [];
  readonly logs: LogLine[];
  /** Unhandled rejections and exceptions seen while this rig was open. */
  get unhandled(): unknown[] {
    return unhandled.slice(this.#unhandledFrom);
  }
  readonly #unhandledFrom = unhandled.length;
  server: DevServer;
  readonly proxy: FaultProxy;
  readonly daemon: Daemon;
  readonly creds: SwitchableCredentials;
  /** Every connection object the supervisor made, in order. */
  readonly conns: Connection[] = [];
  /** Every conversation state entered, with what capture and playback were doing at that moment. */
  readonly turnLog: string[] = [];
  readonly history: { state: string; source: boolean; sink: boolean }[] = [];
  readonly #serverOptions: DevServerOptions;

  private constructor(server: DevServer, proxy: FaultProxy, serverOptions: DevServerOptions, o: RigOptions) {
    this.server = server;
    this.proxy = proxy;
    this.#serverOptions = serverOptions;
    const { log, lines } = captureLogger('debug');
    this.logs = lines;
    const url = `ws://127.0.0.1:${proxy.port}/xiaozhi/v1/`;
    this.creds = new SwitchableCredentials({ url, token: o.token ?? '' });
    const config = configSchema.parse({
      server: { websocketUrl: url },
      hardware: 'simulated',
      identity: { deviceId: DEVICE_ID, clientId: CLIENT_ID },
      // Short timings keep CI fast; the policy is the same as the defaults (measured separately).
      connection: o.productionTimings ? { ...o.connection } : { ...FAST_CONNECTION, ...o.connection },
      conversation: { errorDisplayMs: 300, ...o.conversation },
    });
    this.daemon = new Daemon({
      config,
      identity: { deviceId: DEVICE_ID, clientId: CLIENT_ID },
      credentials: this.creds,
      connector: (req) => {
        const c = wsConnector(req);
        this.conns.push(c);
        return c;
      },
      source: new PcmSource('test-mic', MIC, this.clock),
      sink: this.sink,
      leds: { render: (i) => this.leds.push(i) },
      clock: this.clock,
      random: o.random ?? seededRandom(7),
      log,
    });
    this.daemon.conversation.on('state', (to) =>
      this.history.push({
        state: to,
        source: this.daemon.conversation.sourceRunning,
        sink: this.sink.isOpen,
      }),
    );
    watchUnhandled();
  }

  /** Waits until the conversation has entered `state` at some point after history index `from`. */
  async entered(
    state: string,
    from: number,
    ms = 10_000,
  ): Promise<{ state: string; source: boolean; sink: boolean }> {
    await this.until(
      `conversation entered ${state}`,
      () => this.history.slice(from).some((h) => h.state === state),
      ms,
    );
    const h = this.history.slice(from).find((x) => x.state === state);
    if (!h) throw new Error('unreachable');
    return h;
  }

  static async create(o: RigOptions = {}): Promise<Rig> {
    const serverOptions: DevServerOptions = { host: '127.0.0.1', port: 0, vadSilenceMs: 400, ...o.server };
    const { log } = captureLogger('warn');
    const server = new DevServer(serverOptions, log);
    const { port } = await server.start();
    const proxy = new FaultProxy(port);
    await proxy.listen();
    const rig = new Rig(server, proxy, serverOptions, o);
    await rig.daemon.start();
    return rig;
  }

  get link(): LinkState {
    return this.daemon.supervisor.state;
  }

  /** Stops the dev-server (a crash or restart from the device's view). */
  async serverDown(): Promise<void> {
    await this.server.stop();
  }

  /** A new dev-server process on the same port. */
  async serverUp(): Promise<void> {
    const { log } = captureLogger('warn');
    this.server = new DevServer({ ...this.#serverOptions, port: this.serverPort }, log);
    await this.server.start();
  }

  get serverPort(): number {
    return this.server.port;
  }

  /** Resolves when `pred` holds, polling every 10 ms; rejects after `ms`. */
  async until(what: string, pred: () => boolean, ms = 10_000): Promise<void> {
    await pollUntil(
      what,
      pred,
      ms,
      () => `link ${this.link}, conversation ${this.daemon.conversation.state}`,
    );
  }

  async ready(ms = 10_000): Promise<void> {
    await this.until('link ready', () => this.link === 'ready', ms);
  }

  /**
   * The acceptance check after every fault: a click completes a full turn — stt received and TTS
   * audio decoded to a non-silent sink — then a second click ends auto listening.
   */
  async fullTurn(ms = 20_000): Promise<void> {
    await this.until(
      'idle and ready',
      () => this.link === 'ready' && this.daemon.conversation.state === 'idle',
      ms,
    );
    const bytes0 = this.sink.bytes;
    const leds0 = this.leds.length;
    const turns: string[] = [];
    const onTurn = (t: TurnTimeline) => {
      turns.push(`${t.outcome}${t.milestones.stt !== undefined ? '+stt' : ''}`);
      this.turnLog.push(formatTurn(t));
    };
    this.daemon.on('turn', onTurn);
    try {
      this.daemon.input('click');
      await this.until('a turn with stt and a reply', () => turns.includes('reply+stt'), ms);
      if (this.sink.bytes - bytes0 < 24000) {
        throw new Error(
          `only ${this.sink.bytes - bytes0} bytes of TTS played; turns: ${this.turnLog.join(' | ')}`,
        );
      }
      if (this.sink.level < 0.005) throw new Error(`TTS audio is silent (rms ${this.sink.level})`);
      await this.until(
        'listening again (auto mode)',
        () => this.daemon.conversation.state === 'listening',
        ms,
      );
      this.daemon.input('click');
      await this.until('idle after the second click', () => this.daemon.conversation.state === 'idle', ms);
      const shown = this.ledNames(leds0);
      if (
        !shown.includes('listening') ||
        !shown.includes('speaking') ||
        this.daemon.indicator?.name !== 'idle'
      ) {
        throw new Error(`LEDs during the turn: ${shown.join(' → ')}; now ${this.daemon.indicator?.name}`);
      }
    } finally {
      this.daemon.off('turn', onTurn);
    }
  }

  /** Indicator names shown since index `from`. */
  ledNames(from = 0): string[] {
    return this.leds.slice(from).map((i) => i.name);
  }

  errorLogs(): LogLine[] {
    return this.logs.filter((l) => l.level >= 50);
  }

  async close(): Promise<void> {
    await this.daemon.stop();
    await this.proxy.close();
    await this.server.stop();
  }
}
