/**
 * CPU cost of the APA102 ring's animations (hardware/ring.ts), as a share of one core: the real
 * renderer on the real clock (SystemClock, Node timers), drawing into a bus that takes each frame
 * and does nothing with it, so what is measured is speakerd's side (pictures, encoding, timers),
 * not the SPI transfer (about 60 µs of kernel time per 12-LED frame at 8 MHz on a Pi, not here).
 * Side by side in one process, each for the same window: nothing at all (the floor of this
 * process), a static picture (speaking: one frame, no timer), the spinner (connecting) and the
 * breathing (listening) at the chosen frame rates and ring sizes. The cases take turns for several
 * rounds and each reports its median: V8's background work (GC, JIT) lands in whichever window it
 * falls in, and one window alone misattributes it.
 *
 *   node dist/bench/apa102.js [--seconds 4] [--rounds 3]
 *
 * `measureApa102` and `formatApa102` are for bench/run.ts.
 */
import { arch, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { SystemClock } from '../src/core/clock.js';
import { encodeFrameInto, frameBytes } from '../src/hardware/apa102.js';
import { INDICATORS_BY_NAME, type IndicatorName, RING_LOOKS } from '../src/hardware/indicator.js';
import { Apa102Ring, type FrameBus, ringPicture } from '../src/hardware/ring.js';
import { median } from './stats.js';

export interface Apa102Case {
  readonly label: string;
  /**
   * The indicator the ring shows; 'timer': no ring, an empty Node timer at the frame interval (what
   * waking up that often costs by itself); undefined: no ring, no timer (the floor).
   */
  readonly indicator: IndicatorName | 'timer' | undefined;
  readonly count: number;
  readonly maxFps: number;
}

export interface Apa102Row extends Apa102Case {
  readonly seconds: number;
  readonly frames: number;
  /** CPU time (user + system) of this process over the window, % of one core. */
  readonly cpuPct: number;
  /** CPU µs per frame sent, the floor subtracted; undefined without frames. */
  readonly usPerFrame: number | undefined;
}

export const APA102_CASES: readonly Apa102Case[] = [
  { label: 'nothing (floor of this process)', indicator: undefined, count: 12, maxFps: 30 },
  { label: 'static picture (speaking)', indicator: 'speaking', count: 12, maxFps: 30 },
  { label: 'spinner (connecting)', indicator: 'connecting', count: 12, maxFps: 30 },
  { label: 'bare Node timer, no ring, 30/s', indicator: 'timer', count: 12, maxFps: 30 },
  { label: 'breathing (listening)', indicator: 'listening', count: 12, maxFps: 30 },
  { label: 'breathing (listening)', indicator: 'listening', count: 3, maxFps: 30 },
  { label: 'breathing (listening)', indicator: 'listening', count: 12, maxFps: 60 },
  { label: 'breathing (listening)', indicator: 'listening', count: 256, maxFps: 60 },
];

/** Takes a frame and does nothing with it: the renderer's cost alone. */
class NullBus implements FrameBus {
  bytes = 0;
  write(frame: Buffer): void {
    this.bytes += frame.length;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

export async function measureApa102(
  seconds: number,
  rounds: number,
  cases: readonly Apa102Case[] = APA102_CASES,
): Promise<Apa102Row[]> {
  // Warnings only: the ring logs nothing per frame, and a failure would show.
  const log = pino({ level: 'warn' });
  // A short warm-up so the first case does not pay for JIT compilation of the renderer.
  await run({ label: 'warm-up', indicator: 'listening', count: 12, maxFps: 60 }, 1);
  const runs: Array<Array<Omit<Apa102Row, 'usPerFrame'>>> = cases.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (const [i, c] of cases.entries()) runs[i]?.push(await run(c, seconds));
  }
  const medianOf = (i: number) => {
    const all = runs[i] ?? [];
    const pct = median(all.map((r) => r.cpuPct));
    const frames = median(all.map((r) => r.frames));
    const secs = median(all.map((r) => r.seconds));
    return { pct, frames, secs };
  };
  const floorAt = cases.findIndex((c) => c.indicator === undefined);
  const floorPct = floorAt < 0 ? 0 : medianOf(floorAt).pct;
  return cases.map((c, i) => {
    const m = medianOf(i);
    const extraUs = (Math.max(0, m.pct - floorPct) / 100) * m.secs * 1e6;
    return {
      ...c,
      seconds: m.secs,
      frames: m.frames,
      cpuPct: m.pct,
      usPerFrame: m.frames > 1 ? extraUs / m.frames : undefined,
    };
  });

  async function run(c: Apa102Case, s: number): Promise<Omit<Apa102Row, 'usPerFrame'>> {
    const clock = new SystemClock();
    const bus = new NullBus();
    const indicator = c.indicator;
    const ring =
      indicator === undefined || indicator === 'timer'
        ? undefined
        : new Apa102Ring(
            bus,
            clock,
            { count: c.count, brightness: 8, colorOrder: 'bgr', maxFps: c.maxFps },
            log,
          );
    let ticks = 0;
    const t0 = performance.now();
    const cpu0 = cpuUs();
    const timer =
      indicator === 'timer'
        ? setInterval(
            () => {
              ticks++;
            },
            Math.ceil(1000 / c.maxFps),
          )
        : undefined;
    if (ring && indicator !== undefined && indicator !== 'timer') ring.render(INDICATORS_BY_NAME[indicator]);
    await sleep(s * 1000);
    const cpu = cpuUs() - cpu0;
    const wall = performance.now() - t0;
    clearInterval(timer);
    const frames = ring?.frames ?? ticks;
    ring?.close();
    return { ...c, seconds: wall / 1000, frames, cpuPct: (cpu / 1000 / wall) * 100 };
  }
}

/**
 * The renderer's own work per frame, without any timer: picture, encoding and the compare with the
 * last frame, in a tight loop (µs per frame, mean of `frames`), for the given ring sizes.
 */
export function frameWorkUs(
  counts: readonly number[],
  frames = 20_000,
): Array<{ count: number; us: number }> {
  return counts.map((count) => {
    const a = Buffer.alloc(frameBytes(count));
    const b = Buffer.alloc(frameBytes(count));
    let same = 0;
    const t0 = performance.now();
    for (let i = 0; i < frames; i++) {
      const picture = ringPicture(RING_LOOKS.listening, count, i * 33);
      encodeFrameInto(a, picture.pixels, 8, 'bgr');
      if (a.equals(b)) same++;
    }
    const us = ((performance.now() - t0) * 1000) / frames;
    // `same` keeps the compare from being optimised away; a breath never repeats frame 0's zeros.
    return { count, us: same > frames ? Number.NaN : us };
  });
}

export function formatApa102(rows: readonly Apa102Row[], rounds: number): string[] {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const out = [
    `APA102   ring renderer into a null bus, real timers, ${rows[0]?.seconds.toFixed(1) ?? '?'} s a case, median of ${rounds} rounds; Node ${process.version} ${arch()} (${cpu})`,
    '         case                              LEDs  max fps  frames/s  CPU % of one core  µs/frame (floor subtracted)',
  ];
  for (const r of rows) {
    const fps = r.frames / r.seconds;
    out.push(
      `         ${r.label.padEnd(34)}${String(r.indicator && r.indicator !== 'timer' ? r.count : '—').padStart(4)}  ${String(r.indicator ? r.maxFps : '—').padStart(7)}  ${fps.toFixed(1).padStart(8)}  ${r.cpuPct.toFixed(3).padStart(17)}  ${r.usPerFrame === undefined ? '       —' : r.usPerFrame.toFixed(0).padStart(8)}`,
    );
  }
  const work = frameWorkUs([3, 12, 256]);
  out.push(
    `         the renderer's own work per frame (picture + encode + compare, no timer): ${work.map((w) => `${w.count} LEDs ${w.us.toFixed(1)} µs`).join(', ')};`,
    "         the rest of a moving picture's cost is waking the event loop, as the bare timer shows",
  );
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { seconds: { type: 'string', default: '4' }, rounds: { type: 'string', default: '3' } },
  });
  const seconds = Number(values.seconds);
  const rounds = Number(values.rounds);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 120) {
    process.stderr.write(`--seconds must be a number of seconds from 0 to 120, not ${values.seconds}\n`);
    process.exitCode = 2;
  } else if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) {
    process.stderr.write(`--rounds must be an integer from 1 to 20, not ${values.rounds}\n`);
    process.exitCode = 2;
  } else {
    for (const line of formatApa102(await measureApa102(seconds, rounds), rounds))
      process.stdout.write(`${line}\n`);
  }
}
