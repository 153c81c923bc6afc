/**
 * Plain HTTP on the dev-server's port: the OTA endpoint of xinnan single-server mode (protocol.md
 * §7.2, `POST /xiaozhi/ota/`) and, for anything else, xinnan's "Server is running" answer to a
 * request that is not an upgrade (protocol.md §2.5 step 1).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../system/logger.js';

export const OTA_PATH = '/xiaozhi/ota/';
export const WS_PATH = '/xiaozhi/v1/';

/** The firmware's OTA body is a few KiB of system info; anything much bigger is not a device. */
const MAX_BODY_BYTES = 64 * 1024;

export interface OtaHost {
  readonly ota: boolean;
  readonly log: Logger;
  /** The WebSocket URL to hand out, as reached through this request. */
  wsUrl(req: IncomingMessage): string;
  /** A fresh token, or '' when auth is off (then the device sends no Authorization, protocol.md §7.2). */
  token(clientId: string, deviceId: string): string;
  wallNow(): number;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function sendJson(res: ServerResponse, value: unknown): void {
  send(res, 200, 'application/json', JSON.stringify(value));
}

function isOtaPath(url: string | undefined): boolean {
  const path = new URL(url ?? '/', 'http://localhost').pathname;
  return path === OTA_PATH || `${path}/` === OTA_PATH;
}

export function handleHttpRequest(host: OtaHost, req: IncomingMessage, res: ServerResponse): void {
  if (!host.ota || !isOtaPath(req.url)) {
    req.resume();
    send(res, 200, 'text/plain; charset=utf-8', 'Server is running\n');
    return;
  }
  if (req.method !== 'POST') {
    req.resume();
    send(res, 200, 'text/plain; charset=utf-8', 'OTA interface is running; POST to use it\n');
    return;
  }
  let size = 0;
  let tooBig = false;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    // Keep draining (the body is not stored) so the answer can still be read.
    if (size > MAX_BODY_BYTES) tooBig = true;
  });
  req.on('error', (err) => host.log.debug({ err: err.message }, 'dev-server: OTA request stream failed'));
  req.on('end', () => {
    const deviceId = header(req, 'device-id');
    const clientId = header(req, 'client-id');
    if (deviceId === undefined || clientId === undefined || tooBig) {
      host.log.warn(
        { device: deviceId, client: clientId, body_bytes: size },
        'dev-server: OTA request without Device-Id/Client-Id or with an oversized body',
      );
      // xinnan answers every OTA error with HTTP 200 and this body (protocol.md §7.2).
      sendJson(res, { success: false, message: 'request error.' });
      return;
    }
    host.log.info({ device: deviceId, client: clientId }, 'dev-server: OTA request answered');
    sendJson(res, {
      server_time: { timestamp: host.wallNow(), timezone_offset: 0 },
      firmware: { version: '0.0.0', url: '' },
      websocket: { url: host.wsUrl(req), token: host.token(clientId, deviceId) },
    });
  });
}
