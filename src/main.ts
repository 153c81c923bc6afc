#!/usr/bin/env -S node --max-semi-space-size=1
/**
 * (The shebang's flag keeps V8's young generation small: V8 sizes it from physical RAM, which
 * costs a long-running daemon ~15 MB of RSS for nothing; 16 audio frames a second allocate little.
 * `env -S` is coreutils ≥ 8.30, in every supported Debian and Raspberry Pi OS. The memory bench
 * reads the flags from here.)
 */
/**
 * The composition root (design.md §2): argv and env, config, logger, real or simulated adapters,
 * signals, exit code. The only file that knows both kinds of adapters, and the only one that
 * ends the process.
 */
import { networkInterfaces } from 'node:os';
import type { AudioSink, AudioSource } from './audio/audio-port.js';
import { AlsaCapture } from './audio/capture.js';
import { FileSink, NullSink, PcmSource, readPcmFile } from './audio/file-audio.js';
import { AplaySink } from './audio/playback.js';
import { PrerollSource } from './audio/preroll.js';
import { mixerDeviceFor, Volume } from './audio/volume.js';
import {
  type Io,
  parseCommand,
  type RunOptions,
  runCheckConfig,
  runConfigDoc,
  runIdentity,
  USAGE,
} from './cli.js';
import { EX_CONFIG, formatConfigErrors, loadConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { SystemClock } from './core/clock.js';
import { describeError } from './core/errors.js';
import { systemRandom } from './core/random.js';
import { Daemon, type MicHealthEvents } from './daemon.js';
import { runDemo, SPEECH_FIXTURE } from './demo.js';
import { runDevServer } from './devserver/cli.js';
import { SimulatedButton, TerminalLeds } from './hardware/simulated.js';
import { resolveIdentity } from './provisioning/identity.js';
import { ConfigCredentialSource } from './session/credentials.js';
import type { Logger } from './system/logger.js';
import { createLogger, detectLogFormat } from './system/logger.js';
import { NetworkWatch } from './system/network-watch.js';
import { wsConnector } from './transport/ws-connector.js';

/** How often the interface table is read for new addresses (system/network-watch.ts). */
const NETWORK_POLL_MS = 2000;

const io: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  env: process.env,
};

