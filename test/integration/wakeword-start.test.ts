/**
 * The daemon with wakeWord.enabled, spawned for real (issue 14, "Where it cannot run"): a model
 * that does not load ends the start with exit 78, one fatal E_WAKEWORD record with the path and
 * the fix, and no arecord left behind; good models start the worker beside the capture, and
 * SIGTERM releases it and exits 0. (The detections themselves: unit/wakeword-detector.test.ts.)
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pollUntil } from '../fakes/poll.js';
import { MODEL_DIR, ortSkipReason } from '../unit/wakeword-fixtures.js';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
const skip = await ortSkipReason();
const dir = mkdtempSync(join(tmpdir(), 'speakerd-wakeword-start-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function config(name: string, modelPath: string): string {
  const path = join(dir, `${name}.json`);
  writeFileSync(
    path,
    JSON.stringify({
      hardware: 'simulated',
      stateDir: join(dir, 'state'),
      // Nothing listens there: the link backs off, which is not what this test is about.
      server: { websocketUrl: 'ws://127.0.0.1:9/x' },
      // No such ALSA device: the capture faults and retries; the wake word starts all the same.
      audio: { captureDevice: 'speakerd_test_no_such_pcm' },
      wakeWord: { enabled: true, models: [{ path: modelPath, phrase: 'Alexa' }], featureModelDir: MODEL_DIR },
    }),
  );
  return path;
}

function daemon(configPath: string) {
  const child = spawn(process.execPath, [MAIN, 'run', '--config', configPath], {
    env: {
      PATH: process.env.PATH ?? '',
      SPEAKERD_DEVICE_ID: '02:11:22:33:44:55',
      SPEAKERD_LOG_TARGET: 'stdout',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const done = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('close', (code) => {
      clearTimeout(kill);
      resolve(code);
    });
  });
  const records = () =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: number; msg: string; code?: string; exit_code?: number });
  return { child, done, records, out: () => out };
}

test('run with a model that is not there: exit 78, the path and the fix, once', { skip }, async () => {
  const d = daemon(config('missing', join(dir, 'hey_nobody.onnx')));
  assert.equal(await d.done, 78, d.out());
  const fatal = d.records().filter((r) => r.level === 60);
  assert.equal(fatal.length, 1, d.out());
  assert.equal(fatal[0]?.code, 'E_WAKEWORD');
  assert.equal(fatal[0]?.exit_code, 78);
  assert.match(
    fatal[0]?.msg ?? '',
    /cannot read model .*hey_nobody\.onnx.*fix: check the path in wakeWord\.models/,
  );
  assert.equal(d.records().filter((r) => r.code === 'E_WAKEWORD').length, 1, 'reported once, by main');
  assert.match(d.out(), /capture \w+ → stopped/, 'the capture it had started is stopped');
});

test('run with good models: the worker runs beside the capture; SIGTERM releases it, exit 0', {
  skip,
}, async () => {
  const d = daemon(config('good', `${MODEL_DIR}/alexa_v0.1.onnx`));
  try {
    await pollUntil(
      'the detector listening',
      () => /wakeword_detector stopped → listening/.test(d.out()),
      10_000,
      d.out,
    );
    d.child.kill('SIGTERM');
    assert.equal(await d.done, 0, d.out());
  } finally {
    d.child.kill('SIGKILL');
  }
  const msgs = d.records().map((r) => r.msg);
  assert.ok(msgs.includes('wake-word models loaded'), 'the worker logs through the daemon');
  const closed = msgs.indexOf('wakeword_worker running → closed: close requested');
  assert.ok(closed > 0 && closed < msgs.indexOf('stopped'), 'released before the daemon says stopped');
});
