#!/usr/bin/env -S node --max-semi-space-size=1 --v8-pool-size=1
/**
 * (The shebang's flags keep the RSS down on 512 MiB boards; systemd/speakerd.service starts node
 * with the same ones, the soak and the bench read them from here.
 * --max-semi-space-size=1: V8 sizes its young generation from physical RAM, which costs a
 * long-running daemon ~15 MB of RSS for nothing; 16 audio frames a second allocate little.
 * --v8-pool-size=1: one V8 background thread instead of four. Each thread that compiles (TurboFan,
 * the opusscript wasm tier-up) gets a glibc malloc arena of its own and keeps what a compile peak
 * took: 18–24 MB of the soak daemon's RSS sat in those arenas, 5 MB with one thread (bench/rss.ts;
 * same soak side by side: 92.7 → 74.2 MiB). Compiles and GC helper tasks queue behind one another
 * instead; the main thread does not wait for them, and the daemon uses ~1 % of a core.
 * `env -S` is coreutils ≥ 8.30, in every supported Debian and Raspberry Pi OS.)
 */
/**
 * The composition root (design.md §2): argv and env, config, logger, the choice of real or
 * simulated adapters (adapters.ts builds them), signals, exit code, and `run`, which wires them to
 * the daemon and stops them in order. With adapters.ts the only file that knows both kinds of
 * adapters, and the only one that ends the process.
 */
import { networkInterfaces } from 'node:os';
import { alsaAudio, captureUp, openHardware, simulatedAudio } from './adapters.js';
import { PrivacyMute } from './audio/privacy.js';
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
import { describeError, ErrorCode, errnoCode } from './core/errors.js';
import { systemRandom } from './core/random.js';
import { Daemon } from './daemon.js';
import { runDemo } from './demo.js';
import { runDevServer } from './devserver/cli.js';
import { runDoctor } from './doctor/doctor.js';
import { runFleetReport } from './fleet/report-cli.js';
import { SystemStatusSource } from './mcp/device-status.js';
import { deviceTools } from './mcp/tools.js';
import { resolveIdentity } from './provisioning/identity.js';
import { attachProvisioning, openCredentials } from './provisioning/provisioning.js';
import { loadDaemonSounds } from './sounds/daemon-sounds.js';
import { DEFAULT_SOUND_PACK } from './sounds/sound-bank.js';
import { SoundAssetError } from './sounds/sound-pack.js';
import { createLogger, detectLogFormat, type Logger, resolveLogOutput } from './system/logger.js';
import { MessageId } from './system/message-ids.js';
import { NetworkWatch } from './system/network-watch.js';
import { Service } from './system/service.js';
import { wsConnector } from './transport/ws-connector.js';
import { packageVersion } from './version.js';
import type { WakeWordDetector } from './wakeword/detector.js';
import { openWakeWord } from './wakeword/open-wake-word.js';
import { runWakeword } from './wakeword/score.js';

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

