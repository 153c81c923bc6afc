import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, test } from 'node:test';
import type { ChildLike, SpawnFn } from '../../src/audio/playback.js';
import {
  AMIXER_TIMEOUT_MS,
  mixerDeviceFor,
  perceptualGain,
  scalePcm,
  VOLUME_FILE,
  Volume,
  type VolumeDeps,
} from '../../src/audio/volume.js';
import { ManualClock } from '../../src/core/clock.js';
import { captureLogger } from '../fakes/capture-logger.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function stateDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'speakerd-volume-'));
  dirs.push(d);
  return d;
}

/** amixer as the test scripts it: records argv, exits when told. */
class FakeAmixer extends EventEmitter implements ChildLike {
  readonly pid = 4321;
  readonly stdin = null;
  readonly stderr = new PassThrough();
  readonly signals: NodeJS.Signals[] = [];

  constructor(readonly args: readonly string[]) {
    super();
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    this.signals.push(signal);
    return true;
  }

  exit(code: number | null, signal: NodeJS.Signals | null = null): void {
    this.emit('exit', code, signal);
    this.emit('close', code, signal);
  }
}

function setup(over: Partial<VolumeDeps> = {}) {
  const { log, lines } = captureLogger();
  const clock = new ManualClock();
  const amixers: FakeAmixer[] = [];
  const spawn: SpawnFn = (command, args) => {
    assert.equal(command, 'amixer');
    const c = new FakeAmixer(args);
    amixers.push(c);
    return c;
  };
  const dir = over.stateDir ?? stateDir();
  const volume = new Volume({ stateDir: dir, defaultLevel: 100, log, clock, spawn, ...over });
  return { volume, lines, clock, amixers, dir };
}

/** S16_LE samples → Buffer. */
function s16(...samples: number[]): Buffer {
  const b = Buffer.alloc(samples.length * 2);
  samples.forEach((v, i) => {
    b.writeInt16LE(v, i * 2);
  });
  return b;
}

function samples(b: Buffer): number[] {
  const out: number[] = [];
  for (let i = 0; i + 1 < b.length; i += 2) out.push(b.readInt16LE(i));
  return out;
}

const warnings = (lines: { level: number }[]): number => lines.filter((l) => l.level === 40).length;
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Lets file I/O and the promise chain run until amixer has been spawned. */
async function spawned(amixers: readonly FakeAmixer[]): Promise<void> {
  // File reads finish on the libuv thread pool: wait in real time (bounded), not in turns.
  const end = Date.now() + 2000;
  while (amixers.length === 0 && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 1));
  assert.ok(amixers.length > 0, 'amixer was not spawned');
}

test('the curve: (level/100)³, 100 → 1, 50 → 1/8 (−18 dB), 0 → 0, monotonic', () => {
  assert.equal(perceptualGain(100), 1);
  assert.equal(perceptualGain(50), 0.125);
  assert.equal(perceptualGain(0), 0);
  for (let l = 1; l <= 100; l++) assert.ok(perceptualGain(l) > perceptualGain(l - 1));
});

test('at 100 apply() returns the very same buffer: bit-exact, no copy', () => {
  const { volume } = setup();
  const pcm = s16(-32768, -1, 0, 1, 12345, 32767);
  const out = volume.apply(pcm);
  assert.equal(out, pcm);
  assert.deepEqual(out, s16(-32768, -1, 0, 1, 12345, 32767));
});

test('at 0 apply() is digital silence of the same length', async () => {
  const { volume } = setup();
  await volume.set(0);
  const out = volume.apply(s16(-32768, 5, 32767));
  assert.equal(out.length, 6);
  assert.ok(out.every((b) => b === 0));
});

test('in between it scales and rounds, leaving the input untouched', async () => {
  const { volume } = setup();
  await volume.set(50);
  const pcm = s16(1000, -1000, 7, 32767, -32768);
  const out = volume.apply(pcm);
  assert.deepEqual(samples(out), [125, -125, 1, 4096, -4096]);
  assert.deepEqual(samples(pcm), [1000, -1000, 7, 32767, -32768], 'input not modified');
});

test('scalePcm clips to the S16 range and copies an odd trailing byte', () => {
  assert.deepEqual(samples(scalePcm(s16(20000, -20000, 100), 2)), [32767, -32768, 200]);
  const odd = Buffer.concat([s16(10), Buffer.from([0x7f])]);
  const out = scalePcm(odd, 0.5);
  assert.equal(out.length, 3);
  assert.equal(out.readInt16LE(0), 5);
  assert.equal(out[2], 0x7f);
});

test('set() persists atomically; a new Volume loads the level', async () => {
  const { volume, dir } = setup();
  await volume.set(42);
  assert.equal(volume.level, 42);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, VOLUME_FILE), 'utf8')), { level: 42 });
  assert.deepEqual(readdirSync(dir), [VOLUME_FILE], 'no temp file left behind');
  const again = setup({ stateDir: dir, defaultLevel: 80 });
  assert.equal(again.volume.level, 80, 'constructors do no I/O');
  await again.volume.load();
  assert.equal(again.volume.level, 42);
  assert.deepEqual(samples(again.volume.apply(s16(10000))), [Math.round(10000 * 0.42 ** 3)]);
});

test('the stateDir is created when missing', async () => {
  const dir = join(stateDir(), 'nested', 'state');
  const { volume } = setup({ stateDir: dir });
  await volume.set(7);
  assert.ok(existsSync(join(dir, VOLUME_FILE)));
});

