/**
 * `speakerd doctor`'s SPI check (hardware.md §10): with `leds.type: "apa102"`, the spidev device
 * exists and opens with the run's mode and clock. It sends no frame: the LEDs keep what a running
 * speakerd shows.
 */
import { readdirSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Config } from '../config/schema.js';
import { describeError } from '../core/errors.js';
import { apa102Settings } from '../hardware/apa102.js';
import { probeSpi, SPI_ENABLE_FIX, type SpiOpener } from '../hardware/spi.js';
import { type CheckResult, failed, pass, skip } from './check.js';

export interface SpiCheckDeps {
  /** Tests: a fake spidev opener (default: spi-device). */
  readonly open?: SpiOpener;
  /** Lists a directory (tests: a fake /dev). */
  readonly list?: (dir: string) => string[];
}

export function checkSpi(config: Readonly<Config>, deps: SpiCheckDeps = {}): CheckResult {
  if (config.hardware === 'simulated') return skip('spi leds', 'hardware is "simulated": terminal LEDs');
  if (config.leds.type !== 'apa102') return skip('spi leds', 'leds.type is "gpio": no SPI LEDs');
  const s = apa102Settings(config.leds);
  if (typeof s === 'string') return failed('spi leds', s, 'set leds.device');
  const list = deps.list ?? ((dir: string) => readdirSync(dir));
  let present: string[];
  try {
    present = list(dirname(s.device)).filter((n) => n.startsWith('spidev'));
  } catch (err) {
    return failed('spi leds', `cannot list ${dirname(s.device)}: ${describeError(err)}`);
  }
  if (!present.includes(basename(s.device))) {
    const found = present.length === 0 ? 'no spidev devices at all' : `only ${present.sort().join(', ')}`;
    return failed(
      'spi leds',
      `${s.device} does not exist (${found})`,
      present.length === 0
        ? SPI_ENABLE_FIX
        : `set leds.device to the device the LEDs are on, or ${SPI_ENABLE_FIX}`,
    );
  }
  const probe = probeSpi(s, deps.open);
  if (!probe.ok) return failed('spi leds', probe.detail, probe.fix);
  const power =
    s.powerLine === undefined ? '' : `, power on GPIO${s.powerLine} (checked with the GPIO lines)`;
  return pass(
    'spi leds',
    `${s.device} opens (mode 0, ${s.speedHz / 1e6} MHz): ${s.count} APA102 LEDs${power}; ${s.from}`,
  );
}
