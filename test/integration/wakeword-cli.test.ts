/**
 * `speakerd wakeword score` end to end: the built CLI spawned on the reference clips with the
 * models of the pinned dev dependency, its text and JSON output checked against the Python
 * reference (test/fixtures/wakeword).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  MODEL_DIR,
  maxAbsDiff,
  ortSkipReason,
  REFERENCE_DIR,
  referenceScores,
} from '../unit/wakeword-fixtures.js';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
const skip = await ortSkipReason();
const ref = referenceScores();
const dir = mkdtempSync(join(tmpdir(), 'speakerd-wakeword-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const EMPTY_CONFIG = join(dir, 'empty.json');
writeFileSync(EMPTY_CONFIG, '{}');

function run(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [MAIN, 'wakeword', ...args], {
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    const kill = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(kill);
      resolve({ code, out, err });
    });
  });
}

const alexa = `${MODEL_DIR}/alexa_v0.1.onnx`;
const mycroft = `${MODEL_DIR}/hey_mycroft_v0.1.onnx`;
const jarvis = `${MODEL_DIR}/hey_jarvis_v0.1.onnx`;

test('text: max, its frame and the detections per file and model', { skip }, async () => {
  const r = await run([
    'score',
    `${REFERENCE_DIR}/alexa_test.wav`,
    `${REFERENCE_DIR}/hey_mycroft_test.wav`,
    '--model',
    `${alexa}:alexa:0.5`,
    '--model',
    `${mycroft}:hey mycroft`,
  ]);
  assert.equal(r.code, 0, r.err);
  const lines = r.out.trim().split('\n');
  assert.equal(lines.length, 6, r.out);
  assert.match(lines[0] ?? '', /alexa_test\.wav: 0\.63 s, 32 frames of 80 ms \(1 s of silence added/);
  assert.match(
    lines[1] ?? '',
    /alexa_v0\.1 "alexa": max 1\.0000 at frame 22 \(0\.84 s\); threshold 0\.5: 1 detection: frame 18 \(0\.52 s\)/,
  );
  assert.match(lines[2] ?? '', /hey_mycroft_v0\.1 "hey mycroft": max 0\.0000 at frame 0 .*no detection/);
  assert.match(lines[3] ?? '', /hey_mycroft_test\.wav: 0\.95 s, 36 frames/);
  assert.match(lines[4] ?? '', /alexa_v0\.1 "alexa": max 6\.4e-5 at frame 26 .*no detection/);
  assert.match(
    lines[5] ?? '',
    /hey_mycroft_v0\.1 "hey mycroft": max 1\.0000 at frame 22 .*1 detection: frame 21/,
  );
});

test('--json: the per-frame trace matches the reference from frame 15 on', { skip }, async () => {
  const r = await run([
    'score',
    `${REFERENCE_DIR}/hey_jane.wav`,
    '--json',
    '--model',
    jarvis,
    '--model',
    alexa,
  ]);
  assert.equal(r.code, 0, r.err);
  const doc = JSON.parse(r.out) as {
    files: {
      file: string;
      frames: number;
      models: { model: string; max: number; scores: number[]; detections: number[] }[];
    }[];
  };
  const [file] = doc.files;
  assert.ok(file);
  const want = ref.clips['hey_jane.wav'];
  assert.ok(want);
  assert.equal(file.frames, want.n_frames);
  assert.deepEqual(
    file.models.map((m) => m.model),
    ['hey_jarvis_v0.1', 'alexa_v0.1'],
  );
  for (const m of file.models) {
    assert.equal(m.scores.length, want.n_frames);
    const diff = maxAbsDiff(m.scores.slice(15), (want.scores[m.model] ?? []).slice(15));
    assert.ok(diff <= 1e-3, `${m.model}: max |Δ| ${diff}`);
    assert.deepEqual(m.detections, []);
  }
});

test('--no-pad scores the file as it is', { skip }, async () => {
  const r = await run(['score', `${REFERENCE_DIR}/alexa_test.wav`, '--no-pad', '--json', '--model', alexa]);
  assert.equal(r.code, 0, r.err);
  const doc = JSON.parse(r.out) as { files: { frames: number; padSamples: number }[] };
  // predict_clip(padding=0): range(0, 10000 - 1280, 1280) → 7 frames (features-alexa.json streaming_unpadded)
  assert.equal(doc.files[0]?.frames, 7);
  assert.equal(doc.files[0]?.padSamples, 0);
});

test('a WAV that is not 16 kHz mono s16: exit 1 and how to convert it', async () => {
  const r = await run(['score', `${REFERENCE_DIR}/activation.wav`, '--model', alexa]);
  assert.equal(r.code, 1);
  assert.match(r.err, /22050 Hz, 2 channels/);
  assert.match(r.err, /sox .*-r 16000 -c 1 -b 16 -e signed-integer/);
  assert.match(r.err, /ffmpeg -i .*-ar 16000 -ac 1/);
});

test('a missing model: exit 1 with the fix; usage errors: exit 2', async () => {
  const missing = await run(['score', `${REFERENCE_DIR}/alexa_test.wav`, '--model', '/nonexistent/x.onnx']);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /cannot read model \/nonexistent\/.*\.onnx.*fix:/);
  const noModel = await run(['score', `${REFERENCE_DIR}/alexa_test.wav`, '--config', EMPTY_CONFIG]);
  assert.equal(noModel.code, 2);
  assert.match(noModel.err, /no model: give --model .* or set wakeWord\.models/);
  const badSub = await run(['frob']);
  assert.equal(badSub.code, 2);
  assert.match(badSub.err, /unknown subcommand "frob"/);
});

test('without --model: the models of the config (wakeWord.models), off or on', { skip }, async () => {
  const config = join(dir, 'wakeword.json');
  writeFileSync(
    config,
    JSON.stringify({
      wakeWord: {
        enabled: false,
        models: [{ path: mycroft, phrase: 'hey mycroft', threshold: 0.9 }],
        featureModelDir: MODEL_DIR,
        refractoryMs: 1000,
      },
    }),
  );
  const r = await run(['score', `${REFERENCE_DIR}/hey_mycroft_test.wav`, '--config', config]);
  assert.equal(r.code, 0, r.err);
  assert.match(
    r.out,
    /hey_mycroft_v0\.1 "hey mycroft": max 1\.0000 at frame 22 .*threshold 0\.9: 1 detection: frame 21/,
  );
  writeFileSync(config, JSON.stringify({ wakeWord: { enabled: true } }));
  const bad = await run(['score', `${REFERENCE_DIR}/hey_mycroft_test.wav`, '--config', config]);
  assert.equal(bad.code, 78);
  assert.match(bad.err, /wakeWord\.models: wakeWord\.enabled needs at least one entry/);
});
