/**
 * `speakerd dev-server` (design.md §3.8): parses its flags, runs a DevServer until SIGINT/SIGTERM
 * (or the given signal), then stops it. Exit codes: 0 after a clean stop, 1 when it could not
 * start, 2 for bad arguments.
 */
import { parseArgs } from 'node:util';
import type { Clock } from '../core/clock.js';
import { describeError } from '../core/errors.js';
import type { Logger } from '../system/logger.js';
import { type DevServerFaults, FAULT_NAMES, isFaultName } from './faults.js';
import { OTA_PATH } from './ota.js';
import { DevServer } from './server.js';
import type { DevServerActivation, DevServerOptions } from './types.js';
import { GREETING_PROMPT, normalizeWakeText, XINNAN_WAKEUP_WORDS } from './wake.js';

export const DEV_SERVER_USAGE = `usage: speakerd dev-server [options]
  --host HOST             address to listen on (default 127.0.0.1)
  --port N                port (default 8000; 0 picks a free one)
  --auth-key KEY          require xinnan-style tokens signed with KEY
  --allowed-device ID     a Device-Id that needs no token (repeatable)
  --ota                   serve POST ${OTA_PATH} (hands out the URL and a token)
  --activation CODE[:N]   with --ota: ask each device to activate with CODE; POST ${OTA_PATH}activate
                          answers 202 N times (default 3), then 200
  --token-ttl MS          with --auth-key: refuse tokens older than MS (default 30 days);
                          SIGHUP rotates the auth key (older tokens fail, like a xinnan restart)
  --no-voice-close-ms N   xinnan's close_connection_no_voice_time (default 120000 like xinnan,
                          0 = off): counted from the connect, reset only by voiced audio, a
                          listen detect and TTS sent (not by hello, listen start/stop, MCP,
                          silence or pings); the first audio frame without voice after N ms gets
                          the farewell (tts start without stt, a ~1 s chime, tts stop) and a
                          close 1000 3 ms after its tts stop; with no audio, close 1000 at N + 60 s
  --no-voice-check-ms N   how often that N + 60 s backstop looks (default 10000 like xinnan's
                          _check_timeout, so 180–190 s by default)
  --vad-silence-ms N      silence that ends an utterance (default 700)
  --asr-delay-ms N        time from the end of an utterance to its stt + tts start, like xinnan's
                          recognition (default 0); an abort or listen start meanwhile does not stop it
  --ping-interval-ms N    WebSocket ping interval (default 20000, 0 = off)
  --mcp                   query an MCP client's tools after its hello (initialize, tools/list)
  --mcp-volume            --mcp, and set the client's volume after each utterance:
                          10 per 0.5 s of speech, 10…100 (1.5 s → 30, 4 s → 80)
  --wake-word WORD        a wake word for listen detect (repeatable; replaces xinnan's default list
                          ${XINNAN_WAKEUP_WORDS.join(' ')}); punctuation and spaces are ignored
  --no-greeting           xinnan's enable_greeting: false (a wake word gets stt + tts start + tts
                          stop; by default it gets a greeting turn: stt "${GREETING_PROMPT}", a chime)
  --wake-ignore-ms N      after a greeting, drop the uplink for N ms from its first frame, like
                          xinnan's just_woken_up (default 2000, 0 = never)
  --fault NAME            misbehave on purpose (repeatable): ${Object.keys(FAULT_NAMES).join(', ')}
                          (close-after-reply: close 1000 3 ms after each reply's tts stop, as
                          xinnan does after its farewell, an exit command or an exit intent)
  --reject-upgrade STATUS answer every upgrade with this HTTP status (e.g. 401)
  --help                  show this text
Like xinnan, listen stop answers the audio collected since listen start in every mode (auto
too; nothing collected: no answer), and abort answers tts stop at once. A listen detect whose
text is no wake word is answered like something the user said (stt, a chime, tts stop).`;

