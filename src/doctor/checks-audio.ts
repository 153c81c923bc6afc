/**
 * `doctor` audio checks (hardware.md §7, §10): the configured capture device records one second
 * through the same `arecord` the daemon runs (level, clipping, digital silence), and the playback
 * device takes a short buffer through `aplay` (silence, or with `--tone` an audible tone).
 */
import type { AudioConfig } from '../config/schema.js';
import { type CheckResult, failed, pass } from './check.js';
import { type ChildOutcome, runChild } from './run-child.js';

export const CAPTURE_RATE = 16_000;
/** Recorded by the capture check (`arecord -d 1`). */
const CAPTURE_SECONDS = 1;
/** arecord gets this long to open the device and deliver its second. */
export const CAPTURE_TIMEOUT_MS = 3_000;
/** Less than this many ms of audio from a device that should give 1 s is a stalled device. */
const MIN_CAPTURE_MS = 500;
/** More than this fraction of samples at full scale: the gain is too high (the ASR gets distortion). */
const MAX_CLIPPED_FRACTION = 0.001;
/** Below this a mic is probably unplugged or its gain at zero (a quiet room is about −60 dBFS). */
const QUIET_DBFS = -70;
const SILENCE_MS = 200;
const TONE_MS = 500;
const TONE_HZ = 440;
const TONE_DBFS = -12;

/** The card part of an ALSA device name, for `alsamixer -c` (undefined for `default` and plugins). */
export function cardOf(device: string): string | undefined {
  const named = /CARD=([^,\s]+)/.exec(device);
  if (named?.[1] !== undefined) return named[1];
  return /^(?:plug)?hw:([^,\s]+)/.exec(device)?.[1];
}

function mixerCmd(device: string): string {
  const card = cardOf(device);
  return card === undefined ? 'alsamixer (F6 selects the card)' : `alsamixer -c ${card}`;
}

export interface Level {
  readonly samples: number;
  readonly rmsDbfs: number;
  readonly peakDbfs: number;
  /** Samples at −32768 or 32767. */
  readonly clipped: number;
  /** Every sample is 0: a muted capture switch or a mute button, not a quiet room. */
  readonly digitalSilence: boolean;
}

const toDbfs = (x: number): number => (x > 0 ? 20 * Math.log10(x) : Number.NEGATIVE_INFINITY);

/** Level of mono S16_LE samples. */
export function measureLevel(pcm: Buffer): Level {
  const samples = Math.floor(pcm.length / 2);
  let sum = 0;
  let peak = 0;
  let clipped = 0;
  for (let i = 0; i < samples; i++) {
    const v = pcm.readInt16LE(i * 2);
    if (v === 32767 || v === -32768) clipped++;
    const a = Math.abs(v);
    if (a > peak) peak = a;
    sum += (v / 32768) ** 2;
  }
  return {
    samples,
    rmsDbfs: samples === 0 ? Number.NEGATIVE_INFINITY : toDbfs(Math.sqrt(sum / samples)),
    peakDbfs: toDbfs(peak / 32768),
    clipped,
    digitalSilence: peak === 0,
  };
}

const db = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(1)} dBFS` : '-inf dBFS');

/** What to do when arecord/aplay could not use the device, from what ALSA said. */
function deviceFix(kind: 'capture' | 'playback', device: string, said: string): string {
  if (/busy/i.test(said))
    return `${device} is in use: stop the program holding it (a running speakerd? systemctl stop speakerd), or use a dsnoop/dmix device`;
  if (/permission denied/i.test(said))
    return 'the user needs the audio group (sudo usermod -aG audio $USER; the systemd unit adds it)';
  const [lister, key] = kind === 'capture' ? ['arecord -L', 'captureDevice'] : ['aplay -L', 'playbackDevice'];
  return `list the devices with \`${lister}\` and set audio.${key} to a stable name like plughw:CARD=<name>,DEV=0`;
}

/** The last stderr line without arecord's/aplay's source location (`arecord: main:831: `). */
function alsaSaid(tool: string, stderr: readonly string[]): string | undefined {
  return stderr.at(-1)?.replace(new RegExp(`^${tool}: \\w+:\\d+: `), '');
}

/** A child that did not run to a clean end, as a failed check; undefined when it did. */
function childFailure(
  name: string,
  tool: 'arecord' | 'aplay',
  device: string,
  run: ChildOutcome,
): CheckResult | undefined {
  if (run.spawnError !== undefined)
    return failed(name, `cannot run ${tool}: ${run.spawnError}`, 'sudo apt install alsa-utils');
  if (run.timedOut || run.code === 0) return undefined;
  const said = alsaSaid(tool, run.stderr) ?? `exit ${run.code ?? run.signal ?? '?'}`;
  const kind = tool === 'arecord' ? 'capture' : 'playback';
  return failed(name, `${tool} -D ${device}: ${said}`, deviceFix(kind, device, said));
}

