import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConversationState } from '../../src/conversation/conversation-state.js';
import {
  BLINK_PHASE_MS,
  CONVERSATION_STATES,
  type Indicator,
  indicatorFor,
  LINK_STATES,
  MIC_HEALTH,
} from '../../src/hardware/indicator.js';
import type { LinkState } from '../../src/session/session-port.js';

const COLORS = new Set(['off', 'red', 'green', 'blue', 'amber']);
const PATTERNS = new Set(['off', 'steady', 'slow-blink', 'fast-blink']);

/** design.md §3.5 / protocol.md §6.2: each name has exactly one look. */
const LOOKS: Record<Indicator['name'], [Indicator['color'], Indicator['pattern']]> = {
  off: ['off', 'off'],
  idle: ['off', 'off'],
  connecting: ['blue', 'steady'],
  listening: ['red', 'steady'],
  speaking: ['green', 'steady'],
  activating: ['green', 'slow-blink'],
  offline: ['blue', 'slow-blink'],
  error: ['red', 'fast-blink'],
  muted: ['red', 'slow-blink'],
  privacy: ['amber', 'steady'],
};

test('the lists of states are complete and distinct', () => {
  assert.deepEqual([...CONVERSATION_STATES].sort(), [
    'activating',
    'connecting',
    'error',
    'idle',
    'listening',
    'offline',
    'speaking',
  ]);
  assert.deepEqual([...LINK_STATES].sort(), [
    'backoff',
    'closing',
    'connecting',
    'handshaking',
    'idle',
    'offline',
    'ready',
    'renewing',
    'stopped',
  ]);
});

test('the map is total: every (conversation × link × mic × privacy) has a valid, consistent indicator', () => {
  let triples = 0;
  const seen = new Set<string>();
  for (const c of CONVERSATION_STATES) {
    for (const l of LINK_STATES) {
      for (const m of MIC_HEALTH) {
        for (const p of ['unmuted', 'muted'] as const) {
          const ind = indicatorFor(c, l, m, p);
          triples++;
          seen.add(ind.name);
          const at = `${c}/${l}/${m}/${p}`;
          assert.ok(COLORS.has(ind.color), `${at}: color ${ind.color}`);
          assert.ok(PATTERNS.has(ind.pattern), `${at}: pattern ${ind.pattern}`);
          assert.deepEqual([ind.color, ind.pattern], LOOKS[ind.name], `${at} → ${ind.name}`);
          assert.ok(Object.isFrozen(ind), 'indicators cannot be changed by a renderer');
          assert.deepEqual(indicatorFor(c, l, m, p), ind, 'pure: same input, same output');
        }
      }
    }
  }
  assert.equal(triples, 7 * 9 * 3 * 2);
  // Every indicator of the list is reachable: none is dead code in the LED adapters.
  assert.deepEqual([...seen].sort(), Object.keys(LOOKS).sort());
});

test('a muted mic shows muted where the user is about to talk or talking', () => {
  assert.equal(indicatorFor('idle', 'ready', 'muted').name, 'muted');
  assert.equal(indicatorFor('idle', 'idle', 'muted').name, 'muted');
  assert.equal(indicatorFor('listening', 'ready', 'muted').name, 'muted');
  // A missing connection or a reply in progress matters more.
  assert.equal(indicatorFor('idle', 'backoff', 'muted').name, 'offline');
  assert.equal(indicatorFor('speaking', 'ready', 'muted').name, 'speaking');
  assert.equal(indicatorFor('connecting', 'connecting', 'muted').name, 'connecting');
  assert.equal(indicatorFor('activating', 'ready', 'muted').name, 'activating');
  assert.equal(indicatorFor('listening', 'stopped', 'muted').name, 'off');
});

