/**
 * AlsaCapture against a fake node-record-lpcm16 `record`: the fake child replays what the real
 * one does (test-infra.md §1.7): 'spawn', stdout chunks, stderr lines, 'error' ENOENT then
 * 'close' -2, and the library's string 'error' on the stream before 'close' on any non-zero exit.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import type { RecordOptions } from 'node-record-lpcm16';
import { FRAME_BYTES } from '../../src/audio/audio-port.js';
import { AlsaCapture, type RecorderProcess, type Recording, STALL_MS } from '../../src/audio/capture.js';
import { ManualClock } from '../../src/core/clock.js';
import { ErrorCode, type Fault } from '../../src/core/errors.js';
import { captureLogger } from '../fakes/capture-logger.js';

class FakeChild extends EventEmitter implements RecorderProcess {
  readonly stderr = new Readable({ read: () => undefined });
  readonly stdout = new Readable({ read: () => undefined });
  readonly kills: NodeJS.Signals[] = [];
  closed = false;
  /** Signals this child dies of (a wedged arecord ignores SIGTERM). */
  diesOn: NodeJS.Signals[] = ['SIGTERM', 'SIGKILL'];

  constructor(readonly pid: number | undefined) {
    super();
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    this.kills.push(signal);
    // arecord answers SIGTERM with exit code 1 (test-infra.md §1.7), SIGKILL with the signal.
    if (this.diesOn.includes(signal))
      this.exit(signal === 'SIGTERM' ? 1 : null, signal === 'SIGTERM' ? null : signal);
    return true;
  }

  spawned(): void {
    this.emit('spawn');
  }

  out(bytes: Buffer): void {
    this.stdout.emit('data', bytes);
  }

  err(text: string): void {
    this.stderr.emit('data', Buffer.from(text));
  }

  /** The library's 'close' listener (registered first) emits its string error, then ours runs. */
  exit(code: number | null, signal: NodeJS.Signals | null = null): void {
    if (this.closed) return;
    this.closed = true;
    if (code !== 0) {
      this.stdout.emit(
        'error',
        `arecord has exited with error code ${code}.\n\nEnable debugging with the environment variable DEBUG=record.`,
      );
    }
    this.emit('close', code, signal);
  }

  enoent(): void {
    this.emit('error', Object.assign(new Error('spawn arecord ENOENT'), { code: 'ENOENT' }));
    this.exit(-2);
  }
}

class FakeRecorder {
  readonly children: FakeChild[] = [];
  readonly options: RecordOptions[] = [];
  readonly envSeen: (string | undefined)[] = [];
  #pid = 100;

  readonly record = (options: RecordOptions): Recording => {
    this.options.push(options);
    this.envSeen.push(options.env?.SPEAKERD_TEST_MARK);
    const child = new FakeChild(this.#pid++);
    this.children.push(child);
    return { process: child, stream: () => child.stdout };
  };

  get last(): FakeChild {
    const c = this.children.at(-1);
    assert.ok(c, 'record was called');
    return c;
  }
}

function rig(o: { restartMaxMs?: number; random?: () => number; env?: NodeJS.ProcessEnv } = {}) {
  const clock = new ManualClock(1000);
  const { log, lines } = captureLogger();
  const rec = new FakeRecorder();
  const cap = new AlsaCapture({
    device: 'plughw:CARD=Device,DEV=0',
    restartMaxMs: o.restartMaxMs ?? 10_000,
    clock,
    random: o.random ?? (() => 0.5),
    log,
    record: rec.record,
    ...(o.env ? { env: o.env } : {}),
  });
  const frames: Buffer[] = [];
  const faults: Fault[] = [];
  let recovered = 0;
  cap.on('frame', (f) => frames.push(f));
  cap.on('fault', (f) => faults.push(f));
  cap.on('recovered', () => recovered++);
  return { clock, lines, rec, cap, frames, faults, recovered: () => recovered };
}

function pcm(bytes: number, seed = 0): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) b[i] = (i * 7 + seed) % 256;
  return b;
}

