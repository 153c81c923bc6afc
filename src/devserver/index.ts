/** The dev-server's public surface (design.md §3.8). */
export { DEFAULT_TOKEN_EXPIRE_S, signToken, verifyToken } from './auth.js';
export { DEV_SERVER_USAGE, type DevServerCliIo, parseDevServerArgs, runDevServer } from './cli.js';
export { CLOSE_AFTER_TTS_STOP_MS, farewellChime } from './farewell.js';
export {
  type DevServerFaults,
  FAULT_NAMES,
  GARBAGE_KINDS,
  type GarbageKind,
  OVERSIZE_BYTES,
} from './faults.js';
export { AUTH_FAILED_TEXT, NO_DEVICE_ID_TEXT } from './handshake.js';
export { BACKSTOP_EXTRA_MS } from './no-voice-timer.js';
export { ACTIVATE_PATH, OTA_PATH, WS_PATH } from './ota.js';
export { DevServer } from './server.js';
export type {
  DevServerActivation,
  DevServerAuth,
  DevServerEvents,
  DevServerOptions,
  TtsStopReason,
} from './types.js';
export type { UtteranceEnd } from './utterance.js';
export { type DetectAnswer, GREETING_PROMPT, GREETING_REPLY, XINNAN_WAKEUP_WORDS } from './wake.js';
