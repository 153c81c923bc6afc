/**
 * `speakerd run` and `check-config` with APA102 LEDs, spawned for real: on this machine there is
 * no SPI bus, so the real spi-device fails with ENOENT and the daemon must stop with exit 78 and
 * the fix (dtparam=spi=on), before it starts anything, as it does for a wrong GPIO line.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'speakerd-apa102-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[], config: unknown): Promise<{ code: number | null; text: string }> {
  const path = join(dir, `config-${Math.random().toString(16).slice(2)}.json`);
  writeFileSync(path, JSON.stringify(config));
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: {
      PATH: process.env.PATH ?? '',
      SPEAKERD_CONFIG: path,
      SPEAKERD_STATE_DIR: join(dir, 'state'),
      SPEAKERD_DEVICE_ID: '02:11:22:33:44:55',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout.on('data', (d: Buffer) => {
    text += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    text += d.toString();
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    const kill = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('close', (code) => {
      clearTimeout(kill);
      resolve({ code, text });
    });
  });
}

test('run with APA102 LEDs and no SPI bus: exit 78 with the config.txt fix, nothing started', async (t) => {
  if (existsSync('/dev/spidev0.1')) {
    t.skip('this machine has /dev/spidev0.1');
    return;
  }
  const r = await run(['run'], { leds: { type: 'apa102', preset: 'respeaker-2mic' } });
  assert.equal(r.code, 78, r.text);
  assert.match(r.text, /cannot open \/dev\/spidev0\.1 for the LEDs: ENOENT.*dtparam=spi=on.*reboot/);
  assert.doesNotMatch(r.text, /capture stopped → starting|link_to/);
});

test('check-config: the Voice Bonnet preset without a device is a config error that says why', async () => {
  const r = await run(['check-config'], { leds: { type: 'apa102', preset: 'voice-bonnet' } });
  assert.equal(r.code, 78, r.text);
  assert.match(r.text, /leds\.device.*GPIO5 \(data\) and GPIO6 \(clock\), not on the SPI pins/);
});
