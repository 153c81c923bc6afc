/**
 * `speakerd doctor [--config F] [--json] [--tone] [--timeout-ms N]` (hardware.md §10): checks the
 * config, the identity, the ALSA devices, the GPIO lines, the SPI LEDs, the wake word (its models
 * loaded and run on a second of silence), OTA (when server.websocketUrl is unset:
 * it hands out the URL and token), the path to the server (DNS, TCP, TLS, WebSocket, token,
 * hello), the clock and the systemd settings, in that order. One line per
 * check with ✓/✗ and the fix; exit 0 when nothing failed, 1 when something did, 78 (EX_CONFIG)
 * when the config itself is invalid. Nothing here waits without a bound.
 */
import { parseArgs } from 'node:util';
import { EX_CONFIG, formatConfigErrors, loadConfig, summarizeConfig } from '../config/load.js';
import { SYSFS_GPIO } from '../hardware/gpio.js';
import type { SpiOpener } from '../hardware/spi.js';
import type { FetchFn } from '../provisioning/ota.js';
import type { Connector } from '../transport/connection.js';
import { wsConnector } from '../transport/ws-connector.js';
import {
  anyFailed,
  type CheckResult,
  failed,
  formatCheck,
  formatJson,
  formatSummary,
  pass,
  timed,
} from './check.js';
import { checkCapture, checkPlayback } from './checks-audio.js';
import { checkServer } from './checks-server.js';
import { checkSpi } from './checks-spi.js';
import { checkClock, checkGpio, checkIdentity, checkJournal, checkSystemd } from './checks-system.js';
import { checkWakeWord, type WakeWordCheckDeps } from './checks-wakeword.js';

export const DOCTOR_USAGE = `usage: speakerd doctor [--config F] [--json] [--tone] [--timeout-ms N]

  --config F       the config file (default: SPEAKERD_CONFIG or /etc/speakerd/config.json)
  --json           one JSON object {ok, checks: [{name, ok, detail, fix?, ms?}]} on stdout
  --tone           play an audible 440 Hz tone on the speaker instead of silence
  --timeout-ms N   bound of each network step (OTA, DNS, TCP, TLS, upgrade); default 5000
                   (OTA: the smaller of this and ota.timeoutMs)

exit status: 0 every check passed or was skipped, 1 a check failed, 78 the config is invalid, 2 bad arguments`;

export const DEFAULT_STEP_TIMEOUT_MS = 5_000;

export interface DoctorIo {
  out(line: string): void;
  err(line: string): void;
  readonly env: NodeJS.ProcessEnv;
}

/** Seams for tests; production uses the defaults. */
export interface DoctorDeps {
  readonly connector?: Connector;
  /** The OTA request's fetch; default the global one, as the daemon. */
  readonly fetch?: FetchFn;
  /** The sysfs GPIO directory (tests: a fake tree). */
  readonly gpioRoot?: string;
  /** The APA102 LEDs' spidev opener and /dev listing (tests: fakes). */
  readonly spiOpen?: SpiOpener;
  readonly listDev?: (dir: string) => string[];
  /** The wake-word check's onnxruntime-node importer (tests: one that fails like 32-bit ARM). */
  readonly wakeWord?: WakeWordCheckDeps;
  readonly now?: () => Date;
  /** The config path when neither --config nor SPEAKERD_CONFIG is given. */
  readonly defaultConfigPath?: string;
}

interface Args {
  readonly config: string | undefined;
  readonly json: boolean;
  readonly tone: boolean;
  readonly timeoutMs: number;
}

function parse(argv: readonly string[]): Args | 'help' | string {
  let values: { config?: string; json?: boolean; tone?: boolean; 'timeout-ms'?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        config: { type: 'string' },
        json: { type: 'boolean' },
        tone: { type: 'boolean' },
        'timeout-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  if (values.help === true) return 'help';
  const text = values['timeout-ms'];
  const timeoutMs = text === undefined ? DEFAULT_STEP_TIMEOUT_MS : Number(text);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 60_000)
    return `--timeout-ms must be an integer from 100 to 60000, not ${JSON.stringify(text)}`;
  return { config: values.config, json: values.json === true, tone: values.tone === true, timeoutMs };
}

export async function runDoctor(
  argv: readonly string[],
  io: DoctorIo,
  deps: DoctorDeps = {},
): Promise<number> {
  const args = parse(argv);
  if (args === 'help') {
    io.out(DOCTOR_USAGE);
    return 0;
  }
  if (typeof args === 'string') {
    io.err(`speakerd doctor: ${args}\n\n${DOCTOR_USAGE}`);
    return 2;
  }
  const checks: CheckResult[] = [];
  // Text lines appear as each check ends: a person at the device sees progress, not 5 s of nothing.
  const report = (...results: CheckResult[]) => {
    for (const r of results) {
      checks.push(r);
      if (!args.json) io.out(formatCheck(r));
    }
  };
  const finish = (code: number): number => {
    io.out(args.json ? formatJson(checks) : formatSummary(checks));
    return code;
  };

  const loaded = loadConfig({
    ...(args.config === undefined ? {} : { path: args.config }),
    env: io.env,
    ...(deps.defaultConfigPath === undefined ? {} : { defaultPath: deps.defaultConfigPath }),
  });
  if (!loaded.ok) {
    const n = loaded.errors.length;
    io.err(formatConfigErrors(loaded.errors, loaded.source));
    report(
      failed(
        'config',
        `${loaded.source} is invalid (${n} error${n === 1 ? '' : 's'}: ${loaded.errors.map((e) => `${e.path}: ${e.message}`).join('; ')})`,
        'correct the fields listed above (speakerd check-config shows them too)',
      ),
    );
    return finish(EX_CONFIG);
  }
  const config = loaded.config;
  report(pass('config', `${loaded.source}: ${summarizeConfig(config)}`));

  let identity: Awaited<ReturnType<typeof checkIdentity>>['identity'];
  report(
    await timed(async () => {
      const got = await checkIdentity(config, loaded.origins);
      identity = got.identity;
      return got.result;
    }),
  );
  report(await timed(() => checkCapture(config.audio, io.env)));
  report(await timed(() => checkPlayback(config.audio, io.env, args.tone)));
  report(...checkGpio(config, deps.gpioRoot ?? SYSFS_GPIO));
  report(
    await timed(() =>
      checkSpi(config, {
        ...(deps.spiOpen === undefined ? {} : { open: deps.spiOpen }),
        ...(deps.listDev === undefined ? {} : { list: deps.listDev }),
      }),
    ),
  );
  report(await timed(() => checkWakeWord(config, deps.wakeWord)));
  const now = deps.now ?? (() => new Date());
  // Server lines appear one by one too: OTA and each network step may take up to --timeout-ms.
  const server = await checkServer({
    config,
    identity,
    timeoutMs: args.timeoutMs,
    connector: deps.connector ?? wsConnector,
    now,
    emit: (r) => report(r),
    ...(deps.fetch === undefined ? {} : { fetch: deps.fetch }),
  });
  report(
    checkClock(now(), {
      serverDate: server.serverDate,
      ...(server.cert ? { cert: server.cert } : {}),
    }),
  );
  report(...checkSystemd(io.env));
  report(checkJournal(io.env, config.logTarget));
  return finish(anyFailed(checks) ? 1 : 0);
}
