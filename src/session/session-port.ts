import type { EventEmitter } from 'node:events';
import type { ClientMessage, ServerHello, ServerMessage } from '../protocol/messages.js';

/**
 * The connection's one state (design.md §3.2):
 * offline → connecting → handshaking → ready → (closing) → backoff → connecting …
 * `idle` is the on-demand mode's rest state: no connection and none wanted until the next press.
 * `renewing`: a stale session (supervisor.ts, connection.staleSessionMs) is closed on purpose and a
 * fresh one opened at once, or, in on-demand mode at rest, closed so the next press opens a fresh
 * one. The device is at rest meanwhile (no LED change); a failure takes the usual way to backoff.
 */
export type LinkState =
  | 'offline'
  | 'connecting'
  | 'handshaking'
  | 'ready'
  | 'renewing'
  | 'closing'
  | 'backoff'
  | 'idle'
  | 'stopped';

// A mapped object, so the compiler rejects a list that misses or invents a link state.
const LINK_STATE_NAMES: { readonly [S in LinkState]: S } = {
  offline: 'offline',
  connecting: 'connecting',
  handshaking: 'handshaking',
  ready: 'ready',
  renewing: 'renewing',
  closing: 'closing',
  backoff: 'backoff',
  idle: 'idle',
  stopped: 'stopped',
};

/** Every link state (the indicator map's totality tests, the metrics' link-state gauge). */
export const LINK_STATES: readonly LinkState[] = Object.freeze(Object.values(LINK_STATE_NAMES));

/**
 * Link states the device may rest in: connected; on-demand with no connection wanted yet; or a
 * stale session being replaced on purpose (no turn is under way, and none is lost).
 */
export function linkAtRest(link: LinkState): boolean {
  return link === 'ready' || link === 'idle' || link === 'renewing';
}

export interface LinkLoss {
  /** Human cause for logs/STATUS, e.g. "server closed 1005", "heartbeat timeout". */
  readonly cause: string;
  /** 1000/1001/1005/1012 from the server: a routine end of session, not an error (protocol.md §8, link-policy.ts). */
  readonly routine: boolean;
}

export interface SessionEvents {
  state: [to: LinkState, from: LinkState, reason: string];
  /** The server hello arrived; sends are possible from now on. */
  ready: [hello: ServerHello];
  /** A ready connection ended (any cause). Emitted before the state leaves `ready`'s successor. */
  lost: [loss: LinkLoss];
  message: [message: ServerMessage];
  audio: [opus: Buffer];
}

/** What the conversation needs from the connection supervisor. */
export interface SessionPort extends EventEmitter<SessionEvents> {
  readonly state: LinkState;
  /** Short text for STATUS: e.g. "retry in 4.2 s · connect ECONNREFUSED 10.0.0.5:8000". */
  readonly detail: string;
  /**
   * Guarded send (design.md §1.1): true only if the frame was handed to an open, ready socket.
   * Never throws; a write error is a connection fault handled by the supervisor.
   */
  send(message: ClientMessage): boolean;
  /** Guarded audio send; false (and counted) when not ready or past the bufferedAmount bound. */
  sendAudio(opus: Buffer): boolean;
  /** The user is waiting: connect now if not connected (cancels a pending backoff timer). */
  connectNow(reason: string): void;
  /** Drop the current connection and reconnect now with fresh credentials (long press). */
  reconnectFresh(reason: string): void;
  /**
   * The ready session is stale: the server has sent no TTS audio for connection.staleSessionMs
   * since it opened, and xinnan would answer the next utterance with its farewell (protocol.md
   * §8.1 row 3). False when not ready or when the check is off.
   */
  readonly stale: boolean;
  /** Close the ready session on purpose and open a fresh one at once (same credentials). */
  renew(reason: string): void;
}
