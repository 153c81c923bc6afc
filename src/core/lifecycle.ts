/**
 * A service with an explicit lifecycle (design.md §5.8): started in order, stopped in reverse,
 * `stop()` idempotent. Constructors do no I/O; `start` does.
 */
export interface Service {
  readonly name: string;
  start(signal: AbortSignal): Promise<void>;
  stop(): Promise<void>;
}
