/**
 * The deadlines of the waiting states (design.md §3.3): one slot, because every state waits for at
 * most one thing. Arming replaces whatever was armed, so "exactly the deadline of the current state"
 * holds by construction.
 */

import type { ConversationConfig } from '../config/schema.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { ConversationState } from './conversation-state.js';

/**
 * - `listen`: listening with the mic open, no stt/tts reply yet.
 * - `reply`: the uplink is closed (listen stop or stt), no `tts start` yet.
 * - `speaking`: no audio packet and no `tts stop` (re-armed on every packet).
 * - `connect`: the user pressed while offline; the connection must come in time.
 * - `error-display`: how long the error indicator shows before the device recovers.
 */
export type DeadlineKind = 'listen' | 'reply' | 'speaking' | 'connect' | 'error-display';

export interface DeadlineSpec {
  readonly kind: DeadlineKind;
  readonly ms: number;
}

/**
 * The deadline a state must have armed. `awaitingReply` is the listening detail: whether the
 * uplink is already closed. A pending press shares the listen deadline: the user is waiting either way.
 */
export function deadlineFor(
  state: ConversationState,
  awaitingReply: boolean,
  config: ConversationConfig,
): DeadlineSpec | undefined {
  switch (state) {
    case 'listening':
      return awaitingReply
        ? { kind: 'reply', ms: config.replyDeadlineMs }
        : { kind: 'listen', ms: config.listenDeadlineMs };
    case 'speaking':
      return { kind: 'speaking', ms: config.speakingDeadlineMs };
    case 'connecting':
      return { kind: 'connect', ms: config.listenDeadlineMs };
    case 'error':
      return { kind: 'error-display', ms: config.errorDisplayMs };
    case 'idle':
    case 'activating':
    case 'offline':
      return undefined;
  }
}

export class DeadlineSlot {
  #armed: { kind: DeadlineKind; handle: TimerHandle } | undefined;

  constructor(private readonly clock: Clock) {}

  get kind(): DeadlineKind | undefined {
    return this.#armed?.kind;
  }

  arm(spec: DeadlineSpec, onFire: (kind: DeadlineKind) => void): void {
    this.clear();
    const armed = {
      kind: spec.kind,
      handle: this.clock.setTimeout(() => {
        // Only the deadline still in the slot may fire; a replaced one was cleared already.
        if (this.#armed !== armed) return;
        this.#armed = undefined;
        onFire(spec.kind);
      }, spec.ms),
    };
    this.#armed = armed;
  }

  clear(): void {
    if (!this.#armed) return;
    this.clock.clearTimeout(this.#armed.handle);
    this.#armed = undefined;
  }
}
