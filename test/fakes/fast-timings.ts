/**
 * The short connection timings of the integration rigs: the shipped policy (backoff with full
 * jitter, heartbeat, hello timeout) at a pace CI can afford; the real defaults are measured by
 * `npm run measure` / `npm run bench`.
 */
export const FAST_CONNECTION = {
  pingIntervalMs: 500,
  pongTimeoutMs: 500,
  helloTimeoutMs: 1500,
  handshakeTimeoutMs: 2000,
  backoffBaseMs: 100,
  backoffCapMs: 1000,
  routineReconnectMs: 200,
  // The restart schedule for 1 s (refusals every 200 ms), then the exponential: both regimes of
  // core/backoff.ts within a test's few seconds.
  restartRetryForMs: 1000,
  authFailureWindowMs: 300,
} as const;
