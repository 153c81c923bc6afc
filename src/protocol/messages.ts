/**
 * Every JSON message of the xiaozhi WebSocket protocol (protocol.md §3 and §5), both directions,
 * as a typed union. Binary frames are Opus packets (protocol version 1, protocol.md §4.4).
 */

export interface AudioParams {
  readonly format: 'opus';
  readonly sample_rate: number;
  readonly channels: number;
  readonly frame_duration: number;
}

/** The uplink audio format we always announce (protocol.md §4.1: 16 kHz mono, 60 ms frames). */
export const UPLINK_AUDIO: AudioParams = Object.freeze({
  format: 'opus',
  sample_rate: 16000,
  channels: 1,
  frame_duration: 60,
});

/** Binary protocol version 1: one raw Opus packet per binary message (protocol.md §4.4). */
export const PROTOCOL_VERSION = 1;

// ---------------------------------------------------------------- device → server (§5.1)

export interface ClientHello {
  readonly type: 'hello';
  readonly version: number;
  readonly features: { readonly mcp?: boolean; readonly aec?: boolean };
  readonly transport: 'websocket';
  readonly audio_params: AudioParams;
}

export type ListenMode = 'auto' | 'manual' | 'realtime';

export type ClientListen =
  | { readonly type: 'listen'; readonly state: 'start'; readonly mode: ListenMode }
  | { readonly type: 'listen'; readonly state: 'stop' }
  | { readonly type: 'listen'; readonly state: 'detect'; readonly text: string };

export interface ClientAbort {
  readonly type: 'abort';
  readonly reason?: 'wake_word_detected';
}

export interface McpPayload {
  readonly jsonrpc: '2.0';
  readonly id?: number | string;
  readonly method?: string;
  readonly params?: unknown;
  readonly result?: unknown;
  readonly error?: unknown;
}

export interface ClientMcp {
  readonly type: 'mcp';
  readonly payload: McpPayload;
}

/** Legacy capability/state report (§5.1); kept for completeness, not sent by speakerd. */
export interface ClientIot {
  readonly type: 'iot';
  readonly update?: boolean;
  readonly descriptors?: readonly unknown[];
  readonly states?: readonly unknown[];
}

/** MQTT transport only (§5.1); never sent over WebSocket by speakerd. */
export interface ClientGoodbye {
  readonly type: 'goodbye';
}

/** xinnan extension (§5.1): answered only when `enable_websocket_ping` is on server-side. */
export interface ClientPing {
  readonly type: 'ping';
}

export type ClientMessage =
  | ClientHello
  | ClientListen
  | ClientAbort
  | ClientMcp
  | ClientIot
  | ClientGoodbye
  | ClientPing;

// ---------------------------------------------------------------- server → device (§5.2)

export interface ServerHello {
  readonly type: 'hello';
  readonly transport: string;
  readonly version?: number;
  readonly session_id?: string;
  readonly audio_params?: Partial<AudioParams>;
}

export interface ServerStt {
  readonly type: 'stt';
  readonly text: string;
  readonly session_id?: string;
}

export interface ServerLlm {
  readonly type: 'llm';
  readonly text?: string;
  readonly emotion?: string;
  readonly session_id?: string;
}

export type ServerTts =
  | { readonly type: 'tts'; readonly state: 'start'; readonly session_id?: string }
  | { readonly type: 'tts'; readonly state: 'stop'; readonly session_id?: string }
  | {
      readonly type: 'tts';
      readonly state: 'sentence_start';
      readonly text?: string;
      readonly session_id?: string;
    };

export interface ServerMcp {
  readonly type: 'mcp';
  readonly payload: McpPayload;
  readonly session_id?: string;
}

export interface ServerSystem {
  readonly type: 'system';
  readonly command: string;
}

export interface ServerAlert {
  readonly type: 'alert';
  readonly status: string;
  readonly message: string;
  readonly emotion: string;
}

export interface ServerCustom {
  readonly type: 'custom';
  readonly payload: unknown;
}

export interface ServerIot {
  readonly type: 'iot';
  readonly commands: readonly unknown[];
}

export interface ServerGoodbye {
  readonly type: 'goodbye';
  readonly session_id?: string;
}

export interface ServerPong {
  readonly type: 'pong';
  readonly timestamp?: string;
}

export type ServerMessage =
  | ServerHello
  | ServerStt
  | ServerLlm
  | ServerTts
  | ServerMcp
  | ServerSystem
  | ServerAlert
  | ServerCustom
  | ServerIot
  | ServerGoodbye
  | ServerPong;

// ---------------------------------------------------------------- decoded frames

/**
 * What one inbound frame turned out to be. Only `message` and `audio` carry protocol content; the
 * rest are diagnostics the caller logs (a non-JSON text right after the upgrade is xinnan's auth
 * failure `认证失败`, protocol.md §2.5).
 */
export type Inbound<M> =
  | { readonly kind: 'message'; readonly message: M }
  | { readonly kind: 'audio'; readonly opus: Buffer }
  /** Text that is not JSON at all. */
  | { readonly kind: 'text'; readonly text: string }
  /** A JSON object whose `type` we do not know (ignored, protocol.md §10.2). */
  | { readonly kind: 'unknown'; readonly type: string }
  /** JSON that is not a valid message: not an object, missing/invalid fields. */
  | { readonly kind: 'invalid'; readonly reason: string };

export type ServerFrame = Inbound<ServerMessage>;
export type ClientFrame = Inbound<ClientMessage>;