async function run(options: RunOptions): Promise<number> {
  if (options.sim && options.simAudio) {
    io.err('speakerd run: --sim already includes --sim-audio; give one of them');
    return 2;
  }
  // Listening for SIGTERM/SIGINT from the first moment: a stop during start-up (systemctl stop
  // right after start) finishes the start, then stops in order (LEDs off, lines unexported)
  // instead of dying with the default action.
  const stopRequested = untilSignal();
  const overrides = options.sim ? { hardware: 'simulated' } : undefined;
  const pathOpt = options.configPath === undefined ? {} : { path: options.configPath };
  const loaded = loadConfig({ ...pathOpt, env: io.env, ...(overrides ? { overrides } : {}) });
  const isTty = process.stdout.isTTY === true;
  if (!loaded.ok) {
    // No config, so no logTarget: `auto` (native entries under a unit).
    const early = resolveLogOutput({ env: io.env, isTty, target: 'auto' });
    // The list for a person at a terminal on stderr; under journald the one record says it all
    // (its MESSAGE_ID explains E_CONFIG_INVALID), instead of one journal entry per stderr line.
    if (early.format !== 'journal' && early.format !== 'native') {
      io.err(formatConfigErrors(loaded.errors, loaded.source));
    }
    const errors = loaded.errors.map((e) => `${e.path}: ${e.message}`);
    createLogger({ level: 'info', ...early })
      .child({ component: 'main' })
      .fatal(
        { code: ErrorCode.ConfigInvalid, source: loaded.source, errors, exit_code: EX_CONFIG },
        `config invalid (${loaded.source}): ${errors.join('; ')}; exiting ${EX_CONFIG}`,
      );
    return EX_CONFIG;
  }
  const config = loaded.config;
  const output = resolveLogOutput({ env: io.env, isTty, target: config.logTarget });
  const bootRoot = createLogger({ level: config.logLevel, ...output });
  const bootLog = bootRoot.child({ component: 'main' });
  const id = await resolveIdentity({
    config,
    log: bootRoot.child({ component: 'identity' }),
    origins: loaded.origins,
  });
  if (!id.ok) {
    bootLog.fatal({ code: id.error.code, exit_code: EX_CONFIG }, id.error.message);
    return EX_CONFIG;
  }
  // Every line carries device_id (root) and component: main's own lines say "main", and every
  // part gets its own child of the root (a child of a child would repeat the key).
  const root = createLogger({ level: config.logLevel, ...output, deviceId: id.identity.deviceId });
  const log = root.child({ component: 'main' });
  if (output.notice !== undefined) log.warn({ log_target: config.logTarget }, output.notice);
  log.info(
    { config: loaded.source, client_id: id.identity.clientId, mode: config.connection.mode },
    'speakerd starting',
  );
  const fileAudio = options.sim || options.simAudio;
  if (!fileAudio && (options.mic !== undefined || options.ttsOut !== undefined)) {
    log.fatal(
      { code: ErrorCode.ConfigInvalid, exit_code: EX_CONFIG },
      '--mic and --tts-out replace the ALSA devices and go with --sim or --sim-audio only',
    );
    return EX_CONFIG;
  }
  const clock = new SystemClock();
  // First: under systemd without a working sd-notify binding, nothing else should start.
  const opened = Service.open({ env: process.env, clock, log: root.child({ component: 'systemd' }) });
  if (!opened.ok) {
    log.fatal({ code: opened.fault.code, exit_code: EX_CONFIG }, opened.fault.message);
    return EX_CONFIG;
  }
  const service = opened.service;
  // Hardware first: a wrong GPIO line is a config error found before any child process starts.
  const opensHardware = openHardware(config, clock, root, {
    // The simulated button's Ctrl-C (a terminal in raw mode sends no SIGINT) stops as a signal does.
    interrupt: () => process.emit('SIGINT', 'SIGINT'),
    say: io.err,
  });
  if (!opensHardware.ok) {
    const f = opensHardware.fault;
    log.fatal({ code: f.code, exit_code: EX_CONFIG }, `${f.code}: ${f.message}`);
    return EX_CONFIG;
  }
  const hardware = opensHardware.hardware;
  // Before the audio: a pack that cannot be loaded is a config error, with no recorder to stop.
  const sounds = await openSounds(config, root.child({ component: 'sounds' }));
  if (!sounds.ok) {
    hardware.close();
    log.fatal({ code: ErrorCode.ConfigInvalid, exit_code: EX_CONFIG }, sounds.message);
    return EX_CONFIG;
  }
  const opensAudio = fileAudio
    ? await simulatedAudio(config, options, clock, root)
    : { ok: true as const, audio: await alsaAudio(config, clock, root) };
  if (!opensAudio.ok) {
    hardware.close();
    log.fatal({ code: opensAudio.fault.code, exit_code: EX_CONFIG }, opensAudio.fault.message);
    return EX_CONFIG;
  }
  const audio = opensAudio.audio;
  // The privacy mute exists only with a mute switch or button: without one, today's behaviour exactly.
  const privacy =
    config.gpio.mute === undefined || config.hardware === 'simulated'
      ? undefined
      : new PrivacyMute({ stateDir: config.stateDir, log: root.child({ component: 'mute' }) });
  if (privacy) {
    await privacy.load();
    // A switch wins over anything else: its position, read when its line was exported, over the saved state.
    const position = hardware.muteSwitch;
    if (position !== undefined) await privacy.set(position, 'switch position at start');
  }
  // The wake word scores the capture the pre-roll reads; file audio (--sim, --sim-audio) has none.
  let wakeWord: WakeWordDetector | undefined;
  if (config.wakeWord.enabled && audio.capture === undefined) {
    log.warn(
      { wake_word: 'unavailable' },
      'wakeWord.enabled, but --sim/--sim-audio reads a file, not a microphone stream: no wake word in this run (the button works)',
    );
  } else if (config.wakeWord.enabled && audio.capture !== undefined) {
    const opensWake = await openWakeWord(config, audio.capture, clock, root);
    if (!opensWake.ok) {
      await audio.capture.stop();
      hardware.close();
      await audio.close();
      log.fatal({ code: opensWake.fault.code, exit_code: EX_CONFIG }, opensWake.fault.message);
      return EX_CONFIG;
    }
    wakeWord = opensWake.detector;
  }
  const credentials = openCredentials({
    config,
    identity: id.identity,
    ...(options.configPath === undefined ? {} : { configPath: options.configPath }),
    ...(overrides ? { overrides } : {}),
    env: () => process.env,
    version: packageVersion(),
    clock,
    random: systemRandom,
    log: root.child({ component: credentialsComponent(config) }),
  });
  const daemon = new Daemon({
    config,
    identity: id.identity,
    credentials: credentials.source,
    connector: wsConnector,
    source: audio.source,
    sink: audio.sink,
    ...(audio.micHealth ? { micHealth: audio.micHealth } : {}),
    ...(audio.micMute ? { micMute: audio.micMute } : {}),
    leds: hardware.leds,
    ...(wakeWord ? { wakeWord } : {}),
    clock,
    random: systemRandom,
    log: root,
    ...(privacy ? { privacy } : {}),
    volume: audio.volume,
    ...(sounds.sounds ? { sounds: sounds.sounds } : {}),
    mcp: {
      tools: deviceTools({
        status: new SystemStatusSource({
          volume: () => audio.volume.level,
          connection: () => daemon.supervisor.state,
          ...(privacy ? { muted: () => privacy.muted } : {}),
          log: root.child({ component: 'mcp' }),
        }),
        // Through the daemon, so a volume set by the server is announced like a button's ('volume').
        volume: {
          get level() {
            return audio.volume.level;
          },
          set: (level: number) => daemon.setVolume(level, 'mcp'),
        },
        log: root.child({ component: 'mcp' }),
      }),
      version: packageVersion(),
    },
  });
  let provisioning: ReturnType<typeof attachProvisioning> | undefined;
  hardware.onInput((event) => {
    provisioning?.nudge(`button ${event}`);
    daemon.input(event);
  });
  hardware.onControl((event) => daemon.control(event));
  daemon.on('status', (status) => log.debug({ status }, 'status'));
  const network = new NetworkWatch(
    clock,
    NETWORK_POLL_MS,
    networkInterfaces,
    root.child({ component: 'network' }),
  );
  network.on('address', (added) => {
    provisioning?.nudge('new network address');
    daemon.networkChanged(`address ${added.join(', ')}`);
  });
  // Before start: the first link transitions count. prom-client is loaded only when asked for
  // (system/metrics.ts: its import alone takes a few hundred ms).
  const textfile = config.metrics.textfile;
  const metrics =
    textfile === undefined
      ? undefined
      : (await import('./system/metrics.js')).attachMetrics(
          { textfile, intervalMs: config.metrics.intervalMs },
          {
            supervisor: daemon.supervisor,
            turns: daemon,
            mic: audio.source,
            speaker: audio.sink,
            ...(audio.micMute ? { micMute: audio.micMute } : {}),
            volume: () => audio.volume.level,
            watchdog: () => service.watchdogState,
          },
          { clock, version: packageVersion(), log: root.child({ component: 'metrics' }) },
        );
  await daemon.start();
  // Without an explicit server URL the link waits offline until OTA (or its cache) answers.
  if (credentials.kind === 'ota') provisioning = attachProvisioning(credentials.source, daemon);
  network.start();
  hardware.start();
  if (audio.capture) await captureUp(audio.capture, clock, CAPTURE_UP_MS);
  service.ready(daemon, config, audio.capture);
  const sig = await stopRequested;
  // STOPPING=1 before anything else: systemd shows "deactivating" and expects no more pings.
  service.stopping();
  log.info({ message_id: MessageId.Stopping, signal: sig }, 'stopping');
  const overdue = setTimeout(() => {
    log.fatal(`shutdown took longer than ${STOP_BUDGET_MS} ms: exiting without finishing it`);
    process.exit(1);
  }, STOP_BUDGET_MS);
  overdue.unref();
  network.stop();
  await daemon.stop();
  await wakeWord?.close();
  // After the daemon: the last file shows link `stopped` and the turn the stop ended.
  await metrics?.stop();
  await provisioning?.stop();
  hardware.close();
  await audio.close();
  await privacy?.close();
  clearTimeout(overdue);
  log.info('stopped');
  return 0;
}