test('arecord is asked for raw 16 kHz mono on the configured device; chunks become exact frames', () => {
  const r = rig();
  r.cap.start();
  assert.equal(r.cap.state, 'starting');
  assert.deepEqual(r.rec.options[0], {
    recorder: 'arecord',
    audioType: 'raw',
    sampleRate: 16000,
    channels: 1,
    device: 'plughw:CARD=Device,DEV=0',
  });
  r.rec.last.spawned();
  assert.equal(r.cap.state, 'running');
  assert.equal(r.cap.pid, 100);
  const input = pcm(4000 * 5 + 123);
  for (let off = 0; off < input.length; off += 4000) r.rec.last.out(input.subarray(off, off + 4000));
  assert.equal(r.frames.length, Math.floor(input.length / FRAME_BYTES));
  assert.ok(r.frames.every((f) => f.length === FRAME_BYTES));
  assert.deepEqual(Buffer.concat(r.frames), input.subarray(0, r.frames.length * FRAME_BYTES));
  assert.equal(r.cap.lastFrameAt, 1000);
  assert.equal(r.cap.frames, r.frames.length);
  r.cap.start();
  assert.equal(r.rec.children.length, 1, 'start is idempotent');
});

test('a missing arecord (ENOENT) is a fault, then restarts with growing delays, capped, forever', () => {
  const r = rig({ restartMaxMs: 4000, random: () => 0.999 });
  r.cap.start();
  const delays: number[] = [];
  for (let i = 0; i < 7; i++) {
    r.rec.last.enoent();
    assert.equal(r.cap.state, 'backoff');
    assert.equal(r.faults.length, i + 1);
    delays.push(r.clock.msToNext());
    r.clock.advance(r.clock.msToNext());
    assert.equal(r.cap.state, 'starting');
    assert.equal(r.rec.children.length, i + 2, 'restarted by itself');
  }
  // Full jitter: uniform below min(cap, 500·2^n); random 0.999 shows the ceilings.
  assert.deepEqual(delays, [499, 999, 1998, 3996, 3996, 3996, 3996]);
  const f = r.faults[0];
  assert.equal(f?.code, ErrorCode.AudioSource);
  assert.match(f?.message ?? '', /cannot run arecord: .*ENOENT/);
  r.rec.last.enoent();
  assert.equal(r.cap.health(r.clock.now()).ok, false);
  assert.match(r.cap.health(r.clock.now()).reason ?? '', /mic backoff: .*ENOENT/);
  assert.ok(r.lines.some((l) => l.msg.includes('capture backoff → starting')));
});

test('the string error after a deliberate stop is no fault; stop waits for the exit', async () => {
  const r = rig();
  r.cap.start();
  r.rec.last.spawned();
  r.rec.last.out(pcm(FRAME_BYTES));
  const child = r.rec.last;
  child.diesOn = [];
  const stopped = r.cap.stop();
  assert.deepEqual(child.kills, ['SIGTERM']);
  assert.equal(r.cap.state, 'stopped');
  let done = false;
  void stopped.then(() => {
    done = true;
  });
  await Promise.resolve();
  assert.equal(done, false, 'stop waits for the child');
  child.exit(1); // what SIGTERM gives, with the library's string 'error'
  await stopped;
  assert.equal(r.faults.length, 0);
  assert.equal(r.cap.state, 'stopped');
  assert.equal(r.clock.pending, 0, 'no retry, no kill timer left');
  assert.equal(r.cap.pid, undefined);
  await r.cap.stop(); // idempotent
});

test('a death while running: fault with exit code and stderr tail, restart, recovered on frames', () => {
  const r = rig();
  r.cap.start();
  r.rec.last.spawned();
  r.rec.last.out(pcm(FRAME_BYTES * 2));
  r.rec.last.err('ALSA lib pcm.c:2666:(snd_pcm_open_noupdate) Unknown PCM x\n');
  r.rec.last.err('arecord: pcm_read:2221: read error: No such ');
  r.rec.last.err('device\n');
  r.rec.last.out(pcm(100)); // a partial frame: dropped with the dead recorder
  r.rec.last.exit(1);
  assert.equal(r.cap.state, 'backoff');
  assert.equal(r.faults.length, 1);
  const msg = r.faults[0]?.message ?? '';
  assert.match(msg, /exited with code 1/);
  assert.match(msg, /read error: No such device/);
  assert.match(msg, /Unknown PCM x/);
  assert.deepEqual(r.cap.stderrTail.at(-1), 'arecord: pcm_read:2221: read error: No such device');
  assert.ok(r.lines.some((l) => l.level === 40 && String(l.msg).includes('exited with code 1')));
  r.clock.advance(r.clock.msToNext());
  r.rec.last.spawned();
  assert.equal(r.recovered(), 0);
  r.rec.last.out(pcm(FRAME_BYTES, 3));
  assert.equal(r.recovered(), 1, 'frames after a fault = recovered');
  assert.equal(r.frames.length, 3);
  assert.deepEqual(r.frames[2], pcm(FRAME_BYTES, 3), 'the old partial frame did not leak into the new run');
});

