/**
 * The boards with APA102/DotStar LEDs that `leds.preset` names, with what each one's LEDs need and
 * where that fact comes from. "verified" means read in the vendor's own code (cited); nothing here
 * has been tried on a board (hardware.md §6 says so). Facts a preset gives are defaults: a field
 * set in `leds` wins.
 */
import type { Apa102PresetName } from '../config/schema.js';

export interface Apa102Preset {
  /** LEDs in the chain. */
  readonly count: number;
  /**
   * The spidev device that drives them, or undefined when no hardware SPI bus reaches them (the
   * config must then name one: see `whyNoDevice`).
   */
  readonly device: string | undefined;
  /** BCM GPIO that powers the LEDs (driven high while speakerd runs), if the board has one. */
  readonly powerLine: number | undefined;
  /** Whether the facts were read in the vendor's own code. */
  readonly verified: boolean;
  /** Where the facts come from. */
  readonly source: string;
  /** Why `device` is undefined, said to the operator as the fix. */
  readonly whyNoDevice?: string;
}

export const APA102_PRESETS: Readonly<Record<Apa102PresetName, Apa102Preset>> = Object.freeze({
  // Seeed's pixels.py builds apa102.APA102(num_led=3) with the library's defaults; Seeed's copy of
  // Tinue's library (respeaker/pixel_ring, pixel_ring/apa102.py) opens bus 0, device 1 at 8 MHz.
  // The APA102 has no chip-select input, so /dev/spidev0.0 clocks the same LEDs (SPI0 MOSI/SCLK).
  'respeaker-2mic': {
    count: 3,
    device: '/dev/spidev0.1',
    powerLine: undefined,
    verified: true,
    source:
      'respeaker/mic_hat pixels.py (PIXELS_N = 3, apa102.APA102(num_led=3)); bus 0 / device 1 / 8 MHz: respeaker/pixel_ring pixel_ring/apa102.py defaults',
  },
  // 12 LEDs and a power-enable pin on GPIO5: pixels.py (`self.power = LED(5); self.power.on()`)
  // and pixel_ring's USAGE ("a power-enable pin which should be enabled at first").
  'respeaker-4mic': {
    count: 12,
    device: '/dev/spidev0.1',
    powerLine: 5,
    verified: true,
    source:
      'respeaker/4mics_hat pixels.py (PIXELS_N = 12, LED(5).on()); respeaker/pixel_ring pixel_ring/__init__.py USAGE and examples/respeaker_4mic_array.py',
  },
  // Seeed's own pixel_ring names only the 4-Mic array; the 6-Mic kit's 12 LEDs and GPIO5 power
  // come from a fork's usage text. Likely the same ring, not read in vendor code.
  'respeaker-6mic': {
    count: 12,
    device: '/dev/spidev0.1',
    powerLine: 5,
    verified: false,
    source:
      'not vendor code: a fork of respeaker/pixel_ring whose usage text gives the 6-Mic Circular Array the 4-Mic wiring (12 LEDs, LED(5) power)',
  },
  // Every Voice Bonnet example builds adafruit_dotstar.DotStar(board.D6, board.D5, 3): clock on
  // GPIO6, data on GPIO5. Those are not SPI pins (SPI0 is MOSI GPIO10, SCLK GPIO11), so Blinka
  // bit-bangs them and no /dev/spidev reaches them.
  'voice-bonnet': {
    count: 3,
    device: undefined,
    powerLine: undefined,
    verified: false,
    source:
      "copies of Adafruit's Voice Bonnet DotStar example (DOTSTAR_DATA = board.D5, DOTSTAR_CLOCK = board.D6, 3 LEDs); Adafruit's own guide code was not found to read",
    whyNoDevice:
      "the Voice Bonnet's 3 DotStars are on GPIO5 (data) and GPIO6 (clock), not on the SPI pins (GPIO10/11), so no /dev/spidev device drives them. A bit-banged SPI controller (the kernel's spi-gpio driver, bound to GPIO6/5 by a device-tree overlay you write; Raspberry Pi OS ships none for these pins) with spidev on it would: set leds.device to the /dev/spidevB.C it creates. Otherwise use GPIO LEDs",
  },
});
