import type { EventEmitter } from 'node:events';

/**
 * One WebSocket connection attempt, from upgrade to close (design.md §5.2). It never reconnects;
 * the session supervisor makes a new one per attempt, so a dead connection's listeners and timers
 * die with it. Only `ws-connector.ts` implements this with the `ws` library.
 */
export type ConnectionState = 'connecting' | 'open' | 'closing' | 'closed';

export interface ConnectionEvents {
  open: [];
  frame: [data: Buffer, isBinary: boolean];
  pong: [];
  /** The server answered the upgrade with a non-101 HTTP status (e.g. 401/403). */
  rejected: [status: number];
  error: [error: Error];
  /** Always the last event, exactly once. 1005 = close frame without status, 1006 = no close frame. */
  close: [code: number, reason: string];
}

export interface Connection extends EventEmitter<ConnectionEvents> {
  readonly state: ConnectionState;
  /** Bytes queued in user space, not yet handed to the kernel. */
  readonly bufferedAmount: number;
  /**
   * Raw send; the supervisor guards it. Calls `cb` once: without an error when the frame was
   * written, with one when it was not (including when the socket was not open).
   */
  send(data: string | Buffer, cb: (err?: Error) => void): void;
  ping(): void;
  /** Orderly close with a close frame. */
  close(code: number, reason: string): void;
  /** Destroys the socket at once (dead peer: a close handshake would hang). */
  terminate(): void;
}

export interface ConnectRequest {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly handshakeTimeoutMs: number;
  readonly maxPayloadBytes: number;
  readonly allowInsecureTls: boolean;
}

export type Connector = (request: ConnectRequest) => Connection;
