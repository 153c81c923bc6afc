/** `speakerd doctor`'s SPI check, and the GPIO check's lines when the LEDs are APA102s. */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { configSchema } from '../../src/config/schema.js';
import { checkSpi } from '../../src/doctor/checks-spi.js';
import { checkGpio } from '../../src/doctor/checks-system.js';
import type { SpiOpener } from '../../src/hardware/spi.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const ring4 = configSchema.parse({ hardware: 'gpio', leds: { type: 'apa102', preset: 'respeaker-4mic' } });

test('skipped without APA102 LEDs or with simulated hardware', () => {
  assert.equal(checkSpi(configSchema.parse({})).ok, 'skip');
  assert.equal(checkSpi(configSchema.parse({ hardware: 'simulated', leds: ring4.leds })).ok, 'skip');
});

test('on this machine (no SPI bus): the device does not exist, fix dtparam=spi=on', (t) => {
  if (existsSync('/dev/spidev0.1')) {
    t.skip('this machine has /dev/spidev0.1');
    return;
  }
  const r = checkSpi(ring4);
  assert.equal(r.ok, false);
  assert.match(r.detail, /^\/dev\/spidev0\.1 does not exist \((no spidev devices at all|only spidev.*)\)/);
  assert.match(r.fix ?? '', /dtparam=spi=on .*reboot/);
});

test('another spidev present: says which, and that leds.device may be wrong', () => {
  const r = checkSpi(ring4, { list: () => ['null', 'spidev0.0', 'tty'] });
  assert.equal(r.ok, false);
  assert.match(r.detail, /does not exist \(only spidev0\.0\)/);
  assert.match(r.fix ?? '', /^set leds\.device/);
});

test('present: opens with mode 0 at the configured clock, sends nothing, closes', () => {
  const calls: unknown[] = [];
  const open: SpiOpener = (bus, cs, options) => {
    calls.push(['open', bus, cs, options]);
    return {
      transferSync: () => {
        calls.push(['transfer']);
        return undefined;
      },
      closeSync: () => {
        calls.push(['close']);
      },
    };
  };
  const r = checkSpi(ring4, { list: () => ['spidev0.0', 'spidev0.1'], open });
  assert.equal(r.ok, true, r.detail);
  assert.match(
    r.detail,
    /\/dev\/spidev0\.1 opens \(mode 0, 8 MHz\): 12 APA102 LEDs, power on GPIO5 .*respeaker-4mic/,
  );
  assert.deepEqual(calls, [['open', 0, 1, { mode: 0, maxSpeedHz: 8_000_000 }], ['close']]);
});

test('present but not ours to open: the spi group', () => {
  const r = checkSpi(ring4, {
    list: () => ['spidev0.1'],
    open: () => {
      throw Object.assign(new Error('EACCES, Permission denied'), { code: 'EACCES' });
    },
  });
  assert.equal(r.ok, false);
  assert.match(r.detail, /cannot open \/dev\/spidev0\.1: EACCES, Permission denied \(no permission\)/);
  assert.match(r.fix ?? '', /spi group/);
});

test('the real spi-device on a listed but absent device: its ENOENT reads as the bus being off', (t) => {
  if (existsSync('/dev/spidev0.1')) {
    t.skip('this machine has /dev/spidev0.1');
    return;
  }
  // The listing claims the device (a race with a reboot, a stale udev view): the open decides.
  const r = checkSpi(ring4, { list: () => ['spidev0.1'] });
  assert.equal(r.ok, false);
  assert.match(r.detail, /ENOENT.*the SPI bus is off/);
  assert.match(r.fix ?? '', /dtparam=spi=on/);
});

test('the GPIO check: with APA102 LEDs, the power line instead of the GPIO LED lines', () => {
  const root = mkdtempSync(join(tmpdir(), 'speakerd-doctor-gpio-'));
  dirs.push(root);
  mkdirSync(join(root, 'gpiochip512'));
  writeFileSync(join(root, 'gpiochip512', 'label'), 'pinctrl-bcm2711\n');
  writeFileSync(join(root, 'gpiochip512', 'base'), '512\n');
  writeFileSync(join(root, 'gpiochip512', 'ngpio'), '58\n');
  writeFileSync(join(root, 'export'), '');
  const lines = checkGpio(ring4, root)[1];
  assert.equal(lines?.ok, true);
  assert.equal(lines?.detail, 'button GPIO17=529, led power GPIO5=517: all free');
  const noPower = checkGpio(
    configSchema.parse({ hardware: 'gpio', leds: { type: 'apa102', preset: 'respeaker-2mic' } }),
    root,
  )[1];
  assert.equal(noPower?.detail, 'button GPIO17=529: all free');
});
