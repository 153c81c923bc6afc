/**
 * Where the wake word cannot run (issue 14): with wakeWord.enabled, `speakerd check-config` loads
 * onnxruntime-node and every model and fails with exit 78 and the fix (a missing or corrupt model
 * names its path; a runtime that does not load says to install it, or on 32-bit ARM that the wake
 * word needs a 64-bit OS); with it off nothing of the wake word is loaded. Also the two small
 * pieces the worker runs per frame: the trigger (the same as `wakeword score`'s detections()) and
 * the wake-audio ring, and the frame ring between the threads.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { runCheckConfig } from '../../src/cli.js';
import { EX_CONFIG } from '../../src/config/load.js';
import { wakeWordSchema } from '../../src/config/schema.js';
import { FRAME_SAMPLES } from '../../src/wakeword/features.js';
import { FrameRing } from '../../src/wakeword/frame-ring.js';
import { type OrtModule, WakeWordError } from '../../src/wakeword/onnx.js';
import { explainWakeWordError, featureModelDirOf, preflightWakeWord } from '../../src/wakeword/preflight.js';
import { detections } from '../../src/wakeword/score.js';
import { Trigger } from '../../src/wakeword/trigger.js';
import { SampleRing } from '../../src/wakeword/wake-audio.js';
import { MODEL_DIR, ortSkipReason } from './wakeword-fixtures.js';

const skip = await ortSkipReason();
const log = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'speakerd-preflight-'));
const ALEXA = `${MODEL_DIR}/alexa_v0.1.onnx`;

/** A config file with this wakeWord section (and a server, which every config needs). */
function configFile(name: string, wakeWord: unknown): string {
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify({ server: { websocketUrl: 'ws://127.0.0.1:9/x' }, wakeWord }));
  return path;
}

async function checkConfig(path: string, importOrt?: () => Promise<OrtModule>) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCheckConfig(
    path,
    { out: (l) => out.push(l), err: (l) => err.push(l), env: {} },
    { log, ...(importOrt === undefined ? {} : { importOrt }) },
  );
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const notInstalled = () =>
  Promise.reject(
    Object.assign(new Error("Cannot find package 'onnxruntime-node' imported from /opt/speakerd/x.js"), {
      code: 'ERR_MODULE_NOT_FOUND',
    }),
  );
const noBinding = () =>
  Promise.reject(
    Object.assign(new Error("Cannot find module '../bin/napi-v6/linux/arm/onnxruntime_binding.node'"), {
      code: 'MODULE_NOT_FOUND',
    }),
  );

test('check-config with the wake word on and good models: 0, and a line naming the models', {
  skip,
}, async () => {
  const path = configFile('good', {
    enabled: true,
    models: [{ path: ALEXA, phrase: 'Alexa', threshold: 0.6 }],
  });
  const r = await checkConfig(path);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^config OK/);
  assert.match(
    r.out,
    /wake word: onnxruntime-node loads; feature models in .*models; alexa_v0\.1 "Alexa" ≥ 0\.6/,
  );
});

test('check-config with a missing model: 78, the path and what to do', { skip }, async () => {
  const path = configFile('missing', {
    enabled: true,
    models: [{ path: join(dir, 'hey_nobody.onnx'), phrase: 'hey nobody' }],
    featureModelDir: MODEL_DIR,
  });
  const r = await checkConfig(path);
  assert.equal(r.code, EX_CONFIG);
  assert.match(r.err, /^wake word: cannot read model .*hey_nobody\.onnx: ENOENT/);
  assert.match(r.err, /fix: check the path in wakeWord\.models/);
});

test('check-config with a corrupt model or feature model: 78, the path and to fetch it again', {
  skip,
}, async () => {
  writeFileSync(join(dir, 'cut.onnx'), readFileSync(ALEXA).subarray(0, 2000));
  const keyword = await checkConfig(
    configFile('corrupt', {
      enabled: true,
      models: [{ path: join(dir, 'cut.onnx'), phrase: 'Alexa' }],
      featureModelDir: MODEL_DIR,
    }),
  );
  assert.equal(keyword.code, EX_CONFIG);
  assert.match(keyword.err, /ONNX Runtime cannot load .*cut\.onnx/);
  assert.match(keyword.err, /fetch it again and compare its sha256/);
  // featureModelDir defaults to the first model's directory, which here has no melspectrogram.onnx.
  const feature = await checkConfig(
    configFile('nofeatures', { enabled: true, models: [{ path: join(dir, 'cut.onnx'), phrase: 'A' }] }),
  );
  assert.equal(feature.code, EX_CONFIG);
  assert.match(feature.err, /melspectrogram\.onnx.*featureModelDir/);
});

test('check-config when onnxruntime-node is not installed: 78 and the install command', async () => {
  const path = configFile('noort', { enabled: true, models: [{ path: ALEXA, phrase: 'Alexa' }] });
  const r = await checkConfig(path, notInstalled);
  assert.equal(r.code, EX_CONFIG);
  assert.match(r.err, /onnxruntime-node is not installed; fix: run `npm install onnxruntime-node`/);
});

