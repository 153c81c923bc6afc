import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { FRAME_BYTES } from '../../src/audio/audio-port.js';
import { type ContinuousCapture, FrameRing, PrerollSource, prerollFrames } from '../../src/audio/preroll.js';
import { ErrorCode, type Fault, fault } from '../../src/core/errors.js';

class FakeCapture
  extends EventEmitter<{ frame: [pcm: Buffer]; fault: [fault: Fault] }>
  implements ContinuousCapture
{
  starts = 0;
  stops = 0;
  start(): void {
    this.starts++;
  }
  async stop(): Promise<void> {
    this.stops++;
  }
}

/** Frame n: every byte is n, so order is visible. */
const frame = (n: number) => Buffer.alloc(FRAME_BYTES, n);
const ids = (frames: Buffer[]) => frames.map((f) => f[0]);

function rig(prerollMs = 300) {
  const capture = new FakeCapture();
  const source = new PrerollSource(capture, { name: 'alsa:test', prerollMs });
  const out: Buffer[] = [];
  const faults: Fault[] = [];
  source.on('frame', (f) => out.push(f));
  source.on('fault', (f) => faults.push(f));
  return { capture, source, out, faults };
}

test('prerollMs becomes whole 60 ms frames, rounded up', () => {
  assert.equal(prerollFrames(300), 5);
  assert.equal(prerollFrames(100), 2);
  assert.equal(prerollFrames(0), 0);
  assert.throws(() => prerollFrames(-1), RangeError);
});

test('the ring keeps only the last prerollMs, oldest dropped, and no references beyond its bound', () => {
  const ring = new FrameRing(5);
  for (let i = 0; i < 23; i++) ring.push(frame(i));
  assert.equal(ring.size, 5);
  assert.equal(ring.referenced, 5);
  assert.deepEqual(ids(ring.drain()), [18, 19, 20, 21, 22]);
  assert.equal(ring.size, 0);
  assert.equal(ring.referenced, 0, 'drained frames are released');
  const none = new FrameRing(0);
  none.push(frame(1));
  assert.deepEqual(none.drain(), []);
});

test('start sends the pre-roll first, synchronously, then live frames', () => {
  const r = rig(300);
  r.source.open();
  assert.equal(r.capture.starts, 1);
  for (let i = 1; i <= 12; i++) r.capture.emit('frame', frame(i));
  assert.deepEqual(r.out, [], 'nothing forwarded before a turn');
  assert.equal(r.source.buffered, 5);
  r.source.start();
  assert.deepEqual(ids(r.out), [8, 9, 10, 11, 12], 'the last 300 ms, oldest first, during start()');
  assert.equal(r.source.buffered, 0);
  r.capture.emit('frame', frame(13));
  r.capture.emit('frame', frame(14));
  assert.deepEqual(ids(r.out), [8, 9, 10, 11, 12, 13, 14]);
  assert.equal(r.source.buffered, 0, 'live frames are not kept');
});

test('start and stop are idempotent; nothing is forwarded after stop; the ring refills', () => {
  const r = rig(120);
  r.source.open();
  r.capture.emit('frame', frame(1));
  r.source.start();
  r.source.start();
  assert.deepEqual(ids(r.out), [1], 'a second start sends nothing again');
  r.source.stop();
  r.source.stop();
  for (let i = 2; i <= 6; i++) r.capture.emit('frame', frame(i));
  assert.deepEqual(ids(r.out), [1]);
  assert.equal(r.source.buffered, 2);
  r.source.start();
  assert.deepEqual(ids(r.out), [1, 5, 6], 'the next turn gets what was said since');
  assert.equal(r.capture.starts, 1, 'the mic ran all along');
});

test('a listener that ends the turn inside the pre-roll stops the rest of it', () => {
  const r = rig(300);
  r.source.open();
  for (let i = 1; i <= 5; i++) r.capture.emit('frame', frame(i));
  r.source.once('frame', () => r.source.stop());
  r.source.start();
  assert.deepEqual(ids(r.out), [1]);
  r.capture.emit('frame', frame(6));
  assert.deepEqual(ids(r.out), [1]);
});

test('faults are forwarded whether or not a turn is on', () => {
  const r = rig();
  r.source.open();
  r.capture.emit('fault', fault(ErrorCode.AudioSource, 'mic default: cannot run arecord: ENOENT'));
  r.source.start();
  r.capture.emit('fault', fault(ErrorCode.AudioSource, 'again'));
  assert.deepEqual(
    r.faults.map((f) => f.message),
    ['mic default: cannot run arecord: ENOENT', 'again'],
  );
});

test('close stops the mic, drops the pre-roll and listens no more; start without open opens', async () => {
  const r = rig();
  r.source.start();
  assert.equal(r.capture.starts, 1, 'start on an unopened source starts the mic');
  assert.equal(r.source.state, 'live');
  r.capture.emit('frame', frame(1));
  r.source.stop();
  r.capture.emit('frame', frame(2));
  await r.source.close();
  await r.source.close();
  assert.equal(r.capture.stops, 1);
  assert.equal(r.source.buffered, 0);
  assert.equal(r.capture.listenerCount('frame'), 0);
  assert.equal(r.capture.listenerCount('fault'), 0);
  r.capture.emit('frame', frame(3));
  assert.deepEqual(ids(r.out), [1]);
});

test('prerollMs 0: no pre-roll, live frames only', () => {
  const r = rig(0);
  r.source.open();
  r.capture.emit('frame', frame(1));
  r.source.start();
  r.capture.emit('frame', frame(2));
  assert.deepEqual(ids(r.out), [2]);
});
