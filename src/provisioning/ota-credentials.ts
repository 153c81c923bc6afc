/**
 * Provisioning (design.md §3.7, protocol.md §7): the OTA exchange at boot, activation, the cached
 * last good answer, and credential refresh for the supervisor — one object with one state field.
 *
 *   idle → requesting → ready                              OTA answered with a WebSocket URL/token
 *                     → activating → requesting → …        the server asks for activation (§7.3)
 *                     → cached  (OTA failed, cache used at once; retries go on in the background)
 *                     → waiting (OTA failed, no cache; retries with backoff, never give up)
 *   activating → skipped                                   a button press skips it (firmware)
 *
 * The daemon connects once `credentials` was emitted. `refresh()` (the supervisor, after
 * `认证失败`) re-runs OTA once and never rejects. The cache file (ota-cache.ts) is mode 0600;
 * neither it nor a token ever reaches a log line.
 */
import { EventEmitter } from 'node:events';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { redactUrl } from '../config/load.js';
import { Backoff, type BackoffPolicy } from '../core/backoff.js';
import type { Clock } from '../core/clock.js';
import type { Random } from '../core/random.js';
import { StateCell } from '../core/state.js';
import type { CredentialSource, Credentials } from '../session/credentials.js';
import type { Logger } from '../system/logger.js';
import { MessageId } from '../system/message-ids.js';
import { type ActivationTiming, pollActivation, sleep } from './activation.js';
import type { ActivateAnswer, OtaActivation, OtaCheck, OtaFault, OtaResult, OtaWebsocket } from './ota.js';
import {
  loadOtaCache,
  OTA_CACHE_FILE,
  type OtaCacheEntry,
  type OtaCacheFs,
  type OtaCacheKey,
  saveOtaCache,
} from './ota-cache.js';

export type ProvisioningState =
  | 'idle'
  | 'requesting'
  | 'activating'
  | 'ready'
  | 'cached'
  | 'waiting'
  | 'skipped'
  | 'stopped';

/** Where `current()` comes from: a fresh OTA answer, the cache file, or the configured fallback. */
export type CredentialsOrigin = 'ota' | 'cache' | 'fallback';

export interface ProvisioningEvents {
  state: [to: ProvisioningState, from: ProvisioningState, reason: string];
  /** Show the code (conversation.setActivating(code)); may repeat when the server changes it. */
  activation: [e: { code: string; message: string }];
  /** Activation is over (the server confirmed it, or stopped asking): conversation.setActivating(undefined). */
  activated: [];
  /** `current()` became usable or changed: start the supervisor, or retry now if it is backing off. */
  credentials: [e: { origin: CredentialsOrigin }];
}

/** What the provisioner needs of OtaClient; a seam for tests. */
export interface OtaPort {
  readonly url: string;
  check(signal?: AbortSignal): Promise<OtaCheck>;
  activate(signal?: AbortSignal): Promise<ActivateAnswer>;
}

export interface OtaCredentialSourceOptions {
  readonly client: OtaPort;
  readonly identity: { readonly deviceId: string; readonly clientId: string };
  readonly stateDir: string;
  /** `current()` until OTA or the cache gave credentials (only reached if the daemon connects early). */
  readonly fallback: Credentials;
  readonly clock: Clock;
  readonly random: Random;
  readonly log: Logger;
  /** Retries of a failed OTA check; default 2 s … 5 min, full jitter. */
  readonly retry?: BackoffPolicy;
  /** Default: the firmware's 3 s / 10 s / 10 tries. */
  readonly activation?: ActivationTiming;
  /** Wall clock for the cache's `savedAt`; default Date.now. */
  readonly wallNow?: () => number;
  readonly fs?: OtaCacheFs;
}

/** States in which the OTA loop is still going to ask the server (a refresh then joins it). */
const LOOP_ASKS: ReadonlySet<ProvisioningState> = new Set(['idle', 'requesting', 'cached', 'waiting']);
export const DEFAULT_OTA_RETRY: BackoffPolicy = Object.freeze({ baseMs: 2_000, capMs: 300_000 });

