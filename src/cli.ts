/**
 * Subcommands (design.md §2): parsing and the commands that need no device adapters. `run` and
 * `demo` are composed in main.ts, the only file that knows the real and simulated adapters.
 */
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { configReference } from './config/doc.js';
import { checkConfig, EX_CONFIG, formatConfigErrors, loadConfig } from './config/load.js';
import { formatIdentity, resolveIdentity } from './provisioning/identity.js';
import type { OrtImporter } from './wakeword/onnx.js';

export const USAGE = `usage: speakerd <command> [options]

commands:
  run [--config F] [--sim | --sim-audio] [--mic FILE] [--tts-out FILE]
                         run the daemon (--sim: keyboard button and terminal LEDs, and the file
                         audio of --sim-audio: mic from a 16 kHz PCM file, TTS to a raw 24 kHz
                         file or nowhere; --sim-audio alone keeps the configured button and LEDs)
  check-config [--config F]
                         validate the config (exit 0, or 78 with every error listed)
  identity [--config F]  print the Device-Id and Client-Id (creating the Client-Id once)
  doctor [--config F] [--json] [--tone] [--timeout-ms N]
                         check config, identity, audio, GPIO, server (DNS, TCP, TLS, hello, token),
                         clock and systemd: one ✓/✗ line each with its fix; exit 1 if any fails
  dev-server [options]   run the embedded xiaozhi-compatible server (see: speakerd dev-server --help)
  fleet-report [-D DIR | --file F]… [--since T] [--until T] [--json]
                         one line per device from speakerd's journal entries (stdin: journalctl
                         -o json; or journalctl run on a collector's journals): link, time online,
                         reconnects and causes, faults, turns, reply latency, last error
                         (see: speakerd fleet-report --help)
  demo                   dev-server + simulated device + one scripted turn, then exit
  wakeword score FILE.wav… [--model PATH[:phrase[:threshold]]]… [--json] [--no-pad]
                         score WAV files with wake-word models as the daemon would: max score,
                         its frame and the detections per file and model (--json: every frame)
  config-doc             print the config reference (Markdown)
  help                   this text

environment: SPEAKERD_CONFIG, SPEAKERD_SERVER_URL, SPEAKERD_TOKEN, SPEAKERD_STATE_DIR, SPEAKERD_MODE,
             SPEAKERD_LOG_LEVEL, SPEAKERD_LOG_TARGET, SPEAKERD_DEVICE_ID, SPEAKERD_CLIENT_ID`;

export interface Io {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly env: NodeJS.ProcessEnv;
}

export interface RunOptions {
  readonly configPath: string | undefined;
  readonly sim: boolean;
  /** File audio instead of ALSA, the button and LEDs as configured (GPIO bring-up without sound). */
  readonly simAudio: boolean;
  readonly mic: string | undefined;
  readonly ttsOut: string | undefined;
}

export type Command =
  | { readonly name: 'run'; readonly options: RunOptions }
  | { readonly name: 'check-config'; readonly configPath: string | undefined }
  | { readonly name: 'identity'; readonly configPath: string | undefined }
  | { readonly name: 'dev-server'; readonly argv: string[] }
  | { readonly name: 'doctor'; readonly argv: string[] }
  | { readonly name: 'demo'; readonly argv: string[] }
  | { readonly name: 'fleet-report'; readonly argv: string[] }
  | { readonly name: 'wakeword'; readonly argv: string[] }
  | { readonly name: 'config-doc' }
  | { readonly name: 'help' }
  | { readonly name: 'usage-error'; readonly message: string };

export function parseCommand(argv: readonly string[]): Command {
  const [name, ...rest] = argv;
  try {
    switch (name) {
      case 'run': {
        const { values } = parseArgs({
          args: rest,
          options: {
            config: { type: 'string' },
            sim: { type: 'boolean', default: false },
            'sim-audio': { type: 'boolean', default: false },
            mic: { type: 'string' },
            'tts-out': { type: 'string' },
          },
          strict: true,
        });
        return {
          name,
          options: {
            configPath: values.config,
            sim: values.sim === true,
            simAudio: values['sim-audio'] === true,
            mic: values.mic,
            ttsOut: values['tts-out'],
          },
        };
      }
      case 'check-config':
      case 'identity': {
        const { values } = parseArgs({ args: rest, options: { config: { type: 'string' } }, strict: true });
        return { name, configPath: values.config };
      }
      case 'dev-server':
      case 'doctor':
      case 'demo':
      case 'fleet-report':
      case 'wakeword':
        return { name, argv: rest };
      case 'config-doc':
        return { name };
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        return { name: 'help' };
      default:
        return { name: 'usage-error', message: `unknown command ${JSON.stringify(name)}` };
    }
  } catch (err) {
    return { name: 'usage-error', message: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * Validates the config; with wakeWord.enabled also loads onnxruntime-node and every model
 * (wakeword/preflight.ts), so a device that cannot run its wake word fails here with the fix
 * (exit 78) and not at the first start. Nothing of the wake word is loaded when it is off.
 */
export async function runCheckConfig(
  configPath: string | undefined,
  io: Io,
  deps: { readonly log: Logger; readonly importOrt?: OrtImporter },
): Promise<number> {
  const pathOpt = configPath === undefined ? {} : { path: configPath };
  const code = checkConfig({ ...pathOpt, env: io.env, out: io.out, err: io.err });
  if (code !== 0) return code;
  // Read again for its wakeWord section (checkConfig reports and gives only the exit code).
  const loaded = loadConfig({ ...pathOpt, env: io.env });
  if (!loaded.ok || !loaded.config.wakeWord.enabled) return code;
  const { preflightWakeWord } = await import('./wakeword/preflight.js');
  const result = await preflightWakeWord(loaded.config.wakeWord, {
    log: deps.log,
    ...(deps.importOrt === undefined ? {} : { importOrt: deps.importOrt }),
  });
  if (!result.ok) {
    io.err(result.message);
    return EX_CONFIG;
  }
  io.out(result.summary);
  return 0;
}

export async function runIdentity(configPath: string | undefined, io: Io, log: Logger): Promise<number> {
  const loaded = loadConfig({ ...(configPath === undefined ? {} : { path: configPath }), env: io.env });
  if (!loaded.ok) {
    io.err(formatConfigErrors(loaded.errors, loaded.source));
    return EX_CONFIG;
  }
  const result = await resolveIdentity({ config: loaded.config, log, origins: loaded.origins });
  if (!result.ok) {
    io.err(`speakerd identity: ${result.error.code}: ${result.error.message}`);
    return EX_CONFIG;
  }
  io.out(formatIdentity(result.identity));
  return 0;
}

export function runConfigDoc(io: Io): number {
  io.out(configReference());
  return 0;
}
