import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { PassThrough, Writable } from 'node:stream';
import { test } from 'node:test';
import { AplaySink, type AplaySinkDeps, type ChildLike, type SpawnFn } from '../../src/audio/playback.js';
import { ManualClock } from '../../src/core/clock.js';
import type { Fault } from '../../src/core/errors.js';
import { captureLogger } from '../fakes/capture-logger.js';

const RATE = 24000;
const BYTES_PER_MS = (RATE * 2) / 1000; // 48
const PACKET = 60 * BYTES_PER_MS; // one 60 ms packet: 2880 bytes

/** An aplay that records what it is given and exits when the test says so. */
class FakeChild extends EventEmitter implements ChildLike {
  static nextPid = 1000;
  readonly pid: number | undefined;
  readonly stdin: Writable;
  readonly stderr = new PassThrough();
  readonly writes: { bytes: Buffer; at: number }[] = [];
  readonly signals: NodeJS.Signals[] = [];
  stdinEnded = false;
  exited = false;
  /** While true, written chunks are not acknowledged: aplay is not reading (stalled device). */
  hold = false;
  readonly #held: Array<() => void> = [];

  constructor(
    clock: ManualClock,
    readonly command: string,
    readonly args: readonly string[],
    opts: { highWaterMark?: number; spawnFails?: boolean } = {},
  ) {
    super();
    this.pid = opts.spawnFails ? undefined : FakeChild.nextPid++;
    this.stdin = new Writable({
      highWaterMark: opts.highWaterMark ?? 16 * 1024,
      write: (chunk: Buffer, _enc, cb) => {
        this.writes.push({ bytes: chunk, at: clock.now() });
        if (this.hold) this.#held.push(() => cb());
        else cb();
      },
      final: (cb) => {
        this.stdinEnded = true;
        cb();
      },
    });
  }

  get written(): Buffer {
    return Buffer.concat(this.writes.map((w) => w.bytes));
  }

  release(): void {
    this.hold = false;
    for (const cb of this.#held.splice(0)) cb();
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    this.signals.push(signal);
    return !this.exited;
  }

  exit(code: number | null, signal: NodeJS.Signals | null = null): void {
    this.exited = true;
    this.emit('exit', code, signal);
    this.emit('close', code, signal);
  }
}

function setup(over: Partial<AplaySinkDeps> = {}, childOpts: { highWaterMark?: number } = {}) {
  const clock = new ManualClock(1000);
  const { log, lines } = captureLogger();
  const children: FakeChild[] = [];
  let failNext = false;
  const spawn: SpawnFn = (command, args) => {
    const c = new FakeChild(clock, command, args, { ...childOpts, spawnFails: failNext });
    children.push(c);
    return c;
  };
  const sink = new AplaySink({
    device: 'fakespk',
    prebufferMs: 150,
    maxQueueMs: 300,
    clock,
    log,
    spawn,
    ...over,
  });
  const faults: Fault[] = [];
  let drained = 0;
  sink.on('fault', (f) => faults.push(f));
  sink.on('drained', () => drained++);
  const child = (i = children.length - 1): FakeChild => {
    const c = children[i];
    if (!c) throw new Error(`no child ${i}`);
    return c;
  };
  return {
    clock,
    sink,
    lines,
    children,
    child,
    faults,
    drained: () => drained,
    failNextSpawn: () => {
      failNext = true;
    },
  };
}

/** `n` bytes of a recognisable ramp (every sample distinct within 32 k samples), starting at `seed`. */
function pcm(n: number, seed = 0): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i + 1 < n; i += 2) b.writeInt16LE(((seed + i / 2) % 32768) - 16384, i);
  return b;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('spawns aplay with the raw S16_LE mono argv for the stream rate and device', () => {
  const { sink, child } = setup();
  sink.begin(RATE);
  assert.equal(child().command, 'aplay');
  assert.deepEqual(child().args, [
    '-q',
    '-t',
    'raw',
    '-f',
    'S16_LE',
    '-r',
    '24000',
    '-c',
    '1',
    '-D',
    'fakespk',
    '--buffer-time=100000',
    '-',
  ]);
  assert.equal(sink.state, 'buffering');
});

test('pre-buffer: nothing reaches aplay until 150 ms are queued, then all of it at once', () => {
  const { sink, child } = setup();
  sink.begin(RATE);
  sink.write(pcm(PACKET, 0));
  sink.write(pcm(PACKET, 1440));
  assert.equal(child().writes.length, 0, '120 ms is below the pre-buffer');
  assert.equal(sink.state, 'buffering');
  sink.write(pcm(PACKET, 2880));
  assert.equal(sink.state, 'playing');
  assert.equal(child().written.length, 3 * PACKET);
  assert.deepEqual(child().written, pcm(3 * PACKET, 0));
});