/** Records one second from `audio.captureDevice` and judges the level. */
export async function checkCapture(audio: AudioConfig, env: NodeJS.ProcessEnv): Promise<CheckResult> {
  const name = 'audio capture';
  const device = audio.captureDevice;
  const bytes = CAPTURE_RATE * 2 * CAPTURE_SECONDS;
  const run = await runChild({
    command: 'arecord',
    args: [
      '-D',
      device,
      '-f',
      'S16_LE',
      '-r',
      String(CAPTURE_RATE),
      '-c',
      '1',
      '-t',
      'raw',
      '-d',
      String(CAPTURE_SECONDS),
      '-q',
    ],
    env,
    timeoutMs: CAPTURE_TIMEOUT_MS,
    maxStdoutBytes: bytes,
  });
  return judgeCapture(name, device, run);
}

/** The capture check's verdict on one arecord run (separate so tests can feed it outcomes). */
export function judgeCapture(name: string, device: string, run: ChildOutcome): CheckResult {
  const broken = childFailure(name, 'arecord', device, run);
  if (broken) return broken;
  const level = measureLevel(run.stdout);
  const gotMs = (level.samples / CAPTURE_RATE) * 1000;
  if (gotMs < MIN_CAPTURE_MS) {
    const said = alsaSaid('arecord', run.stderr);
    return failed(
      name,
      `${device} opened but delivered ${Math.round(gotMs)} ms of audio in ${CAPTURE_TIMEOUT_MS} ms` +
        (said === undefined ? '' : ` (arecord: ${said})`),
      `the device stalls: try \`arecord -D ${device} -d 3 -f S16_LE -r 16000 /tmp/t.wav\`; a USB mic may need replugging`,
    );
  }
  const measured = `${device}: ${(gotMs / 1000).toFixed(2)} s, level ${db(level.rmsDbfs)} RMS, peak ${db(level.peakDbfs)}`;
  if (level.digitalSilence) {
    const card = cardOf(device);
    return failed(
      name,
      `${measured}: every sample is 0 (digital silence: muted, or the capture switch is off)`,
      `turn capture on: ${mixerCmd(device)} (F4, space toggles capture) or amixer${card === undefined ? '' : ` -c ${card}`} sset Capture cap; check a mute button on the mic`,
    );
  }
  const clippedFraction = level.clipped / level.samples;
  if (clippedFraction > MAX_CLIPPED_FRACTION) {
    return failed(
      name,
      `${measured}: ${level.clipped} samples (${(clippedFraction * 100).toFixed(1)} %) clipped at full scale`,
      `lower the capture gain: ${mixerCmd(device)} (F4), or amixer sset Capture 70%`,
    );
  }
  const clipNote = level.clipped > 0 ? `, ${level.clipped} samples clipped` : ', no clipping';
  const quiet =
    level.rmsDbfs < QUIET_DBFS
      ? ` (very quiet: is the mic plugged in, its gain up? raise it with ${mixerCmd(device)}, F4)`
      : '';
  return pass(name, `${measured}${clipNote}${quiet}`);
}

/** `samples` of a sine at `dbfs`, faded in and out over 10 ms so the speaker does not click. */
export function tone(rate: number, durationMs: number, hz: number, dbfsLevel: number): Buffer {
  const n = Math.round((rate * durationMs) / 1000);
  const fade = Math.round(rate / 100);
  const amp = 32767 * 10 ** (dbfsLevel / 20);
  const out = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) {
    const env = Math.min(1, i / fade, (n - 1 - i) / fade);
    out.writeInt16LE(Math.round(amp * env * Math.sin((2 * Math.PI * hz * i) / rate)), i * 2);
  }
  return out;
}

/** Plays 200 ms of silence (or with `withTone` a 0.5 s 440 Hz tone) on `audio.playbackDevice`. */
export async function checkPlayback(
  audio: AudioConfig,
  env: NodeJS.ProcessEnv,
  withTone: boolean,
): Promise<CheckResult> {
  const name = 'audio playback';
  const device = audio.playbackDevice;
  const rate = audio.decodeRate;
  const durationMs = withTone ? TONE_MS : SILENCE_MS;
  const input = withTone
    ? tone(rate, TONE_MS, TONE_HZ, TONE_DBFS)
    : Buffer.alloc(Math.round((rate * SILENCE_MS) / 1000) * 2);
  const timeoutMs = durationMs + 3_000;
  const run = await runChild({
    command: 'aplay',
    args: ['-D', device, '-f', 'S16_LE', '-r', String(rate), '-c', '1', '-t', 'raw', '-q'],
    env,
    timeoutMs,
    input,
  });
  const broken = childFailure(name, 'aplay', device, run);
  if (broken) return broken;
  if (run.timedOut) {
    return failed(
      name,
      `${device}: aplay did not finish ${durationMs} ms of audio within ${timeoutMs} ms`,
      `the device stalls: try \`aplay -D ${device} /usr/share/sounds/alsa/Front_Center.wav\`; check that nothing else holds it`,
    );
  }
  const what = withTone
    ? `played a ${TONE_MS} ms ${TONE_HZ} Hz tone at ${TONE_DBFS} dBFS (not heard? check the amplifier, the wiring, and the volume: ${mixerCmd(device)})`
    : `played ${SILENCE_MS} ms of silence (--tone plays an audible one)`;
  return pass(name, `${device} at ${rate} Hz opens; ${what} in ${Math.round(run.ms)} ms`);
}
