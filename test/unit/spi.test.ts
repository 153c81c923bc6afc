/**
 * The SPI adapter: the real spi-device module on this machine (no SPI bus: its ENOENT must come out
 * as the config fault with the fix), and GpioHardware with `leds.type: "apa102"` against a fake
 * sysfs tree, fake lines and a fake spidev that record the order of everything done to them.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { configSchema } from '../../src/config/schema.js';
import { ManualClock } from '../../src/core/clock.js';
import { ErrorCode } from '../../src/core/errors.js';
import { frameBytes } from '../../src/hardware/apa102.js';
import type { GpioLine, LineOpener } from '../../src/hardware/gpio.js';
import { GpioHardware } from '../../src/hardware/gpio-hardware.js';
import { INDICATORS_BY_NAME } from '../../src/hardware/indicator.js';
import { openSpi, type SpiHandle, type SpiOpener, spiHint } from '../../src/hardware/spi.js';
import { captureLogger } from '../fakes/capture-logger.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A Pi 4 on kernel ≥ 6.6: the header chip at base 512. */
function piTree(): string {
  const root = mkdtempSync(join(tmpdir(), 'speakerd-sysfs-'));
  dirs.push(root);
  writeFileSync(join(root, 'export'), '');
  writeFileSync(join(root, 'unexport'), '');
  const chip = join(root, 'gpiochip512');
  mkdirSync(chip);
  writeFileSync(join(chip, 'base'), '512\n');
  writeFileSync(join(chip, 'ngpio'), '58\n');
  writeFileSync(join(chip, 'label'), 'pinctrl-bcm2711\n');
  return root;
}

const enoent = (path: string) =>
  Object.assign(new Error('ENOENT, No such file or directory'), {
    code: 'ENOENT',
    errno: 2,
    syscall: 'openSync',
    path,
  });

test('the real spi-device on a machine without SPI: ENOENT becomes the fault with the config.txt fix', (t) => {
  if (existsSync('/dev/spidev0.0')) {
    t.skip('this machine has /dev/spidev0.0: the missing-device case cannot happen here');
    return;
  }
  const r = openSpi({ device: '/dev/spidev0.0', bus: 0, chipSelect: 0, speedHz: 8_000_000 });
  assert.ok(!r.ok);
  assert.equal(r.fault.code, ErrorCode.Gpio);
  assert.match(r.fault.message, /^cannot open \/dev\/spidev0\.0 for the LEDs: ENOENT/);
  assert.match(r.fault.message, /dtparam=spi=on to \/boot\/firmware\/config\.txt .* and reboot/);
});

test('what the other open failures say', () => {
  const err = (code: string) => Object.assign(new Error(`${code}, failed`), { code });
  assert.match(spiHint(err('EACCES')), /spi group/);
  assert.match(spiHint(err('EPERM')), /spi group/);
  assert.match(spiHint(err('ENOTTY')), /not a spidev device/);
  assert.equal(spiHint(err('EIO')), 'EIO, failed');
});

class FakeSpi implements SpiHandle {
  readonly transfers: Array<{ byteLength: number; sendBuffer?: Buffer; speedHz?: number }> = [];
  closed = 0;
  constructor(private readonly events: string[]) {}
  transferSync(message: { byteLength: number; sendBuffer?: Buffer; speedHz?: number }[]): unknown {
    for (const m of message) {
      this.transfers.push({ ...m, ...(m.sendBuffer ? { sendBuffer: Buffer.from(m.sendBuffer) } : {}) });
      const lit = m.sendBuffer?.subarray(4, m.byteLength).some((b, i) => i % 4 !== 0 && b !== 0);
      this.events.push(`spi frame ${lit ? 'lit' : 'dark'}`);
    }
    return this;
  }
  closeSync(): void {
    this.closed++;
    this.events.push('spi close');
  }
}

test('openSpi: mode 0 at the set clock on bus/cs; whole frames per transfer; close once', () => {
  const events: string[] = [];
  const opened: unknown[] = [];
  const fake = new FakeSpi(events);
  const opener: SpiOpener = (bus, cs, options) => {
    opened.push([bus, cs, options]);
    return fake;
  };
  const r = openSpi({ device: '/dev/spidev1.2', bus: 1, chipSelect: 2, speedHz: 4_000_000 }, opener);
  assert.ok(r.ok);
  assert.deepEqual(opened, [[1, 2, { mode: 0, maxSpeedHz: 4_000_000 }]]);
  const frame = Buffer.from([0, 0, 0, 0, 0xff, 1, 2, 3, 0, 0, 0, 0, 0]);
  r.value.write(frame);
  assert.deepEqual(fake.transfers, [{ byteLength: 13, sendBuffer: frame, speedHz: 4_000_000 }]);
  r.value.close();
  r.value.close();
  r.value.write(frame);
  assert.equal(fake.closed, 1);
  assert.equal(fake.transfers.length, 1, 'nothing is written after close');
});