export interface DevServerCliIo {
  /** Where the URL and usage go; default stdout. */
  readonly print?: (line: string) => void;
  /** Stops the server like a signal would (tests, an embedding caller). */
  readonly signal?: AbortSignal;
  readonly clock?: Clock;
}

class UsageError extends Error {}

function nonNegativeInt(
  flag: string,
  value: string | undefined,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) > max)
    throw new UsageError(`--${flag} wants an integer 0…${max}`);
  return Number(value);
}

/** Flags → DevServer options; throws UsageError with a one-line reason. */
export function parseDevServerArgs(argv: readonly string[]): DevServerOptions | 'help' {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    // parseArgs' messages are complete sentences; its ERR_PARSE_ARGS_* code adds nothing for a user.
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const v = parsed.values;
  if (v.help) return 'help';
  const faults: { -readonly [K in keyof DevServerFaults]: DevServerFaults[K] } = {};
  for (const name of v.fault ?? []) {
    if (!isFaultName(name)) throw new UsageError(`unknown --fault ${name}`);
    faults[FAULT_NAMES[name]] = true;
  }
  const reject = nonNegativeInt('reject-upgrade', v['reject-upgrade'], 599);
  if (reject !== undefined) {
    if (reject < 200) throw new UsageError('--reject-upgrade wants an HTTP status 200…599');
    faults.rejectUpgrade = reject;
  }
  const allowed = v['allowed-device'] ?? [];
  if (allowed.length > 0 && v['auth-key'] === undefined)
    throw new UsageError('--allowed-device needs --auth-key');
  const tokenTtlMs = nonNegativeInt('token-ttl', v['token-ttl']);
  if (tokenTtlMs !== undefined && v['auth-key'] === undefined)
    throw new UsageError('--token-ttl needs --auth-key');
  const activation = parseActivation(v.activation);
  if (activation !== undefined && !v.ota) throw new UsageError('--activation needs --ota');
  // The stand-in for xinnan in bring-up closes idle sessions like xinnan's default does.
  const noVoiceCloseMs = nonNegativeInt('no-voice-close-ms', v['no-voice-close-ms']) ?? 120_000;
  const noVoiceCheckMs = nonNegativeInt('no-voice-check-ms', v['no-voice-check-ms']);
  if (noVoiceCheckMs === 0) throw new UsageError('--no-voice-check-ms wants an integer 1…');
  const vadSilenceMs = nonNegativeInt('vad-silence-ms', v['vad-silence-ms']);
  const asrDelayMs = nonNegativeInt('asr-delay-ms', v['asr-delay-ms'], 60_000);
  const pingIntervalMs = nonNegativeInt('ping-interval-ms', v['ping-interval-ms']);
  const wakeupWords = v['wake-word'];
  for (const w of wakeupWords ?? [])
    if (normalizeWakeText(w) === '')
      throw new UsageError(`--wake-word "${w}" is only punctuation and spaces, which xinnan ignores`);
  const wakeIgnoreMs = nonNegativeInt('wake-ignore-ms', v['wake-ignore-ms'], 60_000);
  return {
    host: v.host ?? '127.0.0.1',
    port: nonNegativeInt('port', v.port, 65535) ?? 8000,
    ota: v.ota ?? false,
    faults,
    ...(v['auth-key'] === undefined
      ? {}
      : {
          auth: {
            key: v['auth-key'],
            allowedDevices: allowed,
            ...(tokenTtlMs === undefined ? {} : { tokenTtlMs }),
          },
        }),
    ...(activation === undefined ? {} : { activation }),
    noVoiceCloseMs,
    ...(noVoiceCheckMs === undefined ? {} : { noVoiceCheckMs }),
    ...(vadSilenceMs === undefined ? {} : { vadSilenceMs }),
    ...(asrDelayMs === undefined ? {} : { asrDelayMs }),
    ...(pingIntervalMs === undefined ? {} : { pingIntervalMs }),
    ...(v.mcp ? { mcp: true } : {}),
    ...(v['mcp-volume'] ? { mcpVolumeFromSpeech: true } : {}),
    ...(wakeupWords === undefined ? {} : { wakeupWords }),
    ...(v['no-greeting'] ? { enableGreeting: false } : {}),
    ...(wakeIgnoreMs === undefined ? {} : { wakeIgnoreMs }),
  };
}

