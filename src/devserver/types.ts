/** Options and events of the dev-server (design.md §3.8). */
import type { IncomingHttpHeaders } from 'node:http';
import type { ClientHello, ListenMode } from '../protocol/messages.js';
import { DEFAULT_TOKEN_EXPIRE_S } from './auth.js';
import type { DevServerFaults } from './faults.js';
import type { UtteranceEnd } from './utterance.js';
import { type DetectAnswer, XINNAN_WAKEUP_WORDS } from './wake.js';

export interface DevServerAuth {
  /** HMAC key of the xinnan token (protocol.md §2.5). */
  readonly key: string;
  /** Device-Ids that skip the token check (xinnan `server.auth.allowed_devices`). */
  readonly allowedDevices?: readonly string[];
  /** Token lifetime; xinnan's default is 30 days. */
  readonly expireSeconds?: number;
  /** Token lifetime in ms (overrides expireSeconds): tokens older are refused like expired ones. */
  readonly tokenTtlMs?: number;
}

/** The manager-api activation flow (protocol.md §7.2–7.3), per Device-Id. */
export interface DevServerActivation {
  /** Sent in the OTA answer's `activation` until `/activate` has answered 200. */
  readonly code: string;
  /** `/xiaozhi/ota/activate` answers 202 this many times, then 200. */
  readonly pendingPolls: number;
}

export interface DevServerOptions {
  /** Default 127.0.0.1: a dev tool listens on loopback unless told otherwise. */
  readonly host?: string;
  /** 0 (default) picks a free port. */
  readonly port?: number;
  /** Token auth like xinnan with `server.auth.enabled`; off when absent. */
  readonly auth?: DevServerAuth;
  /** Serve `POST /xiaozhi/ota/` on the same HTTP server (protocol.md §7). */
  readonly ota?: boolean;
  /** With `ota`: ask each device for activation first (the OTA answer carries `activation`). */
  readonly activation?: DevServerActivation;
  /**
   * xinnan's `close_connection_no_voice_time` (protocol.md §8.1 rows 3–4, no-voice-timer.ts): from
   * the connect, reset only by voiced audio, `listen detect` with text and TTS sent. An audio frame
   * without voice after more than this starts a farewell turn (`tts start` without `stt`, a chime,
   * `tts stop`, close 1000); with no audio at all the connection is closed 1000 at this + 60 s.
   * undefined or 0: off (xinnan's default is 120 000; the CLI's too).
   */
  readonly noVoiceCloseMs?: number;
  /** How often the + 60 s backstop looks (xinnan: every 10 s, so 180–190 s by default). Default 10 000. */
  readonly noVoiceCheckMs?: number;
  /** Server WebSocket pings, like xinnan's library keepalive (protocol.md §8.4); 0 turns them off. */
  readonly pingIntervalMs?: number;
  /** A client that has not answered a ping within this is closed 1011 and terminated. */
  readonly pingTimeoutMs?: number;
  /** Downlink Opus rate, advertised in hello (xinnan encodes at 24000, protocol.md §4.3). */
  readonly ttsRate?: number;
  /** Silence that ends an utterance in auto mode (xinnan default 700 ms). */
  readonly vadSilenceMs?: number;
  /** Speech needed before silence can end an utterance. */
  readonly vadMinSpeechMs?: number;
  /** Upper bound of one utterance in any mode; also bounds the buffer. */
  readonly maxUtteranceMs?: number;
  /** Wait between the last TTS packet and `tts stop` (xinnan: (5 + 2) × 60 ms, protocol.md §4.2). */
  readonly ttsTailMs?: number;
  /**
   * Time between the end of an utterance and its `stt` + `tts start`: xinnan's recognition (ASR)
   * and chat start. Default 0. Neither `abort` nor `listen start` cancels a recognition under way
   * ([SRV core/handle/abortHandle.py] only clears the TTS queues): its answer comes all the same,
   * which is the race a device's cancel must survive (issue 12 §1).
   */
  readonly asrDelayMs?: number;
  /** How long a closing client gets to answer our close frame before it is terminated. */
  readonly closeGraceMs?: number;
  /** Initial fault switches. */
  readonly faults?: DevServerFaults;
  /** Wall-clock milliseconds since the epoch (token timestamps, OTA server_time); default Date.now. */
  readonly wallNow?: () => number;
  /** Random source for garbage bytes; default Math.random. */
  readonly random?: () => number;
  /** Act as xinnan's MCP client toward clients whose hello has `features.mcp` (protocol.md §5.4). */
  readonly mcp?: boolean;
  /** Implies `mcp`: after each utterance, set the client's volume by MCP (mcp-client.ts volumeForSpeech). */
  readonly mcpVolumeFromSpeech?: boolean;
  /**
   * xinnan's `wakeup_words` (wake.ts): a `listen detect` whose text is one of these (punctuation
   * and spaces ignored) is a wake word; any other text is answered as a user utterance. Default:
   * xinnan's list (XINNAN_WAKEUP_WORDS, "你好小智" …).
   */
  readonly wakeupWords?: readonly string[];
  /** xinnan's `enable_greeting` (default true): a wake word gets a greeting turn; off: stt + tts start + tts stop. */
  readonly enableGreeting?: boolean;
  /**
   * After a greeting detect, every uplink frame is dropped for this long from the first frame that
   * arrives (xinnan's `just_woken_up`, wake.ts WakeIgnore). Default 2000; 0: never.
   */
  readonly wakeIgnoreMs?: number;
}

