/** Wake word: every way loading or input can fail ends in one WakeWordError that names the fix. */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { configSchema } from '../../src/config/schema.js';
import { seededRandom } from '../../src/core/random.js';
import { WakeWordEngine } from '../../src/wakeword/engine.js';
import { loadOrt, WakeWordError } from '../../src/wakeword/onnx.js';
import { detections, parseModelArg } from '../../src/wakeword/score.js';
import { parseWav16kMono } from '../../src/wakeword/wav.js';
import { MODEL_DIR, ortSkipReason, REFERENCE_DIR } from './wakeword-fixtures.js';

const skip = await ortSkipReason();
const log = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'speakerd-wakeword-'));

function wakeWordError(kind: WakeWordError['kind'], fix: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof WakeWordError, String(err));
    assert.equal(err.kind, kind, err.message);
    assert.match(err.fix, fix);
    assert.ok(err.message.includes(err.fix), 'the message carries the fix');
    return true;
  };
}

const create = (featureModelDir: string, keyword: string, importOrt?: () => Promise<never>) =>
  WakeWordEngine.create({
    featureModelDir,
    keywords: [{ path: keyword }],
    random: seededRandom(0),
    log,
    ...(importOrt === undefined ? {} : { importOrt }),
  });

test('onnxruntime-node missing: the fix is to install it or turn the wake word off', async () => {
  const missing = Object.assign(new Error("Cannot find package 'onnxruntime-node' imported from /x.js"), {
    code: 'ERR_MODULE_NOT_FOUND',
  });
  await assert.rejects(
    loadOrt(() => Promise.reject(missing)),
    wakeWordError('runtime-missing', /npm install onnxruntime-node.*wakeWord\.enabled=false/),
  );
  await assert.rejects(
    create(MODEL_DIR, `${MODEL_DIR}/alexa_v0.1.onnx`, () => Promise.reject(missing)),
    wakeWordError('runtime-missing', /npm install onnxruntime-node/),
  );
});

test('onnxruntime-node without a binding for this platform: a runtime-unloadable error with a fix', async () => {
  const noBinding = Object.assign(
    new Error("Cannot find module '../bin/napi-v6/linux/arm/onnxruntime_binding.node'"),
    {
      code: 'MODULE_NOT_FOUND',
    },
  );
  await assert.rejects(
    loadOrt(() => Promise.reject(noBinding)),
    wakeWordError('runtime-unloadable', /npm ci|64-bit OS/),
  );
});

test('a missing model file names the path and where models come from', { skip }, async () => {
  await assert.rejects(create(MODEL_DIR, `${dir}/nope.onnx`), (err: unknown) => {
    assert.ok(err instanceof WakeWordError);
    assert.equal(err.kind, 'model-missing');
    assert.match(err.message, /nope\.onnx/);
    assert.match(err.fix, /wakeWord\.models/);
    return true;
  });
  await assert.rejects(
    create(dir, `${MODEL_DIR}/alexa_v0.1.onnx`),
    wakeWordError('model-missing', /featureModelDir/),
  );
});

test('a corrupt model (truncated download) is a model-corrupt error', { skip }, async () => {
  const bytes = readFileSync(`${MODEL_DIR}/alexa_v0.1.onnx`);
  writeFileSync(`${dir}/truncated.onnx`, bytes.subarray(0, 1000));
  writeFileSync(`${dir}/text.onnx`, 'not a model\n');
  await assert.rejects(create(MODEL_DIR, `${dir}/truncated.onnx`), wakeWordError('model-corrupt', /sha256/));
  await assert.rejects(
    create(MODEL_DIR, `${dir}/text.onnx`),
    wakeWordError('model-corrupt', /not a valid ONNX model/),
  );
});

test('models in the wrong role are refused by their shapes', { skip }, async () => {
  // The embedding model given as a keyword model.
  await assert.rejects(
    create(MODEL_DIR, `${MODEL_DIR}/embedding_model.onnx`),
    wakeWordError('model-shape', /keyword models/),
  );
  // A feature directory whose melspectrogram.onnx is a keyword model.
  const swapped = join(dir, 'swapped');
  await import('node:fs/promises').then((fs) => fs.mkdir(swapped));
  copyFileSync(`${MODEL_DIR}/alexa_v0.1.onnx`, `${swapped}/melspectrogram.onnx`);
  copyFileSync(`${MODEL_DIR}/embedding_model.onnx`, `${swapped}/embedding_model.onnx`);
  await assert.rejects(
    create(swapped, `${MODEL_DIR}/alexa_v0.1.onnx`),
    wakeWordError('model-shape', /featureModelDir/),
  );
});

test('one feed at a time: a second concurrent feed throws, and the engine goes on afterwards', {
  skip,
}, async () => {
  const e = await create(MODEL_DIR, `${MODEL_DIR}/alexa_v0.1.onnx`);
  const frames: number[] = [];
  const first = e.feed(new Int16Array(2560), (k) => frames.push(k));
  await assert.rejects(
    e.feed(new Int16Array(1280), () => undefined),
    /busy/,
  );
  await first;
  assert.equal(e.state, 'ready');
  await e.feed(new Int16Array(1280 + 100), (k) => frames.push(k));
  assert.deepEqual(frames, [0, 1, 2]);
  await e.close();
  assert.equal(e.state, 'closed');
  await assert.rejects(
    e.feed(new Int16Array(1280), () => undefined),
    /closed/,
  );
});

