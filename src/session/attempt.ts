/**
 * One connection attempt (design.md §3.2): upgrade, hello, heartbeat, close. It owns the
 * connection object and every timer of that attempt, and reports what happened; what to do next
 * (retry, back off, refresh credentials) is the supervisor's policy. A new attempt per connection
 * means a dead connection's listeners and timers can never act on its successor.
 */
import type { Logger } from 'pino';
import type { ConnectionConfig } from '../config/schema.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import { describeError, ErrorCode, errnoCode } from '../core/errors.js';
import { Heartbeat } from '../core/heartbeat.js';
import { decodeServerFrame, encodeClientMessage } from '../protocol/codec.js';
import {
  PROTOCOL_VERSION,
  type ServerFrame,
  type ServerHello,
  type ServerMessage,
  UPLINK_AUDIO,
} from '../protocol/messages.js';
import type { Connection, ConnectionState } from '../transport/connection.js';
import {
  type AttemptEnd,
  classifyEnd,
  describeEnd,
  type LinkFaultCode,
  socketErrorCode,
} from './link-policy.js';

/**
 * Why a socket that is not open refuses a frame, when we did not close it ourselves: ws is CLOSING
 * from the server's close frame (or its TCP FIN) until the TCP close, so then the server is ending it.
 */
const SOCKET_REFUSALS: Readonly<Record<Exclude<ConnectionState, 'open'>, string>> = {
  connecting: 'the socket is not open yet',
  closing: 'the server is closing the connection',
  closed: 'the connection is closed',
};

/** How long an orderly close may take before the socket is destroyed. */
const CLOSE_GRACE_MS = 1000;

export interface AttemptHooks {
  /** Upgrade done, client hello written. */
  readonly upgraded: () => void;
  /** The server hello arrived: the session is ready. */
  readonly ready: (hello: ServerHello) => void;
  readonly message: (message: ServerMessage) => void;
  readonly audio: (opus: Buffer) => void;
  /** Always the last call, exactly once. `readyForMs` is undefined if it never became ready. */
  readonly ended: (end: AttemptEnd, readyForMs: number | undefined, intent: CloseIntent) => void;
}

/**
 * Why we closed it ourselves, if we did: `reconnect` (long press, fresh credentials), `stop`
 * (shutdown), `renew` (a stale session replaced by a fresh one), `retire` (on-demand: a stale
 * session closed at rest; the next press connects fresh).
 */
export type CloseIntent = 'none' | 'reconnect' | 'stop' | 'renew' | 'retire';

export class LinkAttempt {
  readonly #heartbeat: Heartbeat;
  #openedAt: number | undefined;
  #readyAt: number | undefined;
  #helloTimer: TimerHandle | undefined;
  #closeTimer: TimerHandle | undefined;
  #httpStatus: number | undefined;
  #localCause: string | undefined;
  #localCode: LinkFaultCode | undefined;
  #lastError: string | undefined;
  /** Text frames before the server hello, kept for classifyEnd; the first few, plus a count. */
  readonly #preHelloText: string[] = [];
  #preHelloTexts = 0;
  #intent: CloseIntent = 'none';