export interface ResolvedOptions {
  readonly host: string;
  readonly port: number;
  readonly ota: boolean;
  /** 0: off. */
  readonly noVoiceCloseMs: number;
  readonly noVoiceCheckMs: number;
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
  readonly ttsRate: number;
  readonly vadSilenceMs: number;
  readonly vadMinSpeechMs: number;
  readonly maxUtteranceMs: number;
  readonly ttsTailMs: number;
  readonly asrDelayMs: number;
  readonly closeGraceMs: number;
  readonly expireSeconds: number;
  /** Set: token age is checked to the millisecond (auth.tokenTtlMs). */
  readonly tokenTtlMs: number | undefined;
  readonly activation: DevServerActivation | undefined;
  readonly allowedDevices: readonly string[];
  readonly wallNow: () => number;
  readonly random: () => number;
  readonly mcp: boolean;
  readonly mcpVolumeFromSpeech: boolean;
  readonly wakeupWords: readonly string[];
  readonly enableGreeting: boolean;
  readonly wakeIgnoreMs: number;
}

export function resolveOptions(o: DevServerOptions): ResolvedOptions {
  return {
    host: o.host ?? '127.0.0.1',
    port: o.port ?? 0,
    ota: o.ota ?? false,
    noVoiceCloseMs: o.noVoiceCloseMs ?? 0,
    noVoiceCheckMs: o.noVoiceCheckMs ?? 10_000,
    pingIntervalMs: o.pingIntervalMs ?? 20_000,
    pingTimeoutMs: o.pingTimeoutMs ?? 20_000,
    ttsRate: o.ttsRate ?? 24_000,
    vadSilenceMs: o.vadSilenceMs ?? 700,
    vadMinSpeechMs: o.vadMinSpeechMs ?? 300,
    maxUtteranceMs: o.maxUtteranceMs ?? 15_000,
    ttsTailMs: o.ttsTailMs ?? (5 + 2) * 60,
    asrDelayMs: o.asrDelayMs ?? 0,
    closeGraceMs: o.closeGraceMs ?? 500,
    expireSeconds: o.auth?.expireSeconds ?? DEFAULT_TOKEN_EXPIRE_S,
    tokenTtlMs: o.auth?.tokenTtlMs,
    activation: o.activation,
    allowedDevices: o.auth?.allowedDevices ?? [],
    wallNow: o.wallNow ?? Date.now,
    random: o.random ?? Math.random,
    mcp: (o.mcp ?? false) || (o.mcpVolumeFromSpeech ?? false),
    mcpVolumeFromSpeech: o.mcpVolumeFromSpeech ?? false,
    wakeupWords: o.wakeupWords ?? XINNAN_WAKEUP_WORDS,
    enableGreeting: o.enableGreeting ?? true,
    wakeIgnoreMs: o.wakeIgnoreMs ?? 2000,
  };
}

/**
 * Why a `tts stop` was sent: a reply played out (also the answer to a detect), an abort, a wake word
 * answered without a greeting, the no-voice farewell played out.
 */
export type TtsStopReason = 'done' | 'abort' | 'detect' | 'farewell';

/** Every event carries the connection's session id (generated at the upgrade, protocol.md §3.2). */
export interface DevServerEvents {
  /** A WebSocket upgrade completed; emitted before the Device-Id and token checks. */
  connection: [e: { sessionId: string; headers: IncomingHttpHeaders; deviceId: string | undefined }];
  hello: [e: { sessionId: string; hello: ClientHello }];
  listen: [e: { sessionId: string; state: 'start' | 'stop' | 'detect'; mode?: ListenMode; text?: string }];
  /** One uplink packet, decoded to 16 kHz PCM (invalid packets are dropped, not emitted). */
  audio: [e: { sessionId: string; pcm: Buffer }];
  utterance: [
    e: {
      sessionId: string;
      /** 16 kHz mono S16_LE, everything decoded since `listen start`. */
      pcm: Buffer;
      reason: UtteranceEnd;
      speechMs: number;
      peakDbfs: number;
      text: string;
    },
  ];
  abort: [e: { sessionId: string; reason: string | undefined }];
  /**
   * How a `listen detect` is answered (wake.ts): greeting (a wake word, greeting on), stt-only (a
   * wake word, greeting off) or chat (any other text, answered as a user utterance).
   */
  detect: [e: { sessionId: string; text: string; answer: DetectAnswer }];
  /**
   * The no-voice timeout ran out and an audio frame without voice arrived: the farewell turn
   * starts (its `tts start` follows at once, without `stt`), then the close (protocol.md §8.1 row 3).
   */
  farewell: [e: { sessionId: string; silentForMs: number }];
  'tts-start': [e: { sessionId: string }];
  'tts-stop': [e: { sessionId: string; reason: TtsStopReason }];
  /** The WebSocket closed; `code` as this side saw it (1006: no close frame). */
  closed: [e: { sessionId: string; code: number; reason: string }];
  /** An OTA request was answered (`body`: the parsed JSON body, undefined when it was not JSON). */
  ota: [e: { deviceId: string; clientId: string; body: unknown; activation: boolean }];
  /** An `/activate` poll was answered with `status` (202 pending, 200 activated). */
  activate: [e: { deviceId: string; status: number }];
}