export class OtaCredentialSource extends EventEmitter<ProvisioningEvents> implements CredentialSource {
  readonly #o: OtaCredentialSourceOptions;
  readonly #state: StateCell<ProvisioningState>;
  readonly #backoff: Backoff;
  readonly #stop = new AbortController();
  readonly #file: string;
  #current: Credentials;
  #origin: CredentialsOrigin = 'fallback';
  #usable = false;
  #cache: OtaCacheEntry | undefined;
  #inflight: Promise<OtaCheck> | undefined;
  #refreshing: Promise<Credentials> | undefined;
  #loop: Promise<void> | undefined;
  #running = false;
  /** Aborts the backoff wait between OTA checks (retryNow, skip, stop). */
  #nap: AbortController | undefined;
  /** Aborts the activation polling round (skip, stop). */
  #poll: AbortController | undefined;
  #skip: string | undefined;
  #activationCode: string | undefined;
  #waiters: (() => void)[] = [];
  #stopped: Promise<void> | undefined;
  /** Cache writes one after the other: two would share one temp file. */
  #saving: Promise<unknown> = Promise.resolve();

  constructor(options: OtaCredentialSourceOptions) {
    super();
    this.#o = options;
    this.#current = Object.freeze({ url: options.fallback.url, token: options.fallback.token });
    this.#state = new StateCell<ProvisioningState>('idle', options.log, 'provisioning');
    this.#state.on('change', (to, from, reason) => this.emit('state', to, from, reason));
    this.#backoff = new Backoff(options.retry ?? DEFAULT_OTA_RETRY, options.random);
    this.#file = join(options.stateDir, OTA_CACHE_FILE);
  }

  get state(): ProvisioningState {
    return this.#state.value;
  }

  /** Whether `current()` holds credentials from OTA, the cache, or a skipped activation. */
  get usable(): boolean {
    return this.#usable;
  }

  get origin(): CredentialsOrigin {
    return this.#origin;
  }

  /** The code being shown while `activating`. */
  get activationCode(): string | undefined {
    return this.#activationCode;
  }

  /** Loads the cache, then runs the OTA exchange in the background. Returns at once. */
  start(): void {
    if (this.#running || this.#stopped) return;
    this.#launch(() => this.#boot());
  }

  async stop(): Promise<void> {
    this.#stopped ??= this.#stopNow();
    return this.#stopped;
  }

  async #stopNow(): Promise<void> {
    this.#stop.abort();
    this.#poll?.abort();
    this.#nap?.abort();
    await this.#loop;
    await this.#refreshing;
    await this.#saving;
    this.#move('stopped', 'daemon stopping');
    this.#notify();
  }

  current(): Credentials {
    return this.#current;
  }

