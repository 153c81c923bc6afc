/**
 * Stable error codes for operational failures (design.md §5.10). These appear in logs and STATUS
 * lines, so an operator can grep a fleet for them; never rename one.
 */
export const ErrorCode = {
  ConfigInvalid: 'E_CONFIG_INVALID',
  ConnectFailed: 'E_CONNECT_FAILED',
  HelloTimeout: 'E_HELLO_TIMEOUT',
  HeartbeatTimeout: 'E_HEARTBEAT_TIMEOUT',
  AuthRejected: 'E_AUTH_REJECTED',
  SendFailed: 'E_SEND_FAILED',
  ConnectionLost: 'E_CONNECTION_LOST',
  MessageTooBig: 'E_MESSAGE_TOO_BIG',
  ProtocolViolation: 'E_PROTOCOL',
  ListenDeadline: 'E_DEADLINE_LISTENING',
  ReplyDeadline: 'E_DEADLINE_REPLY',
  SpeakingDeadline: 'E_DEADLINE_SPEAKING',
  AudioSource: 'E_AUDIO_SOURCE',
  AudioSink: 'E_AUDIO_SINK',
  OpusDecode: 'E_OPUS_DECODE',
  Identity: 'E_IDENTITY',
  Credentials: 'E_CREDENTIALS',
  Gpio: 'E_GPIO',
  LedWrite: 'E_LED_WRITE',
  NotifyUnavailable: 'E_NOTIFY_UNAVAILABLE',
  /** A conversation invariant broken (conversation/invariants.ts): a programmer error, logged when checked. */
  Invariant: 'E_INVARIANT',
  /** OTA (provisioning/ota.ts): DNS, TCP, TLS — no HTTP answer at all. */
  OtaUnreachable: 'E_OTA_UNREACHABLE',
  /** OTA: no complete answer within ota.timeoutMs. */
  OtaTimeout: 'E_OTA_TIMEOUT',
  /** OTA: an HTTP status other than 200 (202 only means something for /activate). */
  OtaHttp: 'E_OTA_HTTP',
  /** OTA: not JSON, too big, or a field of the wrong type. */
  OtaInvalid: 'E_OTA_INVALID',
  /** OTA: xinnan's {"success":false,"message":…} at HTTP 200 (protocol.md §7.2). */
  OtaRejected: 'E_OTA_REJECTED',
  /** OTA: an answer without websocket and without activation (an MQTT-only server). */
  OtaNoWebsocket: 'E_OTA_NO_WEBSOCKET',
  /** Wake word (wakeword/): its models do not load, or its worker died (it is restarted). */
  WakeWord: 'E_WAKEWORD',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** An operational failure carried as a value: a stable code plus a human sentence. */
export interface Fault {
  readonly code: ErrorCode;
  readonly message: string;
}

export function fault(code: ErrorCode, message: string): Fault {
  return { code, message };
}

/** The errno code (ENOENT, EACCES…) of a thrown system error, if it has one. */
export function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string'
    ? err.code
    : undefined;
}

/** Turn any thrown value into a readable message without losing its code (ECONNREFUSED…). */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = errnoCode(err);
    return code && !err.message.includes(code) ? `${code} ${err.message}` : err.message;
  }
  return String(err);
}