/** Resolves on the first SIGTERM/SIGINT; a second one ends the process at once. */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let seen = false;
    const onSignal = (sig: NodeJS.Signals) => {
      if (seen) {
        io.err(`speakerd: second ${sig}, exiting now`);
        process.exit(130);
      }
      seen = true;
      resolve(sig);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

interface Audio {
  readonly source: AudioSource;
  readonly sink: AudioSink;
  readonly micHealth?: MicHealthEvents;
  /** What the daemon does not close itself (the volume store). */
  close(): Promise<void>;
}

/** `--sim`: the mic is a PCM file said on every turn, TTS goes to a file or nowhere. */
function simulatedAudio(options: RunOptions, clock: SystemClock, log: Logger): Audio | string {
  const micPath = options.mic ?? SPEECH_FIXTURE;
  let mic: Buffer;
  try {
    mic = readPcmFile(micPath);
  } catch (err) {
    return `cannot read the simulated mic file ${micPath}: ${describeError(err)}`;
  }
  log.info({ mic: micPath, tts: options.ttsOut ?? null }, 'simulated audio');
  return {
    source: new PcmSource(`file:${micPath}`, mic, clock),
    sink: options.ttsOut ? new FileSink(options.ttsOut) : new NullSink(),
    close: async () => undefined,
  };
}

/** A device: arecord running all the time behind the pre-roll, aplay per reply, persisted volume. */
async function alsaAudio(config: Readonly<Config>, clock: SystemClock, log: Logger): Promise<Audio> {
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
  // The mic runs from boot so the pre-roll holds the syllable said with the first press.
  source.open();
  return { source, sink, micHealth: capture, close: () => volume.close() };
}

async function run(options: RunOptions): Promise<number> {
  const overrides = options.sim ? { hardware: 'simulated' } : undefined;
  const pathOpt = options.configPath === undefined ? {} : { path: options.configPath };
  const loaded = loadConfig({ ...pathOpt, env: io.env, ...(overrides ? { overrides } : {}) });
  if (!loaded.ok) {
    io.err(formatConfigErrors(loaded.errors, loaded.source));
    return EX_CONFIG;
  }
  const config = loaded.config;
  const format = detectLogFormat(io.env, process.stdout.isTTY === true);
  const bootLog = createLogger({ level: config.logLevel, format });
  const id = await resolveIdentity({ config, log: bootLog.child({ component: 'identity' }) });
  if (!id.ok) {
    bootLog.fatal({ code: id.error.code }, id.error.message);
    return EX_CONFIG;
  }
  const log = createLogger({ level: config.logLevel, format, deviceId: id.identity.deviceId });
  log.info(
    { config: loaded.source, client_id: id.identity.clientId, mode: config.connection.mode },
    'speakerd starting',
  );
  if (config.hardware !== 'simulated') {
    // Never a silent fallback to simulation on a device (design.md §3.5).
    log.fatal(
      'hardware "gpio" needs the GPIO adapter, which is not in this build yet; set "hardware": "simulated" (keyboard button, terminal LEDs, real ALSA audio) or run with --sim',
    );
    return EX_CONFIG;
  }
  if (!options.sim && (options.mic !== undefined || options.ttsOut !== undefined)) {
    log.fatal('--mic and --tts-out replace the ALSA devices and go with --sim only');
    return EX_CONFIG;
  }
  const clock = new SystemClock();
  const audio = options.sim ? simulatedAudio(options, clock, log) : await alsaAudio(config, clock, log);
  if (typeof audio === 'string') {
    log.fatal(audio);
    return EX_CONFIG;
  }
  const button = new SimulatedButton(process.stdin);
  const daemon = new Daemon({
    config,
    identity: id.identity,
    credentials: new ConfigCredentialSource({
      ...pathOpt,
      env: () => process.env,
      ...(overrides ? { overrides } : {}),
      initial: { url: config.server.websocketUrl, token: config.server.token },
      log: log.child({ component: 'credentials' }),
    }),
    connector: wsConnector,
    source: audio.source,
    sink: audio.sink,
    ...(audio.micHealth ? { micHealth: audio.micHealth } : {}),
    leds: new TerminalLeds(process.stdout),
    clock,
    random: systemRandom,
    log,
  });
  button.on('input', (event) => daemon.input(event));
  // In raw mode the terminal no longer turns Ctrl-C into SIGINT; the button hands it back.
  button.on('interrupt', () => process.emit('SIGINT', 'SIGINT'));
  daemon.on('status', (status) => log.debug({ status }, 'status'));
  const network = new NetworkWatch(
    clock,
    NETWORK_POLL_MS,
    networkInterfaces,
    log.child({ component: 'network' }),
  );
  network.on('address', (added) => daemon.networkChanged(`address ${added.join(', ')}`));
  await daemon.start();
  network.start();
  button.start();
  io.err('simulated button: Enter = click, p = press, r = release, l = long press, Ctrl-C = quit');
  const sig = await untilSignal();
  log.info({ signal: sig }, 'stopping');
  button.close();
  network.stop();
  await daemon.stop();
  await audio.close();
  log.info('stopped');
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const cmd = parseCommand(argv);
  switch (cmd.name) {
    case 'help':
      io.out(USAGE);
      return 0;
    case 'usage-error':
      io.err(`speakerd: ${cmd.message}\n\n${USAGE}`);
      return 2;
    case 'check-config':
      return runCheckConfig(cmd.configPath, io);
    case 'identity':
      return runIdentity(
        cmd.configPath,
        io,
        createLogger({ level: 'warn', format: 'json', destination: process.stderr }),
      );
    case 'config-doc':
      return runConfigDoc(io);
    case 'dev-server': {
      const log = createLogger({
        level: 'info',
        format: detectLogFormat(io.env, process.stdout.isTTY === true),
      });
      return runDevServer(cmd.argv, log.child({ component: 'devserver' }));
    }
    case 'demo':
      return runDemo(io.out);
    case 'run':
      return run(cmd.options);
  }
}

// A rejection nobody handled is a bug; under systemd a restart is the way back to a sane state.
process.on('unhandledRejection', (err) => {
  io.err(`speakerd: unhandled rejection: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(70);
});

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    io.err(
      `speakerd: unexpected failure: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    );
    process.exit(70); // EX_SOFTWARE: a bug, not an operational failure
  },
);