test('pre-buffer: a stream that never fills it still starts 500 ms after its first audio', () => {
  const { sink, child, clock } = setup();
  sink.begin(RATE);
  sink.write(pcm(PACKET));
  clock.advance(499);
  sink.write(pcm(PACKET, 1440));
  assert.equal(child().writes.length, 0);
  clock.advance(1);
  assert.equal(sink.state, 'playing');
  assert.deepEqual(child().written, pcm(2 * PACKET));
});

test('pacing: never more than 300 ms ahead of the play position, and never starved while audio waits', () => {
  const { sink, child, clock } = setup();
  const start = clock.now();
  sink.begin(RATE);
  const total = 34 * PACKET; // 2.04 s, all at once: a server burst
  const audio = pcm(total);
  for (let off = 0; off < total; off += PACKET) sink.write(audio.subarray(off, off + PACKET));
  assert.equal(child().written.length, 300 * BYTES_PER_MS, 'exactly the 300 ms window at once');
  let maxAhead = 0;
  let minAheadWhileQueued = Number.POSITIVE_INFINITY;
  for (let t = 0; t <= 2500; t += 5) {
    const handed = child().written.length;
    const played = Math.min(handed, (clock.now() - start) * BYTES_PER_MS);
    const ahead = (handed - played) / BYTES_PER_MS;
    maxAhead = Math.max(maxAhead, ahead);
    if (sink.stats.queuedBytes > 0) minAheadWhileQueued = Math.min(minAheadWhileQueued, ahead);
    assert.equal(sink.stats.aheadMs, ahead);
    clock.advance(5);
  }
  assert.ok(maxAhead <= 300, `max ahead ${maxAhead} ms`);
  // Wake-ups come when a 60 ms packet fits: the lead stays within one packet of the window.
  assert.ok(minAheadWhileQueued >= 300 - 60 - 5, `min ahead ${minAheadWhileQueued} ms`);
  assert.deepEqual(child().written, audio, 'bit-exact, in order');
});

test('a long pause in the stream restarts the estimate: no burst beyond the window afterwards', () => {
  const { sink, child, clock } = setup();
  sink.begin(RATE);
  sink.write(pcm(4 * PACKET)); // 240 ms ≥ pre-buffer
  clock.advance(1000); // network stall: the speaker has run dry
  sink.write(pcm(10 * PACKET, 99)); // 600 ms arrive at once
  assert.equal(child().written.length, 4 * PACKET + 300 * BYTES_PER_MS);
});

test('end() hands over the rest, closes stdin, and emits drained only when aplay has exited 0', async () => {
  const { sink, child, clock, drained, faults } = setup();
  sink.begin(RATE);
  const audio = pcm(20 * PACKET); // 1.2 s
  sink.write(audio);
  sink.end();
  assert.equal(sink.state, 'draining');
  clock.advance(2000);
  await tick();
  assert.equal(child().stdinEnded, true);
  assert.deepEqual(child().written, audio);
  assert.equal(drained(), 0, 'not before aplay has played it out');
  child().exit(0);
  assert.equal(drained(), 1);
  assert.equal(sink.state, 'idle');
  assert.deepEqual(faults, []);
  assert.equal(clock.pending, 0, 'no timer left');
});

test('end() before the pre-buffer filled plays what there is', async () => {
  const { sink, child, drained } = setup();
  sink.begin(RATE);
  sink.write(pcm(PACKET));
  sink.end();
  await tick();
  assert.equal(child().written.length, PACKET);
  assert.equal(child().stdinEnded, true);
  child().exit(0);
  assert.equal(drained(), 1);
});

test('writes after end() or abort() are ignored until the next begin()', async () => {
  const { sink, child } = setup();
  sink.begin(RATE);
  sink.write(pcm(4 * PACKET));
  sink.end();
  sink.write(pcm(PACKET));
  await tick();
  assert.equal(child().written.length, 4 * PACKET);
});

test('abort(): SIGTERM at once, SIGKILL at 50 ms if aplay is still there, no fault, no wait', () => {
  const { sink, child, clock, faults, drained } = setup();
  sink.begin(RATE);
  sink.write(pcm(20 * PACKET));
  const handed = child().written.length;
  sink.abort();
  assert.deepEqual(child().signals, ['SIGTERM']);
  assert.equal(sink.state, 'aborting');
  assert.equal(sink.stats.queuedBytes, 0, 'queue dropped');
  clock.advance(49);
  assert.deepEqual(child().signals, ['SIGTERM'], 'still within the grace');
  clock.advance(1);
  assert.deepEqual(child().signals, ['SIGTERM', 'SIGKILL']);
  clock.advance(1000);
  assert.equal(child().written.length, handed, 'nothing more handed over');
  child().exit(null, 'SIGKILL');
  assert.equal(sink.state, 'idle');
  assert.deepEqual(faults, []);
  assert.equal(drained(), 0);
  assert.equal(sink.stats.liveChildren, 0);
  sink.abort(); // idempotent
  assert.equal(child().signals.length, 2);
});