test('the privacy mute shows at rest, over a mic fault and offline; what the device does shows as itself', () => {
  for (const l of ['ready', 'idle', 'backoff', 'offline'] as const) {
    assert.equal(indicatorFor('idle', l, 'ok', 'muted').name, 'privacy', l);
    assert.equal(indicatorFor('offline', l, 'fault', 'muted').name, 'privacy', l);
    assert.equal(indicatorFor('idle', l, 'muted', 'muted').name, 'privacy', l);
  }
  assert.equal(indicatorFor('speaking', 'ready', 'ok', 'muted').name, 'speaking');
  assert.equal(indicatorFor('connecting', 'connecting', 'ok', 'muted').name, 'connecting');
  assert.equal(indicatorFor('activating', 'ready', 'ok', 'muted').name, 'activating');
  assert.equal(indicatorFor('error', 'ready', 'ok', 'muted').name, 'error');
  assert.equal(indicatorFor('idle', 'stopped', 'ok', 'muted').name, 'off');
  // Never a look that means listening (red steady) or a fault (a blink).
  const privacy = indicatorFor('idle', 'ready', 'ok', 'muted');
  assert.notDeepEqual([privacy.color, privacy.pattern], LOOKS.listening);
  assert.equal(privacy.pattern, 'steady');
  assert.deepEqual(indicatorFor('idle', 'ready', 'ok', 'unmuted'), indicatorFor('idle', 'ready'));
});

test('a stale session renewed at rest changes nothing a person sees', () => {
  assert.equal(indicatorFor('idle', 'renewing', 'ok').name, 'idle');
  assert.equal(indicatorFor('idle', 'renewing', 'muted').name, 'muted');
  assert.equal(indicatorFor('connecting', 'renewing', 'ok').name, 'connecting');
});

test('firmware defaults while the link is ready', () => {
  const cases: [ConversationState, Indicator['name']][] = [
    ['idle', 'idle'],
    ['connecting', 'connecting'],
    ['listening', 'listening'],
    ['speaking', 'speaking'],
    ['activating', 'activating'],
    ['offline', 'offline'],
    ['error', 'error'],
  ];
  for (const [c, name] of cases) assert.equal(indicatorFor(c, 'ready').name, name, c);
  assert.deepEqual(indicatorFor('error', 'ready'), { name: 'error', color: 'red', pattern: 'fast-blink' });
  assert.deepEqual(indicatorFor('connecting', 'connecting'), {
    name: 'connecting',
    color: 'blue',
    pattern: 'steady',
  });
  assert.equal(BLINK_PHASE_MS['slow-blink'], 500);
  assert.equal(BLINK_PHASE_MS['fast-blink'], 100);
});

test('idle without a usable link shows offline; on-demand rest shows idle', () => {
  const notReady: LinkState[] = ['offline', 'backoff', 'connecting', 'handshaking', 'closing'];
  for (const l of notReady) assert.equal(indicatorFor('idle', l).name, 'offline', l);
  assert.equal(indicatorFor('idle', 'idle').name, 'idle');
  assert.equal(indicatorFor('idle', 'ready').name, 'idle');
});

test('a user waiting on a connection sees connecting while an attempt runs, offline between attempts', () => {
  for (const l of ['connecting', 'handshaking', 'closing', 'idle'] as const) {
    assert.equal(indicatorFor('connecting', l).name, 'connecting', l);
  }
  for (const l of ['offline', 'backoff'] as const)
    assert.equal(indicatorFor('connecting', l).name, 'offline', l);
});

test('a stopped daemon is dark whatever the conversation was', () => {
  for (const c of CONVERSATION_STATES) assert.equal(indicatorFor(c, 'stopped').name, 'off');
});

test('a faulted mic shows error, except while a reply plays or while activating', () => {
  assert.equal(indicatorFor('idle', 'ready', 'fault').name, 'error');
  assert.equal(indicatorFor('offline', 'backoff', 'fault').name, 'error');
  assert.equal(indicatorFor('speaking', 'ready', 'fault').name, 'speaking');
  assert.equal(indicatorFor('activating', 'ready', 'fault').name, 'activating');
  assert.equal(indicatorFor('idle', 'stopped', 'fault').name, 'off');
  assert.deepEqual(indicatorFor('idle', 'ready', 'ok'), indicatorFor('idle', 'ready'));
});