test('WAV: anything but 16 kHz mono s16 is refused with the sox and ffmpeg lines', () => {
  const stereo = `${REFERENCE_DIR}/activation.wav`; // 22050 Hz, 2 channels (SOURCE.md)
  assert.throws(
    () => parseWav16kMono(readFileSync(stereo), stereo),
    (err: unknown) => {
      assert.ok(err instanceof WakeWordError);
      assert.equal(err.kind, 'bad-audio');
      assert.match(err.message, /22050 Hz, 2 channels, 16-bit PCM/);
      assert.match(err.fix, /sox .* -r 16000 -c 1 -b 16 -e signed-integer/);
      assert.match(err.fix, /ffmpeg -i .* -ar 16000 -ac 1 -c:a pcm_s16le/);
      return true;
    },
  );
  assert.throws(() => parseWav16kMono(Buffer.from('ID3 not a wav at all'), 'x.mp3'), /not a RIFF\/WAVE file/);
});

function wav(
  sampleRate: number,
  channels: number,
  bits: number,
  samples: number[],
  claimedBytes?: number,
): Buffer {
  const data = Buffer.alloc(samples.length * 2);
  samples.forEach((s, i) => {
    data.writeInt16LE(s, i * 2);
  });
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVE', 8);
  h.write('fmt ', 12);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(sampleRate, 24);
  h.writeUInt32LE((sampleRate * channels * bits) / 8, 28);
  h.writeUInt16LE((channels * bits) / 8, 32);
  h.writeUInt16LE(bits, 34);
  h.write('data', 36);
  h.writeUInt32LE(claimedBytes ?? data.length, 40);
  return Buffer.concat([h, data]);
}

test('WAV: the samples of a 16 kHz mono s16 file, also from a cut stream that claims more', () => {
  assert.deepEqual(
    Array.from(parseWav16kMono(wav(16000, 1, 16, [1, -2, 32767, -32768]), 'a.wav')),
    [1, -2, 32767, -32768],
  );
  assert.deepEqual(Array.from(parseWav16kMono(wav(16000, 1, 16, [5, 6], 0xffffffff), 'b.wav')), [5, 6]);
  assert.throws(() => parseWav16kMono(wav(8000, 1, 16, [0]), 'c.wav'), /8000 Hz, 1 channel, 16-bit PCM/);
  assert.throws(() => parseWav16kMono(wav(16000, 1, 8, [0]), 'd.wav'), /16000 Hz, 1 channel, 8-bit PCM/);
});

test('--model PATH[:phrase[:threshold]]', () => {
  assert.deepEqual(parseModelArg('m/alexa.onnx'), {
    path: 'm/alexa.onnx',
    phrase: undefined,
    threshold: 0.5,
  });
  assert.deepEqual(parseModelArg('x.onnx:你好小智:0.3'), {
    path: 'x.onnx',
    phrase: '你好小智',
    threshold: 0.3,
  });
  assert.deepEqual(parseModelArg('x.onnx::0.7'), { path: 'x.onnx', phrase: undefined, threshold: 0.7 });
  assert.throws(() => parseModelArg('x.onnx:a:2'), /threshold/);
  assert.throws(() => parseModelArg(':a'), /PATH/);
});

test('detections: a rising edge through the threshold, once per refractory time', () => {
  const trace = [0, 0.6, 0.9, 0.2, 0.7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.8];
  assert.deepEqual(detections(trace, 0.5, 0), [1, 4, 26]);
  assert.deepEqual(detections(trace, 0.5, 1000), [1, 26]); // frame 4 is 240 ms after frame 1
  assert.deepEqual(detections(trace, 0.5, 2001), [1]); // frame 26 is 2000 ms after frame 1
  assert.deepEqual(detections([0.5], 0.5, 0), [0]); // reaching the threshold counts
});

test('config: wakeWord is off with no models by default; enabled needs a model; thresholds in (0, 1]', () => {
  const w = configSchema.parse({}).wakeWord;
  assert.deepEqual(w, { enabled: false, models: [], refractoryMs: 2000, duringSpeech: false });
  const on = configSchema.safeParse({ wakeWord: { enabled: true } });
  assert.equal(on.success, false);
  assert.match(JSON.stringify(on.error?.issues), /wakeWord\.enabled needs at least one entry/);
  const model = { path: '/m/x.onnx', phrase: '你好小智' };
  assert.equal(
    configSchema.parse({ wakeWord: { enabled: true, models: [model] } }).wakeWord.models[0]?.threshold,
    0.5,
  );
  assert.equal(configSchema.safeParse({ wakeWord: { models: [{ ...model, threshold: 0 }] } }).success, false);
  assert.equal(
    configSchema.safeParse({ wakeWord: { models: [{ path: '/m/x.onnx' }] } }).success,
    false,
    'phrase is required',
  );
});