/** `CODE[:N]`: the activation code and how many polls answer 202 before the 200. */
function parseActivation(value: string | undefined): DevServerActivation | undefined {
  if (value === undefined) return undefined;
  const m = /^([0-9A-Za-z]{1,16})(?::(\d{1,4}))?$/.exec(value);
  if (m === null) throw new UsageError('--activation wants CODE[:N], e.g. 123456:3');
  return { code: m[1] ?? '', pendingPolls: m[2] === undefined ? 3 : Number(m[2]) };
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      'auth-key': { type: 'string' },
      'allowed-device': { type: 'string', multiple: true },
      ota: { type: 'boolean' },
      activation: { type: 'string' },
      'token-ttl': { type: 'string' },
      'no-voice-close-ms': { type: 'string' },
      'no-voice-check-ms': { type: 'string' },
      'vad-silence-ms': { type: 'string' },
      'asr-delay-ms': { type: 'string' },
      'ping-interval-ms': { type: 'string' },
      mcp: { type: 'boolean' },
      'mcp-volume': { type: 'boolean' },
      'wake-word': { type: 'string', multiple: true },
      'no-greeting': { type: 'boolean' },
      'wake-ignore-ms': { type: 'string' },
      fault: { type: 'string', multiple: true },
      'reject-upgrade': { type: 'string' },
      help: { type: 'boolean' },
    },
  });
}

function waitForStop(signal: AbortSignal | undefined): Promise<string> {
  return new Promise((resolve) => {
    const done = (why: string): void => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      signal?.removeEventListener('abort', onAbort);
      resolve(why);
    };
    const onInt = (): void => done('SIGINT');
    const onTerm = (): void => done('SIGTERM');
    const onAbort = (): void => done('abort');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
    if (signal?.aborted) done('abort');
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export async function runDevServer(argv: string[], log: Logger, io: DevServerCliIo = {}): Promise<number> {
  const print = io.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  let options: DevServerOptions | 'help';
  try {
    options = parseDevServerArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    print(`speakerd dev-server: ${err.message}\n${DEV_SERVER_USAGE}`);
    return 2;
  }
  if (options === 'help') {
    print(DEV_SERVER_USAGE);
    return 0;
  }
  const server = new DevServer(options, log, io.clock);
  let url: string;
  try {
    ({ url } = await server.start());
  } catch (err) {
    log.error({ err: describeError(err) }, 'dev-server: could not start');
    print(`speakerd dev-server: could not start: ${describeError(err)}`);
    return 1;
  }
  print(`dev-server listening: ${url}`);
  if (options.ota)
    print(`OTA endpoint: ${url.replace(/^ws:/, 'http:').replace(/\/xiaozhi\/v1\/$/, OTA_PATH)}`);
  const on = Object.entries(server.faults).filter(([, value]) => value !== undefined && value !== false);
  if (on.length > 0)
    print(`faults on: ${on.map(([k, value]) => (value === true ? k : `${k}=${value}`)).join(', ')}`);
  if (options.activation)
    print(
      `activation: code ${options.activation.code}, /activate answers 202 ×${options.activation.pendingPolls} then 200`,
    );
  const onHup = (): void => {
    server.rotateAuthKey();
    print('auth key rotated: tokens issued before are refused from now on');
  };
  if (options.auth !== undefined) process.on('SIGHUP', onHup);
  const why = await waitForStop(io.signal);
  process.off('SIGHUP', onHup);
  log.info({ why }, 'dev-server: stopping');
  await server.stop();
  return 0;
}