  /**
   * Re-runs OTA once for a fresh URL and token (same ids). Never rejects; bounded by the OTA
   * request timeout; on failure the previous credentials stay and the reason is logged. Calls
   * made while one is under way join it. The supervisor calls this at most once per connection
   * attempt (session/supervisor.ts #connect), so at most once per backoff step.
   */
  refresh(reason: string): Promise<Credentials> {
    this.#refreshing ??= this.#refresh(reason).finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  /** A button press while activating: stop polling and use what we have (firmware: press → idle). */
  skipActivation(reason: string): void {
    if (this.state !== 'activating') {
      this.#o.log.debug({ reason, provisioning: this.state }, 'skipActivation: not activating');
      return;
    }
    this.#skip = reason;
    this.#poll?.abort();
    this.#nap?.abort();
  }

  /** Cut a backoff wait short (a press while offline, a network address gained). */
  retryNow(reason: string): void {
    if (this.#nap === undefined) return;
    this.#o.log.debug({ reason }, 'provisioning: retrying the OTA request now');
    this.#nap.abort();
  }

  async #boot(): Promise<void> {
    this.#cache = await loadOtaCache(this.#file, this.#expected(), this.#o.log, this.#o.fs ?? fsp);
    await this.#run(undefined);
  }

  /** The OTA loop: until credentials are in hand, or activation was skipped, or stop. */
  async #run(first: OtaResult | undefined): Promise<void> {
    let next = first;
    let asked: OtaResult | undefined; // the last answer that asked for activation
    while (!this.#stop.signal.aborted) {
      if (this.#skip !== undefined) {
        this.#skipped(this.#skip, asked);
        break;
      }
      let result = next;
      next = undefined;
      if (result === undefined) {
        if (this.state === 'idle') this.#move('requesting', 'asking the OTA server');
        const c = await this.#check();
        if (!c.ok) {
          if ('aborted' in c) break;
          const delay = this.#backoff.next();
          this.#failed(c.fault, delay);
          this.#notify();
          await this.#napFor(delay);
          continue;
        }
        result = c.result;
      }
      this.#backoff.reset();
      if (result.activation !== undefined) {
        asked = result;
        this.#notify();
        if (this.#skip === undefined) await this.#activate(result.activation);
        continue; // activated, round over, skipped or stopped: the loop head decides
      }
      if (result.websocket !== undefined) await this.#adopt(result.websocket, 'OTA answered');
      break;
    }
    this.#notify();
  }

  async #refresh(reason: string): Promise<Credentials> {
    const log = this.#o.log;
    if (this.#stop.signal.aborted) return this.#current;
    if (this.state === 'activating') {
      log.info({ reason }, 'credential refresh skipped: activation is under way and will fetch them');
      return this.#current;
    }
    if (this.#running && LOOP_ASKS.has(this.state)) {
      // The OTA loop owns the exchange: have it ask now, and wait for its verdict on that answer.
      const settled = new Promise<void>((resolve) => this.#waiters.push(resolve));
      this.#nap?.abort();
      await settled;
      return this.#current;
    }
    const c = await this.#check();
    if (!c.ok) {
      if (!('aborted' in c)) {
        log.warn(
          { reason, code: c.fault.code, cause: c.fault.message },
          'credential refresh: OTA request failed; keeping the previous credentials',
        );
      }
      return this.#current;
    }
    const r = c.result;
    if (r.activation !== undefined) {
      log.warn({ reason }, 'credential refresh: the OTA server asks for activation');
      this.#launch(() => this.#run(r));
      return this.#current;
    }
    if (r.websocket !== undefined) {
      const previous = this.#current;
      await this.#adopt(r.websocket, `refreshed: ${reason}`);
      log.info(
        {
          message_id: MessageId.CredentialsRefreshed,
          reason,
          url: redactUrl(this.#current.url),
          url_changed: this.#current.url !== previous.url,
          token_changed: this.#current.token !== previous.token,
        },
        'credentials refreshed from OTA',
      );
    }
    return this.#current;
  }

  /** Runs the OTA loop after any previous one has finished (its tail may still be writing the cache). */
  #launch(work: () => Promise<void>): void {
    const previous = this.#loop;
    this.#running = true;
    this.#loop = (async () => {
      await previous;
      this.#running = true;
      try {
        await work();
      } finally {
        this.#running = false;
      }
    })();
  }

