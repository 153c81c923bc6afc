import assert from 'node:assert/strict';
import { test } from 'node:test';
import { conversationSchema } from '../../src/config/schema.js';
import {
  type ConversationSnapshot,
  checkInvariants,
  invariantBreach,
} from '../../src/conversation/invariants.js';
import { Turn } from '../../src/conversation/turn-timeline.js';

const config = conversationSchema.parse({});

function snapshot(over: Partial<ConversationSnapshot>): ConversationSnapshot {
  return {
    state: 'idle',
    started: true,
    micOn: false,
    speaker: 'silent',
    turn: undefined,
    deadline: undefined,
    activationCode: undefined,
    config,
    ...over,
  };
}

const listeningTurn = (): Turn => new Turn('click', 'auto', 0, 16);

test('invariantBreach: consistent snapshots pass, each kind of breach is named', () => {
  assert.equal(invariantBreach(snapshot({})), undefined);
  const listening = { state: 'listening', turn: listeningTurn(), micOn: true, deadline: 'listen' } as const;
  assert.equal(invariantBreach(snapshot(listening)), undefined);
  assert.equal(invariantBreach(snapshot({ ...listening, micOn: false })), 'mic is off');
  assert.equal(invariantBreach(snapshot({ micOn: true })), 'mic is on');
  assert.equal(
    invariantBreach(snapshot({ state: 'speaking', turn: listeningTurn(), deadline: 'speaking' })),
    'playback is closed',
  );
  assert.equal(
    invariantBreach(snapshot({ state: 'listening', micOn: false, deadline: 'listen' })),
    'no turn',
  );
  assert.equal(invariantBreach(snapshot({ turn: listeningTurn() })), 'a turn is open');
  const waiting = listeningTurn();
  waiting.awaitingReply = true;
  assert.equal(
    invariantBreach(snapshot({ state: 'listening', turn: waiting, deadline: 'listen' })),
    'deadline listen armed, expected reply',
  );
  assert.equal(invariantBreach(snapshot({ state: 'activating' })), 'activating without a code');
  assert.equal(invariantBreach(snapshot({ state: 'activating', activationCode: '482913' })), undefined);
  assert.throws(
    () => checkInvariants(snapshot({ speaker: 'stream' })),
    /conversation invariant broken in idle: playback is open/,
  );
});
