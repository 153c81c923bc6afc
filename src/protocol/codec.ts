/**
 * The pure codec (design.md §5.1): bytes in, typed messages out, validated at the boundary; typed
 * messages in, frames out. No I/O, no state, never throws on bad input.
 */
import { isPlainObject, type Json } from '../core/json.js';
import type {
  AudioParams,
  ClientFrame,
  ClientMessage,
  ListenMode,
  McpPayload,
  ServerFrame,
  ServerMessage,
} from './messages.js';

function optString(o: Json, key: string): string | undefined | null {
  const v = o[key];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : null;
}

/** Longest text we keep in a diagnostic event, so a huge garbage frame cannot flood the log. */
const MAX_DIAG_TEXT = 200;

function clip(s: string): string {
  return s.length > MAX_DIAG_TEXT ? `${s.slice(0, MAX_DIAG_TEXT)}…(${s.length} chars)` : s;
}

function parseJsonObject(text: string): { ok: true; obj: Json } | { ok: false; frame: Inbound } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // Not JSON at all: its own event, not an error (xinnan sends plain-text auth failures).
    return { ok: false, frame: { kind: 'text', text: clip(text) } };
  }
  if (!isPlainObject(value)) {
    const what = Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value;
    return { ok: false, frame: { kind: 'invalid', reason: `JSON ${what}, expected an object` } };
  }
  const type = value.type;
  if (typeof type !== 'string') {
    return { ok: false, frame: { kind: 'invalid', reason: 'missing string "type"' } };
  }
  return { ok: true, obj: value };
}

type Inbound = { kind: 'text'; text: string } | { kind: 'invalid'; reason: string };

function invalid(reason: string): { kind: 'invalid'; reason: string } {
  return { kind: 'invalid', reason };
}

function parseMcpPayload(o: Json): McpPayload | string {
  const p = o.payload;
  if (!isPlainObject(p)) return 'mcp without object "payload"';
  if (p.jsonrpc !== '2.0') return 'mcp payload with jsonrpc ≠ "2.0"';
  const id = p.id;
  if (id !== undefined && typeof id !== 'number' && typeof id !== 'string') return 'mcp payload with bad id';
  const method = p.method;
  if (method !== undefined && typeof method !== 'string') return 'mcp payload with non-string method';
  return {
    jsonrpc: '2.0',
    ...(id === undefined ? {} : { id }),
    ...(method === undefined ? {} : { method }),
    ...('params' in p ? { params: p.params } : {}),
    ...('result' in p ? { result: p.result } : {}),
    ...('error' in p ? { error: p.error } : {}),
  };
}

function parseAudioParams(v: unknown): Partial<AudioParams> | undefined | string {
  if (v === undefined) return undefined;
  if (!isPlainObject(v)) return 'audio_params is not an object';
  const out: { -readonly [K in keyof AudioParams]?: AudioParams[K] } = {};
  if (v.format === 'opus') out.format = 'opus';
  for (const k of ['sample_rate', 'channels', 'frame_duration'] as const) {
    const n = v[k];
    if (n === undefined) continue;
    if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0)
      return `audio_params.${k} is not a positive number`;
    out[k] = n;
  }
  return out;
}

/** Decodes one frame received by the device. */
export function decodeServerFrame(data: Buffer | string, isBinary: boolean): ServerFrame {
  if (isBinary) {
    const opus = typeof data === 'string' ? Buffer.from(data) : data;
    return { kind: 'audio', opus };
  }
  const text = typeof data === 'string' ? data : data.toString('utf8');
  const parsed = parseJsonObject(text);
  if (!parsed.ok) return parsed.frame;
  const o = parsed.obj;
  const type = o.type as string;
  const sid = optString(o, 'session_id');
  if (sid === null) return invalid(`${type} with non-string session_id`);
  const session = sid === undefined ? {} : { session_id: sid };
  const msg = (m: ServerMessage): ServerFrame => ({ kind: 'message', message: m });

  switch (type) {
    case 'hello': {
      const transport = optString(o, 'transport');
      if (typeof transport !== 'string') return invalid('hello without string "transport"');
      const ap = parseAudioParams(o.audio_params);
      if (typeof ap === 'string') return invalid(`hello: ${ap}`);
      const version = typeof o.version === 'number' ? o.version : undefined;
      return msg({
        type: 'hello',
        transport,
        ...session,
        ...(version === undefined ? {} : { version }),
        ...(ap === undefined ? {} : { audio_params: ap }),
      });
    }
    case 'stt': {
      const text = optString(o, 'text');
      if (typeof text !== 'string') return invalid('stt without string "text"');
      return msg({ type: 'stt', text, ...session });
    }
    case 'llm': {
      const text = optString(o, 'text');
      const emotion = optString(o, 'emotion');
      if (text === null || emotion === null) return invalid('llm with non-string text/emotion');
      return msg({
        type: 'llm',
        ...session,
        ...(text === undefined ? {} : { text }),
        ...(emotion === undefined ? {} : { emotion }),
      });
    }
    case 'tts': {
      const state = o.state;
      if (state === 'start' || state === 'stop') return msg({ type: 'tts', state, ...session });
      if (state === 'sentence_start') {
        const text = optString(o, 'text');
        if (text === null) return invalid('tts sentence_start with non-string text');
        return msg({ type: 'tts', state, ...session, ...(text === undefined ? {} : { text }) });
      }
      return invalid(
        state === undefined ? 'tts without "state"' : `tts with unknown state ${JSON.stringify(state)}`,
      );
    }
    case 'mcp': {
      const payload = parseMcpPayload(o);
      if (typeof payload === 'string') return invalid(payload);
      return msg({ type: 'mcp', payload, ...session });
    }
    case 'system': {
      const command = optString(o, 'command');
      if (typeof command !== 'string') return invalid('system without string "command"');
      return msg({ type: 'system', command });
    }
    case 'alert': {
      // The firmware requires all three fields (protocol.md §10.2).
      const status = optString(o, 'status');
      const message = optString(o, 'message');
      const emotion = optString(o, 'emotion');
      if (typeof status !== 'string' || typeof message !== 'string' || typeof emotion !== 'string') {
        return invalid('alert needs string status, message and emotion');
      }
      return msg({ type: 'alert', status, message, emotion });
    }
    case 'custom':
      return msg({ type: 'custom', payload: o.payload });
    case 'iot': {
      if (!Array.isArray(o.commands)) return invalid('iot without array "commands"');
      return msg({ type: 'iot', commands: o.commands });
    }
    case 'goodbye':
      return msg({ type: 'goodbye', ...session });
    case 'pong': {
      const timestamp = optString(o, 'timestamp');
      return msg({ type: 'pong', ...(typeof timestamp === 'string' ? { timestamp } : {}) });
    }
    default:
      return { kind: 'unknown', type: clip(type) };
  }
}