test('a death before any frame is reported with the arecord line (unknown PCM)', () => {
  const r = rig();
  r.cap.start();
  r.rec.last.spawned();
  r.rec.last.err(
    'ALSA lib pcm.c:2666:(snd_pcm_open_noupdate) Unknown PCM nosuchpcm\narecord: main:831: audio open error: No such file or directory\n',
  );
  r.rec.last.exit(1);
  assert.match(r.faults[0]?.message ?? '', /Unknown PCM nosuchpcm \| arecord: main:831: audio open error/);
});

test('stderr is kept bounded: last 10 lines, each cut to 300 chars', () => {
  const r = rig();
  r.cap.start();
  for (let i = 0; i < 25; i++) r.rec.last.err(`line ${i}\n`);
  r.rec.last.err(`${'x'.repeat(5000)}\n`);
  r.rec.last.err('y'.repeat(5000)); // no newline yet: a bounded partial line
  assert.equal(r.cap.stderrTail.length, 10);
  assert.equal(r.cap.stderrTail.at(-1)?.length, 300);
  assert.equal(r.cap.stderrTail[0], 'line 16');
  r.rec.last.exit(1);
  assert.equal(r.cap.stderrTail.at(-1), 'y'.repeat(300), 'the partial line is flushed at exit');
});

test('a silent mic: health fails after 2 s, one fault, recovered when frames return', () => {
  const r = rig();
  r.cap.start();
  r.rec.last.spawned();
  r.rec.last.out(pcm(FRAME_BYTES));
  r.clock.advance(1900);
  assert.deepEqual(r.cap.health(r.clock.now()), { ok: true });
  r.rec.last.out(pcm(FRAME_BYTES)); // frames keep the window open
  r.clock.advance(1999);
  assert.equal(r.faults.length, 0);
  r.clock.advance(1);
  const h = r.cap.health(r.clock.now());
  assert.equal(h.ok, false);
  assert.match(h.reason ?? '', /no frames for 2000 ms/);
  assert.equal(r.faults.length, 1);
  assert.match(r.faults[0]?.message ?? '', /no audio for 2000 ms \(arecord pid 100 alive\)/);
  r.clock.advance(10_000);
  assert.equal(r.faults.length, 1, 'once per silence');
  assert.equal(r.cap.state, 'running', 'a silent arecord is not killed');
  r.rec.last.out(pcm(FRAME_BYTES));
  assert.equal(r.recovered(), 1);
  assert.deepEqual(r.cap.health(r.clock.now()), { ok: true });
  r.clock.advance(STALL_MS);
  assert.equal(r.faults.length, 2, 'a second silence is a second fault');
});

test('a recorder that never delivers a first frame is a silent mic too', () => {
  const r = rig();
  r.cap.start();
  r.rec.last.spawned();
  r.clock.advance(STALL_MS);
  assert.equal(r.faults.length, 1);
  assert.equal(r.cap.health(r.clock.now()).ok, false);
});

test('stop: SIGTERM, SIGKILL after 1 s, and a bounded wait if even that does not reap it', async () => {
  const r = rig();
  r.cap.start();
  r.rec.last.spawned();
  const child = r.rec.last;
  child.diesOn = ['SIGKILL'];
  const stopped = r.cap.stop();
  r.clock.advance(999);
  assert.deepEqual(child.kills, ['SIGTERM']);
  r.clock.advance(1);
  assert.deepEqual(child.kills, ['SIGTERM', 'SIGKILL']);
  await stopped;
  assert.equal(r.clock.pending, 0);
  assert.equal(r.faults.length, 0);

  r.cap.start();
  r.rec.last.spawned();
  r.rec.last.diesOn = [];
  const wedged = r.cap.stop();
  r.clock.advance(2000);
  await wedged; // resolves although the child never closed
  assert.ok(r.lines.some((l) => l.level === 50 && String(l.msg).includes('not reaped')));
});

