/**
 * The `doctor` WebSocket round trip (design.md §3.2, protocol.md §2–§3): the upgrade with the
 * daemon's headers, the same client hello the supervisor sends, the server hello within the
 * hello timeout, then an orderly close 1000. Three lines: the upgrade, whether the token was
 * accepted (a hello came; xinnan's `认证失败` or HTTP 401/403 mean it was not), and the hello.
 */
import type { Config } from '../config/schema.js';
import { describeError } from '../core/errors.js';
import { decodeServerFrame, encodeClientMessage } from '../protocol/codec.js';
import { PROTOCOL_VERSION, type ServerHello, UPLINK_AUDIO } from '../protocol/messages.js';
import type { Identity } from '../provisioning/identity.js';
import { classifyEnd, handshakeHeaders } from '../session/link-policy.js';
import type { Connector } from '../transport/connection.js';
import { type CheckResult, failed, ms, pass, skip } from './check.js';

export interface WebSocketCheckOptions {
  readonly config: Readonly<Config>;
  readonly identity: Identity | undefined;
  readonly url: string;
  /** The URL as printed (credentials redacted). */
  readonly shownUrl: string;
  /** The token sent (server.token, or the one OTA handed out); '' = no Authorization header. */
  readonly token: string;
  /** Where url and token come from: the config, or the OTA answer (the fixes differ). */
  readonly from: 'config' | 'ota';
  /** Bound of the upgrade (TCP + TLS + HTTP). */
  readonly timeoutMs: number;
  readonly connector: Connector;
}

/** The server hello is awaited at most this long (design.md §3.2), whatever helloTimeoutMs allows. */
const MAX_HELLO_WAIT_MS = 10_000;

/** How long our close 1000 may take before the socket is destroyed. */
const CLOSE_GRACE_MS = 1000;

interface Outcome {
  readonly openedAfterMs: number | undefined;
  readonly hello: ServerHello | undefined;
  readonly helloAfterMs: number | undefined;
  readonly code: number;
  readonly reason: string;
  readonly httpStatus: number | undefined;
  readonly preHelloText: readonly string[];
  readonly error: string | undefined;
  readonly localCause: string | undefined;
  /** From the connect call to the close. */
  readonly endedAfterMs: number;
}

function roundTrip(o: WebSocketCheckOptions, identity: Identity): Promise<Outcome> {
  const { connection, server } = o.config;
  const helloWaitMs = Math.min(connection.helloTimeoutMs, MAX_HELLO_WAIT_MS);
  const t0 = performance.now();
  const since = () => performance.now() - t0;
  return new Promise((resolve) => {
    const conn = o.connector({
      url: o.url,
      headers: handshakeHeaders(identity, o.token),
      handshakeTimeoutMs: o.timeoutMs,
      maxPayloadBytes: connection.maxPayloadBytes,
      allowInsecureTls: server.allowInsecureTls,
    });
    let openedAfterMs: number | undefined;
    let hello: ServerHello | undefined;
    let helloAfterMs: number | undefined;
    let httpStatus: number | undefined;
    let error: string | undefined;
    let localCause: string | undefined;
    const preHelloText: string[] = [];
    const timers: NodeJS.Timeout[] = [];
    const fail = (cause: string) => {
      localCause ??= cause;
      conn.terminate();
    };
    // ws bounds the upgrade itself (handshakeTimeout); this bounds everything, whatever happens.
    timers.push(
      setTimeout(
        () => fail(`no end within ${o.timeoutMs + helloWaitMs} ms`),
        o.timeoutMs + helloWaitMs + CLOSE_GRACE_MS,
      ),
    );
    conn.on('open', () => {
      openedAfterMs = since();
      const frame = encodeClientMessage(
        {
          type: 'hello',
          version: PROTOCOL_VERSION,
          features: {},
          transport: 'websocket',
          audio_params: UPLINK_AUDIO,
        },
        '',
      );
      conn.send(frame, (err) => {
        if (err) fail(`client hello not sent: ${describeError(err)}`);
      });
      timers.push(setTimeout(() => fail(`no server hello within ${helloWaitMs} ms`), helloWaitMs));
    });
    conn.on('frame', (data, isBinary) => {
      if (hello !== undefined) return;
      const frame = decodeServerFrame(data, isBinary);
      if (
        frame.kind === 'message' &&
        frame.message.type === 'hello' &&
        frame.message.transport === 'websocket'
      ) {
        hello = frame.message;
        helloAfterMs = since();
        conn.close(1000, 'speakerd doctor');
        timers.push(setTimeout(() => conn.terminate(), CLOSE_GRACE_MS));
        return;
      }
      if (frame.kind === 'text' && preHelloText.length < 4) preHelloText.push(frame.text);
    });
    conn.on('rejected', (status) => {
      httpStatus = status;
    });
    conn.on('error', (err) => {
      error ??= describeError(err);
    });
    conn.on('close', (code, reason) => {
      for (const t of timers) clearTimeout(t);
      resolve({
        openedAfterMs,
        hello,
        helloAfterMs,
        code,
        reason,
        httpStatus,
        preHelloText,
        error,
        endedAfterMs: since(),
        localCause,
      });
    });
  });
}

