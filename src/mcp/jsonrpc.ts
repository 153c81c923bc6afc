/**
 * JSON-RPC 2.0 for the device-side MCP server (protocol.md §5.4): the error codes, the response
 * shape, and the classification of an inbound payload into a request to run, an error to answer
 * at once, or something to leave unanswered, with the bounds checked before anything else reads
 * the payload (design.md §5.11).
 */
import { isPlainObject, type Json } from '../core/json.js';

export const RpcCode = {
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
} as const;
export type RpcCode = (typeof RpcCode)[keyof typeof RpcCode];

export type RequestId = number | string;

export interface RpcError {
  readonly code: RpcCode;
  readonly message: string;
}

/** What to send back as the `payload` of an `mcp` message; fits protocol/messages.ts McpPayload. */
export type McpResponse =
  | { readonly jsonrpc: '2.0'; readonly id: RequestId; readonly result: object }
  | { readonly jsonrpc: '2.0'; readonly id: RequestId; readonly error: RpcError };

export interface RequestLimits {
  /** Approximate serialized characters. */
  readonly maxRequestBytes: number;
  readonly maxDepth: number;
}

/** Longest string id we echo back; longer ones are not ids anybody could be matching on. */
const MAX_ID_CHARS = 128;
/** Longest piece of a caller's text (method, tool name) we put into a log line or an error message. */
const MAX_ECHO_CHARS = 64;

export function clip(s: string): string {
  return s.length > MAX_ECHO_CHARS ? `${s.slice(0, MAX_ECHO_CHARS)}…` : s;
}

function usableId(v: unknown): RequestId | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string') return v.length <= MAX_ID_CHARS ? v : undefined;
  return undefined;
}

/**
 * Walks a parsed value without recursion and stops as soon as it is too big or too deep, so the
 * cost is bounded by the limits, not by the input. Sizes approximate serialized JSON characters.
 */
export function exceedsBounds(
  root: unknown,
  maxChars: number,
  maxDepth: number,
): 'size' | 'depth' | undefined {
  const stack: { v: unknown; depth: number }[] = [{ v: root, depth: 0 }];
  let chars = 0;
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const { v, depth } = item;
    if (typeof v === 'string') chars += v.length + 2;
    else if (Array.isArray(v) || isPlainObject(v)) {
      if (depth >= maxDepth) return 'depth';
      const children: unknown[] = [];
      if (Array.isArray(v)) {
        chars += 2 + v.length;
        if (chars > maxChars) return 'size';
        for (const c of v) children.push(c);
      } else {
        const keys = Object.keys(v);
        chars += 2 + keys.length;
        if (chars > maxChars) return 'size';
        for (const k of keys) {
          chars += k.length + 3;
          children.push(v[k]);
        }
      }
      for (const c of children) stack.push({ v: c, depth: depth + 1 });
    } else chars += 8; // number, boolean, null (and non-JSON values, which a parsed payload has not)
    if (chars > maxChars) return 'size';
  }
  return undefined;
}

export type Classified =
  | { readonly kind: 'ignore'; readonly why: string; readonly level: 'debug' | 'warn' }
  | { readonly kind: 'error'; readonly id: RequestId; readonly method: string; readonly error: RpcError }
  | {
      readonly kind: 'request';
      readonly id: RequestId;
      readonly method: string;
      readonly params: Json | undefined;
    };

export function classifyRequest(payload: unknown, limits: RequestLimits): Classified {
  if (!isPlainObject(payload)) return { kind: 'ignore', why: 'payload is not an object', level: 'warn' };
  const id = usableId(payload.id);
  const method = payload.method;
  const isRequest = typeof method === 'string' && !method.startsWith('notifications/');
  const errorOrIgnore = (code: RpcCode, message: string): Classified =>
    id !== undefined && isRequest
      ? { kind: 'error', id, method, error: { code, message } }
      : { kind: 'ignore', why: message, level: 'warn' };

  const bounds = exceedsBounds(payload, limits.maxRequestBytes, limits.maxDepth);
  if (bounds === 'size')
    return errorOrIgnore(RpcCode.InvalidRequest, `request larger than ${limits.maxRequestBytes} bytes`);
  if (bounds === 'depth')
    return errorOrIgnore(RpcCode.InvalidRequest, `request nested deeper than ${limits.maxDepth} levels`);
  if (payload.jsonrpc !== '2.0') return errorOrIgnore(RpcCode.InvalidRequest, 'jsonrpc must be "2.0"');
  if (method === undefined) {
    if ('result' in payload || 'error' in payload)
      return { kind: 'ignore', why: 'a response (the device sends no requests)', level: 'debug' };
    return id === undefined
      ? { kind: 'ignore', why: 'message without method or id', level: 'warn' }
      : {
          kind: 'error',
          id,
          method: '?',
          error: { code: RpcCode.InvalidRequest, message: 'missing method' },
        };
  }
  if (typeof method !== 'string') {
    return id === undefined
      ? { kind: 'ignore', why: 'non-string method without id', level: 'warn' }
      : {
          kind: 'error',
          id,
          method: '?',
          error: { code: RpcCode.InvalidRequest, message: 'method must be a string' },
        };
  }
  if (!isRequest) return { kind: 'ignore', why: `notification ${clip(method)}`, level: 'debug' };
  if (payload.id === undefined)
    return { kind: 'ignore', why: `notification ${clip(method)} (no id)`, level: 'debug' };
  if (id === undefined) return { kind: 'ignore', why: `${clip(method)} with an unusable id`, level: 'warn' };
  const params = payload.params;
  if (params !== undefined && !isPlainObject(params))
    return {
      kind: 'error',
      id,
      method,
      error: { code: RpcCode.InvalidParams, message: 'params must be an object' },
    };
  return { kind: 'request', id, method, params };
}