test('check-config with the wake word off: onnxruntime-node is not even imported', async () => {
  const path = configFile('off', { enabled: false, models: [{ path: join(dir, 'nope.onnx'), phrase: 'x' }] });
  let imported = 0;
  const r = await checkConfig(path, () => {
    imported++;
    return notInstalled();
  });
  assert.equal(r.code, 0, r.err);
  assert.equal(imported, 0);
  assert.doesNotMatch(r.out, /wake word/);
});

test('32-bit ARM: the wake word needs a 64-bit OS; a supported platform: reinstall', async () => {
  const err = await noBinding().catch((e: unknown) => e);
  const wrapped = new WakeWordError(
    'runtime-unloadable',
    `onnxruntime-node does not load: ${String(err)}`,
    'x',
    {
      cause: err,
    },
  );
  const arm = explainWakeWordError(wrapped, 'linux', 'arm');
  assert.match(arm, /no build for linux\/arm: the wake word needs a 64-bit OS/);
  assert.match(arm, /fix: install the 64-bit Raspberry Pi OS \(arm64\), or set wakeWord\.enabled=false/);
  assert.equal(explainWakeWordError(wrapped, 'linux', 'arm64'), `wake word: ${wrapped.message}`);
  // Through the real loader: on this (supported) machine a broken binding says to reinstall.
  const r = await preflightWakeWord(
    wakeWordSchema.parse({ enabled: true, models: [{ path: ALEXA, phrase: 'Alexa' }] }),
    { log, importOrt: noBinding },
  );
  assert.ok(!r.ok);
  assert.equal(r.kind, 'runtime-unloadable');
  assert.match(
    r.message,
    /^wake word: onnxruntime-node does not load on .*Cannot find module.*fix: reinstall it/,
  );
});

test('featureModelDir: the configured one, else the first model’s directory', () => {
  assert.equal(featureModelDirOf({ models: [{ path: '/m/a.onnx' }] }), '/m');
  assert.equal(featureModelDirOf({ featureModelDir: '/f', models: [{ path: '/m/a.onnx' }] }), '/f');
});

test('the trigger frame by frame is detections() over the trace', () => {
  const trace = [0, 0.6, 0.7, 0.2, 0.9, 0.1, ...new Array<number>(20).fill(0), 0.8, 0.8, 0, 0.5];
  for (const refractory of [0, 240, 1000, 2000, 2001]) {
    const t = new Trigger(0.5, refractory);
    const fired = trace.flatMap((s, k) => (t.push(s) ? [k] : []));
    assert.deepEqual(fired, detections(trace, 0.5, refractory), `refractory ${refractory}`);
  }
  assert.throws(() => new Trigger(0, 0), RangeError);
  assert.throws(() => new Trigger(0.5, -1), RangeError);
});

test('the wake-audio ring keeps the last samples, oldest first, never more than its capacity', () => {
  const ring = new SampleRing(5);
  assert.deepEqual(Array.from(ring.snapshot()), []);
  ring.push(Int16Array.from([1, 2, 3]));
  assert.deepEqual(Array.from(ring.snapshot()), [1, 2, 3]);
  ring.push(Int16Array.from([4, 5, 6, 7]));
  assert.deepEqual(Array.from(ring.snapshot()), [3, 4, 5, 6, 7]);
  ring.push(Int16Array.from([8, 9, 10, 11, 12, 13, 14]));
  assert.deepEqual(Array.from(ring.snapshot()), [10, 11, 12, 13, 14]);
  assert.equal(ring.size, 5);
  assert.throws(() => new SampleRing(0), RangeError);
});

test('the frame ring: full at `slots`, frames in order, close wakes a waiting consumer', async () => {
  const producer = FrameRing.create(3);
  const consumer = new FrameRing(producer.buffers);
  const frame = (v: number) => new Int16Array(FRAME_SAMPLES).fill(v);
  assert.equal(producer.write(frame(1)), true);
  assert.equal(producer.write(frame(2)), true);
  assert.equal(producer.write(frame(3)), true);
  assert.equal(producer.write(frame(4)), false, 'full: refused, nothing overwritten');
  assert.equal(producer.queued, 3);
  for (const v of [1, 2]) {
    assert.equal((await consumer.next())?.[0], v);
    consumer.done();
  }
  assert.equal(producer.write(frame(5)), true, 'a slot given back is written again');
  for (const v of [3, 5]) {
    assert.equal((await consumer.next())?.[0], v);
    consumer.done();
  }
  assert.equal(consumer.queued, 0);
  const waiting = consumer.next();
  producer.write(frame(6));
  assert.equal((await waiting)?.[0], 6, 'a write wakes the waiting consumer');
  consumer.done();
  const parked = consumer.next();
  producer.close();
  assert.equal(await parked, undefined, 'close wakes it with nothing');
  assert.throws(() => producer.write(new Int16Array(10)), RangeError);
});
