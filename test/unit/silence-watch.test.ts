import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FRAME_BYTES, FRAME_MS } from '../../src/audio/audio-port.js';
import { DigitalSilenceWatch, MUTED_AFTER_MS } from '../../src/audio/silence-watch.js';
import { captureLogger } from '../fakes/capture-logger.js';

const zero = () => Buffer.alloc(FRAME_BYTES);
/** A quiet room: ±1 LSB of noise, far below anything audible, but not digital zero. */
const quiet = () => {
  const f = Buffer.alloc(FRAME_BYTES);
  f.writeInt16LE(1, 100);
  f.writeInt16LE(-1, 900);
  return f;
};

test('exact zeros for 2 s are muted; the first frame with any signal unmutes', () => {
  const { log, lines } = captureLogger();
  const w = new DigitalSilenceWatch(log);
  const events: string[] = [];
  w.on('muted', () => events.push('muted'));
  w.on('unmuted', () => events.push('unmuted'));
  const frames = Math.ceil(MUTED_AFTER_MS / FRAME_MS);
  for (let i = 0; i < frames - 1; i++) w.push(zero());
  assert.equal(w.state, 'sound');
  w.push(zero());
  assert.equal(w.state, 'muted');
  for (let i = 0; i < 100; i++) w.push(zero());
  assert.deepEqual(events, ['muted'], 'reported once');
  w.push(quiet());
  assert.equal(w.state, 'sound');
  assert.deepEqual(events, ['muted', 'unmuted']);
  assert.ok(lines.some((l) => l.level === 40 && /mic muted: only digital zeros for 2040 ms/.test(l.msg)));
});

test('a quiet room is never muted, and zeros between sounds restart the count', () => {
  const w = new DigitalSilenceWatch(captureLogger().log);
  for (let i = 0; i < 1_000; i++) w.push(quiet());
  assert.equal(w.state, 'sound');
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 30; i++) w.push(zero());
    w.push(quiet());
  }
  assert.equal(w.state, 'sound');
});
