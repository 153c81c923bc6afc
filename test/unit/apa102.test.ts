/**
 * The APA102 frame encoding against the datasheet, the ring pictures per indicator, and the
 * renderer against an injected bus on a ManualClock: every frame sent is decoded back to colours.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ColorOrder, configSchema } from '../../src/config/schema.js';
import { ManualClock } from '../../src/core/clock.js';
import { apa102Settings, encodeFrame, endFrameBytes, frameBytes } from '../../src/hardware/apa102.js';
import { APA102_PRESETS } from '../../src/hardware/apa102-presets.js';
import {
  INDICATORS_BY_NAME,
  type IndicatorName,
  type Rgb,
  RING_LOOKS,
} from '../../src/hardware/indicator.js';
import {
  Apa102Ring,
  BREATHE_FLOOR,
  type FrameBus,
  ringPicture,
  SPIN_STEP_MS,
  spinSegment,
  WAKE_MARGIN_MS,
} from '../../src/hardware/ring.js';
import { captureLogger } from '../fakes/capture-logger.js';

interface Decoded {
  readonly brightness: number[];
  readonly pixels: Rgb[];
}

/**
 * Reads a transfer back as the chips would (APA102 datasheet): 32 zero bits, then LED frames
 * `111bbbbb` + three colour bytes in `order`, then only zeros. Throws on anything else.
 */
function decode(frame: Buffer, count: number, order: ColorOrder = 'bgr'): Decoded {
  assert.equal(frame.length, frameBytes(count), 'frame length');
  assert.deepEqual([...frame.subarray(0, 4)], [0, 0, 0, 0], 'start frame: 32 zero bits');
  const brightness: number[] = [];
  const pixels: Rgb[] = [];
  for (let i = 0; i < count; i++) {
    const at = 4 + 4 * i;
    const head = frame[at] ?? -1;
    assert.equal(head & 0xe0, 0xe0, `LED ${i}: frame starts with 111`);
    brightness.push(head & 0x1f);
    const c: Record<string, number> = {};
    for (let k = 0; k < 3; k++) c[order[k] ?? '?'] = frame[at + 1 + k] ?? -1;
    pixels.push({ r: c.r ?? -1, g: c.g ?? -1, b: c.b ?? -1 });
  }
  const end = frame.subarray(4 + 4 * count);
  assert.ok(
    end.every((b) => b === 0),
    'end frame: zeros only',
  );
  assert.ok(end.length * 8 >= count / 2, 'end frame: at least n/2 bits');
  return { brightness, pixels };
}

const RED = { r: 255, g: 0, b: 0 };
const GREEN = { r: 0, g: 255, b: 0 };
const BLUE = { r: 0, g: 0, b: 255 };
const DARK = { r: 0, g: 0, b: 0 };

test('datasheet layout: start frame, 0xE0|brightness then blue, green, red per LED, zero end frame', () => {
  const frame = encodeFrame(
    [
      { r: 0x11, g: 0x22, b: 0x33 },
      { r: 0xaa, g: 0xbb, b: 0xcc },
    ],
    7,
    'bgr',
  );
  assert.equal(
    frame.toString('hex'),
    // start      LED 0: E7 B G R   LED 1: E7 B G R   end: 32 zero bits + ⌈2/16⌉ byte
    `00000000${'e7332211'}${'e7ccbbaa'}${'00000000'}00`,
  );
});

test('end frame: 32 zero bits plus at least n/2 bits, in whole bytes', () => {
  for (const [n, bytes] of [
    [1, 5],
    [3, 5],
    [12, 5],
    [16, 5],
    [17, 6],
    [64, 8],
    [65, 9],
    [256, 20],
  ] as const) {
    assert.equal(endFrameBytes(n), bytes, `${n} LEDs`);
    assert.ok((endFrameBytes(n) - 4) * 8 >= n / 2, `${n} LEDs: ≥ n/2 clock bits after the 32`);
    assert.equal(frameBytes(n), 4 + 4 * n + bytes);
  }
  // The largest chain fits spidev's default 4096-byte buffer in one transfer.
  assert.ok(frameBytes(256) < 4096);
});

