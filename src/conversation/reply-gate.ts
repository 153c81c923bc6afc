/**
 * Whether the server's next answer is wanted (issue "Against a real xiaozhi server" §1: a cancel
 * means silence). The protocol has no turn ids, and the xinnan server can still answer an utterance
 * the user cancelled: its recognition may already be under way when our `abort` arrives, and it
 * treats `listen stop` as "recognise what you have" in every mode ([SRV core/handle/textHandler/
 * listenMessageHandler.py], protocol.md §5.1). So after a cancel every `stt`, `tts start` and audio
 * packet is refused until the device itself asks for a new utterance (`listen start`) or a new
 * session begins (nothing of the old one can arrive on it).
 */
import type { Logger } from 'pino';

export type ReplyGateState = 'open' | 'refusing';

export class ReplyGate {
  #state: ReplyGateState = 'open';
  /** Why the gate is refusing (for the lines that report a refusal). */
  #why = '';
  /** Server messages refused since the process started (stt, tts start). */
  refused = 0;

  constructor(private readonly log: Logger) {}

  get state(): ReplyGateState {
    return this.#state;
  }

  get why(): string {
    return this.#why;
  }

  /** A cancel: whatever answers the cancelled utterance is refused from now on. */
  refuse(why: string): void {
    this.#why = why;
    this.#transition('refusing', why);
  }

  /** A new `listen start` went out, or a new session began: answers are wanted again. */
  open(why: string): void {
    this.#transition('open', why);
  }

  #transition(to: ReplyGateState, why: string): void {
    if (this.#state === to) return;
    const from = this.#state;
    this.#state = to;
    // Debug: the cancel and the next turn already have their own info lines.
    this.log.debug(
      { reply_gate_from: from, reply_gate_to: to, reason: why },
      `reply gate ${from} → ${to}: ${why}`,
    );
  }
}
