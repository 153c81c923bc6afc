/**
 * Speaker volume 0–100 (design.md §3.4), kept across restarts in `<stateDir>/volume.json`.
 *
 * Software mode (default): `apply()` scales each S16 sample by `perceptualGain(level)` =
 * (level/100)³, the cubic curve PulseAudio uses for its volume sliders: equal steps of the level
 * sound like roughly equal steps of loudness (50 → −18 dB, 25 → −36 dB), where a linear gain would
 * do nearly all of its audible work in the bottom fifth of the range. 100 returns the input buffer
 * itself (bit-exact, no copy), 0 digital silence; results are rounded and clipped to S16.
 *
 * Mixer mode (config audio.mixerControl set): the level goes to the ALSA control with
 * `amixer -q -M sset <control> <level>%` (-M: alsamixer's perceptual mapping, so the numbers mean
 * the same as in software mode) and the software gain stays at 100. amixer failures are operational:
 * logged as warnings, never thrown.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import { describeError } from '../core/errors.js';
import { isPlainObject } from '../core/json.js';
import { readSavedState, type SavedStateSpec, writeSavedState } from '../system/saved-state.js';
import { type ChildLike, defaultSpawn, type SpawnFn } from './child.js';

export const VOLUME_FILE = 'volume.json';
/** amixer answers in milliseconds; a hung one (wedged USB card) must not pile up. */
export const AMIXER_TIMEOUT_MS = 2_000;
const STDERR_MAX = 500;

export interface VolumeDeps {
  readonly stateDir: string;
  /** The level until one has been set (config audio.defaultVolume). */
  readonly defaultLevel: number;
  readonly log: Logger;
  readonly clock: Clock;
  /** ALSA simple mixer control (config audio.mixerControl); unset = software volume. */
  readonly mixerControl?: string | undefined;
  /** amixer `-D` (e.g. `hw:CARD=Device`, see `mixerDeviceFor`); unset = amixer's default card. */
  readonly mixerDevice?: string | undefined;
  readonly spawn?: SpawnFn;
  readonly env?: NodeJS.ProcessEnv;
  readonly command?: string;
}

export function isVolumeLevel(level: unknown): level is number {
  return typeof level === 'number' && Number.isInteger(level) && level >= 0 && level <= 100;
}

/** (level/100)³: PulseAudio's slider curve (see the file comment). */
export function perceptualGain(level: number): number {
  const x = level / 100;
  return x * x * x;
}

/**
 * Multiplies S16_LE samples by `gain`, rounding and clipping to [−32768, 32767]. Returns a new
 * buffer (an odd trailing byte is copied as is); gain 1 returns `pcm` itself.
 */
export function scalePcm(pcm: Buffer, gain: number): Buffer {
  if (gain === 1) return pcm;
  if (gain === 0) return Buffer.alloc(pcm.length);
  const out = Buffer.allocUnsafe(pcm.length);
  const end = pcm.length - (pcm.length % 2);
  for (let i = 0; i < end; i += 2) {
    const v = Math.round(pcm.readInt16LE(i) * gain);
    out.writeInt16LE(Math.min(32767, Math.max(-32768, v)), i);
  }
  if (end < pcm.length) out[end] = pcm[end] ?? 0;
  return out;
}

/**
 * The card a playback PCM names (`plughw:CARD=Device,DEV=0` → `hw:CARD=Device`), so amixer
 * addresses the same card as aplay; undefined when the name says nothing about a card.
 */
export function mixerDeviceFor(playbackDevice: string): string | undefined {
  const m = /CARD=([^,\s]+)/.exec(playbackDevice);
  if (m?.[1]) return `hw:CARD=${m[1]}`;
  const n = /^(?:plug)?hw:(\d+)/.exec(playbackDevice);
  return n?.[1] ? `hw:${n[1]}` : undefined;
}

export class Volume {
  readonly #d: VolumeDeps;
  readonly #file: string;
  readonly #spawn: SpawnFn;
  #level: number;
  #gain: number;
  /** set() calls run one after the other, so the file and the mixer end at the last level set. */
  #chain: Promise<void> = Promise.resolve();

  constructor(deps: VolumeDeps) {
    if (!isVolumeLevel(deps.defaultLevel)) {
      throw new RangeError(`default volume must be an integer 0–100, got ${deps.defaultLevel}`);
    }
    this.#d = deps;
    this.#file = join(deps.stateDir, VOLUME_FILE);
    this.#spawn = deps.spawn ?? defaultSpawn;
    this.#level = deps.defaultLevel;
    this.#gain = this.#gainFor(deps.defaultLevel);
  }

  get level(): number {
    return this.#level;
  }