/**
 * The prompt sounds (issue 15 §1), read and decoded once: none when sounds.enabled is false. A
 * missing or damaged pack is the installation's fault and stops the start like a config error
 * (exit 78, no restart loop), with the fix in the message (regenerate it, or disable sounds): a
 * headless device that silently lost its spoken activation code would leave its owner guessing.
 */
async function openSounds(
  config: Readonly<Config>,
  log: Logger,
): Promise<
  | { readonly ok: true; readonly sounds: Awaited<ReturnType<typeof loadDaemonSounds>> | undefined }
  | { readonly ok: false; readonly message: string }
> {
  if (!config.sounds.enabled) {
    log.info('sounds disabled (sounds.enabled false): no prompt will play');
    return { ok: true, sounds: undefined };
  }
  try {
    const sounds = await loadDaemonSounds(DEFAULT_SOUND_PACK, config.audio.decodeRate);
    log.info(
      { clips: sounds.bank.clips.size, bytes: sounds.bank.bytes, language: config.sounds.language },
      'prompt sounds loaded',
    );
    return { ok: true, sounds };
  } catch (err) {
    if (err instanceof SoundAssetError) return { ok: false, message: err.message };
    throw err;
  }
}

function credentialsComponent(config: Readonly<Config>): string {
  return config.server.websocketUrl === undefined ? 'ota' : 'credentials';
}

