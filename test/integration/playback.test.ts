/**
 * AplaySink with the real aplay (alsa-utils) on the test rig's paced speaker (test-infra.md §1.5):
 * the `fakespk` PCM is the ALSA file plugin on a FIFO that a drain empties at 24 kHz real time,
 * so bytes, pacing and abort latency are all measured on what "the speaker" actually received.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { aplayBufferMs } from '../../src/audio/aplay-run.js';
import { AplaySink, defaultSpawn, type SpawnFn } from '../../src/audio/playback.js';
import { perceptualGain, scalePcm, Volume } from '../../src/audio/volume.js';
import { SystemClock } from '../../src/core/clock.js';
import type { Fault } from '../../src/core/errors.js';
import { AlsaRig, monotonicNow } from '../fakes/alsa-rig.js';
import { captureLogger } from '../fakes/capture-logger.js';

const RATE = 24000;
const BYTES_PER_MS = (RATE * 2) / 1000;
const PACKET = 60 * BYTES_PER_MS;
const PREBUFFER_MS = 150;
const MAX_QUEUE_MS = 300;

/** Deterministic non-silent PCM (noise at −12 dBFS), different per seed, so prefixes are meaningful. */
function noise(bytes: number, seed: number): Buffer {
  const b = Buffer.alloc(bytes);
  let x = seed >>> 0 || 1;
  for (let i = 0; i + 1 < bytes; i += 2) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    b.writeInt16LE(((x >> 16) - 32768) >> 2, i);
  }
  return b;
}

interface Handoff {
  readonly bytes: number;
  readonly at: number;
}

function makeSink(rig: AlsaRig, device = 'fakespk') {
  const { log, lines } = captureLogger('debug');
  const clock = new SystemClock();
  // The real software volume at its default, 100: it must hand the bytes through untouched.
  const volume = new Volume({ stateDir: rig.dir, defaultLevel: 100, log, clock });
  const pids: number[] = [];
  const handoffs: Handoff[] = [];
  const spawn: SpawnFn = (cmd, args, opts) => {
    const child = defaultSpawn(cmd, args, opts);
    if (child.pid !== undefined) pids.push(child.pid);
    return child;
  };
  const sink = new AplaySink({
    device,
    prebufferMs: PREBUFFER_MS,
    maxQueueMs: MAX_QUEUE_MS,
    clock,
    log,
    spawn,
    env: rig.env,
    // The gain hook sees every piece exactly when it is handed to aplay: the pacing probe.
    gain: (pcm) => {
      handoffs.push({ bytes: pcm.length, at: monotonicNow() });
      return volume.apply(pcm);
    },
  });
  const faults: Fault[] = [];
  sink.on('fault', (f) => faults.push(f));
  return { sink, pids, handoffs, faults, lines, volume };
}

/** Writes `audio` in 60 ms packets: the first `burstMs` at once (a server burst), then one per `everyMs`. */
async function feed(sink: AplaySink, audio: Buffer, burstMs: number, everyMs: number): Promise<void> {
  const burst = Math.floor(burstMs / 60) * PACKET;
  for (let off = 0; off < audio.length; off += PACKET) {
    if (off >= burst) await sleep(everyMs);
    sink.write(audio.subarray(off, off + PACKET));
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // ESRCH: gone and reaped (a zombie would still answer signal 0).
    if (err instanceof Error && 'code' in err && err.code === 'ESRCH') return false;
    throw err;
  }
}

/** (e) No aplay of ours is left: every pid we spawned is gone and no aplay child remains. */
function assertNoAplay(pids: readonly number[], sink: AplaySink): void {
  assert.equal(sink.stats.liveChildren, 0, 'sink tracks no live child');
  for (const pid of pids) assert.equal(isAlive(pid), false, `aplay ${pid} still exists`);
  let out = '';
  try {
    out = execFileSync('pgrep', ['-P', String(process.pid), '-x', 'aplay'], { encoding: 'utf8' });
  } catch (err) {
    // pgrep exits 1 when nothing matches: that is the expected outcome here.
    if (!(err instanceof Error && 'status' in err && err.status === 1)) throw err;
  }
  assert.equal(out.trim(), '', `aplay children left: ${out}`);
}

