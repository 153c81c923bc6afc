/**
 * The APA102 ("DotStar") wire format, pure: pixels in, the bytes for one SPI transfer out.
 *
 * From the APA102 datasheet (APA102-2020 "Data transmission method"): a start frame of 32 zero
 * bits; then one 32-bit LED frame per LED, first LED first: `111` + 5 bits of global brightness
 * (so `0xE0 | brightness`), then blue, green, red, 8 bits each, most significant bit first; then
 * an end frame. The datasheet draws the end frame as 32 one bits. What the end frame really does
 * (Tim, "Understanding the APA102 Superled", cpldcpu 2014, measured with a logic analyser) is give
 * the extra clock edges that push the last LED frame down the chain: each LED delays the data by
 * half a clock, so the chain needs at least n/2 more bits, more than the datasheet's 32 past 64 LEDs.
 *
 * We send zeros there, as Tinue's APA102_Pi does (and Seeed's copy of it, which drives these HATs
 * in the vendor's examples), not ones as the datasheet and Adafruit's libraries do, because:
 * - ones would form a 0xFFFFFFFF LED frame for LED n+1: a chain longer than `leds.count` lights
 *   its next LED full white (reported against Adafruit_DotStar_Pi, issue #5); zeros cannot light
 *   anything (they read as a start frame);
 * - SK9822 chips, sold as APA102 clones, latch the new colours only on zero bits after the data.
 * The end frame is therefore 32 zero bits (the datasheet's length, and the SK9822's latch) plus
 * ⌈n/2⌉ zero bits rounded up to whole bytes (the clocks the chain needs).
 */
import type { ColorOrder, LedsConfig } from '../config/schema.js';
import { APA102_PRESETS } from './apa102-presets.js';
import type { Rgb } from './indicator.js';

/** The brightness byte's fixed top bits (`111`). */
export const LED_FRAME_MARK = 0xe0;
export const MAX_BRIGHTNESS = 31;
const START_BYTES = 4;

/** Bytes of end frame after `count` LED frames: 32 zero bits plus ⌈count/2⌉ bits in whole bytes. */
export function endFrameBytes(count: number): number {
  return 4 + Math.ceil(count / 16);
}

/** Bytes of one whole transfer for `count` LEDs. */
export function frameBytes(count: number): number {
  return START_BYTES + 4 * count + endFrameBytes(count);
}

/** Clamps to a byte, rounding (animations compute fractions). */
function byte(v: number): number {
  return Math.min(255, Math.max(0, Math.round(v)));
}

/**
 * Writes one transfer for `pixels` into `out` (of `frameBytes(pixels.length)` bytes): start frame,
 * LED frames with the colour bytes in `order`, end frame. Brightness is clamped to 0–31.
 */
export function encodeFrameInto(
  out: Buffer,
  pixels: readonly Rgb[],
  brightness: number,
  order: ColorOrder,
): void {
  if (out.length !== frameBytes(pixels.length))
    throw new RangeError(
      `frame buffer is ${out.length} bytes, ${pixels.length} LEDs need ${frameBytes(pixels.length)}`,
    );
  const mark = LED_FRAME_MARK | (Math.min(MAX_BRIGHTNESS, Math.max(0, Math.trunc(brightness))) & 0x1f);
  out.fill(0, 0, START_BYTES);
  let at = START_BYTES;
  for (const p of pixels) {
    out[at] = mark;
    for (let i = 0; i < 3; i++) out[at + 1 + i] = byte(channel(p, order[i]));
    at += 4;
  }
  out.fill(0, at);
}

/** One transfer for `pixels`, in a new buffer. */
export function encodeFrame(pixels: readonly Rgb[], brightness: number, order: ColorOrder): Buffer {
  const out = Buffer.alloc(frameBytes(pixels.length));
  encodeFrameInto(out, pixels, brightness, order);
  return out;
}

function channel(p: Rgb, c: string | undefined): number {
  switch (c) {
    case 'r':
      return p.r;
    case 'g':
      return p.g;
    default:
      return p.b;
  }
}

/** The APA102 settings a run uses: the config's fields, else the preset's, else the defaults. */
export interface Apa102Settings {
  readonly device: string;
  /** The spidev bus and chip select of `device` (spi-device opens by these numbers). */
  readonly bus: number;
  readonly chipSelect: number;
  readonly count: number;
  readonly brightness: number;
  readonly colorOrder: ColorOrder;
  readonly speedHz: number;
  readonly powerLine: number | undefined;
  readonly maxFps: number;
  /** "preset respeaker-4mic (verified)" or "config", for the start-up log and doctor. */
  readonly from: string;
}

export const DEFAULT_SPI_DEVICE = '/dev/spidev0.0';

/**
 * Resolves `leds` (type apa102) to concrete settings, or says why it cannot (the schema already
 * rejects these cases; this is the same rule for callers that build a config by hand).
 */
export function apa102Settings(leds: Readonly<LedsConfig>): Apa102Settings | string {
  const preset = leds.preset === undefined ? undefined : APA102_PRESETS[leds.preset];
  const device = leds.device ?? (preset ? preset.device : DEFAULT_SPI_DEVICE);
  if (device === undefined)
    return preset?.whyNoDevice ?? `preset ${leds.preset} names no SPI device: set leds.device`;
  const m = /^\/dev\/spidev(\d+)\.(\d+)$/.exec(device);
  if (!m?.[1] || !m[2]) return `leds.device must be a spidev device like /dev/spidev0.0, not ${device}`;
  const count = leds.count ?? preset?.count;
  if (count === undefined) return 'an apa102 chain needs its LED count: set leds.count or leds.preset';
  return {
    device,
    bus: Number(m[1]),
    chipSelect: Number(m[2]),
    count,
    brightness: leds.brightness,
    colorOrder: leds.colorOrder,
    speedHz: leds.speedHz,
    powerLine: leds.powerLine ?? preset?.powerLine,
    maxFps: leds.maxFps,
    from:
      leds.preset === undefined
        ? 'config'
        : `preset ${leds.preset} (${preset?.verified ? 'verified from vendor code' : 'unverified'})`,
  };
}
