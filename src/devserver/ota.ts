/**
 * Plain HTTP on the dev-server's port: the OTA endpoint of xinnan single-server mode (protocol.md
 * §7.2, `POST /xiaozhi/ota/`), optionally with manager-api's activation flow (an `activation`
 * member until `POST /xiaozhi/ota/activate` answered 200, §7.3) and, for anything else, xinnan's
 * "Server is running" answer to a request that is not an upgrade (protocol.md §2.5 step 1).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../system/logger.js';

export const OTA_PATH = '/xiaozhi/ota/';
export const ACTIVATE_PATH = `${OTA_PATH}activate`;
export const WS_PATH = '/xiaozhi/v1/';

/** The firmware's OTA body is a few KiB of system info; anything much bigger is not a device. */
const MAX_BODY_BYTES = 64 * 1024;

export interface OtaActivationAnswer {
  readonly code: string;
  readonly message: string;
  readonly challenge: string;
}

export interface OtaHost {
  readonly ota: boolean;
  readonly log: Logger;
  /** The WebSocket URL to hand out, as reached through this request. */
  wsUrl(req: IncomingMessage): string;
  /** A fresh token, or '' when auth is off (then the device sends no Authorization, protocol.md §7.2). */
  token(clientId: string, deviceId: string): string;
  wallNow(): number;
  /** What to ask this device to activate with; undefined: no activation (off, or done). */
  activation(deviceId: string): OtaActivationAnswer | undefined;
  /** Whether `/activate` is served at all (activation configured). */
  readonly activationEnabled: boolean;
  /** One `/activate` poll of this device: the status to answer (202 pending, 200 activated). */
  activate(deviceId: string): number;
  /** An OTA request was answered (for the server's `ota` event). */
  answered(e: { deviceId: string; clientId: string; body: unknown; activation: boolean }): void;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function sendJson(res: ServerResponse, value: unknown, status = 200): void {
  send(res, status, 'application/json', JSON.stringify(value));
}

function route(url: string | undefined): 'ota' | 'activate' | 'other' {
  const path = new URL(url ?? '/', 'http://localhost').pathname;
  if (path === OTA_PATH || `${path}/` === OTA_PATH) return 'ota';
  if (path === ACTIVATE_PATH || path === `${ACTIVATE_PATH}/`) return 'activate';
  return 'other';
}

export function handleHttpRequest(host: OtaHost, req: IncomingMessage, res: ServerResponse): void {
  const where = route(req.url);
  if (!host.ota || where === 'other' || (where === 'activate' && !host.activationEnabled)) {
    req.resume();
    send(res, 200, 'text/plain; charset=utf-8', 'Server is running\n');
    return;
  }
  if (req.method !== 'POST') {
    req.resume();
    send(res, 200, 'text/plain; charset=utf-8', 'OTA interface is running; POST to use it\n');
    return;
  }
  readBody(host, req, (body, tooBig) => {
    if (where === 'activate') answerActivate(host, req, res);
    else answerOta(host, req, res, body, tooBig);
  });
}

/** Collects at most MAX_BODY_BYTES (and keeps draining past that, so the answer can still be read). */
function readBody(host: OtaHost, req: IncomingMessage, done: (body: Buffer, tooBig: boolean) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  });
  req.on('error', (err) => host.log.debug({ err: err.message }, 'dev-server: OTA request stream failed'));
  req.on('end', () => done(Buffer.concat(chunks), size > MAX_BODY_BYTES));
}

function answerOta(
  host: OtaHost,
  req: IncomingMessage,
  res: ServerResponse,
  raw: Buffer,
  tooBig: boolean,
): void {
  const deviceId = header(req, 'device-id');
  const clientId = header(req, 'client-id');
  if (deviceId === undefined || clientId === undefined || tooBig) {
    host.log.warn(
      { device: deviceId, client: clientId, body_bytes: raw.length },
      'dev-server: OTA request without Device-Id/Client-Id or with an oversized body',
    );
    // xinnan answers every OTA error with HTTP 200 and this body (protocol.md §7.2).
    sendJson(res, { success: false, message: 'request error.' });
    return;
  }
  const activation = host.activation(deviceId);
  host.log.info(
    { device: deviceId, client: clientId, activation: activation !== undefined },
    'dev-server: OTA request answered',
  );
  host.answered({ deviceId, clientId, body: parseJson(host, raw), activation: activation !== undefined });
  sendJson(res, {
    server_time: { timestamp: host.wallNow(), timezone_offset: 0 },
    firmware: { version: '0.0.0', url: '' },
    // Like manager-api: the websocket section comes with the activation request (protocol.md §7.2).
    websocket: { url: host.wsUrl(req), token: host.token(clientId, deviceId) },
    ...(activation === undefined ? {} : { activation }),
  });
}

/** manager-api's `/activate`: the body is ignored; 202 until the device is bound, then 200 (§7.3). */
function answerActivate(host: OtaHost, req: IncomingMessage, res: ServerResponse): void {
  const deviceId = header(req, 'device-id');
  if (deviceId === undefined) {
    sendJson(res, { success: false, message: 'Device-Id missing' }, 400);
    return;
  }
  const status = host.activate(deviceId);
  host.log.info({ device: deviceId, status }, 'dev-server: activation poll answered');
  send(res, status, 'text/plain; charset=utf-8', status === 200 ? 'success' : 'pending');
}

/** The body for the `ota` event; xinnan ignores it, so one that is not JSON is only a debug line. */
function parseJson(host: OtaHost, raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (err) {
    host.log.debug(
      { err: err instanceof Error ? err.message : String(err) },
      'dev-server: OTA body is not JSON',
    );
    return undefined;
  }
}
