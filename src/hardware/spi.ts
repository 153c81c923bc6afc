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

/** The fix for a missing spidev device (also `speakerd doctor`'s). */
export const SPI_ENABLE_FIX =
  'add dtparam=spi=on to /boot/firmware/config.txt (/boot/config.txt before Raspberry Pi OS Bookworm) and reboot; ls /dev/spidev* then lists the devices';

/** What an open failure means on a Pi, and what fixes it: [meaning, fix]. */
export function spiDiagnosis(err: unknown): { readonly meaning: string; readonly fix: string | undefined } {
  switch (errnoCode(err)) {
    case 'ENOENT':
      return { meaning: 'the SPI bus is off (no spidev device)', fix: SPI_ENABLE_FIX };
    case 'EACCES':
    case 'EPERM':
      return {
        meaning: 'no permission',
        fix: 'the user needs the spi group (sudo usermod -aG spi $USER; the systemd unit adds it)',
      };
    case 'ENOTTY':
    case 'EINVAL':
      return {
        meaning:
          'the device refused the SPI mode or clock (not a spidev device, or leds.speedHz beyond the controller)',
        fix: 'check leds.device (ls -l /dev/spidev*) and lower leds.speedHz',
      };
    default:
      return { meaning: 'unexpected', fix: undefined };
  }
}

/** One line for the log: the error, what it means, the fix. */
export function spiHint(err: unknown): string {
  const text = describeError(err);
  const d = spiDiagnosis(err);
  return d.fix === undefined ? text : `${text}: ${d.meaning}. Fix: ${d.fix}`;
}

/**
 * `speakerd doctor`: opens the device with the run's mode and clock and closes it again, sending
 * nothing (a running speakerd's picture stays). spidev allows several opens of one device.
 */
export function probeSpi(
  target: SpiTarget,
  open: SpiOpener = spiDeviceOpener,
): { readonly ok: true } | { readonly ok: false; readonly detail: string; readonly fix: string | undefined } {
  try {
    open(target.bus, target.chipSelect, { mode: 0, maxSpeedHz: target.speedHz }).closeSync();
    return { ok: true };
  } catch (err) {
    const d = spiDiagnosis(err);
    return {
      ok: false,
      detail: `cannot open ${target.device}: ${describeError(err)} (${d.meaning})`,
      fix: d.fix,
    };
  }
}
