/**
 * The composition root's adapter builders (design.md §2), split from main.ts: the audio (arecord,
 * aplay and the mixer on a device; a PCM file and a file or null sink under `--sim`) and the button
 * and LEDs (GPIO lines, or the keyboard and terminal), built from the config. With main.ts, the
 * only file that knows both the real and the simulated adapters. main.ts picks, starts and closes
 * them; nothing here ends the process or handles a signal (the simulated button's Ctrl-C and the
 * start-up hint go through hooks main.ts passes in).
 */
import type { AudioSink, AudioSource } from './audio/audio-port.js';
import { AlsaCapture } from './audio/capture.js';
import { FileSink, NullSink, PcmSource, readPcmFile } from './audio/file-audio.js';
import { AplaySink } from './audio/playback.js';
import { PrerollSource } from './audio/preroll.js';
import { DigitalSilenceWatch } from './audio/silence-watch.js';
import { mixerDeviceFor, Volume } from './audio/volume.js';
import type { RunOptions } from './cli.js';
import type { Config } from './config/schema.js';
import type { SystemClock } from './core/clock.js';
import { describeError, ErrorCode, type Fault, fault } from './core/errors.js';
import { systemRandom } from './core/random.js';
import type { IndicatorRenderer, MicHealthEvents, MicMuteEvents } from './daemon.js';
import { SPEECH_FIXTURE } from './demo.js';
import type { ControlEvent } from './hardware/controls.js';
import { GpioHardware } from './hardware/gpio-hardware.js';
import type { InputEvent } from './hardware/input.js';
import { SIM_BUTTON_HELP, SimulatedButton, TerminalLeds } from './hardware/simulated.js';
import type { Logger } from './system/logger.js';

export interface Audio {
  readonly source: AudioSource;
  readonly sink: AudioSink;
  readonly micHealth?: MicHealthEvents;
  readonly micMute?: MicMuteEvents;
  /** The running recorder: the watchdog's mic check and READY's "capture is up". */
  readonly capture?: AlsaCapture;
  /** The speaker volume (MCP set_volume), persisted in the state directory. */
  readonly volume: Volume;
  /** What the daemon does not close itself (the volume store). */
  close(): Promise<void>;
}

/** `--sim`: the mic is a PCM file said on every turn, TTS goes to a file or nowhere, at the set volume. */
export async function simulatedAudio(
  config: Readonly<Config>,
  options: RunOptions,
  clock: SystemClock,
  log: Logger,
): Promise<{ readonly ok: true; readonly audio: Audio } | { readonly ok: false; readonly fault: Fault }> {
  const micPath = options.mic ?? SPEECH_FIXTURE;
  let mic: Buffer;
  try {
    mic = readPcmFile(micPath);
  } catch (err) {
    const message = `cannot read the simulated mic file ${micPath}: ${describeError(err)}`;
    return { ok: false, fault: fault(ErrorCode.AudioSource, message) };
  }
  log.child({ component: 'audio' }).info({ mic: micPath, tts: options.ttsOut ?? null }, 'simulated audio');
  // Software volume: what set_volume does shows in the --tts-out file as on a speaker.
  const volume = new Volume({
    stateDir: config.stateDir,
    defaultLevel: config.audio.defaultVolume,
    log: log.child({ component: 'volume' }),
    clock,
  });
  await volume.load();
  const gain = (pcm: Buffer) => volume.apply(pcm);
  return {
    ok: true,
    audio: {
      source: new PcmSource(`file:${micPath}`, mic, clock),
      sink: options.ttsOut ? new FileSink(options.ttsOut, gain) : new NullSink(gain),
      volume,
      close: () => volume.close(),
    },
  };
}