function hardware(leds: unknown, spi: 'fake' | 'real' = 'fake', gpio: unknown = {}) {
  const events: string[] = [];
  const lines: Array<{ sysfs: number; direction: string; writes: number[]; unexported: boolean }> = [];
  const open: LineOpener = (sysfs, direction) => {
    const rec = { sysfs, direction, writes: [] as number[], unexported: false };
    lines.push(rec);
    events.push(`export ${sysfs} ${direction}`);
    const line: GpioLine = {
      readSync: () => 0,
      writeSync: (v) => {
        rec.writes.push(v);
        events.push(`write ${sysfs} ${v}`);
      },
      watch: () => undefined,
      unwatchAll: () => undefined,
      unexport: () => {
        rec.unexported = true;
        events.push(`unexport ${sysfs}`);
      },
    };
    return line;
  };
  const fake = new FakeSpi(events);
  const spiOpens: unknown[] = [];
  const openSpi: SpiOpener = (bus, cs, options) => {
    spiOpens.push([bus, cs, options]);
    events.push('spi open');
    return fake;
  };
  const config = configSchema.parse({ leds, gpio });
  const clock = new ManualClock(0);
  const { log, lines: logged } = captureLogger();
  const hw = new GpioHardware({
    gpio: config.gpio,
    leds: config.leds,
    buttonMode: 'toggle',
    clock,
    log,
    root: piTree(),
    open,
    ...(spi === 'fake' ? { openSpi } : {}),
  });
  return { hw, events, lines, fake, spiOpens, clock, logged };
}

test('apa102 on the 4-Mic preset: SPI opened, power line high, ring dark; GPIO LED lines left alone', () => {
  const h = hardware({ type: 'apa102', preset: 'respeaker-4mic' });
  const r = h.hw.open();
  assert.ok(r.ok, r.ok ? '' : r.fault.message);
  assert.deepEqual(h.spiOpens, [[0, 1, { mode: 0, maxSpeedHz: 8_000_000 }]]);
  assert.deepEqual(h.events, [
    'spi open',
    'export 529 in', // the button, GPIO17
    'export 517 high', // the LEDs' power, GPIO5, exported driving high
    'spi frame dark', // whatever the LEDs held, they are dark now
  ]);
  assert.equal(h.fake.transfers[0]?.byteLength, frameBytes(12));
  assert.ok(
    h.logged.some((l) =>
      /APA102 LEDs: 12 on \/dev\/spidev0\.1 .*power on GPIO5.*respeaker-4mic \(verified/.test(l.msg),
    ),
  );
  h.hw.render(INDICATORS_BY_NAME.speaking);
  assert.equal(h.events.at(-1), 'spi frame lit');
  h.hw.render(INDICATORS_BY_NAME.listening);
  h.clock.advance(1_000);
  assert.ok(h.fake.transfers.length > 20, 'the breathing animation runs on the injected clock');
  h.events.length = 0;
  h.hw.close();
  assert.deepEqual(h.events, [
    'spi frame dark', // LEDs off first,
    'spi close', // then the device,
    'unexport 529', // the button (an input: unwatched, not written),
    'write 517 0', // then the LEDs' power
    'unexport 517',
  ]);
  assert.equal(h.clock.pending, 0, 'no timer survives close');
  h.hw.close();
  assert.equal(h.fake.closed, 1, 'close is idempotent');
});

test('apa102 with the real spi-device and no SPI bus: open fails with the fix, nothing exported', (t) => {
  if (existsSync('/dev/spidev0.1')) {
    t.skip('this machine has /dev/spidev0.1');
    return;
  }
  const h = hardware({ type: 'apa102', preset: 'respeaker-2mic' }, 'real');
  const r = h.hw.open();
  assert.ok(!r.ok);
  assert.match(r.fault.message, /cannot open \/dev\/spidev0\.1 for the LEDs: ENOENT.*dtparam=spi=on/);
  assert.deepEqual(h.lines, [], 'no GPIO line was exported');
  h.hw.close();
});

test('apa102 with a GPIO fault: the SPI device is closed again', () => {
  const h = hardware({ type: 'apa102', count: 3, powerLine: 60 });
  const r = h.hw.open();
  assert.ok(!r.ok);
  assert.match(r.fault.message, /leds\.powerLine is GPIO60, but pinctrl-bcm2711 has lines 0–57/);
  assert.deepEqual(h.events, ['spi open', 'export 529 in', 'unexport 529', 'spi close']);
});

test('the GPIO LEDs stay the default backend, unchanged', () => {
  const h = hardware(undefined);
  const r = h.hw.open();
  assert.ok(r.ok);
  assert.deepEqual(h.spiOpens, []);
  assert.deepEqual(
    h.lines.map((l) => [l.sysfs, l.direction]),
    [
      [529, 'in'],
      [534, 'low'],
      [535, 'low'],
      [536, 'low'],
    ],
  );
  h.hw.render(INDICATORS_BY_NAME.connecting);
  assert.deepEqual(h.lines[3]?.writes, [1], 'blue lit');
  h.hw.close();
});

test('a missing device is ENOENT from the opener too (injected), with the same fix', () => {
  const r = openSpi({ device: '/dev/spidev0.0', bus: 0, chipSelect: 0, speedHz: 1_000_000 }, () => {
    throw enoent('/dev/spidev0.0');
  });
  assert.ok(!r.ok);
  assert.match(r.fault.message, /dtparam=spi=on/);
});