const LISTEN_MODES: readonly string[] = ['auto', 'manual', 'realtime'] satisfies ListenMode[];

function isListenMode(v: unknown): v is ListenMode {
  return typeof v === 'string' && LISTEN_MODES.includes(v);
}

/** Decodes one frame received by a server (the dev-server's side of the codec). */
export function decodeClientFrame(data: Buffer | string, isBinary: boolean): ClientFrame {
  if (isBinary) {
    const opus = typeof data === 'string' ? Buffer.from(data) : data;
    return { kind: 'audio', opus };
  }
  const text = typeof data === 'string' ? data : data.toString('utf8');
  const parsed = parseJsonObject(text);
  if (!parsed.ok) return parsed.frame;
  const o = parsed.obj;
  const type = o.type as string;
  const msg = (m: ClientMessage): ClientFrame => ({ kind: 'message', message: m });
  switch (type) {
    case 'hello': {
      if (o.transport !== 'websocket') return invalid('hello with transport ≠ "websocket"');
      const ap = parseAudioParams(o.audio_params);
      if (typeof ap === 'string') return invalid(`hello: ${ap}`);
      const features = o.features === undefined ? {} : o.features;
      if (!isPlainObject(features)) return invalid('hello with non-object "features"');
      return msg({
        type: 'hello',
        version: typeof o.version === 'number' ? o.version : 1,
        transport: 'websocket',
        features: {
          ...(typeof features.mcp === 'boolean' ? { mcp: features.mcp } : {}),
          ...(typeof features.aec === 'boolean' ? { aec: features.aec } : {}),
        },
        audio_params: {
          format: 'opus',
          sample_rate: ap?.sample_rate ?? 16000,
          channels: ap?.channels ?? 1,
          frame_duration: ap?.frame_duration ?? 60,
        },
      });
    }
    case 'listen': {
      const state = o.state;
      if (state === 'start') {
        const mode = o.mode === undefined ? 'auto' : o.mode;
        if (!isListenMode(mode)) return invalid(`listen start with unknown mode ${JSON.stringify(mode)}`);
        return msg({ type: 'listen', state, mode });
      }
      if (state === 'stop') return msg({ type: 'listen', state });
      if (state === 'detect') {
        const text = optString(o, 'text');
        if (typeof text !== 'string') return invalid('listen detect without string "text"');
        return msg({ type: 'listen', state, text });
      }
      return invalid(state === undefined ? 'listen without "state"' : `listen with unknown state`);
    }
    case 'abort':
      return msg(
        o.reason === 'wake_word_detected'
          ? { type: 'abort', reason: 'wake_word_detected' }
          : { type: 'abort' },
      );
    case 'mcp': {
      const payload = parseMcpPayload(o);
      if (typeof payload === 'string') return invalid(payload);
      return msg({ type: 'mcp', payload });
    }
    case 'iot':
      return msg({
        type: 'iot',
        ...(typeof o.update === 'boolean' ? { update: o.update } : {}),
        ...(Array.isArray(o.descriptors) ? { descriptors: o.descriptors } : {}),
        ...(Array.isArray(o.states) ? { states: o.states } : {}),
      });
    case 'goodbye':
      return msg({ type: 'goodbye' });
    case 'ping':
      return msg({ type: 'ping' });
    default:
      return { kind: 'unknown', type: clip(type) };
  }
}

/**
 * Builds the text frame for a device message. Like the firmware, `session_id` goes first and is
 * echoed in every message except `hello` (protocol.md §5.3); `ping` is a bare xinnan extension.
 */
export function encodeClientMessage(message: ClientMessage, sessionId: string): string {
  if (message.type === 'hello' || message.type === 'ping') return JSON.stringify(message);
  return JSON.stringify({ session_id: sessionId, ...message });
}

/** Builds the text frame for a server message (used by the dev-server). */
export function encodeServerMessage(message: ServerMessage): string {
  return JSON.stringify(message);
}