  constructor(
    readonly n: number,
    readonly conn: Connection,
    private readonly config: ConnectionConfig,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly features: { readonly mcp?: boolean },
    private readonly hooks: AttemptHooks,
  ) {
    this.#heartbeat = new Heartbeat(
      clock,
      config.pingIntervalMs,
      config.pongTimeoutMs,
      () => conn.ping(),
      (silent) =>
        this.fail(
          ErrorCode.HeartbeatTimeout,
          `heartbeat timeout: no frame or pong for ${silent.toFixed(0)} ms`,
        ),
    );
    conn.on('open', () => this.#onOpen());
    conn.on('frame', (data, isBinary) => this.#onFrame(data, isBinary));
    conn.on('pong', () => this.#heartbeat.alive());
    conn.on('rejected', (status) => {
      this.#httpStatus = status;
    });
    conn.on('error', (err) => {
      // ws follows every 'error' with 'close'; the close decides what happens next. After the
      // upgrade an error (payload too big, bad frame, ECONNRESET) is the cause of that close.
      this.#lastError = describeError(err);
      if (this.#openedAt !== undefined)
        this.#setCause(socketErrorCode(errnoCode(err), this.#readyAt !== undefined), this.#lastError);
      log.debug({ attempt: n, err: this.#lastError }, 'connection error');
    });
    conn.on('close', (code, reason) => this.#onClose(code, reason));
  }

  /** Whether frames may be sent: the server hello arrived and the socket is still open. */
  get writable(): boolean {
    return this.refusal === undefined;
  }

  /**
   * Why a frame may not be sent now, for the refused-send line (issue 12 §3: the link can still say
   * `ready` while the socket is closing), or undefined when it may.
   */
  get refusal(): { readonly socket: ConnectionState; readonly why: string } | undefined {
    const socket = this.conn.state;
    if (this.#readyAt === undefined) return { socket, why: 'no server hello yet' };
    if (this.#intent !== 'none') return { socket, why: `we are closing the connection (${this.#intent})` };
    if (this.#localCause !== undefined)
      return { socket, why: `we are ending the connection: ${this.#localCause}` };
    if (socket === 'open') return undefined;
    return { socket, why: SOCKET_REFUSALS[socket] };
  }

  /** Hands a frame to the socket; a write error ends the attempt as a fault. */
  write(data: string | Buffer, what: string): void {
    this.conn.send(data, (err) => {
      if (!err) return;
      // A write that fails on an "open" socket means the socket is gone: a fault, not a retry.
      this.log.warn({ attempt: this.n, err: describeError(err), what }, 'send failed');
      this.fail(ErrorCode.SendFailed, `send failed: ${describeError(err)}`);
    });
  }

  /** Ends the attempt for a local reason: the socket is destroyed, the close does the rest. */
  fail(code: LinkFaultCode, cause: string): void {
    this.#setCause(code, cause);
    this.conn.terminate();
  }

  /** The first cause is the one that explains the close. */
  #setCause(code: LinkFaultCode, cause: string): void {
    if (this.#localCause !== undefined) return;
    this.#localCause = cause;
    this.#localCode = code;
  }

  /** Orderly close that we asked for; destroyed after a short grace if the peer never answers. */
  close(intent: Exclude<CloseIntent, 'none'>, reason: string): void {
    this.#intent = intent;
    this.conn.close(1000, reason);
    // ws waits 30 s for the peer's close frame; a user or a shutdown will not.
    this.#closeTimer ??= this.clock.setTimeout(() => this.conn.terminate(), CLOSE_GRACE_MS);
  }

  #onOpen(): void {
    this.#openedAt = this.clock.now();
    this.#heartbeat.start();
    const hello = encodeClientMessage(
      {
        type: 'hello',
        version: PROTOCOL_VERSION,
        features: this.features.mcp ? { mcp: true } : {},
        transport: 'websocket',
        audio_params: UPLINK_AUDIO,
      },
      '',
    );
    // Nothing but the hello goes out before the server hello (protocol.md §3.3, §11.3).
    this.write(hello, 'hello');
    this.#helloTimer = this.clock.setTimeout(
      () => this.fail(ErrorCode.HelloTimeout, `no server hello within ${this.config.helloTimeoutMs} ms`),
      this.config.helloTimeoutMs,
    );
    this.hooks.upgraded();
  }

  #onFrame(data: Buffer, isBinary: boolean): void {
    this.#heartbeat.alive();
    const frame = decodeServerFrame(data, isBinary);
    if (this.#readyAt === undefined) {
      if (frame.kind === 'message' && frame.message.type === 'hello') {
        if (frame.message.transport !== 'websocket') {
          this.log.warn(
            { transport: frame.message.transport },
            'server hello with another transport ignored',
          );
          return;
        }
        this.clock.clearTimeout(this.#helloTimer);
        this.#readyAt = this.clock.now();
        this.#logPreHelloText('before the server hello');
        this.hooks.ready(frame.message);
        return;
      }
      if (frame.kind === 'text') {
        // Kept, not logged yet: usually a close follows and this is xinnan's in-band refusal of our
        // token (`认证失败`, protocol.md §2.5), which the supervisor reports as one error line with
        // this text. Logged here only if no refusal follows (the hello arrives, or the close is
        // something else): one event, one line (issue 12 §4).
        if (this.#preHelloText.length < 4) this.#preHelloText.push(frame.text);
        this.#preHelloTexts++;
        return;
      }
      // The server broke the protocol (only the hello may come first, protocol.md §3.3); ignored.
      this.log.warn(
        { code: ErrorCode.ProtocolViolation, frame: summarize(frame) },
        'frame before server hello ignored',
      );
      return;
    }
    if (this.#intent !== 'none') return;
    switch (frame.kind) {
      case 'audio':
        this.hooks.audio(frame.opus);
        return;
      case 'message':
        this.log.debug({ type: frame.message.type }, 'received');
        this.hooks.message(frame.message);
        return;
      default:
        // Malformed input is logged and ignored; it never changes state (protocol.md §10.2).
        // A type we do not know is the server being newer than us (protocol.md §10.2), not a
        // violation; text that is not JSON, or JSON that is not a message, is one.
        this.log.warn(
          {
            ...(frame.kind === 'unknown' ? {} : { code: ErrorCode.ProtocolViolation }),
            frame: summarize(frame),
          },
          'ignored inbound frame',
        );
    }
  }

  #onClose(code: number, reason: string): void {
    this.#heartbeat.stop();
    this.clock.clearTimeout(this.#helloTimer);
    this.clock.clearTimeout(this.#closeTimer);
    const now = this.clock.now();
    const end = classifyEnd({
      code,
      reason,
      wasReady: this.#readyAt !== undefined,
      openForMs: this.#openedAt === undefined ? undefined : now - this.#openedAt,
      preHelloText: this.#preHelloText,
      httpStatus: this.#httpStatus,
      localCause: this.#localCause ?? (this.#openedAt === undefined ? this.#lastError : undefined),
      ...(this.#localCode === undefined ? {} : { localCode: this.#localCode }),
    });
    // A refusal is the supervisor's one line; any other end leaves the text to be said here.
    if (end.kind !== 'auth') this.#logPreHelloText(`before the server hello, then ${describeEnd(end)}`);
    this.hooks.ended(end, this.#readyAt === undefined ? undefined : now - this.#readyAt, this.#intent);
  }

  /** Logs the kept pre-hello text once (and forgets it was unlogged). */
  #logPreHelloText(when: string): void {
    if (this.#preHelloTexts === 0) return;
    this.log.warn(
      { attempt: this.n, texts: this.#preHelloText, count: this.#preHelloTexts },
      `text frame ignored ${when}`,
    );
    this.#preHelloTexts = 0;
  }
}

function summarize(frame: ServerFrame): string {
  switch (frame.kind) {
    case 'text':
      return `text ${JSON.stringify(frame.text)}`;
    case 'unknown':
      return `unknown type ${JSON.stringify(frame.type)}`;
    case 'invalid':
      return `invalid: ${frame.reason}`;
    case 'audio':
      return `binary ${frame.opus.length} bytes`;
    case 'message':
      return `message ${frame.message.type}`;
  }
}
