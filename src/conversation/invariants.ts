/**
 * What must hold between any two events, whatever the button did (design.md §3.3: "button spam
 * never corrupts state"). Checked by tests after every step, and by the daemon after every event
 * when `conversation.checkInvariants` is on (the soak); a breach is a programmer error.
 */
import type { ConversationConfig } from '../config/schema.js';
import type { ConversationState } from './conversation-state.js';
import { type DeadlineKind, deadlineFor } from './deadlines.js';
import type { SpeakerState } from './turn-context.js';
import type { Turn } from './turn-timeline.js';

export interface ConversationSnapshot {
  readonly state: ConversationState;
  readonly started: boolean;
  readonly micOn: boolean;
  /** turn-context.ts SpeakerState: silent, a stream we feed (the sink is open), or a complete reply's tail. */
  readonly speaker: SpeakerState;
  readonly turn: Turn | undefined;
  readonly deadline: DeadlineKind | undefined;
  readonly activationCode: string | undefined;
  readonly config: ConversationConfig;
}

/** The first invariant the snapshot breaks, as a sentence; undefined when all hold. */
export function invariantBreach(s: ConversationSnapshot): string | undefined {
  const { state, turn } = s;
  // The mic runs exactly while the user is being heard: listening with the uplink open, or a press
  // held while the connection is being made.
  const micExpected =
    s.started &&
    ((state === 'listening' && !!turn && !turn.awaitingReply) ||
      (state === 'connecting' && !!turn && !turn.released));
  if (s.micOn !== micExpected) return `mic is ${s.micOn ? 'on' : 'off'}`;
  // Speaking holds the speaker open, except while a complete reply's tail plays out.
  const sinkOpen = s.speaker === 'stream';
  if (sinkOpen !== (state === 'speaking' && turn?.playingOut !== true))
    return `playback is ${sinkOpen ? 'open' : 'closed'}`;
  // The device never listens to its own voice: a press cuts a tail, auto mode waits for it.
  if (s.micOn && s.speaker === 'tail') return 'the mic is on while a reply plays out';
  const holdsTurn = state === 'listening' || state === 'speaking';
  if (holdsTurn && !turn) return 'no turn';
  if (!holdsTurn && state !== 'connecting' && turn) return 'a turn is open';
  if (turn && turn.held > 0 && state !== 'connecting') return `${turn.held} packets held outside connecting`;
  const expected = s.started ? deadlineFor(state, turn?.awaitingReply ?? false, s.config)?.kind : undefined;
  if (s.deadline !== expected)
    return `deadline ${s.deadline ?? 'none'} armed, expected ${expected ?? 'none'}`;
  if (state === 'activating' && s.activationCode === undefined) return 'activating without a code';
  return undefined;
}

/** Throws on the first broken invariant (tests). */
export function checkInvariants(s: ConversationSnapshot): void {
  const breach = invariantBreach(s);
  if (breach !== undefined) throw new Error(`conversation invariant broken in ${s.state}: ${breach}`);
}