test('abort(): an aplay that exits on SIGTERM gets no SIGKILL and leaves no timer', () => {
  const { sink, child, clock } = setup();
  sink.begin(RATE);
  sink.write(pcm(4 * PACKET));
  sink.abort();
  clock.advance(5);
  child().exit(1);
  clock.advance(100);
  assert.deepEqual(child().signals, ['SIGTERM']);
  assert.equal(clock.pending, 0);
});

test('abort() while draining silences the tail and suppresses drained', () => {
  const { sink, child, drained, faults } = setup();
  sink.begin(RATE);
  sink.write(pcm(4 * PACKET));
  sink.end();
  sink.abort();
  assert.deepEqual(child().signals, ['SIGTERM']);
  child().exit(null, 'SIGTERM');
  assert.equal(drained(), 0);
  assert.deepEqual(faults, []);
});

test('aplay exiting on its own mid-stream: one fault with code and stderr; the stream is over', () => {
  const { sink, child, faults, lines } = setup();
  sink.begin(RATE);
  sink.write(pcm(4 * PACKET));
  child().stderr.write('ALSA lib pcm.c:2666:(snd_pcm_open_noupdate) Unknown PCM fakespk\n');
  child().stderr.write('aplay: main:831: audio open error: No such file or directory\n');
  return tick().then(() => {
    child().exit(1);
    assert.equal(faults.length, 1);
    const f = faults[0];
    assert.equal(f?.code, 'E_AUDIO_SINK');
    assert.match(f?.message ?? '', /exited with code 1/);
    assert.match(f?.message ?? '', /audio open error: No such file or directory/);
    assert.equal(sink.state, 'idle');
    assert.ok(lines.some((l) => l.level === 40 && /exited with code 1/.test(l.msg)));
    sink.write(pcm(PACKET)); // ignored, no new child
    sink.end(); // ignored
    assert.equal(faults.length, 1);
  });
});

test('aplay killed from outside: fault names the signal; the next begin() spawns a fresh aplay', async () => {
  const { sink, child, children, faults, drained } = setup();
  sink.begin(RATE);
  sink.write(pcm(4 * PACKET));
  child().exit(null, 'SIGKILL');
  assert.match(faults[0]?.message ?? '', /killed by SIGKILL/);
  sink.begin(RATE);
  assert.equal(children.length, 2);
  sink.write(pcm(4 * PACKET, 7));
  sink.end();
  await tick();
  assert.deepEqual(child(1).written, pcm(4 * PACKET, 7));
  child(1).exit(0);
  assert.equal(drained(), 1);
});

test('EPIPE on stdin then death by SIGPIPE: one fault with both', () => {
  const { sink, child, faults } = setup();
  sink.begin(RATE);
  sink.write(pcm(4 * PACKET));
  const epipe = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
  child().stdin.destroy(epipe);
  return tick().then(() => {
    child().exit(null, 'SIGPIPE');
    assert.equal(faults.length, 1);
    assert.match(faults[0]?.message ?? '', /killed by SIGPIPE/);
    assert.match(faults[0]?.message ?? '', /EPIPE/);
  });
});

test('a spawn failure (aplay missing) is a fault, not a throw', () => {
  const { sink, child, faults, failNextSpawn } = setup();
  failNextSpawn();
  sink.begin(RATE);
  const c = child();
  c.emit('error', Object.assign(new Error('spawn aplay ENOENT'), { code: 'ENOENT' }));
  c.emit('close', -2, null);
  assert.equal(faults.length, 1);
  assert.match(faults[0]?.message ?? '', /could not start: spawn aplay ENOENT/);
  assert.equal(sink.state, 'idle');
});

test('begin() while the previous stream drains cuts it off (SIGTERM) and its exit reports nothing', () => {
  const { sink, child, children, faults, drained } = setup();
  sink.begin(RATE);
  sink.write(pcm(4 * PACKET));
  sink.end();
  sink.begin(RATE);
  assert.equal(children.length, 2);
  assert.deepEqual(child(0).signals, ['SIGTERM']);
  assert.equal(sink.state, 'buffering');
  child(0).exit(null, 'SIGTERM');
  assert.equal(sink.state, 'buffering', 'the old child does not touch the new stream');
  assert.equal(drained(), 0);
  assert.deepEqual(faults, []);
  assert.equal(sink.stats.liveChildren, 1);
});

