/**
 * xinnan's device token (protocol.md §2.5): `<base64url-no-padding(HMAC-SHA256(key,
 * "<client_id>|<device_id>|<ts>"))>.<ts>` with `ts` in Unix seconds, valid for `expireSeconds`.
 * A token signed with another key (xinnan restarted with a random `auth_key`) fails the signature
 * check; one older than `expireSeconds` fails the age check — both end in `认证失败`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** xinnan's default `expire_seconds`: 30 days. */
export const DEFAULT_TOKEN_EXPIRE_S = 30 * 24 * 3600;

export function signToken(key: string, clientId: string, deviceId: string, ts: number): string {
  const sig = createHmac('sha256', key).update(`${clientId}|${deviceId}|${ts}`).digest('base64url');
  // Node's base64url never pads, which is exactly xinnan's `.rstrip("=")`.
  return `${sig}.${ts}`;
}

export type TokenCheck = { readonly ok: true } | { readonly ok: false; readonly reason: string };

export function verifyToken(
  key: string,
  token: string,
  clientId: string,
  deviceId: string,
  nowSec: number,
  expireSeconds: number,
): TokenCheck {
  const dot = token.lastIndexOf('.');
  if (dot <= 0) return { ok: false, reason: 'token is not <signature>.<timestamp>' };
  const tsText = token.slice(dot + 1);
  if (!/^\d{1,12}$/.test(tsText)) return { ok: false, reason: 'token timestamp is not a number' };
  const ts = Number(tsText);
  // Whole seconds, as xinnan; the dev-server's millisecond TTL passes fractional values.
  const late = nowSec - ts - expireSeconds;
  if (late > 0) return { ok: false, reason: `token expired ${Number(late.toFixed(3))} s ago` };
  const expected = Buffer.from(signToken(key, clientId, deviceId, ts));
  const given = Buffer.from(token);
  // Lengths first: timingSafeEqual throws on a length mismatch.
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    return { ok: false, reason: 'token signature does not match Client-Id/Device-Id and key' };
  }
  return { ok: true };
}

/** The token of an `Authorization: Bearer <token>` header, or undefined (xinnan requires the prefix). */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined || !header.startsWith('Bearer ')) return undefined;
  return header.slice('Bearer '.length).trim();
}