/** READY=1 waits this long at most for the mic's first frame or fault. */
const CAPTURE_UP_MS = 2_000;
/** A stop must end within systemd's patience and the 5 s; this leaves room for the exit. */
const STOP_BUDGET_MS = 4_500;

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
      return runCheckConfig(cmd.configPath, io, {
        log: createLogger({ level: 'warn', format: 'json', destination: process.stderr }),
      });
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
    case 'doctor':
      return runDoctor(cmd.argv, io);
    case 'demo':
      return runDemo(io.out);
    case 'fleet-report':
      // `speakerd fleet-report | head`: a reader that has seen enough is no failure (as SIGPIPE
      // ends other tools quietly); any other error writing the report is (EX_IOERR).
      process.stdout.on('error', (err) => {
        if (errnoCode(err) === 'EPIPE') process.exit(0);
        io.err(`speakerd fleet-report: writing the report: ${describeError(err)}`);
        process.exit(74);
      });
      return runFleetReport(cmd.argv, {
        out: io.out,
        err: io.err,
        stdin: process.stdin,
        nowMs: Date.now,
        random: systemRandom,
      });
    case 'wakeword':
      return runWakeword(cmd.argv, io, {
        env: io.env,
        log: createLogger({ level: 'warn', format: 'json', destination: process.stderr }),
      });
    case 'run':
      return run(cmd.options);
  }
}

// A rejection nobody handled is a bug; under systemd a restart is the way back to a sane state.
process.on('unhandledRejection', (err) => {
  io.err(`speakerd: unhandled rejection: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(70);
});

/**
 * Resolves once what was written to `stream` before has been handed to the OS. process.exit()
 * does not wait for that: a `fleet-report --json` of a large fleet piped into another program
 * was cut at 64 KiB (the pipe's buffer) without it. A write's callback runs after the writes
 * queued before it, and with the error when the reader is gone (EPIPE): nothing more to wait for.
 */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    stream.write('', () => resolve());
  });
}

/** Bounded: a reader that stopped reading (a full pipe nobody drains) must not keep a stopped daemon alive. */
const FLUSH_WAIT_MS = 2000;

main(process.argv.slice(2)).then(
  async (code) => {
    await Promise.race([
      Promise.all([flushed(process.stdout), flushed(process.stderr)]),
      new Promise((resolve) => setTimeout(resolve, FLUSH_WAIT_MS)),
    ]);
    process.exit(code);
  },
  (err: unknown) => {
    io.err(
      `speakerd: unexpected failure: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    );
    process.exit(70); // EX_SOFTWARE: a bug, not an operational failure
  },
);
