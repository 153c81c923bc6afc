/**
 * The conversation's closed set of states (design.md §3.3). Kept apart from the state machine so
 * the indicator (hardware/) and STATUS (system/) can read the type without importing the machine.
 */
export type ConversationState =
  | 'idle'
  | 'connecting'
  | 'listening'
  | 'speaking'
  | 'activating'
  | 'offline'
  | 'error';

// A mapped object, so the compiler rejects a list that misses or invents a state.
const NAMES: { readonly [S in ConversationState]: S } = {
  idle: 'idle',
  connecting: 'connecting',
  listening: 'listening',
  speaking: 'speaking',
  activating: 'activating',
  offline: 'offline',
  error: 'error',
};

export const CONVERSATION_STATES: readonly ConversationState[] = Object.freeze(Object.values(NAMES));
