/**
 * AlsaCapture with the real node-record-lpcm16 and the real `arecord` (alsa-utils) on the test
 * rig's `fakemic`: the file plugin reading a FIFO that a paced feeder fills in real time
 * (test-infra.md §1.4). Every test ends every arecord it started.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterEach, test } from 'node:test';
import lpcm16 from 'node-record-lpcm16';
import { FRAME_BYTES } from '../../src/audio/audio-port.js';
import { AlsaCapture, type Recording } from '../../src/audio/capture.js';
import { readPcmFile } from '../../src/audio/file-audio.js';
import { PrerollSource } from '../../src/audio/preroll.js';
import { SystemClock } from '../../src/core/clock.js';
import type { Fault } from '../../src/core/errors.js';
import { seededRandom } from '../../src/core/random.js';
import { SPEECH_FIXTURE } from '../../src/demo.js';
import { AlsaRig } from '../fakes/alsa-rig.js';
import { captureLogger } from '../fakes/capture-logger.js';

const SPEECH = readPcmFile(SPEECH_FIXTURE);
const clock = new SystemClock();

interface Harness {
  readonly rig: AlsaRig;
  readonly cap: AlsaCapture;
  readonly frames: Buffer[];
  readonly faults: Fault[];
  recovered: number;
}

let current: Harness | undefined;
/** Every arecord pid spawned by this file. */
const pids: number[] = [];

function open(o: { device?: string; env?: (rig: AlsaRig) => NodeJS.ProcessEnv } = {}): Harness {
  const rig = new AlsaRig();
  const { log } = captureLogger('info');
  const cap = new AlsaCapture({
    device: o.device ?? 'fakemic',
    restartMaxMs: 500,
    clock,
    random: seededRandom(7),
    log,
    env: o.env ? o.env(rig) : rig.env,
    record: (options): Recording => {
      const recording = lpcm16.record(options);
      if (recording.process.pid !== undefined) pids.push(recording.process.pid);
      return recording;
    },
  });
  const h: Harness = { rig, cap, frames: [], faults: [], recovered: 0 };
  cap.on('frame', (f) => h.frames.push(f));
  cap.on('fault', (f) => h.faults.push(f));
  cap.on('recovered', () => h.recovered++);
  current = h;
  return h;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, ok: () => boolean, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  while (!ok()) {
    if (performance.now() - t0 > timeoutMs)
      assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
  return performance.now() - t0;
}

afterEach(async () => {
  const h = current;
  current = undefined;
  if (h) {
    await h.cap.stop();
    await h.rig.close();
    assert.deepEqual(h.rig.errors, []);
  }
  // Neither running nor a zombie: a reaped pid has no /proc entry.
  assert.deepEqual(
    pids.filter((pid) => existsSync(`/proc/${pid}`)),
    [],
    'every arecord spawned is gone',
  );
  const left = spawnSync('pgrep', ['-P', String(process.pid), '-x', 'arecord'], { encoding: 'utf8' });
  assert.equal(left.status, 1, `arecord children left: ${left.stdout}`);
});

test('speech fed to fakemic comes out as exact 60 ms frames, bit for bit', async () => {
  const h = open();
  h.rig.startMic(SPEECH);
  h.cap.start();
  const need = Math.ceil(SPEECH.length / FRAME_BYTES);
  await until(`${need} frames`, () => h.frames.length >= need, 8000);
  assert.ok(h.frames.every((f) => f.length === FRAME_BYTES));
  const got = Buffer.concat(h.frames);
  assert.ok(got.subarray(0, SPEECH.length).equals(SPEECH), 'the captured bytes are the fixture');
  assert.equal(h.cap.state, 'running');
  assert.equal(h.faults.length, 0);
  assert.deepEqual(h.cap.health(clock.now()), { ok: true });
});

test('arecord missing from PATH: a fault, no crash; fixing PATH recovers by itself', async () => {
  const env: NodeJS.ProcessEnv = {};
  const h = open({
    env: (rig) => {
      Object.assign(env, rig.env, { PATH: '/nonexistent' });
      return env;
    },
  });
  h.rig.startMic(SPEECH);
  h.cap.start();
  await until('a fault', () => h.faults.length > 0, 3000);
  assert.match(h.faults[0]?.message ?? '', /cannot run arecord: .*ENOENT/);
  assert.notEqual(h.cap.state, 'running');
  // At least one more failed restart (backoff capped at 500 ms): waited for, not slept for — a
  // loaded CPU delays both the restart timer and the spawn's ENOENT.
  await until('a second failed restart (keeps retrying)', () => h.faults.length >= 2, 5000);
  env.PATH = h.rig.env.PATH;
  await until('recovered', () => h.recovered > 0 && h.frames.length >= 3, 3000);
  assert.equal(h.cap.state, 'running');
  assert.ok(h.frames[0]?.equals(SPEECH.subarray(0, FRAME_BYTES)), 'the speech from its start');
});

test('an unknown PCM: the fault quotes the ALSA line', async () => {
  const h = open({ device: 'nosuchpcm' });
  h.cap.start();
  await until('a fault', () => h.faults.length > 0, 3000);
  const msg = h.faults[0]?.message ?? '';
  assert.match(msg, /Unknown PCM nosuchpcm/);
  assert.match(msg, /exited with code 1/);
  assert.ok(h.cap.stderrTail.some((l) => l.includes('audio open error')));
  await until('unhealthy', () => !h.cap.health(clock.now()).ok, 3000);
});

test('a mic that goes silent: unhealthy and a fault within 2.5 s, recovered when it speaks again', async () => {
  const h = open();
  h.rig.startMic(SPEECH);
  h.cap.start();
  await until('frames', () => h.frames.length >= 5, 3000);
  h.rig.freezeMic();
  const took = await until('a fault', () => h.faults.length > 0, 4000);
  assert.ok(took <= 2500, `stall reported after ${Math.round(took)} ms`);
  assert.match(h.faults[0]?.message ?? '', /no audio for/);
  assert.equal(h.cap.health(clock.now()).ok, false);
  assert.equal(h.cap.state, 'running', 'the silent arecord is left alone');
  h.rig.thawMic();
  await until('recovered', () => h.recovered > 0, 3000);
  assert.deepEqual(h.cap.health(clock.now()), { ok: true });
  assert.equal(h.faults.length, 1);
});

test('pre-roll over the real mic: the frames before start() go out first, no gap to the live ones', async () => {
  const h = open();
  const source = new PrerollSource(h.cap, { name: 'alsa:fakemic', prerollMs: 300 });
  const out: Buffer[] = [];
  source.on('frame', (f) => out.push(f));
  h.rig.startMic(SPEECH);
  source.open();
  await until('1 s of audio', () => h.frames.length >= 17, 3000);
  source.start();
  assert.equal(out.length, 5, 'the 300 ms pre-roll, synchronously');
  await until('live frames', () => out.length >= 10, 2000);
  source.stop();
  const sent = Buffer.concat(out);
  const at = SPEECH.indexOf(out[0] ?? Buffer.alloc(0));
  assert.ok(at > 0 && at % FRAME_BYTES === 0, `pre-roll found in the speech at ${at}`);
  assert.ok(sent.equals(SPEECH.subarray(at, at + sent.length)), 'pre-roll and live frames are contiguous');
  await source.close();
  assert.equal(h.cap.state, 'stopped');
});
