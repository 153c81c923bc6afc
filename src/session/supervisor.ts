/**
 * The connection supervisor (design.md §3.2): one state field, one connection object per attempt,
 * guarded sends, heartbeat, routine closes vs faults, full-jitter backoff that never gives up,
 * re-authentication. Nothing it does can throw into the caller, and no state is terminal.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { redactUrl } from '../config/load.js';
import type { ConnectionConfig } from '../config/schema.js';
import { Backoff } from '../core/backoff.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import { describeError, ErrorCode } from '../core/errors.js';
import type { Random } from '../core/random.js';
import { StateCell } from '../core/state.js';
import { encodeClientMessage } from '../protocol/codec.js';
import type { ClientMessage } from '../protocol/messages.js';
import { MessageId } from '../system/message-ids.js';
import type { ConnectionState, Connector } from '../transport/connection.js';
import { type CloseIntent, LinkAttempt } from './attempt.js';
import type { CredentialSource } from './credentials.js';
import { type AttemptEnd, describeEnd, handshakeHeaders, type LinkFaultCode } from './link-policy.js';
import type { LinkState, SessionEvents, SessionPort } from './session-port.js';

export interface SupervisorDeps {
  readonly connector: Connector;
  readonly credentials: CredentialSource;
  readonly identity: { readonly deviceId: string; readonly clientId: string };
  readonly config: ConnectionConfig;
  readonly clock: Clock;
  readonly random: Random;
  readonly log: Logger;
  /** Advertised in the client hello; only `mcp: true` once the device answers MCP (protocol.md §5.4). */
  readonly features?: { readonly mcp?: boolean };
  /** server.allowInsecureTls: accept invalid certificates (explicit opt-in only). */
  readonly allowInsecureTls?: boolean;
  /**
   * Whether the device is at rest (the conversation idle): a stale session is only replaced then,
   * never under a turn. Default: always at rest.
   */
  readonly atRest?: () => boolean;
}

export interface SupervisorStats {
  attempts: number;
  readySessions: number;
  audioSent: number;
  audioDropped: number;
  sendsRefused: number;
  credentialRefreshes: number;
  /** Stale sessions replaced (persistent) or closed (on-demand) on purpose: staleSessionMs. */
  renewals: number;
}

/** Short sessions in a row (closed right after hello) before credentials are refreshed. */
const SHORT_SESSIONS_BEFORE_REFRESH = 2;
/** Failed pre-hello attempts in a row before credentials are refreshed (design.md §3.2). */
const EARLY_CLOSES_BEFORE_REFRESH = 3;
/** A stale session found while the device is busy is looked at again this often. */
const STALE_RECHECK_MS = 1000;

export class SessionSupervisor extends EventEmitter<SessionEvents> implements SessionPort {
  readonly #d: SupervisorDeps;
  readonly #state: StateCell<LinkState>;
  readonly #backoff: Backoff;
  readonly stats: SupervisorStats = {
    attempts: 0,
    readySessions: 0,
    audioSent: 0,
    audioDropped: 0,
    sendsRefused: 0,
    credentialRefreshes: 0,
    renewals: 0,
  };
  #attempt: LinkAttempt | undefined;
  #retryTimer: TimerHandle | undefined;
  #resetTimer: TimerHandle | undefined;
  /** Bounds a credential refresh in flight. */
  #refreshGuard: TimerHandle | undefined;
  #sessionId = '';
  #detail = 'not started';
  #refreshDue: string | undefined;
  /** When credentials were last refreshed: the next refresh waits refreshMinIntervalMs. */
  #lastRefreshAt = Number.NEGATIVE_INFINITY;
  #earlyCloses = 0;
  #shortSessions = 0;
  /** Tokens refused in a row since the last ready session: the re-authentication rule (#onRefused). */
  #refusals = 0;
  /** Why audio frames are being refused, once that was logged: one line per run of refusals. */
  #audioRefusal: string | undefined;
  #lastAttemptAt = Number.NEGATIVE_INFINITY;
  /**
   * The last time the server did something its no-voice timer counts (protocol.md §8.1, "what
   * counts as activity"), as far as we can see it: the start of our connection attempt (its timer
   * starts at the accept, after that) and every downlink TTS audio packet (it counts each one it
   * sends). The voice it hears in our uplink also counts there, but only its VAD knows which frames
   * that was: not counting it can only make a session look older than it is, never younger.
   */
  #activityAt = Number.NEGATIVE_INFINITY;
  #staleTimer: TimerHandle | undefined;
  #stopped: Promise<void> | undefined;
  /** When the link last became ready (for LinkDown's session_ms); undefined while it is not ready. */
  #readySince: number | undefined;
  /** When the link last left ready (for LinkUp's outage_ms); undefined before the first ready. */
  #downSince: number | undefined;
  /**
   * The attempts failing since the last ready session (or since start): #noteFailure says once per
   * outage that reconnecting keeps failing; a ready session closes the outage (#onReady).
   */
  #outage: { readonly since: number; failures: number; said: boolean } | undefined;