const PATH_FIX: Record<WebSocketCheckOptions['from'], string> = {
  config:
    'check server.websocketUrl: xiaozhi servers listen on ws://HOST:PORT/xiaozhi/v1/; see the server log',
  ota: 'the OTA server hands out this URL: check its websocket setting (xinnan server.websocket, ws://HOST:PORT/xiaozhi/v1/); see the server log',
};

function tokenFix(from: WebSocketCheckOptions['from'], token: string): string {
  if (from === 'ota')
    return token === ''
      ? 'the OTA server handed out no token but the WebSocket server wants one: check the server’s auth settings (xinnan server.auth)'
      : 'the token the OTA server handed out was refused: OTA and WebSocket server must share the auth key (xinnan server.auth_key); see the server log';
  return token === ''
    ? 'the server wants a token: set server.token (or SPEAKERD_TOKEN), or unset server.websocketUrl to get one from OTA'
    : 'check server.token (SPEAKERD_TOKEN): it must be issued for this Device-Id/Client-Id (or unset server.websocketUrl to get one from OTA)';
}

export async function checkWebSocket(o: WebSocketCheckOptions): Promise<CheckResult[]> {
  if (o.identity === undefined)
    return ['websocket', 'token', 'hello'].map((n) =>
      skip(n, 'needs the Device-Id and Client-Id (see identity)'),
    );
  const r = await roundTrip(o, o.identity);
  const token = o.token.trim();
  const pathFix = PATH_FIX[o.from];

  if (r.hello !== undefined) {
    const sid = r.hello.session_id;
    const rate = r.hello.audio_params?.sample_rate;
    return [
      pass('websocket', `${o.shownUrl}: upgraded in ${ms(r.openedAfterMs ?? 0)}`),
      pass(
        'token',
        token !== ''
          ? `accepted (${o.from === 'ota' ? 'the token from OTA' : 'server.token'})`
          : `none ${o.from === 'ota' ? 'from OTA' : 'configured'}; the server accepted the session without one`,
      ),
      pass(
        'hello',
        `server hello ${ms(r.helloAfterMs ?? 0)} after connecting` +
          (sid ? `, session_id ${sid}` : ', no session_id (protocol.md §3.2 expects one)') +
          (rate === undefined ? '' : `, downlink ${rate} Hz`),
      ),
    ];
  }
  const end = classifyEnd({
    code: r.code,
    reason: r.reason,
    wasReady: false,
    openForMs: r.openedAfterMs === undefined ? undefined : 1,
    preHelloText: r.preHelloText,
    httpStatus: r.httpStatus,
    localCause: r.localCause ?? (r.openedAfterMs === undefined ? r.error : undefined),
    attemptMs: r.endedAfterMs,
  });
  if (end.kind === 'auth') {
    const reached =
      r.httpStatus !== undefined
        ? `${o.shownUrl}: the server answered the upgrade with HTTP ${r.httpStatus}`
        : `${o.shownUrl}: upgraded in ${ms(r.openedAfterMs ?? 0)}`;
    return [
      pass('websocket', reached),
      failed('token', `rejected: ${end.cause}`, tokenFix(o.from, token)),
      skip('hello', 'the token was rejected'),
    ];
  }
  if (r.openedAfterMs === undefined) {
    const cause = end.kind === 'fault' || end.kind === 'refused' ? end.cause : `closed ${r.code}`;
    const fix =
      r.httpStatus !== undefined
        ? pathFix
        : 'check the server log; a proxy in between must pass WebSocket upgrades (Connection: Upgrade)';
    return [
      failed('websocket', `${o.shownUrl}: ${cause}`, fix),
      skip('token', 'needs the WebSocket upgrade'),
      skip('hello', 'needs the WebSocket upgrade'),
    ];
  }
  const said = r.preHelloText.length > 0 ? `; it said ${JSON.stringify(r.preHelloText[0])}` : '';
  const cause = end.kind === 'fault' || end.kind === 'refused' ? end.cause : `server closed ${r.code}`;
  return [
    pass('websocket', `${o.shownUrl}: upgraded in ${ms(r.openedAfterMs)}`),
    skip('token', 'unknown: no server hello'),
    failed('hello', `${cause}${said}`, `is it a xiaozhi server on the right path? ${pathFix}`),
  ];
}