/** A device: arecord running all the time behind the pre-roll, aplay per reply, persisted volume. */
export async function alsaAudio(config: Readonly<Config>, clock: SystemClock, log: Logger): Promise<Audio> {
  const { audio } = config;
  const capture = new AlsaCapture({
    device: audio.captureDevice,
    restartMaxMs: audio.captureRestartMaxMs,
    clock,
    random: systemRandom,
    log: log.child({ component: 'capture' }),
  });
  const source = new PrerollSource(capture, {
    name: `alsa:${audio.captureDevice}`,
    prerollMs: audio.prerollMs,
  });
  const volume = new Volume({
    stateDir: config.stateDir,
    defaultLevel: audio.defaultVolume,
    ...(audio.mixerControl
      ? { mixerControl: audio.mixerControl, mixerDevice: mixerDeviceFor(audio.playbackDevice) }
      : {}),
    log: log.child({ component: 'volume' }),
    clock,
  });
  await volume.load();
  const sink = new AplaySink({
    device: audio.playbackDevice,
    prebufferMs: audio.playbackPrebufferMs,
    maxQueueMs: audio.playbackMaxQueueMs,
    clock,
    log: log.child({ component: 'playback' }),
    gain: (pcm) => volume.apply(pcm),
  });
  const silence = new DigitalSilenceWatch(log.child({ component: 'capture' }));
  capture.on('frame', (frame) => silence.push(frame));
  // The mic runs from boot so the pre-roll holds the syllable said with the first press.
  source.open();
  return {
    source,
    sink,
    micHealth: capture,
    micMute: silence,
    capture,
    volume,
    close: () => volume.close(),
  };
}

/**
 * "Capture is up" for READY=1: the recorder delivered a frame or reported a fault (a missing mic
 * is not a reason to stay un-ready: capture retries it while the rest of the device works).
 */
export function captureUp(capture: AlsaCapture, clock: SystemClock, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      capture.off('frame', done);
      capture.off('fault', done);
      clock.clearTimeout(timer);
      resolve();
    };
    const timer = clock.setTimeout(done, ms);
    capture.on('frame', done);
    capture.on('fault', done);
  });
}

export interface Hardware {
  readonly leds: IndicatorRenderer;
  onInput(listener: (event: InputEvent) => void): void;
  /** The mute switch or button and the volume buttons (config gpio.mute, volumeUp, volumeDown). */
  onControl(listener: (event: ControlEvent) => void): void;
  /** The mute switch's settled position now (true = muted); undefined without a mute switch. */
  readonly muteSwitch: boolean | undefined;
  /** Starts reading the button. */
  start(): void;
  /** LEDs off, lines unexported, the terminal given back. Synchronous and idempotent. */
  close(): void;
}

/** What the simulated button needs of main.ts, which owns the process's signals and stderr. */
export interface SimulatedHardwareHooks {
  /** Ctrl-C on the simulated button (the terminal in raw mode no longer sends SIGINT). */
  interrupt(): void;
  /** A line for the person at the terminal (stderr). */
  say(line: string): void;
}

/**
 * The button and LEDs: GPIO lines, or the keyboard and terminal when chosen explicitly (`--sim`,
 * `"hardware": "simulated"`); never a silent fallback on a device (design.md §3.5). A string is a
 * startup error for the operator (exit 78).
 */
export function openHardware(
  config: Readonly<Config>,
  clock: SystemClock,
  log: Logger,
  hooks: SimulatedHardwareHooks,
): { readonly ok: true; readonly hardware: Hardware } | { readonly ok: false; readonly fault: Fault } {
  if (config.hardware === 'simulated') {
    const button = new SimulatedButton(process.stdin);
    // In raw mode the terminal no longer turns Ctrl-C into SIGINT; the button hands it back.
    button.on('interrupt', () => hooks.interrupt());
    return {
      ok: true,
      hardware: {
        leds: new TerminalLeds(process.stdout),
        onInput: (listener) => button.on('input', listener),
        // The terminal has no mute switch or volume buttons (gpio.* are not read when simulated).
        onControl: () => undefined,
        muteSwitch: undefined,
        start: () => {
          button.start();
          hooks.say(`simulated ${SIM_BUTTON_HELP}, Ctrl-C = quit`);
        },
        close: () => button.close(),
      },
    };
  }
  const gpio = new GpioHardware({
    gpio: config.gpio,
    leds: config.leds,
    buttonMode: config.conversation.buttonMode,
    clock,
    log: log.child({ component: 'gpio' }),
  });
  const opened = gpio.open();
  if (!opened.ok) return { ok: false, fault: opened.fault };
  // Lines left exported and an LED left lit by a crash would confuse the next start and the
  // person at the device: the sysfs writes and the SPI transfer are synchronous, so they also run
  // on a dying exit.
  const onExit = () => gpio.close();
  process.on('exit', onExit);
  return {
    ok: true,
    hardware: {
      leds: gpio,
      onInput: (listener) => gpio.on('input', listener),
      onControl: (listener) => gpio.on('control', listener),
      get muteSwitch() {
        return gpio.muteSwitch;
      },
      start: () => undefined,
      close: () => {
        process.off('exit', onExit);
        gpio.close();
      },
    },
  };
}