  get mode(): 'software' | 'mixer' {
    return this.#d.mixerControl === undefined ? 'software' : 'mixer';
  }

  get file(): string {
    return this.#file;
  }

  /**
   * Reads the persisted level (missing → default; unreadable or corrupt → warning and default) and,
   * in mixer mode, sets the mixer to it so the card matches what we report.
   */
  async load(): Promise<void> {
    const level = await this.#read();
    this.#setLevel(level);
    this.#d.log.info({ volume: level, mode: this.mode, file: this.#file }, `volume ${level}`);
    if (this.mode === 'mixer') {
      const run = this.#chain.then(() => this.#mixer(level));
      this.#chain = run;
      await run;
    }
  }

  /** Software gain for one buffer of S16_LE PCM (see the file comment). */
  apply(pcm: Buffer): Buffer {
    return scalePcm(pcm, this.#gain);
  }

  /**
   * Sets the level: in software mode audible at once (next piece handed to aplay); in mixer mode
   * sent to amixer; then persisted. Resolves when done; failures there are logged, not thrown. An
   * invalid level is a programmer error: RangeError, synchronously.
   */
  set(level: number): Promise<void> {
    if (!isVolumeLevel(level)) throw new RangeError(`volume must be an integer 0–100, got ${level}`);
    this.#setLevel(level);
    // The mixer first: it is what the listener hears; the file only matters at the next start.
    const run = this.#chain.then(async () => {
      if (this.mode === 'mixer') await this.#mixer(level);
      await this.#persist(level);
    });
    this.#chain = run;
    return run;
  }

  /** Waits for pending writes and amixer runs (daemon shutdown); each is bounded. */
  async close(): Promise<void> {
    await this.#chain;
  }

  #gainFor(level: number): number {
    return this.mode === 'mixer' ? 1 : perceptualGain(level);
  }

  #setLevel(level: number): void {
    this.#level = level;
    this.#gain = this.#gainFor(level);
  }

  #read(): Promise<number> {
    const fallback = this.#d.defaultLevel;
    return readSavedState(this.#saved(), fallback, `using the default ${fallback}`);
  }

  #persist(level: number): Promise<void> {
    return writeSavedState(this.#saved(), { level }, String(level));
  }

  #saved(): SavedStateSpec<number> {
    return {
      file: this.#file,
      what: 'volume',
      shape: '{"level": 0–100}',
      pick: (parsed) => {
        const level = isPlainObject(parsed) ? parsed.level : undefined;
        return isVolumeLevel(level) ? level : undefined;
      },
      log: this.#d.log,
    };
  }

  /** One amixer run; resolves when it has exited (or was killed at the timeout). Never rejects. */
  #mixer(level: number): Promise<void> {
    const control = this.#d.mixerControl;
    if (control === undefined) return Promise.resolve();
    const args = [
      ...(this.#d.mixerDevice ? ['-D', this.#d.mixerDevice] : []),
      '-q',
      '-M',
      'sset',
      control,
      `${level}%`,
    ];
    const log = this.#d.log;
    const clock = this.#d.clock;
    return new Promise<void>((resolve) => {
      let child: ChildLike;
      try {
        child = this.#spawn(this.#d.command ?? 'amixer', args, {
          env: this.#d.env ?? process.env,
          stdio: ['ignore', 'ignore', 'pipe'],
        });
      } catch (err) {
        log.warn({ control, err: describeError(err) }, 'cannot run amixer; mixer volume unchanged');
        resolve();
        return;
      }
      let stderr = '';
      let spawnError: string | undefined;
      child.stderr?.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString('utf8')).slice(-STDERR_MAX);
      });
      child.on('error', (err: unknown) => {
        spawnError = describeError(err);
      });
      const timer = clock.setTimeout(() => {
        log.warn({ control, timeout_ms: AMIXER_TIMEOUT_MS }, 'amixer hung; killing it');
        child.kill('SIGKILL');
      }, AMIXER_TIMEOUT_MS);
      // 'close' (not 'exit') so stderr is complete; Node emits it after a spawn 'error' too.
      child.on('close', (code: number | null, signal: NodeJS.Signals | null) => {
        clock.clearTimeout(timer);
        if (code === 0 && !spawnError) {
          log.debug({ control, volume: level }, 'mixer volume set');
        } else {
          const why = spawnError ?? (signal ? `killed by ${signal}` : `exit code ${code}`);
          log.warn(
            { control, volume: level, err: why, stderr: stderr.trim() },
            `amixer could not set ${control} to ${level}%: ${why}${stderr.trim() ? ` — ${stderr.trim()}` : ''}`,
          );
        }
        resolve();
      });
    });
  }
}