  constructor(deps: SupervisorDeps) {
    super();
    this.#d = deps;
    this.#state = new StateCell<LinkState>('offline', deps.log, 'link');
    this.#state.on('change', (to, from, reason) => this.emit('state', to, from, reason));
    this.#backoff = new Backoff(
      { baseMs: deps.config.backoffBaseMs, capMs: deps.config.backoffCapMs },
      deps.random,
    );
  }

  get state(): LinkState {
    return this.#state.value;
  }

  get detail(): string {
    return this.#detail;
  }

  get sessionId(): string {
    return this.#sessionId;
  }

  /** persistent: connect now; on-demand: wait for the first `connectNow`. */
  start(): void {
    if (this.state !== 'offline') return;
    if (this.#d.config.mode === 'persistent') this.#connect('start');
    else this.#move('idle', 'on-demand mode: connect on press');
  }

  async stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    this.#d.clock.clearTimeout(this.#retryTimer);
    this.#d.clock.clearTimeout(this.#resetTimer);
    this.#d.clock.clearTimeout(this.#refreshGuard);
    this.#d.clock.clearTimeout(this.#staleTimer);
    const a = this.#attempt;
    this.#move('stopped', 'daemon stopping');
    if (!a) return;
    await new Promise<void>((resolve) => {
      a.conn.once('close', () => resolve());
      a.close('stop', 'shutdown'); // destroyed after a short grace if the peer never answers
    });
  }

  send(message: ClientMessage): boolean {
    const w = this.#writer();
    if (!w.ok) {
      this.stats.sendsRefused++;
      // What refused it (issue 12 §3): the link can still say ready while the socket is closing.
      this.#d.log.debug({ type: message.type, link: this.state, socket: w.socket }, `send refused: ${w.why}`);
      return false;
    }
    const a = w.attempt;
    a.write(encodeClientMessage(message, this.#sessionId), message.type);
    this.#d.log.debug({ type: message.type }, 'sent');
    return true;
  }

  sendAudio(opus: Buffer): boolean {
    const w = this.#writer();
    if (!w.ok) {
      this.stats.audioDropped++;
      // A frame every 60 ms: the first refusal of a run says why, the rest are only counted.
      if (this.#audioRefusal !== w.why) {
        this.#audioRefusal = w.why;
        this.#d.log.debug(
          { link: this.state, socket: w.socket, dropped: this.stats.audioDropped },
          `audio refused: ${w.why}`,
        );
      }
      return false;
    }
    this.#audioRefusal = undefined;
    const a = w.attempt;
    // Bounded: past this much unsent data, frames are dropped rather than queued without limit.
    if (a.conn.bufferedAmount > this.#d.config.maxBufferedBytes) {
      this.stats.audioDropped++;
      if (this.stats.audioDropped % 50 === 1) {
        this.#d.log.warn(
          { buffered: a.conn.bufferedAmount, dropped: this.stats.audioDropped },
          'uplink congested: dropping audio',
        );
      }
      return false;
    }
    a.write(opus, 'audio');
    this.stats.audioSent++;
    return true;
  }

  connectNow(reason: string): void {
    const s = this.state;
    if (s !== 'backoff' && s !== 'idle' && s !== 'offline') return;
    this.#d.clock.clearTimeout(this.#retryTimer);
    // The user is waiting, but a burst of presses must not become a burst of connects.
    const wait = this.#lastAttemptAt + this.#d.config.backoffBaseMs - this.#d.clock.now();
    if (wait > 0) this.#scheduleRetry(wait, `${reason} (spaced)`);
    else this.#connect(reason);
  }

  /** A network interface gained an address: a pending retry is worth doing now. */
  networkChanged(reason: string): void {
    if (this.state === 'backoff') this.connectNow(reason);
  }

  reconnectFresh(reason: string): void {
    if (this.state === 'stopped') return;
    this.#refreshDue = reason;
    this.#backoff.reset();
    const a = this.#attempt;
    if (a) {
      this.#move('closing', reason);
      a.close('reconnect', 'reconnect');
      return;
    }
    if (this.state === 'connecting') return; // a refresh is already under way
    this.#d.clock.clearTimeout(this.#retryTimer);
    this.#connect(reason);
  }

  get stale(): boolean {
    const ms = this.#d.config.staleSessionMs;
    return this.state === 'ready' && ms > 0 && this.#quietMs() >= ms;
  }

  /** How long the server has done nothing its no-voice timer counts, as far as we can see (#activityAt). */
  #quietMs(): number {
    return this.#d.clock.now() - this.#activityAt;
  }

  /**
   * Replace the ready session with a fresh one now (a press found it stale, or the device is at
   * rest and it went stale): close it on purpose, then connect at once with the same credentials.
   * The link says `renewing` meanwhile; the conversation stays at rest through it (a press made
   * meanwhile waits for the fresh session), and no 'lost' is reported: nothing was under way.
   */
  renew(reason: string): void {
    const a = this.#attempt;
    if (this.state !== 'ready' || !a) return;
    this.#closeStale(a, 'renew', reason);
  }

  /**
   * Closes a stale session on purpose: `renew` opens a fresh one when the close is done (#onEnded);
   * `retire` (on-demand mode at rest) leaves the link idle, and the next press connects fresh, as
   * the firmware does once its channel is 120 s quiet (protocol.md §8.4, IsTimeout).
   */
  #closeStale(a: LinkAttempt, intent: 'renew' | 'retire', reason: string): void {
    this.stats.renewals++;
    this.#d.clock.clearTimeout(this.#staleTimer);
    const renew = intent === 'renew';
    this.#move('renewing', reason, renew ? 'replacing a stale session' : 'closing a stale session');
    a.close(intent, renew ? 'session renewal' : 'stale session');
  }

  /**
   * Looks at the session when it may have gone stale (persistent: renewed at rest unless the
   * policy waits for a press; on-demand: closed at rest). One timer, re-armed lazily: downlink
   * packets only move #activityAt, as the dev-server's idle timer does.
   */
  #armStaleCheck(a: LinkAttempt): void {
    const cfg = this.#d.config;
    if (cfg.staleSessionMs <= 0) return;
    if (cfg.mode === 'persistent' && cfg.staleSessionPolicy === 'reconnect-on-press') return;
    this.#d.clock.clearTimeout(this.#staleTimer);
    const check = (): void => {
      this.#staleTimer = undefined;
      if (this.#attempt !== a || this.state !== 'ready') return;
      const quiet = this.#quietMs();
      if (quiet < cfg.staleSessionMs) {
        this.#staleTimer = this.#d.clock.setTimeout(check, cfg.staleSessionMs - quiet);
        return;
      }
      if (!(this.#d.atRest?.() ?? true)) {
        // Never under a turn: a reply (TTS audio) usually makes it fresh again meanwhile.
        this.#staleTimer = this.#d.clock.setTimeout(check, STALE_RECHECK_MS);
        return;
      }
      const why = `no TTS from the server for ${Math.round(quiet / 1000)} s`;
      if (cfg.mode === 'on-demand') this.#closeStale(a, 'retire', `stale session closed at rest (${why})`);
      else this.#closeStale(a, 'renew', `stale session renewed at rest (${why})`);
    };
    this.#staleTimer = this.#d.clock.setTimeout(check, Math.max(0, cfg.staleSessionMs - this.#quietMs()));
  }

  /** The attempt a frame may go to now, or what refuses it: the link's state, else the socket's. */
  #writer():
    | { readonly ok: true; readonly attempt: LinkAttempt }
    | { readonly ok: false; readonly socket: ConnectionState | 'none'; readonly why: string } {
    const a = this.#attempt;
    if (a === undefined) return { ok: false, socket: 'none', why: `link ${this.state}, no connection` };
    if (this.state !== 'ready') return { ok: false, socket: a.conn.state, why: `link ${this.state}` };
    const refused = a.refusal;
    return refused === undefined ? { ok: true, attempt: a } : { ok: false, ...refused };
  }

  /**
   * The one place the link changes. Its record carries the operator's MESSAGE_IDs (issue 13 §2):
   * LinkUp on → ready (with how long the link was out, after a ready session), LinkDown on
   * ready → anything (the cause in `reason`, its E_* `code` for a fault, how long it was up).
   */
  #move(to: LinkState, reason: string, detail = reason, code?: LinkFaultCode): void {
    this.#detail = detail;
    const from = this.state;
    if (from === to) return;
    const now = this.#d.clock.now();
    let extra: Record<string, unknown> | undefined;
    if (to === 'ready') {
      const out = this.#outage;
      // Out since the link left ready; before the first ready session, since the first failed
      // attempt (a first connection that simply works ends no outage).
      const outSince = this.#downSince ?? out?.since;
      extra = {
        message_id: MessageId.LinkUp,
        ...(outSince === undefined ? {} : { outage_ms: now - outSince }),
        ...(out === undefined ? {} : { failed_attempts: out.failures }),
      };
      this.#readySince = now;
    } else if (from === 'ready') {
      extra = {
        message_id: MessageId.LinkDown,
        ...(code === undefined ? {} : { code }),
        ...(this.#readySince === undefined ? {} : { session_ms: now - this.#readySince }),
      };
      this.#readySince = undefined;
      this.#downSince = now;
    }
    this.#state.transition(to, reason, extra);
  }

  /**
   * One more attempt ended without a ready session. Past reconnectFailingAfterAttempts attempts, or
   * reconnectFailingAfterMs since the first of them, says so once (a warning an operator can
   * query by MESSAGE_ID): every attempt has its own line already, this one says the outage is not
   * a blip. Said again only after a ready session in between (#onReady closes the outage).
   */
  #noteFailure(cause: string, code: ErrorCode, delayMs: number): void {
    const now = this.#d.clock.now();
    // The attempt that just failed started at #lastAttemptAt: the outage counts from there.
    this.#outage ??= { since: this.#lastAttemptAt, failures: 0, said: false };
    const out = this.#outage;
    out.failures++;
    if (out.said) return;
    const cfg = this.#d.config;
    const forMs = now - out.since;
    const byCount =
      cfg.reconnectFailingAfterAttempts > 0 && out.failures >= cfg.reconnectFailingAfterAttempts;
    const byTime = cfg.reconnectFailingAfterMs > 0 && forMs >= cfg.reconnectFailingAfterMs;
    if (!byCount && !byTime) return;
    out.said = true;
    this.#d.log.warn(
      {
        message_id: MessageId.ReconnectFailing,
        code,
        failed_attempts: out.failures,
        failing_for_ms: forMs,
        cause,
        delay_ms: delayMs,
        url: redactUrl(this.#d.credentials.current().url),
      },
      `reconnecting keeps failing: ${out.failures} attempts in ${(forMs / 1000).toFixed(1)} s, last: ${cause}; still retrying`,
    );
  }

  #connect(reason: string): void {
    if (this.state === 'stopped') return;
    const refresh = this.#refreshDue;
    if (refresh !== undefined) {
      this.#refreshDue = undefined;
      this.#move('connecting', `refreshing credentials (${refresh})`);
      this.stats.credentialRefreshes++;
      this.#lastRefreshAt = this.#d.clock.now();
      let settled = false;
      const proceed = (why: string | undefined): void => {
        if (settled) return;
        settled = true;
        this.#d.clock.clearTimeout(this.#refreshGuard);
        if (why)
          this.#d.log.warn(
            { code: ErrorCode.Credentials, cause: why },
            'credential refresh failed; using the previous credentials',
          );
        if (this.state === 'connecting' && !this.#attempt) this.#open(reason);
      };
      // A refresh is a network round trip in the OTA case: bounded like every other wait.
      this.#refreshGuard = this.#d.clock.setTimeout(
        () => proceed(`no answer within ${this.#d.config.handshakeTimeoutMs} ms`),
        this.#d.config.handshakeTimeoutMs,
      );
      this.#d.credentials.refresh(refresh).then(
        () => proceed(undefined),
        (err: unknown) => proceed(describeError(err)),
      );
      return;
    }
    this.#open(reason);
  }

  /** `as`: the state the attempt shows until it is ready (`renewing` keeps the device at rest). */
  #open(reason: string, as: 'connecting' | 'renewing' = 'connecting'): void {
    const creds = this.#d.credentials.current();
    if (creds.url === '') {
      // OTA has not answered yet (provisioning/ota-credentials.ts): nothing to connect to. Offline
      // until the credential source has a URL and the daemon calls connectNow (no retry timer).
      this.#move('offline', `${reason}: no server URL yet`, 'waiting for the OTA server');
      return;
    }
    const n = ++this.stats.attempts;
    this.#lastAttemptAt = this.#d.clock.now();
    this.#activityAt = this.#lastAttemptAt;
    this.#sessionId = '';
    const conn = this.#d.connector({
      url: creds.url,
      headers: handshakeHeaders(this.#d.identity, creds.token),
      handshakeTimeoutMs: this.#d.config.handshakeTimeoutMs,
      maxPayloadBytes: this.#d.config.maxPayloadBytes,
      allowInsecureTls: this.#d.allowInsecureTls === true,
    });
    // Every hook checks that its attempt is still the current one: a late event of a replaced
    // connection must not touch the new one.
    const a: LinkAttempt = new LinkAttempt(
      n,
      conn,
      this.#d.config,
      this.#d.clock,
      this.#d.log,
      this.#d.features ?? {},
      {
        upgraded: () => {
          if (this.#attempt === a && this.state !== 'renewing')
            this.#move('handshaking', `attempt ${n}: upgraded, hello sent`, 'waiting for server hello');
        },
        ready: (hello) => {
          if (this.#attempt !== a) return;
          this.#onReady(a, hello.session_id ?? '');
          this.emit('ready', hello);
        },
        message: (m) => {
          if (this.#attempt === a) this.emit('message', m);
        },
        audio: (opus) => {
          if (this.#attempt !== a) return;
          this.#activityAt = this.#d.clock.now();
          this.emit('audio', opus);
        },
        ended: (end, readyForMs, intent) => {
          if (this.#attempt !== a) return;
          this.#attempt = undefined;
          this.#onEnded(a, end, readyForMs, intent);
        },
      },
    );
    this.#attempt = a;
    // A URL may carry a secret in its query (some servers take ?token=): never in STATUS or logs.
    const url = redactUrl(creds.url);
    this.#move(as, `attempt ${n}: ${reason}`, as === 'renewing' ? `renewing · ${url}` : url);
    this.#d.log.info({ attempt: n, url }, 'connecting');
  }

  #onReady(a: LinkAttempt, sessionId: string): void {
    this.#sessionId = sessionId;
    this.#earlyCloses = 0;
    this.#refusals = 0;
    this.stats.readySessions++;
    this.#d.clock.clearTimeout(this.#resetTimer);
    // Only a connection that stays up earns a fresh backoff; a flapping server keeps its delays.
    this.#resetTimer = this.#d.clock.setTimeout(() => {
      this.#backoff.reset();
      this.#shortSessions = 0;
    }, this.#d.config.backoffResetMs);
    this.#move('ready', `attempt ${a.n}: session ${sessionId || '(none)'}`, 'online');
    this.#outage = undefined;
    this.#armStaleCheck(a);
  }

  #onEnded(a: LinkAttempt, end: AttemptEnd, readyForMs: number | undefined, intent: CloseIntent): void {
    this.#d.clock.clearTimeout(this.#resetTimer);
    this.#d.clock.clearTimeout(this.#staleTimer);
    const cause = describeEnd(end);
    // A renewal closes a session nothing is using (at rest, or a press waiting in connecting).
    const planned = intent === 'renew' || intent === 'retire';
    if (readyForMs !== undefined && !planned)
      this.emit('lost', { cause, routine: end.kind === 'routine' && intent === 'none' });
    if (intent === 'stop' || this.state === 'stopped') return;
    if (intent === 'renew') {
      this.#open('fresh session for the stale one', 'renewing');
      return;
    }
    if (intent === 'retire') {
      this.#move('idle', 'stale session closed: the next press connects fresh', 'idle');
      return;
    }
    if (intent === 'reconnect') {
      this.#connect('reconnect requested');
      return;
    }
    this.#afterEnd(a, end, readyForMs);
  }

  #afterEnd(a: LinkAttempt, end: AttemptEnd, readyForMs: number | undefined): void {
    const cfg = this.#d.config;
    const log = this.#d.log;
    if (end.kind === 'auth') {
      this.#onRefused(a, end);
      return;
    }
    // A session that ends right after its hello is not "routine" however politely it closed.
    const short = readyForMs !== undefined && readyForMs < cfg.authFailureWindowMs;
    if (end.kind === 'routine' && !short) {
      this.#shortSessions = 0;
      if (cfg.mode === 'on-demand') {
        log.info(
          { attempt: a.n, close_code: end.code },
          'server ended the session; idle until the next press',
        );
        this.#move('idle', `server closed ${end.code}`, 'idle');
        return;
      }
      const delay = Math.floor(this.#d.random() * cfg.routineReconnectMs);
      log.info(
        { attempt: a.n, close_code: end.code, delay_ms: delay },
        'server ended the session; reconnecting',
      );
      this.#scheduleRetry(delay, `server closed ${end.code}`);
      return;
    }
    if (short) {
      this.#shortSessions++;
      if (this.#shortSessions >= SHORT_SESSIONS_BEFORE_REFRESH && this.#refreshDue === undefined) {
        this.#refreshDue = `${this.#shortSessions} sessions closed right after hello`;
      }
    } else if (readyForMs === undefined && end.kind === 'fault' && end.afterUpgrade) {
      this.#earlyCloses++;
      if (this.#earlyCloses >= EARLY_CLOSES_BEFORE_REFRESH && this.#refreshDue === undefined) {
        this.#refreshDue = `${this.#earlyCloses} closes before the server hello`;
      }
    }
    const cause =
      end.kind === 'routine' ? `server closed ${end.code} ${readyForMs} ms after hello` : end.cause;
    let delay = this.#backoff.next();
    if (this.#refreshDue !== undefined) {
      // Full jitter can draw a delay near 0: a refresh (an OTA request for the fleet's server)
      // still waits refreshMinIntervalMs after the previous one, a hard per-device rate bound.
      delay = Math.max(delay, this.#refreshFloorMs());
    }
    // A fault carries its E_* code (the journal's SPEAKERD_CODE, its catalog entry); a session
    // closed politely right after its hello has none: the server did that on purpose.
    const code = end.kind === 'fault' ? end.code : undefined;
    log.warn(
      {
        attempt: a.n,
        ...(code === undefined ? { close_code: end.code } : { code }),
        cause,
        delay_ms: delay,
        failures: this.#backoff.attempt,
      },
      'connection failed; backing off',
    );
    // A session that became ready closed the outage (#onReady), however short it was.
    if (readyForMs === undefined && code !== undefined) this.#noteFailure(cause, code, delay);
    this.#scheduleRetry(delay, cause, code);
  }

  /**
   * A refused token (design.md §3.2): xinnan's `认证失败` + close (protocol.md §2.5), or HTTP
   * 401/403 on the upgrade. The rule, by the number of tokens refused in a row since the last
   * ready session:
   *  - the first: our token went stale (xinnan restarted with a new random auth_key, §2.5 step 5,
   *    or the token expired). The server is up and has answered; waiting helps nothing. Refresh at
   *    once and reconnect right after the refresh (#connect), whatever backoff an outage before it
   *    built. The one wait left is refreshMinIntervalMs since the previous refresh: the hard
   *    per-device bound on OTA requests a fleet relies on (bench/fleet.ts). No herd is added: after
   *    a restart the devices' refusals come as spread as their attempts (each its own jittered
   *    backoff), and so do their refreshes. The backoff is left as it is (no step, no reset: only a
   *    session that stays up earns a reset, #onReady).
   *  - every further one: the credentials the refresh just gave were refused too (OTA and the
   *    server disagree, or the refresh failed and the old token went again). Asking again at once
   *    would only hammer both servers, so it is a fault: the backoff's next delay, and at least the
   *    floor. The backoff grows to backoffCapMs, so a server that keeps refusing is asked at most
   *    once per refreshMinIntervalMs and at least once per max(backoffCapMs, refreshMinIntervalMs)
   *    (the watchdog's bound for `backoff`, system/service.ts).
   */
  #onRefused(a: LinkAttempt, end: Extract<AttemptEnd, { kind: 'auth' }>): void {
    this.#refusals++;
    const why = `token refused at attempt ${a.n}`;
    this.#refreshDue = why;
    const floor = this.#refreshFloorMs();
    // The first refusal since a ready session: the token went stale (e.g. xinnan restarted).
    const first = this.#refusals === 1;
    const delay = first ? floor : Math.max(this.#backoff.next(), floor);
    const when =
      delay === 0
        ? 'refreshing them now'
        : `refreshing them in ${(delay / 1000).toFixed(1)} s (${delay === floor ? 'refreshMinIntervalMs since the last refresh' : 'backoff'})`;
    // One refusal, one line (issue 12 §4), with the server's own words; the attempt kept them
    // unlogged for this. An error, not a warning: until the credentials are fixed (or refreshed)
    // the device cannot work, and `journalctl -p err` is where an operator looks for that.
    this.#d.log.error(
      {
        code: ErrorCode.AuthRejected,
        attempt: a.n,
        said: end.said,
        close_code: end.code,
        http_status: end.status,
        cause: end.cause,
        refusals: this.#refusals,
        delay_ms: delay,
      },
      first
        ? `server refused our credentials; ${when}`
        : `server refused our credentials again after a refresh; ${when}`,
    );
    this.#noteFailure(end.cause, ErrorCode.AuthRejected, delay);
    if (delay === 0) this.#connect(why);
    else this.#scheduleRetry(delay, why);
  }

  /** How long until a credential refresh may run again: refreshMinIntervalMs after the last one. */
  #refreshFloorMs(): number {
    return Math.max(0, this.#lastRefreshAt + this.#d.config.refreshMinIntervalMs - this.#d.clock.now());
  }

  #scheduleRetry(delayMs: number, cause: string, code?: LinkFaultCode): void {
    this.#d.clock.clearTimeout(this.#retryTimer);
    this.#move('backoff', cause, `retry in ${(delayMs / 1000).toFixed(1)} s · ${cause}`, code);
    this.#retryTimer = this.#d.clock.setTimeout(() => {
      this.#retryTimer = undefined;
      this.#connect(`retry after ${cause}`);
    }, delayMs);
  }
}