test('start right after stop waits for the old recorder to be gone (it may hold the device)', async () => {
  const r = rig();
  r.cap.start();
  r.rec.last.spawned();
  const old = r.rec.last;
  old.diesOn = [];
  const stopped = r.cap.stop();
  r.cap.start();
  assert.equal(r.rec.children.length, 1, 'not yet');
  old.exit(1);
  await stopped;
  await Promise.resolve();
  assert.equal(r.rec.children.length, 2);
  assert.equal(r.faults.length, 0, 'the old exit is no fault');
  r.rec.last.spawned();
  assert.equal(r.cap.state, 'running');
});

test('backoff resets after a run that delivered frames for 30 s', () => {
  const r = rig({ random: () => 0.999 });
  r.cap.start();
  for (let i = 0; i < 3; i++) {
    r.rec.last.exit(1);
    r.clock.advance(r.clock.msToNext());
  }
  assert.equal(r.cap.failures, 3);
  r.rec.last.spawned();
  for (let t = 0; t < 31_000; t += 1000) {
    r.rec.last.out(pcm(FRAME_BYTES));
    r.clock.advance(1000);
  }
  r.rec.last.exit(1);
  assert.equal(r.clock.msToNext(), 499, 'back to the base delay');
  assert.equal(r.cap.failures, 1);
});

test('a fault listener that stops the capture wins: no restart is scheduled', async () => {
  const r = rig();
  r.cap.once('fault', () => {
    void r.cap.stop();
  });
  r.cap.start();
  r.rec.last.enoent();
  assert.equal(r.cap.state, 'stopped');
  assert.equal(r.clock.pending, 0);
});

test('frames after stop are dropped; a record() that throws is a fault, not a throw', async () => {
  const r = rig();
  r.cap.start();
  r.rec.last.spawned();
  const child = r.rec.last;
  child.diesOn = [];
  const stopped = r.cap.stop();
  child.out(pcm(FRAME_BYTES));
  assert.equal(r.frames.length, 0);
  child.exit(1);
  await stopped;

  const clock = new ManualClock();
  const { log } = captureLogger();
  const faults: Fault[] = [];
  const cap = new AlsaCapture({
    device: 'default',
    restartMaxMs: 1000,
    clock,
    random: () => 0.5,
    log,
    record: () => {
      throw new TypeError('bad argument');
    },
  });
  cap.on('fault', (f) => faults.push(f));
  cap.start();
  assert.equal(cap.state, 'backoff');
  assert.match(faults[0]?.message ?? '', /cannot start arecord: bad argument/);
  await cap.stop();
  assert.equal(clock.pending, 0);
});

test('an injected env goes to the recorder (the env-passing arecord module), read at every restart', () => {
  delete process.env.SPEAKERD_TEST_MARK;
  const env: NodeJS.ProcessEnv = { ...process.env, SPEAKERD_TEST_MARK: 'one' };
  const r = rig({ env });
  r.cap.start();
  assert.equal(process.env.SPEAKERD_TEST_MARK, undefined, 'process.env is never touched');
  env.SPEAKERD_TEST_MARK = 'two'; // read again at the restart
  r.rec.last.exit(1);
  r.clock.advance(r.clock.msToNext());
  assert.deepEqual(r.rec.envSeen, ['one', 'two']);
  assert.match(String(r.rec.options.at(-1)?.recorder), /arecord-env-recorder\.cjs$/);
});

test('a mic that dies over and over is unhealthy 2 s after start, even while a restart is starting', () => {
  const r = rig({ random: () => 0 });
  r.cap.start();
  for (let t = 0; t < 2100; t += 100) {
    r.rec.last.spawned();
    r.rec.last.exit(1);
    r.clock.advance(100); // random 0: every restart is immediate
  }
  assert.equal(r.cap.state, 'starting');
  const h = r.cap.health(r.clock.now());
  assert.equal(h.ok, false);
  assert.match(h.reason ?? '', /no frames for/);
});
