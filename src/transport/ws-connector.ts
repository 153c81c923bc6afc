/**
 * The only file that imports `ws` (design.md §2). Wraps one `WebSocket` client in the small
 * `Connection` interface.
 */
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import type {
  Connection,
  ConnectionEvents,
  ConnectionState,
  Connector,
  ConnectRequest,
} from './connection.js';

const STATES: readonly ConnectionState[] = ['connecting', 'open', 'closing', 'closed'];

class WsConnection extends EventEmitter<ConnectionEvents> implements Connection {
  readonly #ws: WebSocket;
  #closed = false;

  constructor(request: ConnectRequest) {
    super();
    this.#ws = new WebSocket(request.url, {
      headers: { ...request.headers },
      handshakeTimeout: request.handshakeTimeoutMs,
      // protocol.md §2.2: no compression, no subprotocol.
      perMessageDeflate: false,
      maxPayload: request.maxPayloadBytes,
      rejectUnauthorized: !request.allowInsecureTls,
      followRedirects: false,
    });
    const ws = this.#ws;
    ws.on('open', () => this.emit('open'));
    ws.on('message', (data, isBinary) => {
      // ws hands a Buffer for the default binaryType ('nodebuffer'); fragments arrive joined.
      const buf = Array.isArray(data)
        ? Buffer.concat(data)
        : Buffer.isBuffer(data)
          ? data
          : Buffer.from(data);
      this.emit('frame', buf, isBinary);
    });
    ws.on('pong', () => this.emit('pong'));
    ws.on('unexpected-response', (_req, res) => {
      // With a listener here ws leaves the socket CONNECTING until we abort it ourselves; terminate()
      // aborts the handshake and ends in 'close' (1006), so nothing is left half open.
      this.emit('rejected', res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.on('error', (err) => this.emit('error', err));
    ws.on('close', (code, reason) => {
      if (this.#closed) return;
      this.#closed = true;
      this.emit('close', code, reason.toString('utf8'));
    });
  }

  get state(): ConnectionState {
    return STATES[this.#ws.readyState] ?? 'closed';
  }

  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  send(data: string | Buffer, cb: (err?: Error) => void): void {
    if (this.#ws.readyState !== WebSocket.OPEN) {
      cb(new Error(`socket is ${this.state}`));
      return;
    }
    try {
      this.#ws.send(data, { binary: typeof data !== 'string' }, (err) => cb(err ?? undefined));
    } catch (err) {
      // ws throws only on misuse (CONNECTING); checked above, but a send must never throw.
      cb(err instanceof Error ? err : new Error(String(err)));
    }
  }

  ping(): void {
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    this.#ws.ping(undefined, undefined, (err) => {
      if (err) this.emit('error', err);
    });
  }

  close(code: number, reason: string): void {
    if (this.#ws.readyState === WebSocket.CONNECTING) {
      this.#ws.terminate();
      return;
    }
    this.#ws.close(code, reason);
  }

  terminate(): void {
    this.#ws.terminate();
  }
}

export const wsConnector: Connector = (request) => new WsConnection(request);