  /** One OTA request at a time; a second caller shares the first one's answer. */
  #check(): Promise<OtaCheck> {
    this.#inflight ??= this.#o.client.check(this.#stop.signal).finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  async #activate(activation: OtaActivation): Promise<void> {
    const { code, message } = activation;
    const entering = this.state !== 'activating';
    // The one log line of design.md §3.7: the code and what the server says to do with it.
    // A code waiting to be entered is the operator's event (ActivationWaiting): said when the
    // device enters activation, and when the server hands out another code meanwhile.
    this.#move('activating', `the server asks for activation: code ${code}`, {
      message_id: MessageId.ActivationWaiting,
      activation_code: code,
      activation_message: message,
    });
    if (entering || code !== this.#activationCode) {
      if (!entering)
        this.#o.log.info(
          { message_id: MessageId.ActivationWaiting, activation_code: code, activation_message: message },
          'activation code changed',
        );
      this.#activationCode = code;
      this.emit('activation', { code, message });
    }
    const poll = new AbortController();
    this.#poll = poll;
    if (this.#stop.signal.aborted) poll.abort();
    const outcome = await pollActivation({
      attempt: (signal) => this.#o.client.activate(signal),
      challenge: activation.challenge,
      signal: poll.signal,
      clock: this.#o.clock,
      log: this.#o.log,
      ...(this.#o.activation === undefined ? {} : { timing: this.#o.activation }),
    });
    this.#poll = undefined;
    if (outcome === 'activated')
      this.#move('requesting', 'activation confirmed; asking the OTA server again');
  }

  #failed(fault: OtaFault, delay: number): void {
    const log = this.#o.log;
    const cache = this.#cache;
    const why = `OTA failed (${fault.code})`;
    // While activating the code stays shown: the answer that asked for activation still stands.
    const activating = this.state === 'activating';
    if (!activating && !this.#usable && cache !== undefined) {
      this.#use(cache.websocket, 'cache');
      this.#move('cached', `${why}; using the cached answer`, {
        saved_at: new Date(cache.savedAt).toISOString(),
        url: redactUrl(cache.websocket.url),
        token_present: cache.websocket.token !== '',
      });
      this.emit('credentials', { origin: 'cache' });
    } else if (!activating && !this.#usable) {
      this.#move('waiting', `${why}; no cached answer`);
    }
    log.warn(
      { code: fault.code, cause: fault.message, retry_in_ms: delay, failures: this.#backoff.attempt },
      'OTA request failed; retrying',
    );
  }

  /** Credentials of a fresh OTA answer: use them, say so, and cache them. */
  async #adopt(ws: OtaWebsocket, reason: string): Promise<void> {
    const previous = this.#current;
    const wasUsable = this.#usable;
    const wasOrigin = this.#origin;
    this.#use(ws, 'ota');
    this.#skip = undefined; // a press that came too late: activation is over anyway
    this.#move('ready', reason, { url: redactUrl(ws.url), token_present: ws.token !== '' });
    const changed = previous.url !== ws.url || previous.token !== ws.token;
    if (!wasUsable || changed || wasOrigin !== 'ota') this.emit('credentials', { origin: 'ota' });
    await this.#save(ws);
  }

  #skipped(reason: string, asked: OtaResult | undefined): void {
    this.#skip = undefined;
    const ws = asked?.websocket;
    const cache = this.#cache;
    if (ws !== undefined) this.#use(ws, 'ota');
    else if (cache !== undefined && !this.#usable) this.#use(cache.websocket, 'cache');
    else if (!this.#usable) this.#usable = true; // the fallback: the user wants the device to try
    this.#move('skipped', `activation skipped (${reason}); using ${this.#origin} credentials`);
    this.emit('credentials', { origin: this.#origin });
  }

  #use(ws: OtaWebsocket, origin: CredentialsOrigin): void {
    this.#current = Object.freeze({ url: ws.url, token: ws.token });
    this.#origin = origin;
    this.#usable = true;
  }

  async #save(ws: OtaWebsocket): Promise<void> {
    const old = this.#cache?.websocket;
    if (old !== undefined && old.url === ws.url && old.token === ws.token && old.version === ws.version)
      return;
    const entry: OtaCacheEntry = {
      version: 1,
      savedAt: (this.#o.wallNow ?? Date.now)(),
      ...this.#expected(),
      websocket: {
        url: ws.url,
        token: ws.token,
        ...(ws.version === undefined ? {} : { version: ws.version }),
      },
    };
    this.#cache = entry;
    this.#saving = this.#saving.then(() => saveOtaCache(this.#file, entry, this.#o.log, this.#o.fs ?? fsp));
    await this.#saving;
  }

  #expected(): OtaCacheKey {
    return { otaUrl: this.#o.client.url, ...this.#o.identity };
  }

  async #napFor(ms: number): Promise<void> {
    if (this.#stop.signal.aborted || this.#skip !== undefined) return;
    const nap = new AbortController();
    this.#nap = nap;
    await sleep(this.#o.clock, ms, nap.signal);
    this.#nap = undefined;
  }

  #move(to: ProvisioningState, reason: string, extra?: Record<string, unknown>): void {
    const from = this.state;
    if (!this.#state.transition(to, reason, extra)) return;
    if (from === 'activating') {
      this.#activationCode = undefined;
      // Skipped: the user left activation themselves; stopped: nothing to tell.
      if (to !== 'skipped' && to !== 'stopped') this.emit('activated');
    }
  }

  #notify(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve();
  }
}
