import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';

/**
 * The one `state` field of a stateful object (design.md §5.3): a value from a closed set, changed
 * only through `transition`, which logs one info line and notifies listeners.
 */
export class StateCell<S extends string> extends EventEmitter<{ change: [to: S, from: S, reason: string] }> {
  #state: S;

  constructor(
    initial: S,
    private readonly log: Logger,
    private readonly what: string,
  ) {
    super();
    this.#state = initial;
  }

  get value(): S {
    return this.#state;
  }

  /** Moves to `to`; a no-op (not logged) when already there. Returns whether it changed. */
  transition(to: S, reason: string, extra?: Record<string, unknown>): boolean {
    const from = this.#state;
    if (from === to) return false;
    this.#state = to;
    this.log.info(
      { ...extra, [`${this.what}_from`]: from, [`${this.what}_to`]: to, reason },
      `${this.what} ${from} → ${to}: ${reason}`,
    );
    this.emit('change', to, from, reason);
    return true;
  }
}
