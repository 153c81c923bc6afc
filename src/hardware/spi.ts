/**
 * The SPI bus of an APA102 chain, through spi-device (by the author of onoff): the only file that
 * imports it, as gpio.ts is for onoff. spi-device opens `/dev/spidev<bus>.<cs>` (its src/open.cc
 * builds that path) and sets the mode and the clock through the kernel's spidev ioctls
 * (SPI_IOC_WR_MODE, SPI_IOC_WR_MAX_SPEED_HZ), which a plain write to the device cannot do.
 *
 * Mode 0 (clock idles low, data sampled on the rising edge): the APA102 datasheet's timing, and
 * what Seeed's and Tinue's drivers use (py-spidev's default). Transfers are synchronous: a frame
 * for 12 LEDs is 57 bytes, about 60 µs at 8 MHz, and the 'exit' handler must be able to darken the
 * ring on a dying process. spidev's default buffer is 4096 bytes (module parameter bufsiz) and
 * `leds.count` ≤ 256 keeps a frame under 1.1 KB.
 */
import spiDevice from 'spi-device';
import { describeError, ErrorCode, errnoCode, type Fault, fault } from '../core/errors.js';
import type { FrameBus } from './ring.js';

export type SpiResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly fault: Fault };

/** What this adapter needs of an opened device; spi-device's SpiDevice fits, tests pass fakes. */
export interface SpiHandle {
  transferSync(message: { byteLength: number; sendBuffer?: Buffer; speedHz?: number }[]): unknown;
  closeSync(): void;
}

export type SpiOpener = (
  bus: number,
  chipSelect: number,
  options: { mode: 0; maxSpeedHz: number },
) => SpiHandle;

const spiDeviceOpener: SpiOpener = (bus, chipSelect, options) => spiDevice.openSync(bus, chipSelect, options);

export interface SpiTarget {
  readonly device: string;
  readonly bus: number;
  readonly chipSelect: number;
  readonly speedHz: number;
}

/** An open spidev device that takes whole frames; `close()` is idempotent. */
export interface SpiBus extends FrameBus {
  readonly device: string;
  close(): void;
}

/**
 * Opens the device with mode 0 at `speedHz`, or reports why not with the fix: a startup fault
 * (main.ts exits 78 on it, as on a wrong GPIO line).
 */
export function openSpi(target: SpiTarget, open: SpiOpener = spiDeviceOpener): SpiResult<SpiBus> {
  let handle: SpiHandle;
  try {
    handle = open(target.bus, target.chipSelect, { mode: 0, maxSpeedHz: target.speedHz });
  } catch (err) {
    // E_GPIO: the code of every button/LED hardware fault at start (a code of its own would need
    // a journal MESSAGE_ID in system/message-ids.ts too).
    return {
      ok: false,
      fault: fault(ErrorCode.Gpio, `cannot open ${target.device} for the LEDs: ${spiHint(err)}`),
    };
  }
  let closed = false;
  return {
    ok: true,
    value: {
      device: target.device,
      write(frame: Buffer): void {
        if (closed) return;
        handle.transferSync([{ byteLength: frame.length, sendBuffer: frame, speedHz: target.speedHz }]);
      },
      close(): void {
        if (closed) return;
        closed = true;
        handle.closeSync();
      },
    },
  };
}

/** What an open failure means on a Pi, and what fixes it. */
export function spiHint(err: unknown): string {
  const text = describeError(err);
  switch (errnoCode(err)) {
    case 'ENOENT':
      return (
        `${text}: the SPI bus is off (no spidev device). Add dtparam=spi=on to /boot/firmware/config.txt ` +
        '(/boot/config.txt before Raspberry Pi OS Bookworm) and reboot; ls /dev/spidev* then lists the devices'
      );
    case 'EACCES':
    case 'EPERM':
      return `${text}: no permission; the user needs the spi group (sudo usermod -aG spi $USER; the systemd unit adds it)`;
    case 'ENOTTY':
    case 'EINVAL':
      return `${text}: the device refused the SPI mode or clock (not a spidev device, or leds.speedHz beyond what the controller can do)`;
    default:
      return text;
  }
}
