/**
 * What xinnan checks when a WebSocket opens (protocol.md §2.5): the Device-Id (header or query
 * string), then the token; each rejection is a plain-text frame followed by close 1000.
 */
import type { IncomingMessage } from 'node:http';

export const NO_DEVICE_ID_TEXT = '端口正常，如需测试连接，请启动digital-human测试';
export const AUTH_FAILED_TEXT = '认证失败';

export interface Identity {
  readonly deviceId?: string | undefined;
  readonly clientId?: string | undefined;
  readonly authorization?: string | undefined;
}

/** Device-Id/Client-Id from the headers or, like xinnan, the query string; header names are case-blind. */
export function identityOf(req: IncomingMessage): Identity {
  const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
  const pick = (name: string): string | undefined => {
    const h = req.headers[name];
    if (typeof h === 'string' && h !== '') return h;
    return query.get(name) || undefined;
  };
  return {
    deviceId: pick('device-id'),
    clientId: pick('client-id'),
    authorization: req.headers.authorization,
  };
}
