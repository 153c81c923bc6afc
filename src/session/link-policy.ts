/**
 * How a connection attempt ended, and what that means (design.md §3.2, protocol.md §8). Pure, so
 * the policy can be tested without sockets.
 */
import { ErrorCode } from '../core/errors.js';

/** The error codes a fault end can carry (each has its catalog entry: systemd/speakerd.catalog). */
export type LinkFaultCode =
  | typeof ErrorCode.ConnectFailed
  | typeof ErrorCode.HelloTimeout
  | typeof ErrorCode.HeartbeatTimeout
  | typeof ErrorCode.SendFailed
  | typeof ErrorCode.ConnectionLost
  | typeof ErrorCode.MessageTooBig
  | typeof ErrorCode.ProtocolViolation;

/** Close codes that mean "the server ended the session on purpose" (protocol.md §8.2, §8.3). */
export const ROUTINE_CLOSE_CODES: ReadonlySet<number> = new Set([1000, 1001, 1005]);

export type AttemptEnd =
  /** Server closed with 1000/1001/1005 after a ready session. */
  | { readonly kind: 'routine'; readonly code: number; readonly reason: string }
  /** Anything that is not a routine end: transport error, 1006/1011/1009, timeouts. */
  | {
      readonly kind: 'fault';
      readonly code: LinkFaultCode;
      readonly cause: string;
      readonly afterUpgrade: boolean;
    }
  /**
   * Credentials were refused: HTTP 401/403 on upgrade, or text + close before the hello. `said` is
   * the server's own words (xinnan: `认证失败`), `status` the HTTP status, whichever applies.
   */
  | {
      readonly kind: 'auth';
      readonly cause: string;
      readonly said?: string;
      readonly status?: number;
      readonly code?: number;
    };

/** An end in a few words for logs and loss events: `server closed 1000`, or the fault's cause. */
export function describeEnd(end: AttemptEnd): string {
  return end.kind === 'routine' ? `server closed ${end.code}` : end.cause;
}

export interface CloseFacts {
  readonly code: number;
  readonly reason: string;
  /** Whether the server hello had arrived on this connection. */
  readonly wasReady: boolean;
  /** Milliseconds between the upgrade and the close (undefined: never opened). */
  readonly openForMs: number | undefined;
  /** Non-JSON text frames received before the server hello (xinnan's `认证失败`, §2.5). */
  readonly preHelloText: readonly string[];
  /** HTTP status of a refused upgrade, if any. */
  readonly httpStatus: number | undefined;
  /** A local reason that overrides the code (hello timeout, heartbeat timeout, send failure…). */
  readonly localCause: string | undefined;
  /**
   * The error code of `localCause`, when the one who saw it knows it (attempt.ts: its own timers,
   * socketErrorCode); else a connection that never got its hello failed to connect, and one that
   * had it was lost.
   */
  readonly localCode?: LinkFaultCode;
}

/**
 * Close codes that say the peer found our frames malformed, or we found theirs (RFC 6455 §7.4.1:
 * 1002 protocol error, 1003 unacceptable data, 1007 inconsistent data).
 */
const PROTOCOL_CLOSE_CODES: ReadonlySet<number> = new Set([1002, 1003, 1007]);

/**
 * The code of an error the `ws` socket emitted after the upgrade. ws's receiver names every frame
 * it refuses with a `WS_ERR_*` code (ws lib/receiver.js): WS_ERR_UNSUPPORTED_MESSAGE_LENGTH is a
 * message above maxPayload (and ws closes with 1009), every other WS_ERR_* is a malformed frame
 * (bad opcode, bad UTF-8, unmasked…: 1002/1007). Anything else (ECONNRESET, EPIPE…) is the
 * connection going away under us.
 */
export function socketErrorCode(errno: string | undefined, wasReady: boolean): LinkFaultCode {
  if (errno === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') return ErrorCode.MessageTooBig;
  if (errno?.startsWith('WS_ERR_')) return ErrorCode.ProtocolViolation;
  return wasReady ? ErrorCode.ConnectionLost : ErrorCode.ConnectFailed;
}

export function classifyEnd(f: CloseFacts): AttemptEnd {
  const afterUpgrade = f.openForMs !== undefined;
  if (f.httpStatus === 401 || f.httpStatus === 403) {
    return { kind: 'auth', cause: `upgrade refused with HTTP ${f.httpStatus}`, status: f.httpStatus };
  }
  if (f.httpStatus !== undefined) {
    const cause = `upgrade refused with HTTP ${f.httpStatus}`;
    return { kind: 'fault', code: ErrorCode.ConnectFailed, cause, afterUpgrade };
  }
  if (f.localCause !== undefined) {
    const code = f.localCode ?? (f.wasReady ? ErrorCode.ConnectionLost : ErrorCode.ConnectFailed);
    return { kind: 'fault', code, cause: f.localCause, afterUpgrade };
  }
  if (!f.wasReady && f.preHelloText.length > 0 && f.openForMs !== undefined) {
    // xinnan rejects a token in-band: a plain-text frame, then close 1000 (protocol.md §2.5).
    const said = f.preHelloText[0] ?? '';
    return {
      kind: 'auth',
      cause: `server said ${JSON.stringify(said)} and closed ${f.code}`,
      said,
      code: f.code,
    };
  }
  const what = `server closed ${f.code}${f.reason ? ` (${f.reason})` : ''}`;
  if (f.wasReady && ROUTINE_CLOSE_CODES.has(f.code))
    return { kind: 'routine', code: f.code, reason: f.reason };
  if (f.code === 1009)
    return { kind: 'fault', code: ErrorCode.MessageTooBig, cause: `${what}: message too big`, afterUpgrade };
  if (PROTOCOL_CLOSE_CODES.has(f.code))
    return { kind: 'fault', code: ErrorCode.ProtocolViolation, cause: what, afterUpgrade };
  if (!f.wasReady && afterUpgrade)
    return { kind: 'fault', code: ErrorCode.ConnectFailed, cause: `${what} before hello`, afterUpgrade };
  const cause = f.code === 1006 ? 'connection lost (1006)' : what;
  const code = f.wasReady ? ErrorCode.ConnectionLost : ErrorCode.ConnectFailed;
  return { kind: 'fault', code, cause, afterUpgrade };
}

/** Builds the upgrade headers (protocol.md §2.2). */
export function handshakeHeaders(
  ids: { deviceId: string; clientId: string },
  token: string,
): Record<string, string> {
  const headers: Record<string, string> = {
    'Protocol-Version': '1',
    'Device-Id': ids.deviceId,
    'Client-Id': ids.clientId,
  };
  // The firmware omits the header for an empty token and adds "Bearer " only when the stored
  // token has no space (protocol.md §2.2, §11.2): never send "Bearer undefined".
  const t = token.trim();
  if (t) headers.Authorization = t.includes(' ') ? t : `Bearer ${t}`;
  return headers;
}