test('an aplay that stops taking audio is a fault after stallMs, and is killed', () => {
  const { sink, child, clock, faults } = setup({ stallMs: 3000 }, { highWaterMark: 1024 });
  sink.begin(RATE);
  child().hold = true;
  sink.write(pcm(20 * PACKET));
  const handed = child().writes.length;
  clock.advance(2999);
  assert.equal(faults.length, 0);
  assert.equal(child().writes.length, handed, 'held back while stdin is full');
  clock.advance(1);
  assert.equal(faults.length, 1);
  assert.match(faults[0]?.message ?? '', /took no audio for 3000 ms/);
  assert.deepEqual(child().signals, ['SIGTERM']);
  child().exit(null, 'SIGTERM');
  assert.equal(faults.length, 1, 'the exit after our kill is not a second fault');
});

test('backpressure that clears resumes the pacing', () => {
  const { sink, child, clock, faults } = setup({}, { highWaterMark: 1024 });
  sink.begin(RATE);
  child().hold = true;
  sink.write(pcm(20 * PACKET));
  const n = child().writes.length;
  clock.advance(500);
  child().release();
  clock.advance(1);
  assert.ok(child().writes.length > n);
  assert.deepEqual(faults, []);
});

test('an aplay that never finishes after end() is a fault after the remaining audio + slack', async () => {
  const { sink, child, clock, faults } = setup({ drainSlackMs: 2000 });
  sink.begin(RATE);
  sink.write(pcm(10 * PACKET)); // 600 ms
  sink.end();
  clock.advance(600 + 1999);
  await tick();
  assert.equal(child().stdinEnded, true);
  assert.equal(faults.length, 0);
  clock.advance(1);
  assert.equal(faults.length, 1);
  assert.match(faults[0]?.message ?? '', /did not finish within 2600 ms/);
  assert.deepEqual(child().signals, ['SIGTERM']);
});

test('the queue is bounded: the oldest audio is dropped, counted and logged once', () => {
  const { sink, child, lines } = setup({ maxBufferedMs: 1000 });
  sink.begin(RATE);
  for (let i = 0; i < 50; i++) sink.write(pcm(PACKET, i * 1440)); // 3 s at once
  const handed = child().written.length;
  assert.equal(handed, 300 * BYTES_PER_MS);
  assert.ok(sink.stats.queuedBytes <= 1000 * BYTES_PER_MS);
  assert.equal(sink.stats.droppedBytes, 50 * PACKET - handed - sink.stats.queuedBytes);
  assert.equal(lines.filter((l) => /playback queue full/.test(l.msg)).length, 1);
});

test('gain is applied to every piece handed over', () => {
  const { sink, child } = setup({ gain: (p) => Buffer.alloc(p.length, 1) });
  sink.begin(RATE);
  sink.write(pcm(4 * PACKET));
  assert.ok(child().written.every((b) => b === 1));
});

test('odd-sized writes keep sample alignment', async () => {
  const { sink, child } = setup({ prebufferMs: 0 });
  sink.begin(RATE);
  const audio = pcm(1001);
  sink.write(audio.subarray(0, 333));
  sink.write(audio.subarray(333, 1000));
  sink.write(audio.subarray(1000));
  sink.end();
  await tick();
  for (const w of child().writes) assert.equal(w.bytes.length % 2, 0);
  assert.deepEqual(child().written, audio.subarray(0, 1000));
});

test('close() aborts, waits for the child to exit, and refuses a later begin()', async () => {
  const { sink, child, clock } = setup();
  sink.begin(RATE);
  sink.write(pcm(4 * PACKET));
  let closed = false;
  const p = sink.close().then(() => {
    closed = true;
  });
  await tick();
  assert.equal(closed, false);
  assert.deepEqual(child().signals, ['SIGTERM']);
  clock.advance(50);
  assert.deepEqual(child().signals, ['SIGTERM', 'SIGKILL']);
  child().exit(null, 'SIGKILL');
  await p;
  assert.equal(sink.state, 'closed');
  assert.throws(() => sink.begin(RATE), /after close/);
  assert.equal(clock.pending, 0);
});

test('every transition is logged through the one state field', async () => {
  const { sink, child, lines } = setup();
  sink.begin(RATE);
  sink.write(pcm(4 * PACKET));
  sink.end();
  await tick();
  child().exit(0);
  const seen = lines.filter((l) => typeof l.playback_to === 'string').map((l) => l.playback_to);
  assert.deepEqual(seen, ['buffering', 'playing', 'draining', 'idle']);
});

test('programmer errors throw', () => {
  const { sink } = setup();
  assert.throws(() => sink.begin(0), RangeError);
  assert.throws(() => sink.begin(24000.5), RangeError);
});
