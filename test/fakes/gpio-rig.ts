/**
 * Helpers for tests that run the real onoff against fakegpiofs, the FUSE imitation of
 * /sys/class/gpio (test-infra.md §2.2). They only work inside the private mount namespace that
 * `test/fakes/gpio/fake-sysfs-ns.sh` sets up; run such a test file as {@link FAKE_GPIO_RUN_HINT} says.
 *
 * The fake keeps two numbers per line, as the hardware and the kernel do:
 * - `level`: the PHYSICAL level of the pin (test-only file). On an input the test writes it: that is
 *   the outside world (a button) driving the pin. On an output the test reads it: what the LED gets.
 * - `value`: the LOGICAL value the daemon sees = level XOR active_low. Edges (`edge`) are on it.
 * `direction` "high"/"low"/"out" set the RAW level (the kernel's gpiod_direction_output_raw), so with
 * active_low "high" means level 1 = value 0.
 */

import { readFileSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** The path onoff hard-codes. */
export const GPIO_ROOT = '/sys/class/gpio';

/** What a test file prints when it runs outside the rig. */
export const FAKE_GPIO_RUN_HINT =
  'this test needs the fake sysfs GPIO: from the repository root, as root, run ' +
  '`npx tsc -p . && unshare -m --propagation private bash test/fakes/gpio/fake-sysfs-ns.sh ' +
  'node --test dist/test/gpio/<file>.test.js` (needs apt packages fuse3 libfuse3-dev pkg-config gcc)';

/** The fake's defaults (fakegpiofs.c): a Pi 4 on kernel ≥ 6.6, so BCM GPIO17 is sysfs line 529. */
export const FAKE_DEFAULTS = {
  chips: '512:58:pinctrl-bcm2711,570:8:raspberrypi-exp-gpio',
  /** Lines kernel drivers hold on a Pi 4 (ACT LED GPIO42, PWR LED, two SD regulators): export → EBUSY. */
  busy: [554, 572, 574, 576],
} as const;

export type Level = 0 | 1;
export type LineAttr = 'direction' | 'active_low' | 'edge' | 'value';

const linePath = (line: number, file: string): string => `${GPIO_ROOT}/gpio${line}/${file}`;

function toLevel(text: string, what: string): Level {
  const t = text.trim();
  if (t === '0') return 0;
  if (t === '1') return 1;
  throw new Error(`${what}: expected "0" or "1", read ${JSON.stringify(text)}`);
}

/**
 * Whether /sys/class/gpio is the fakegpiofs mount, i.e. this process runs inside the rig.
 * Synchronous (one small /proc read) so a test file can decide before it declares its tests.
 */
export function insideFakeGpio(): boolean {
  // mountinfo: "id parent maj:min root mountpoint options [optional…] - fstype source superoptions";
  // the last entry for a mount point is the one on top.
  let top: string | undefined;
  for (const entry of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const fields = entry.split(' ');
    const sep = fields.indexOf('-');
    if (fields[4] === GPIO_ROOT && sep > 0) top = fields[sep + 1];
  }
  return top === 'fuse.fakegpiofs';
}

/** The physical level of an exported line: what an LED on an output actually gets. */
export async function readLevel(line: number): Promise<Level> {
  return toLevel(await readFile(linePath(line, 'level'), 'utf8'), `gpio${line}/level`);
}

/**
 * The outside world drives an exported INPUT line to `level` (a button closing or opening). Raises
 * an edge event when the logical value crosses the armed edge. The fake refuses it on an output
 * (EPERM): nothing outside can override a pin the SoC drives.
 */
export async function setLevel(line: number, level: Level): Promise<void> {
  try {
    await writeFile(linePath(line, 'level'), String(level));
  } catch (err) {
    throw new Error(`setLevel(${line}, ${level}): ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
}

/** One sysfs attribute of an exported line, without the trailing newline. */
export async function readAttr(line: number, attr: LineAttr): Promise<string> {
  return (await readFile(linePath(line, attr), 'utf8')).trim();
}

/** The exported lines (the gpioN directories), ascending. */
export async function exportedLines(): Promise<number[]> {
  const names = await readdir(GPIO_ROOT);
  return names
    .map((n) => /^gpio(\d+)$/.exec(n)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

export interface BounceTrain {
  /** The level the contact settles at: 0 for an active-low button being pressed, 1 when released. */
  readonly to: Level;
  /** How often the contact springs back before it settles (0 = a clean edge). At most 50. */
  readonly bounces: number;
  /** Milliseconds between two flips (real timers, so ≥ 1 in practice). At most 100. */
  readonly spacingMs: number;
}

export interface BounceReport {
  /** Every level written, in order; the last one is `to`. */
  readonly written: readonly Level[];
  /** Milliseconds from the first flip to the final, stable level. */
  readonly durationMs: number;
}

/**
 * A realistic mechanical contact on an input line: the level flips to `to`, springs back, flips
 * again… `bounces` times, `spacingMs` apart, then stays at `to`. So 2 × bounces + 1 writes over
 * about 2 × bounces × spacingMs ms; with both edges armed each flip is an interrupt. Real contacts
 * bounce for 1–10 ms, which is what a debounce of 10–50 ms must swallow: e.g.
 * `{ to: 0, bounces: 3, spacingMs: 1 }` is a press of an active-low button lasting ~6 ms of noise.
 * Resolves once the final level is written; the test waits for the debounce itself.
 * Throws if the line is already at `to` (the train would start with a non-edge: a test mistake).
 */
export async function pressBounced(line: number, train: BounceTrain): Promise<BounceReport> {
  const { to, bounces, spacingMs } = train;
  if (!Number.isInteger(bounces) || bounces < 0 || bounces > 50) {
    throw new RangeError(`pressBounced: bounces must be an integer 0..50, got ${bounces}`);
  }
  if (!Number.isFinite(spacingMs) || spacingMs < 0 || spacingMs > 100) {
    throw new RangeError(`pressBounced: spacingMs must be 0..100, got ${spacingMs}`);
  }
  const before = await readLevel(line);
  if (before === to) throw new Error(`pressBounced: gpio${line} is already at level ${to}`);
  const other: Level = to === 1 ? 0 : 1;
  const written: Level[] = [];
  const t0 = performance.now();
  for (let i = 0; i < 2 * bounces + 1; i++) {
    if (i > 0) await sleep(spacingMs);
    const level = i % 2 === 0 ? to : other;
    await setLevel(line, level);
    written.push(level);
  }
  return { written, durationMs: performance.now() - t0 };
}

/** One accepted write as fakegpiofs traced it (FAKEGPIO_TRACE; fake-sysfs-ns.sh always sets one). */
export interface TraceEntry {
  /** Monotonic ms of fakegpiofs (only the order and the differences mean something). */
  readonly at: number;
  readonly line: number;
  /** export, unexport, value, direction, edge, active_low or level. */
  readonly what: string;
  readonly dir: 'in' | 'out';
  readonly activeLow: 0 | 1;
  /** The physical level after the write. */
  readonly level: Level;
}

const TRACE_RE = /^(\d+(?:\.\d+)?) (\d+) (\w+) dir=(in|out) active_low=([01]) level=([01])$/;

/** Every write fakegpiofs accepted so far, in order. */
export async function readTrace(): Promise<TraceEntry[]> {
  const path = process.env.FAKEGPIO_TRACE;
  if (!path) throw new Error(`FAKEGPIO_TRACE is not set: ${FAKE_GPIO_RUN_HINT}`);
  const out: TraceEntry[] = [];
  for (const row of (await readFile(path, 'utf8')).split('\n')) {
    if (row === '') continue;
    const m = TRACE_RE.exec(row);
    if (!m) throw new Error(`unexpected trace line ${JSON.stringify(row)}`);
    const [, at, line, what, dir, al, level] = m;
    out.push({
      at: Number(at),
      line: Number(line),
      what: what ?? '',
      dir: dir === 'out' ? 'out' : 'in',
      activeLow: al === '1' ? 1 : 0,
      level: level === '1' ? 1 : 0,
    });
  }
  return out;
}