test('brightness is 5 bits: clamped to 0–31, never touching the 111 marker', () => {
  const px = [{ r: 1, g: 2, b: 3 }];
  assert.deepEqual(decode(encodeFrame(px, 31, 'bgr'), 1).brightness, [31]);
  assert.deepEqual(decode(encodeFrame(px, 40, 'bgr'), 1).brightness, [31]);
  assert.deepEqual(decode(encodeFrame(px, -3, 'bgr'), 1).brightness, [0]);
  assert.equal(encodeFrame(px, 0, 'bgr')[4], 0xe0);
});

test('every colour order puts the bytes where it says, and decodes back', () => {
  const px = [{ r: 10, g: 20, b: 30 }];
  const wire: Record<ColorOrder, number[]> = {
    bgr: [30, 20, 10],
    brg: [30, 10, 20],
    gbr: [20, 30, 10],
    grb: [20, 10, 30],
    rbg: [10, 30, 20],
    rgb: [10, 20, 30],
  };
  for (const [order, bytes] of Object.entries(wire) as [ColorOrder, number[]][]) {
    const frame = encodeFrame(px, 31, order);
    assert.deepEqual([...frame.subarray(5, 8)], bytes, order);
    assert.deepEqual(decode(frame, 1, order).pixels, px, order);
  }
});

test('every indicator has a ring look whose colour is the GPIO colour', () => {
  const rgbOf = { off: DARK, red: RED, green: GREEN, blue: BLUE, amber: { r: 255, g: 96, b: 0 } };
  for (const [name, indicator] of Object.entries(INDICATORS_BY_NAME)) {
    const look = RING_LOOKS[name as IndicatorName];
    assert.ok(look, name);
    assert.deepEqual(look.rgb, rgbOf[indicator.color], `${name}: same colour as on the GPIO LEDs`);
    // Blinks blink alike on both backends; the ring's own motions replace steady only.
    if (indicator.pattern === 'slow-blink' || indicator.pattern === 'fast-blink')
      assert.equal(look.motion, indicator.pattern, name);
    if (indicator.pattern === 'off') assert.equal(look.motion, 'off', name);
  }
  assert.equal(RING_LOOKS.connecting.motion, 'spin');
  assert.equal(RING_LOOKS.listening.motion, 'breathe');
  assert.equal(RING_LOOKS.speaking.motion, 'steady');
});

test('ringPicture: still pictures never change, animations say when they next do', () => {
  assert.equal(ringPicture(RING_LOOKS.speaking, 3, 0).nextMs, undefined);
  assert.equal(ringPicture(RING_LOOKS.idle, 3, 5_000).nextMs, undefined);
  assert.deepEqual(ringPicture(RING_LOOKS.speaking, 3, 123).pixels, [GREEN, GREEN, GREEN]);
  assert.equal(ringPicture(RING_LOOKS.error, 3, 250).nextMs, 300);
  assert.equal(ringPicture(RING_LOOKS.connecting, 12, 250).nextMs, 300);
  assert.equal(ringPicture(RING_LOOKS.listening, 12, 250).nextMs, 250, 'breathing: continuous');
  assert.equal(spinSegment(3), 1);
  assert.equal(spinSegment(12), 3);
});

class Recorder implements FrameBus {
  readonly frames: Array<{ at: number; frame: Buffer }> = [];
  fail: Error | undefined;
  constructor(private readonly clock: ManualClock) {}
  write(frame: Buffer): void {
    if (this.fail) throw this.fail;
    this.frames.push({ at: this.clock.now(), frame: Buffer.from(frame) });
  }
  pixels(i: number, count: number): Rgb[] {
    const f = this.frames.at(i);
    assert.ok(f, `frame ${i} was sent`);
    return decode(f.frame, count).pixels;
  }
}

function rig(count = 12, maxFps = 30) {
  const clock = new ManualClock(1_000);
  const bus = new Recorder(clock);
  const logger = captureLogger();
  const ring = new Apa102Ring(bus, clock, { count, brightness: 5, colorOrder: 'bgr', maxFps }, logger.log);
  return { clock, bus, ring, logged: logger.lines };
}