async function waitUntil(what: string, cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** The next fault, or a rejection after `ms`. */
function nextFault(sink: AplaySink, ms: number): Promise<Fault> {
  return new Promise((resolve, reject) => {
    const onFault = (f: Fault): void => {
      clearTimeout(timer);
      resolve(f);
    };
    const timer = setTimeout(() => {
      sink.off('fault', onFault);
      reject(new Error(`no fault within ${ms} ms`));
    }, ms);
    sink.once('fault', onFault);
  });
}

/** Starts the drain; resolves once its pipe is shrunk (else aplay's first bytes could beat it: EBUSY). */
async function startSpeaker(rig: AlsaRig): Promise<void> {
  await rig.startSpeaker();
}

const drainCloses = (rig: AlsaRig): number => rig.drainEvents.filter((e) => e.kind === 'close').length;

const measured: string[] = [];
after(() => {
  for (const m of measured) console.log(`# measured: ${m}`);
});

test('(a)+(b) 2 s at volume 100 play bit-exact, never more than the window ahead of the speaker', async () => {
  const rig = new AlsaRig(RATE);
  const { sink, pids, handoffs, faults } = makeSink(rig);
  try {
    await startSpeaker(rig);
    const audio = noise(34 * PACKET, 1); // 2.04 s
    sink.begin(RATE);
    const drained = once(sink, 'drained', { signal: AbortSignal.timeout(6000) });
    // 1 s at once, then the rest at twice real time: the sink, not the sender, sets the pace.
    await feed(sink, audio, 1000, 30);
    sink.end();
    await drained;
    await waitUntil('the drain to see the writer close', () => drainCloses(rig) >= 1, 2000);
    assert.deepEqual(faults, []);
    assert.deepEqual(rig.errors, []);

    const played = rig.played();
    assert.ok(played.length >= audio.length, `played ${played.length} < ${audio.length}`);
    assert.ok(played.subarray(0, audio.length).equals(audio), 'played audio differs from what was written');
    // ALSA pads the last period with silence.
    assert.ok(
      played.subarray(audio.length).every((b) => b === 0),
      'tail is not zero padding',
    );

    // (b) At each hand-over: handed so far − what the speaker had taken by then.
    const chunks = rig.drainEvents.filter((e) => e.kind === 'chunk');
    let handed = 0;
    let maxAhead = 0;
    for (const h of handoffs) {
      handed += h.bytes;
      const taken = chunks.filter((c) => c.at <= h.at).reduce((n, c) => n + c.bytes, 0);
      maxAhead = Math.max(maxAhead, handed - taken);
    }
    assert.equal(handed, audio.length);
    const maxAheadMs = maxAhead / BYTES_PER_MS;
    measured.push(`max audio ahead of the drain ${maxAheadMs.toFixed(0)} ms (window ${MAX_QUEUE_MS} ms)`);
    assert.ok(maxAheadMs <= MAX_QUEUE_MS + PREBUFFER_MS, `${maxAheadMs} ms ahead of the speaker`);
    const first = chunks[0];
    const last = chunks.at(-1);
    if (first && last) measured.push(`2.04 s stream drained in ${(last.at - first.at).toFixed(2)} s`);
    assertNoAplay(pids, sink);
  } finally {
    await sink.close();
    await rig.close();
  }
});

test('at volume 50 the speaker gets the samples scaled by the curve', async () => {
  const rig = new AlsaRig(RATE);
  const { sink, pids, faults, volume } = makeSink(rig);
  try {
    await startSpeaker(rig);
    await volume.set(50);
    const audio = noise(10 * PACKET, 8);
    sink.begin(RATE);
    const drained = once(sink, 'drained', { signal: AbortSignal.timeout(4000) });
    await feed(sink, audio, 600, 0);
    sink.end();
    await drained;
    const expected = scalePcm(audio, perceptualGain(50));
    await waitUntil('the audio to reach the speaker', () => rig.played().length >= expected.length, 2000);
    assert.ok(rig.played().subarray(0, expected.length).equals(expected));
    assert.deepEqual(faults, []);
    assertNoAplay(pids, sink);
  } finally {
    await sink.close();
    await rig.close();
  }
});

test("(c) abort while playing: only the speaker's pipe and aplay's period in flight reach it afterwards (≤ 110 ms), aplay is gone", async () => {
  const rig = new AlsaRig(RATE);
  const { sink, pids, faults } = makeSink(rig);
  try {
    await startSpeaker(rig);
    sink.begin(RATE);
    await feed(sink, noise(50 * PACKET, 2), 3000, 0); // 3 s queued
    await sleep(700);
    assert.equal(sink.state, 'playing');
    const pid = pids[0];
    assert.ok(pid !== undefined);
    const t0 = monotonicNow();
    sink.abort();
    const returnedMs = (monotonicNow() - t0) * 1000;
    await waitUntil('aplay to exit', () => sink.stats.liveChildren === 0, 1000);
    const goneMs = (monotonicNow() - t0) * 1000;
    await waitUntil('the drain to see the writer close', () => drainCloses(rig) >= 1, 2000);
    await sleep(50);
    const after = rig.drainEvents
      .filter((e) => e.kind === 'chunk' && e.at > t0)
      .reduce((n, e) => n + e.bytes, 0);
    measured.push(
      `abort: returned in ${returnedMs.toFixed(1)} ms, aplay exited after ${goneMs.toFixed(0)} ms, ` +
        `${after} bytes (${(after / BYTES_PER_MS).toFixed(0)} ms) played after abort`,
    );
    // What the rig's speaker can still get after the abort, and nothing more: its 4 KiB pipe (a
    // sound card's buffer that nobody can drop here, 85 ms at 24 kHz: fifo_drain.py) plus the one
    // period aplay is blocked writing when SIGTERM lands — it finishes that write (the signal
    // handler returns into it), then writes nothing more. aplay's period is a quarter of its
    // --buffer-time (aplay-run.ts aplayBufferMs: 100 ms here), 25 ms. So 110 ms at worst; the
    // old bound of 100 ms was crossed whenever the abort caught aplay early in a period (5040
    // bytes = 105 ms, 1 of ~8 runs; typically 4560 = 95 ms). On a real card SIGTERM's
    // snd_pcm_abort drops the card's buffer, so the speaker is silent sooner than this.
    const pipeBytes = 4096;
    const periodBytes = (aplayBufferMs(MAX_QUEUE_MS) / 4) * BYTES_PER_MS;
    assert.ok(
      after <= pipeBytes + periodBytes,
      `${after} bytes played after abort (bound: the ${pipeBytes}-byte pipe + one ${periodBytes}-byte aplay period)`,
    );
    assert.equal(sink.state, 'idle');
    assert.deepEqual(faults, []);
    assertNoAplay(pids, sink);
  } finally {
    await sink.close();
    await rig.close();
  }
});

test('(d) aplay killed from outside: a clear fault, no crash, and the next stream plays', async () => {
  const rig = new AlsaRig(RATE);
  const { sink, pids } = makeSink(rig);
  try {
    await startSpeaker(rig);
    sink.begin(RATE);
    await feed(sink, noise(34 * PACKET, 3), 2000, 0);
    await sleep(400);
    const pid = pids[0];
    assert.ok(pid !== undefined);
    const faulted = nextFault(sink, 2000);
    process.kill(pid, 'SIGKILL');
    const f = await faulted;
    assert.equal(f.code, 'E_AUDIO_SINK');
    assert.match(f.message, /aplay was killed by SIGKILL while a stream was playing/);
    assert.equal(sink.state, 'idle');
    sink.write(noise(PACKET, 9)); // ignored: the stream is over

    const second = noise(10 * PACKET, 4); // 600 ms
    sink.begin(RATE);
    const drained = once(sink, 'drained', { signal: AbortSignal.timeout(4000) });
    await feed(sink, second, 600, 0);
    sink.end();
    await drained;
    // The killed aplay's last bytes are still in the FIFO when the new aplay opens it, so the
    // drain may see one writer session for both: look for the second stream's bytes themselves.
    await waitUntil('the second stream to reach the speaker', () => rig.played().indexOf(second) >= 0, 2000);
    assertNoAplay(pids, sink);
  } finally {
    await sink.close();
    await rig.close();
  }
});

test('abort while aplay is stuck in open() (no reader on the FIFO): SIGKILL after the grace reaps it', async () => {
  const rig = new AlsaRig(RATE); // no speaker: opening the FIFO for writing blocks forever
  const { sink, pids, faults, lines } = makeSink(rig);
  try {
    sink.begin(RATE);
    await feed(sink, noise(5 * PACKET, 5), 300, 0);
    await sleep(200);
    const t0 = monotonicNow();
    sink.abort();
    await waitUntil('aplay to exit', () => sink.stats.liveChildren === 0, 1000);
    const goneMs = (monotonicNow() - t0) * 1000;
    measured.push(`abort of an aplay blocked in open(): exited after ${goneMs.toFixed(0)} ms`);
    assert.ok(goneMs < 100, `took ${goneMs} ms`);
    assert.ok(
      lines.some((l) => /SIGKILL/.test(l.msg)),
      'SIGTERM was enough? (test-infra.md §1.7 says not)',
    );
    assert.deepEqual(faults, []);
    assertNoAplay(pids, sink);
  } finally {
    await sink.close();
    await rig.close();
  }
});

test('an unknown device is a fault carrying aplay’s own words', async () => {
  const rig = new AlsaRig(RATE);
  const { sink, pids } = makeSink(rig, 'nosuchpcm');
  try {
    const faulted = nextFault(sink, 3000);
    sink.begin(RATE);
    sink.write(noise(4 * PACKET, 6));
    const f = await faulted;
    assert.match(f.message, /exited with code 1/);
    assert.match(f.message, /Unknown PCM nosuchpcm/);
    assertNoAplay(pids, sink);
  } finally {
    await sink.close();
    await rig.close();
  }
});

test('close() with a stream playing returns only when aplay has exited', async () => {
  const rig = new AlsaRig(RATE);
  const { sink, pids } = makeSink(rig);
  try {
    await startSpeaker(rig);
    sink.begin(RATE);
    await feed(sink, noise(20 * PACKET, 7), 1200, 0);
    await sleep(300);
    await sink.close();
    assert.equal(sink.state, 'closed');
    assertNoAplay(pids, sink);
  } finally {
    await sink.close();
    await rig.close();
  }
});
