/**
 * What must hold between any two events, whatever the button did (design.md §3.3: "button spam
 * never corrupts state"). Checked by tests after every step; a breach is a programmer error.
 */
import type { ConversationConfig } from '../config/schema.js';
import type { ConversationState } from './conversation-state.js';
import { type DeadlineKind, deadlineFor } from './deadlines.js';
import type { Turn } from './turn-timeline.js';

export interface ConversationSnapshot {
  readonly state: ConversationState;
  readonly started: boolean;
  readonly micOn: boolean;
  readonly sinkOpen: boolean;
  readonly turn: Turn | undefined;
  readonly deadline: DeadlineKind | undefined;
  readonly activationCode: string | undefined;
  readonly config: ConversationConfig;
}

export function checkInvariants(s: ConversationSnapshot): void {
  const { state, turn } = s;
  const fail = (what: string): never => {
    throw new Error(`conversation invariant broken in ${state}: ${what}`);
  };
  // The mic runs exactly while the user is being heard: listening with the uplink open, or a press
  // held while the connection is being made.
  const micExpected =
    s.started &&
    ((state === 'listening' && !!turn && !turn.awaitingReply) ||
      (state === 'connecting' && !!turn && !turn.released));
  if (s.micOn !== micExpected) fail(`mic is ${s.micOn ? 'on' : 'off'}`);
  if (s.sinkOpen !== (state === 'speaking')) fail(`playback is ${s.sinkOpen ? 'open' : 'closed'}`);
  const holdsTurn = state === 'listening' || state === 'speaking';
  if (holdsTurn && !turn) fail('no turn');
  if (!holdsTurn && state !== 'connecting' && turn) fail('a turn is open');
  if (turn && turn.held > 0 && state !== 'connecting') fail(`${turn.held} packets held outside connecting`);
  const expected = s.started ? deadlineFor(state, turn?.awaitingReply ?? false, s.config)?.kind : undefined;
  if (s.deadline !== expected) fail(`deadline ${s.deadline ?? 'none'} armed, expected ${expected ?? 'none'}`);
  if (state === 'activating' && s.activationCode === undefined) fail('activating without a code');
}