const all = (c: Rgb, n: number): Rgb[] => Array.from({ length: n }, () => c);

test('steady: one frame with the colour and brightness, no timer', () => {
  const h = rig(3);
  h.ring.render(INDICATORS_BY_NAME.speaking);
  assert.equal(h.bus.frames.length, 1);
  const f = h.bus.frames[0];
  assert.ok(f);
  assert.deepEqual(decode(f.frame, 3), { brightness: [5, 5, 5], pixels: all(GREEN, 3) });
  assert.equal(h.clock.pending, 0, 'a still picture arms no timer');
  assert.equal(h.ring.state, 'still');
  h.clock.advance(10_000);
  assert.equal(h.bus.frames.length, 1, 'and sends nothing more');
});

test('spinner while connecting: a quarter of the ring walks one LED every 100 ms', () => {
  const h = rig(12);
  h.ring.render(INDICATORS_BY_NAME.connecting);
  for (let step = 0; step < 14; step++) {
    // Each step is due SPIN_STEP_MS after the last, drawn at most WAKE_MARGIN_MS late.
    h.clock.advance(1_000 + step * SPIN_STEP_MS + WAKE_MARGIN_MS - h.clock.now());
    const lit = h.bus
      .pixels(step, 12)
      .map((p, i) => (p.b === 255 ? i : -1))
      .filter((i) => i >= 0);
    const head = step % 12;
    const want = [head, (head + 1) % 12, (head + 2) % 12].sort((a, b) => a - b);
    assert.deepEqual(lit, want, `step ${step}`);
    const late = (h.bus.frames[step]?.at ?? 0) - (1_000 + step * SPIN_STEP_MS);
    assert.ok(late >= 0 && late <= WAKE_MARGIN_MS, `step ${step} on time (${late} ms late)`);
    assert.equal(h.bus.frames.length, step + 1, 'one frame a step');
    assert.equal(h.clock.pending, 1, 'exactly one timer while moving');
  }
});

test('breathing while listening: red from the floor to full and back, at most maxFps frames a second', () => {
  for (const fps of [30, 10]) {
    const h = rig(12, fps);
    h.ring.render(INDICATORS_BY_NAME.listening);
    h.clock.advance(2_000); // one whole breath
    const reds = h.bus.frames.map((_, i) => {
      const px = h.bus.pixels(i, 12);
      assert.ok(
        px.every((p) => p.g === 0 && p.b === 0 && p.r === px[0]?.r),
        'the whole ring, red only',
      );
      return px[0]?.r ?? -1;
    });
    const first = h.bus.frames[0]?.at ?? 0;
    const inFirstSecond = h.bus.frames.filter((f) => f.at < first + 1_000).length;
    assert.ok(inFirstSecond <= fps, `${fps} fps cap: ${inFirstSecond} frames in a second`);
    assert.ok(inFirstSecond >= fps - 1, `${fps} fps: the animation does run (${inFirstSecond})`);
    assert.equal(reds[0], Math.round(255 * BREATHE_FLOOR), 'starts at the floor, never dark');
    assert.equal(Math.max(...reds), 255, 'reaches full red half way');
    const peak = reds.indexOf(255);
    for (let i = 1; i <= peak; i++) assert.ok((reds[i] ?? 0) >= (reds[i - 1] ?? 0), 'rises to the peak');
    for (let i = peak + 1; i < reds.length; i++)
      assert.ok((reds[i] ?? 0) <= (reds[i - 1] ?? 0), 'falls after it');
    for (let i = 1; i < h.bus.frames.length; i++) {
      const gap = (h.bus.frames[i]?.at ?? 0) - (h.bus.frames[i - 1]?.at ?? 0);
      assert.ok(gap >= 1000 / fps, `frames at least 1/${fps} s apart (${gap} ms)`);
    }
  }
});

/** Node's timers may fire a little before their delay by performance.now(): this clock always does. */
class EarlyClock extends ManualClock {
  wakes = 0;
  override setTimeout(fn: () => void, ms: number) {
    return super.setTimeout(
      () => {
        this.wakes++;
        fn();
      },
      Math.max(0, ms - 1.5),
    );
  }
}

