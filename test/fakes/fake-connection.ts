import { EventEmitter } from 'node:events';
import type {
  Connection,
  ConnectionEvents,
  ConnectionState,
  Connector,
  ConnectRequest,
} from '../../src/transport/connection.js';

/** A scripted connection for supervisor unit tests: the test plays the server. */
export class FakeConnection extends EventEmitter<ConnectionEvents> implements Connection {
  state: ConnectionState = 'connecting';
  bufferedAmount = 0;
  readonly sent: (string | Buffer)[] = [];
  pings = 0;
  terminated = false;
  closedWith: { code: number; reason: string } | undefined;
  /** When set, send callbacks report this error. */
  sendError: Error | undefined;

  constructor(readonly request: ConnectRequest) {
    super();
  }

  send(data: string | Buffer, cb: (err?: Error) => void): void {
    if (this.state !== 'open') {
      cb(new Error(`socket is ${this.state}`));
      return;
    }
    this.sent.push(data);
    const err = this.sendError;
    queueMicrotask(() => cb(err));
  }

  ping(): void {
    this.pings++;
  }

  close(code: number, reason: string): void {
    this.closedWith = { code, reason };
    if (this.state === 'open') this.state = 'closing';
  }

  terminate(): void {
    this.terminated = true;
    this.serverClose(1006, '');
  }

  // ---- the test's side
  serverOpen(): void {
    this.state = 'open';
    this.emit('open');
  }

  serverText(obj: unknown): void {
    this.emit('frame', Buffer.from(typeof obj === 'string' ? obj : JSON.stringify(obj)), false);
  }

  serverHello(sessionId = 'sid-1'): void {
    this.serverText({ type: 'hello', transport: 'websocket', session_id: sessionId });
  }

  serverClose(code: number, reason = ''): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.emit('close', code, reason);
  }

  /** Messages the client sent as parsed JSON (text frames only). */
  get texts(): Record<string, unknown>[] {
    return this.sent
      .filter((d): d is string => typeof d === 'string')
      .map((d) => JSON.parse(d) as Record<string, unknown>);
  }
}

export function fakeConnector(): {
  connector: Connector;
  conns: FakeConnection[];
  last: () => FakeConnection;
} {
  const conns: FakeConnection[] = [];
  return {
    conns,
    connector: (req) => {
      const c = new FakeConnection(req);
      conns.push(c);
      return c;
    },
    last: () => {
      const c = conns.at(-1);
      if (!c) throw new Error('no connection was made');
      return c;
    },
  };
}
