import { EventEmitter } from 'node:events';
import type { ClientMessage, ServerHello, ServerMessage } from '../../src/protocol/messages.js';
import type { LinkLoss, LinkState, SessionEvents, SessionPort } from '../../src/session/session-port.js';

/**
 * A SessionPort the test drives by hand: it plays both the connection supervisor and the server.
 * Sends are guarded like the real one (false unless ready) and recorded.
 */
export class FakeSession extends EventEmitter<SessionEvents> implements SessionPort {
  state: LinkState = 'offline';
  detail = '';
  /** When false, every `send` fails even while ready (the seed bug: closed right after hello). */
  sendResult = true;
  /** When false, every `sendAudio` is refused even while ready (uplink congestion). */
  sendAudioResult = true;
  /** Messages handed to the "socket". */
  readonly sent: ClientMessage[] = [];
  /** Messages `send` returned false for. */
  readonly refused: ClientMessage[] = [];
  /** Opus packets handed to the "socket". */
  readonly audio: Buffer[] = [];
  /** What reached the "socket", messages and audio interleaved in order: `audio`, `listen start auto`, … */
  readonly wire: string[] = [];
  audioRefused = 0;
  readonly connectNowCalls: string[] = [];
  readonly reconnectFreshCalls: string[] = [];
  readonly renewCalls: string[] = [];
  /** What `stale` says while ready (the test decides when the session has gone stale). */
  staleWhenReady = false;
  /** Called inside `send` before it returns: lets a test report a loss re-entrantly. */
  onSend: ((message: ClientMessage) => void) | undefined;

  send(message: ClientMessage): boolean {
    this.onSend?.(message);
    const ok = this.sendResult && this.state === 'ready';
    (ok ? this.sent : this.refused).push(message);
    if (ok) this.wire.push(describeMessage(message));
    return ok;
  }

  sendAudio(opus: Buffer): boolean {
    const ok = this.sendAudioResult && this.state === 'ready';
    if (ok) {
      this.audio.push(opus);
      this.wire.push('audio');
    } else this.audioRefused++;
    return ok;
  }

  /** Like the supervisor: starts an attempt unless one is under way or the link is up. */
  connectNow(reason: string): void {
    this.connectNowCalls.push(reason);
    if (this.state === 'backoff' || this.state === 'idle' || this.state === 'offline')
      this.setState('connecting', reason);
  }

  /** Like the supervisor: a ready link goes to closing at once; its loss is reported later. */
  reconnectFresh(reason: string): void {
    this.reconnectFreshCalls.push(reason);
    if (this.state === 'stopped') return;
    this.setState(this.state === 'ready' ? 'closing' : 'connecting', reason);
  }

  get stale(): boolean {
    return this.state === 'ready' && this.staleWhenReady;
  }

  /** Like the supervisor: a ready link goes to renewing; the test brings it back with becomeReady. */
  renew(reason: string): void {
    this.renewCalls.push(reason);
    if (this.state !== 'ready') return;
    this.staleWhenReady = false;
    this.setState('renewing', reason);
  }

  // ---------------------------------------------------------------- the test's side

  setState(to: LinkState, reason = 'test'): void {
    const from = this.state;
    if (from === to) return;
    this.state = to;
    this.emit('state', to, from, reason);
  }

  /** The server hello arrived: state first, then 'ready', in the supervisor's order. */
  becomeReady(sessionId = 'sid-1'): void {
    this.setState('ready', 'server hello');
    const hello: ServerHello = { type: 'hello', transport: 'websocket', session_id: sessionId };
    this.emit('ready', hello);
  }

  /** A ready connection ended: 'lost' first, then the state moves on (to backoff by default). */
  lose(cause = 'server closed 1005', routine = true, next: LinkState = 'backoff'): void {
    const loss: LinkLoss = { cause, routine };
    this.emit('lost', loss);
    this.setState(next, cause);
  }

  message(message: ServerMessage): void {
    this.emit('message', message);
  }

  tts(state: 'start' | 'stop' | 'sentence_start', text?: string): void {
    this.message(
      state === 'sentence_start' ? { type: 'tts', state, text: text ?? '' } : { type: 'tts', state },
    );
  }

  stt(text: string): void {
    this.message({ type: 'stt', text });
  }

  serverAudio(packet: Buffer): void {
    this.emit('audio', packet);
  }

  /** Sent messages as short strings, e.g. `listen start auto`, `listen stop`, `abort`. */
  sentKinds(): string[] {
    return this.sent.map(describeMessage);
  }

  clearSent(): void {
    this.sent.length = 0;
    this.refused.length = 0;
    this.audio.length = 0;
    this.wire.length = 0;
    this.audioRefused = 0;
  }
}

export function describeMessage(m: ClientMessage): string {
  if (m.type === 'abort') return m.reason === undefined ? 'abort' : `abort ${m.reason}`;
  if (m.type !== 'listen') return m.type;
  return m.state === 'start' ? `listen start ${m.mode}` : `listen ${m.state}`;
}