test('a timer that fires early draws nothing and re-arms for the rest, not for a whole frame', () => {
  const clock = new EarlyClock(0);
  const bus = new Recorder(clock);
  const ring = new Apa102Ring(
    bus,
    clock,
    { count: 12, brightness: 5, colorOrder: 'bgr', maxFps: 30 },
    captureLogger().log,
  );
  ring.render(INDICATORS_BY_NAME.connecting);
  clock.advance(999);
  assert.equal(bus.frames.length, 10, 'ten spinner steps in a second');
  for (const [i, f] of bus.frames.entries()) {
    const late = f.at - i * SPIN_STEP_MS;
    assert.ok(late >= 0 && late < 2, `step ${i} is ${late} ms late, not a frame (34 ms)`);
  }
  assert.ok(clock.wakes <= 2 * 10, `${clock.wakes} wake-ups: at most one early one per step`);
});

test('blinks send a frame per phase, not per frame slot: error is 10 frames a second, offline 2', () => {
  const h = rig(3);
  h.ring.render(INDICATORS_BY_NAME.error);
  h.clock.advance(999);
  assert.equal(h.bus.frames.length, 10);
  assert.deepEqual(h.bus.pixels(0, 3), all(RED, 3));
  assert.deepEqual(h.bus.pixels(1, 3), all(DARK, 3));
  assert.equal(h.bus.frames[1]?.at, 1_100 + WAKE_MARGIN_MS);
  const o = rig(3);
  o.ring.render(INDICATORS_BY_NAME.offline);
  o.clock.advance(999);
  assert.equal(o.bus.frames.length, 2);
  assert.deepEqual(o.bus.pixels(0, 3), all(BLUE, 3));
  assert.deepEqual(o.bus.pixels(1, 3), all(DARK, 3));
});

test('a new indicator cancels the animation; the same one again keeps its phase', () => {
  const h = rig(12);
  h.ring.render(INDICATORS_BY_NAME.connecting);
  h.clock.advance(250);
  const sent = h.bus.frames.length;
  h.ring.render(INDICATORS_BY_NAME.connecting);
  assert.equal(h.bus.frames.length, sent, 'no new frame, no restart');
  h.clock.advance(50 + WAKE_MARGIN_MS);
  assert.deepEqual(
    h.bus
      .pixels(-1, 12)
      .map((p, i) => (p.b ? i : -1))
      .filter((i) => i >= 0),
    [3, 4, 5],
    'still on its own schedule',
  );
  h.ring.render(INDICATORS_BY_NAME.speaking);
  assert.equal(h.clock.pending, 0, 'the spinner timer is gone');
  assert.deepEqual(h.bus.pixels(-1, 12), all(GREEN, 12));
  h.ring.render(INDICATORS_BY_NAME.listening);
  assert.equal(h.clock.pending, 1);
  h.ring.off();
  assert.equal(h.clock.pending, 0, 'off cancels');
  assert.deepEqual(h.bus.pixels(-1, 12), all(DARK, 12));
  assert.equal(h.ring.state, 'dark');
});

test('a frame equal to the last one is not sent again', () => {
  const h = rig(3);
  h.ring.off();
  assert.equal(h.bus.frames.length, 1, 'the first dark frame goes out: the LEDs may hold anything');
  h.ring.render(INDICATORS_BY_NAME.idle);
  assert.equal(h.bus.frames.length, 1, 'idle is dark too: nothing to send');
  h.ring.render(INDICATORS_BY_NAME.speaking);
  h.ring.render(INDICATORS_BY_NAME.off);
  assert.equal(h.bus.frames.length, 3);
});

test('close: a dark frame even if already dark, no timer, then nothing more', () => {
  const h = rig(3);
  h.ring.off();
  h.ring.render(INDICATORS_BY_NAME.listening);
  h.ring.off();
  const before = h.bus.frames.length;
  h.ring.close();
  assert.equal(h.bus.frames.length, before + 1);
  assert.deepEqual(h.bus.pixels(-1, 3), all(DARK, 3));
  assert.equal(h.clock.pending, 0);
  assert.equal(h.ring.state, 'closed');
  h.ring.render(INDICATORS_BY_NAME.speaking);
  h.ring.close();
  assert.equal(h.bus.frames.length, before + 1, 'closed for good');
});