test('concurrent set() calls end with the last level on disk', async () => {
  const { volume, dir } = setup();
  await Promise.all([volume.set(10), volume.set(20), volume.set(30)]);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, VOLUME_FILE), 'utf8')), { level: 30 });
});

test('no file: the default, without a warning', async () => {
  const { volume, lines } = setup({ defaultLevel: 65 });
  await volume.load();
  assert.equal(volume.level, 65);
  assert.equal(warnings(lines), 0);
});

for (const [what, content] of [
  ['not JSON', '{"level": 4'],
  ['out of range', '{"level": 150}'],
  ['not an integer', '{"level": 33.5}'],
  ['wrong shape', '[42]'],
  ['empty', ''],
] as const) {
  test(`a corrupt file (${what}) → warning and the default`, async () => {
    const dir = stateDir();
    writeFileSync(join(dir, VOLUME_FILE), content);
    const { volume, lines } = setup({ stateDir: dir, defaultLevel: 70 });
    await volume.load();
    assert.equal(volume.level, 70);
    assert.equal(warnings(lines), 1);
    await volume.set(71); // and the next set repairs it
    assert.deepEqual(JSON.parse(readFileSync(join(dir, VOLUME_FILE), 'utf8')), { level: 71 });
  });
}

test('an unwritable stateDir: set() still takes effect, warns, and resolves', async () => {
  const file = join(stateDir(), 'not-a-dir');
  writeFileSync(file, 'x');
  const { volume, lines } = setup({ stateDir: file });
  await volume.set(30);
  assert.equal(volume.level, 30);
  assert.equal(warnings(lines), 1);
});

test('programmer errors: levels outside 0–100 or fractional throw RangeError', () => {
  const { volume } = setup();
  for (const bad of [-1, 101, 1.5, Number.NaN]) assert.throws(() => volume.set(bad), RangeError);
  assert.throws(() => setup({ defaultLevel: 101 }), RangeError);
});

test('mixer mode: amixer sets the control, the software gain stays at 100', async () => {
  const { volume, amixers, dir } = setup({ mixerControl: 'PCM', mixerDevice: 'hw:CARD=Device' });
  assert.equal(volume.mode, 'mixer');
  const done = volume.set(30);
  await spawned(amixers);
  assert.deepEqual(amixers[0]?.args, ['-D', 'hw:CARD=Device', '-q', '-M', 'sset', 'PCM', '30%']);
  amixers[0]?.exit(0);
  await done;
  const pcm = s16(1000, -1000);
  assert.equal(volume.apply(pcm), pcm);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, VOLUME_FILE), 'utf8')), { level: 30 });
});

test('mixer mode: load() applies the saved level to the mixer', async () => {
  const dir = stateDir();
  writeFileSync(join(dir, VOLUME_FILE), '{"level": 55}\n');
  const { volume, amixers } = setup({ stateDir: dir, mixerControl: 'Speaker' });
  const loaded = volume.load();
  await spawned(amixers);
  assert.deepEqual(amixers[0]?.args, ['-q', '-M', 'sset', 'Speaker', '55%']);
  amixers[0]?.exit(0);
  await loaded;
  assert.equal(volume.level, 55);
});

test('mixer mode: a failing amixer is a warning with its stderr, not a throw', async () => {
  const { volume, amixers, lines } = setup({ mixerControl: 'Nope' });
  const done = volume.set(20);
  await spawned(amixers);
  amixers[0]?.stderr.write("amixer: Unable to find simple control 'Nope',0\n");
  await flush();
  amixers[0]?.exit(1);
  await done;
  const w = lines.find((l) => l.level === 40);
  assert.match(w?.msg ?? '', /exit code 1 — amixer: Unable to find simple control 'Nope',0/);
});

test('mixer mode: amixer missing (spawn error) is a warning', async () => {
  const { volume, amixers, lines } = setup({ mixerControl: 'PCM' });
  const done = volume.set(20);
  await spawned(amixers);
  amixers[0]?.emit('error', Object.assign(new Error('spawn amixer ENOENT'), { code: 'ENOENT' }));
  amixers[0]?.exit(-2);
  await done;
  assert.ok(lines.some((l) => l.level === 40 && /spawn amixer ENOENT/.test(l.msg)));
});

test('mixer mode: a hung amixer is killed at the timeout and set() resolves', async () => {
  const { volume, amixers, clock, lines } = setup({ mixerControl: 'PCM' });
  const done = volume.set(20);
  await spawned(amixers);
  clock.advance(AMIXER_TIMEOUT_MS - 1);
  assert.deepEqual(amixers[0]?.signals, []);
  clock.advance(1);
  assert.deepEqual(amixers[0]?.signals, ['SIGKILL']);
  amixers[0]?.exit(null, 'SIGKILL');
  await done;
  assert.ok(lines.some((l) => l.level === 40 && /killed by SIGKILL/.test(l.msg)));
  assert.equal(clock.pending, 0);
});

test('mixerDeviceFor: the card of the playback PCM, or nothing', () => {
  assert.equal(mixerDeviceFor('plughw:CARD=Device,DEV=0'), 'hw:CARD=Device');
  assert.equal(mixerDeviceFor('hw:1,0'), 'hw:1');
  assert.equal(mixerDeviceFor('default'), undefined);
  assert.equal(mixerDeviceFor('dmix'), undefined);
});
