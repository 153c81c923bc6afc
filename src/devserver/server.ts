/**
 * The dev-server (design.md §3.8): a small xiaozhi-compatible server on one HTTP port — WebSocket
 * sessions (session.ts), optional xinnan-style token auth and OTA endpoint, and fault switches.
 * It is the demo server, the bring-up tool and the peer of the integration tests.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { isOpusRate } from '../audio/opus.js';
import { type Clock, SystemClock } from '../core/clock.js';
import type { Logger } from '../system/logger.js';
import { bearerToken, signToken, type TokenCheck, verifyToken } from './auth.js';
import type { DevServerFaults, GarbageKind } from './faults.js';
import { handleHttpRequest, type OtaHost, WS_PATH } from './ota.js';
import { Session, type SessionHost } from './session.js';
import {
  type DevServerEvents,
  type DevServerOptions,
  type ResolvedOptions,
  resolveOptions,
} from './types.js';

/** xinnan's (websockets') default `max_size` (protocol.md §8.1 row 10). */
const MAX_PAYLOAD_BYTES = 1024 * 1024;

type ServerState = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}

function hostForUrl(host: string): string {
  if (isWildcard(host)) return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

export class DevServer extends EventEmitter<DevServerEvents> {
  readonly #options: ResolvedOptions;
  readonly #log: Logger;
  readonly #sessions = new Map<string, Session>();
  readonly #sessionHost: SessionHost;
  readonly #otaHost: OtaHost;
  #faults: DevServerFaults;
  #authKey: string | undefined;
  /** Device-Ids whose `/activate` answered 200, and the polls of those still pending. */
  readonly #activated = new Set<string>();
  readonly #activationPolls = new Map<string, number>();
  #state: ServerState = 'new';
  #http: Server | undefined;
  #wss: WebSocketServer | undefined;
  #port = 0;
  #starting: Promise<unknown> | undefined;
  #stopped: Promise<void> | undefined;

  constructor(options: DevServerOptions, log: Logger, clock: Clock = new SystemClock()) {
    super();
    this.#options = resolveOptions(options);
    if (!isOpusRate(this.#options.ttsRate))
      throw new RangeError(`ttsRate ${this.#options.ttsRate} is not an Opus rate`);
    if (this.#options.noVoiceCloseMs > 0 && !(this.#options.noVoiceCheckMs > 0))
      throw new RangeError(`noVoiceCheckMs ${this.#options.noVoiceCheckMs}: must be > 0 with noVoiceCloseMs`);
    this.#log = log;
    this.#faults = { ...options.faults };
    this.#authKey = options.auth?.key;
    this.#sessionHost = {
      options: this.#options,
      clock,
      log,
      faults: () => this.#faults,
      checkAuth: (deviceId, clientId, authorization) => this.#checkAuth(deviceId, clientId, authorization),
      forget: (sessionId) => this.#sessions.delete(sessionId),
      events: this,
    };
    this.#otaHost = {
      ota: this.#options.ota,
      log,
      wsUrl: (req) => this.#wsUrlFor(req),
      token: (clientId, deviceId) => (this.#authKey === undefined ? '' : this.issueToken(clientId, deviceId)),
      wallNow: this.#options.wallNow,
      activationEnabled: this.#options.activation !== undefined,
      activation: (deviceId) => this.#activationFor(deviceId),
      activate: (deviceId) => this.#activatePoll(deviceId),
      answered: (e) => this.emit('ota', e),
    };
  }

  /** Listens; resolves with the bound port (a free one when `port` was 0) and the WebSocket URL. */
  start(): Promise<{ port: number; url: string }> {
    if (this.#state !== 'new') throw new Error(`DevServer.start() in state ${this.#state}`);
    this.#state = 'starting';
    const starting = this.#start();
    this.#starting = starting;
    return starting;
  }

  async #start(): Promise<{ port: number; url: string }> {
    const http = createServer((req, res) => handleHttpRequest(this.#otaHost, req, res));
    // autoPong off: sessions answer pings themselves so the ignorePings switch can stay silent.
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: MAX_PAYLOAD_BYTES,
      autoPong: false,
      perMessageDeflate: false,
      clientTracking: false,
    });
    http.on('upgrade', (req, socket, head) => this.#onUpgrade(req, socket, head));
    this.#http = http;
    this.#wss = wss;
    try {
      await new Promise<void>((resolve, reject) => {
        http.once('error', reject);
        http.listen(this.#options.port, this.#options.host, () => {
          http.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      this.#state = 'stopped';
      wss.close();
      throw err;
    }
    http.on('error', (err) => this.#log.error({ err: err.message }, 'dev-server: HTTP server error'));
    const address = http.address();
    this.#port = typeof address === 'object' && address !== null ? address.port : this.#options.port;
    this.#state = 'running';
    this.#log.info(
      { url: this.url, auth: this.#authKey !== undefined, ota: this.#options.ota, faults: this.#faults },
      'dev-server: listening',
    );
    return { port: this.#port, url: this.url };
  }

  /**
   * Closes every client with 1001 (terminated after `closeGraceMs` if it does not answer), then the
   * server. Leaves no timer and no socket behind. Idempotent.
   */
  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    // A stop during start waits for the listen to finish, then undoes it.
    await this.#starting?.then(
      () => undefined,
      (err: unknown) => this.#log.debug({ err: String(err) }, 'dev-server: stopping after a failed start'),
    );
    const http = this.#http;
    this.#state = 'stopping';
    const sessions = [...this.#sessions.values()];
    for (const s of sessions) s.close(1001, 'server stopping');
    await Promise.all(sessions.map((s) => s.closed));
    this.#wss?.close();
    if (http?.listening) {
      // Idle keep-alive HTTP connections (OTA clients) would otherwise hold close() open.
      http.closeAllConnections();
      await new Promise<void>((resolve) =>
        http.close((err) => {
          if (err) this.#log.debug({ err: err.message }, 'dev-server: HTTP server close');
          resolve();
        }),
      );
    }
    this.#state = 'stopped';
    this.#log.info({ closed_clients: sessions.length }, 'dev-server: stopped');
  }

  get port(): number {
    return this.#port;
  }

  /** `ws://HOST:PORT/xiaozhi/v1/` (valid after start). */
  get url(): string {
    return `ws://${hostForUrl(this.#options.host)}:${this.#port}${WS_PATH}`;
  }

  get clients(): number {
    return this.#sessions.size;
  }

  get faults(): Readonly<DevServerFaults> {
    return Object.freeze({ ...this.#faults });
  }

  /** Changes switches at once, for open connections too; a key set to undefined turns it off. */
  setFaults(partial: Partial<DevServerFaults>): void {
    this.#faults = { ...this.#faults, ...partial };
    this.#log.info({ faults: this.#faults }, 'dev-server: fault switches changed');
  }

  /** A token valid now for this pair (what the OTA endpoint hands out). Throws when auth is off. */
  issueToken(clientId: string, deviceId: string): string {
    if (this.#authKey === undefined) throw new Error('DevServer.issueToken: auth is off (no auth.key)');
    return signToken(this.#authKey, clientId, deviceId, Math.floor(this.#options.wallNow() / 1000));
  }

  /**
   * A new HMAC key, as after a xinnan restart with a random `auth_key` (protocol.md §2.5 step 5):
   * tokens issued before fail from now on; open connections stay. Turns auth on if it was off.
   */
  setAuthKey(key: string): void {
    this.#authKey = key;
    this.#log.info('dev-server: auth key changed, older tokens are now invalid');
  }

  /**
   * A new random key, exactly what a xinnan restart without a fixed `auth_key` does (protocol.md
   * §2.5 step 5): every token issued before now fails with `认证失败`; the OTA endpoint hands out
   * tokens signed with the new key.
   */
  rotateAuthKey(): void {
    this.setAuthKey(randomBytes(32).toString('base64url'));
  }

  /**
   * The owner typed the device's code into the console (manager-api marks the device bound): the
   * next `/activate` poll answers 200, whatever `pendingPolls` is left. For tests and bring-up
   * that decide when activation happens rather than after a count of polls.
   */
  confirmActivation(deviceId: string): void {
    if (this.#options.activation === undefined)
      throw new Error('confirmActivation: no activation configured');
    this.#activated.add(deviceId);
    this.#activationPolls.delete(deviceId);
  }

  /** Whether `/activate` has answered 200 for this Device-Id. */
  isActivated(deviceId: string): boolean {
    return this.#activated.has(deviceId);
  }

  #activationFor(deviceId: string): { code: string; message: string; challenge: string } | undefined {
    const a = this.#options.activation;
    if (a === undefined || this.#activated.has(deviceId)) return undefined;
    // manager-api's shape: "<control-panel URL>\n<code>", challenge = the Device-Id (protocol.md §7.2).
    return { code: a.code, message: `speakerd dev-server\n${a.code}`, challenge: deviceId };
  }

  #activatePoll(deviceId: string): number {
    const a = this.#options.activation;
    if (a === undefined || this.#activated.has(deviceId)) return this.#answered(deviceId, 200);
    const polls = (this.#activationPolls.get(deviceId) ?? 0) + 1;
    this.#activationPolls.set(deviceId, polls);
    if (polls <= a.pendingPolls) return this.#answered(deviceId, 202);
    this.#activated.add(deviceId);
    this.#activationPolls.delete(deviceId);
    return this.#answered(deviceId, 200);
  }

  #answered(deviceId: string, status: number): number {
    this.emit('activate', { deviceId, status });
    return status;
  }

  /** Routine close of every client: `code` (e.g. 1000), or an empty close frame (1005) when undefined. */
  closeAll(code?: number): number {
    const sessions = [...this.#sessions.values()];
    for (const s of sessions) s.close(code);
    return sessions.length;
  }

  /** Sends one malformed frame of `kind` to every client; returns to how many. */
  sendGarbage(kind: GarbageKind): number {
    let n = 0;
    for (const s of this.#sessions.values()) if (s.sendGarbage(kind)) n++;
    return n;
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const wss = this.#wss;
    if (this.#state !== 'running' || !wss) {
      socket.destroy();
      return;
    }
    const status = this.#faults.rejectUpgrade;
    if (status !== undefined) {
      // Without a listener an ECONNRESET from the peer would be an uncaught 'error'.
      socket.on('error', (err) => this.#log.debug({ err: err.message }, 'dev-server: rejected socket error'));
      this.#log.warn(
        { status },
        'dev-server: fault reject-upgrade, answering the upgrade with an HTTP error',
      );
      const text = STATUS_CODES[status] ?? 'Rejected';
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (this.#state !== 'running') {
        ws.terminate();
        return;
      }
      const session = new Session(ws, req, this.#sessionHost);
      this.#sessions.set(session.id, session);
      session.start();
    });
  }

  #checkAuth(deviceId: string, clientId: string, authorization: string | undefined): TokenCheck {
    const key = this.#authKey;
    if (key === undefined || this.#options.allowedDevices.includes(deviceId)) return { ok: true };
    const token = bearerToken(authorization);
    if (token === undefined) return { ok: false, reason: 'no "Authorization: Bearer <token>" header' };
    const ttl = this.#options.tokenTtlMs;
    // xinnan compares whole seconds; a millisecond TTL (tests, --token-ttl) needs the fraction.
    const nowSec =
      ttl === undefined ? Math.floor(this.#options.wallNow() / 1000) : this.#options.wallNow() / 1000;
    return verifyToken(
      key,
      token,
      clientId,
      deviceId,
      nowSec,
      ttl === undefined ? this.#options.expireSeconds : ttl / 1000,
    );
  }

  /** The URL the OTA answer hands out: ours, or the Host the client used when we bind a wildcard. */
  #wsUrlFor(req: IncomingMessage): string {
    const host = req.headers.host;
    if (isWildcard(this.#options.host) && host) return `ws://${host}${WS_PATH}`;
    return this.url;
  }
}