test('a failing bus is logged once and retried on the next frame', () => {
  const h = rig(3);
  h.bus.fail = Object.assign(new Error('EIO, i/o error'), { code: 'EIO' });
  h.ring.render(INDICATORS_BY_NAME.error);
  h.clock.advance(300);
  const errors = h.logged.filter((l) => /LED ring cannot be written/.test(l.msg));
  assert.equal(errors.length, 1);
  assert.equal(errors[0]?.code, 'E_LED_WRITE');
  h.bus.fail = undefined;
  h.clock.advance(100);
  assert.equal(h.bus.frames.length, 1);
  assert.ok(h.logged.some((l) => /LED ring writes again/.test(l.msg)));
  assert.equal(h.clock.pending, 1, 'the blink went on through the failure');
});

test('presets: facts with sources; the config wins over them', () => {
  for (const [name, p] of Object.entries(APA102_PRESETS)) {
    assert.ok(p.source.length > 20, `${name} says where its facts come from`);
    assert.ok(p.device !== undefined || p.whyNoDevice, `${name}: a device or why none`);
  }
  const base = configSchema.parse({ leds: { type: 'apa102', preset: 'respeaker-4mic' } }).leds;
  const s = apa102Settings(base);
  assert.ok(typeof s === 'object', String(s));
  assert.equal(s.count, 12);
  assert.equal(s.powerLine, 5);
  assert.equal(s.device, '/dev/spidev0.1');
  assert.deepEqual([s.bus, s.chipSelect], [0, 1]);
  assert.match(s.from, /respeaker-4mic \(verified from vendor code\)/);
  const own = configSchema.parse({
    leds: { type: 'apa102', preset: 'respeaker-4mic', device: '/dev/spidev1.2', count: 6, powerLine: 26 },
  }).leds;
  const o = apa102Settings(own);
  assert.ok(typeof o === 'object');
  assert.deepEqual([o.device, o.bus, o.chipSelect, o.count, o.powerLine], ['/dev/spidev1.2', 1, 2, 6, 26]);
  const plain = apa102Settings(configSchema.parse({ leds: { type: 'apa102', count: 8 } }).leds);
  assert.ok(typeof plain === 'object');
  assert.deepEqual([plain.device, plain.powerLine, plain.from], ['/dev/spidev0.0', undefined, 'config']);
});

test('config: gpio stays the default; apa102 without a count, the bonnet without a device, a clash: errors', () => {
  const d = configSchema.parse({});
  assert.equal(d.leds.type, 'gpio');
  assert.equal(d.gpio.leds.length, 3, 'the GPIO LEDs as before');
  const issues = (input: unknown) => {
    const r = configSchema.safeParse(input);
    assert.ok(!r.success);
    return r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };
  assert.deepEqual(issues({ leds: { type: 'apa102' } }), [
    'leds.count: an apa102 chain needs its LED count: set leds.count or leds.preset',
  ]);
  const bonnet = issues({ leds: { type: 'apa102', preset: 'voice-bonnet' } });
  assert.equal(bonnet.length, 1);
  assert.match(bonnet[0] ?? '', /^leds\.device: .*GPIO5 \(data\) and GPIO6 \(clock\), not on the SPI pins/);
  assert.ok(
    configSchema.safeParse({ leds: { type: 'apa102', preset: 'voice-bonnet', device: '/dev/spidev3.0' } })
      .success,
    'with a bit-banged spidev named, the bonnet preset gives the count',
  );
  assert.deepEqual(
    issues({ gpio: { button: { line: 5 } }, leds: { type: 'apa102', preset: 'respeaker-4mic' } }),
    ['leds.powerLine: GPIO5 is already gpio.button.line'],
  );
  assert.match(issues({ leds: { type: 'apa102', count: 3, device: '/dev/ttyS0' } })[0] ?? '', /spidev/);
  assert.match(issues({ leds: { type: 'apa102', count: 3, brightness: 32 } })[0] ?? '', /leds\.brightness/);
});
