import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FRAME_BYTES } from '../../src/audio/audio-port.js';
import { FrameAssembler } from '../../src/audio/frames.js';
import { seededRandom } from '../../src/core/random.js';

test('arbitrary chunk sizes give exact 1920-byte frames with every byte in order', () => {
  const random = seededRandom(3);
  const total = FRAME_BYTES * 200 + 777;
  const input = Buffer.alloc(total);
  for (let i = 0; i < total; i++) input[i] = i % 251;
  const a = new FrameAssembler();
  const frames: Buffer[] = [];
  let off = 0;
  while (off < total) {
    const n = Math.min(total - off, 1 + Math.floor(random() * 5000));
    a.push(input.subarray(off, off + n), (f) => frames.push(f));
    off += n;
  }
  assert.equal(frames.length, 200);
  assert.ok(frames.every((f) => f.length === FRAME_BYTES));
  assert.deepEqual(Buffer.concat(frames), input.subarray(0, FRAME_BYTES * 200));
  assert.equal(a.pending, 777);
});

test('frames are copies: reusing the chunk does not change an emitted frame', () => {
  const a = new FrameAssembler();
  const chunk = Buffer.alloc(FRAME_BYTES, 1);
  const frames: Buffer[] = [];
  a.push(chunk, (f) => frames.push(f));
  chunk.fill(2);
  assert.equal(frames[0]?.[0], 1);
});

test('reset drops the partial frame', () => {
  const a = new FrameAssembler();
  const frames: Buffer[] = [];
  a.push(Buffer.alloc(1000, 9), (f) => frames.push(f));
  a.reset();
  a.push(Buffer.alloc(FRAME_BYTES, 5), (f) => frames.push(f));
  assert.equal(frames.length, 1);
  assert.equal(frames[0]?.[0], 5);
});
