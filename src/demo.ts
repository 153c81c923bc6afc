/**
 * `npm run demo` (issue: step 1 §9, issue 15 §1): the dev-server on a free loopback port, the
 * daemon with simulated hardware and the bundled speech fixture. A fresh device: the dev-server's
 * OTA endpoint asks for activation, the device speaks its code (a line per prompt played), the
 * demo types the code in for the owner, the device connects; one scripted button press (its
 * listening earcon), the LED changes and the turn's latency timeline printed, exit 0. No network,
 * no sound card; the only state written is the OTA cache, in a temporary directory removed after.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { NullSink, PcmSource, readPcmFile } from './audio/file-audio.js';
import { dbfs } from './audio/pcm.js';
import { perceptualGain, scalePcm } from './audio/volume.js';
import { configSchema } from './config/schema.js';
import type { TurnTimeline } from './conversation/conversation.js';
import { formatTurn } from './conversation/turn-timeline.js';
import { SystemClock } from './core/clock.js';
import { describeError } from './core/errors.js';
import { systemRandom } from './core/random.js';
import { Daemon } from './daemon.js';
import { DevServer } from './devserver/server.js';
import type { Indicator } from './hardware/indicator.js';
import { SystemStatusSource } from './mcp/device-status.js';
import { deviceTools, SET_VOLUME } from './mcp/tools.js';
import { OtaClient } from './provisioning/ota.js';
import { OtaCredentialSource } from './provisioning/ota-credentials.js';
import { attachProvisioning } from './provisioning/provisioning.js';
import { loadDaemonSounds } from './sounds/daemon-sounds.js';
import type { Prompt } from './sounds/prompt-scheduler.js';
import { DEFAULT_SOUND_PACK } from './sounds/sound-bank.js';
import { wsConnector } from './transport/ws-connector.js';
import { packageVersion } from './version.js';

export const SPEECH_FIXTURE = fileURLToPath(new URL('../../assets/speech16k.raw', import.meta.url));

/** The whole demo must finish well within this; a stuck run is a failed run, not a hang. */
const DEMO_DEADLINE_MS = 30_000;
/** The code the dev-server asks the demo device to activate with. */
const DEMO_CODE = '482913';
const DEMO_DEVICE_ID = '02:00:00:00:00:01';

/** The null speaker, keeping each stream apart: the prompts' streams are not the reply's. */
class DemoSink extends NullSink {
  readonly played: { rate: number; bytes: number; sumSquares: number; prompt: boolean }[] = [];
  override begin(sampleRate: number): void {
    super.begin(sampleRate);
    this.played.push({ rate: sampleRate, bytes: 0, sumSquares: 0, prompt: false });
  }
  protected override output(pcm: Buffer): void {
    const s = this.played[this.played.length - 1];
    if (!s) return;
    s.bytes += pcm.length;
    for (let i = 0; i + 1 < pcm.length; i += 2) s.sumSquares += (pcm.readInt16LE(i) / 32768) ** 2;
  }
  /** The stream just begun was a prompt (told right after the prompt's begin/write/end). */
  markPrompt(): void {
    const s = this.played[this.played.length - 1];
    if (s) s.prompt = true;
  }
  /** The replies: seconds, rate and RMS level (0…1). */
  replies(): { seconds: number; rate: number; level: number } {
    const tts = this.played.filter((s) => !s.prompt);
    const bytes = tts.reduce((n, s) => n + s.bytes, 0);
    const sumSquares = tts.reduce((n, s) => n + s.sumSquares, 0);
    const rate = tts[0]?.rate ?? 24000;
    return { seconds: bytes / 2 / rate, rate, level: bytes ? Math.sqrt(sumSquares / (bytes / 2)) : 0 };
  }
}

function describePrompt(p: Prompt, language: string): string {
  return p.kind === 'earcon'
    ? `♪ earcon "${p.earcon}"`
    : `♪ activation code spoken digit by digit (${language}): ${[...p.code].join(' ')}`;
}

export async function runDemo(out: (line: string) => void): Promise<number> {
  const t0 = performance.now();
  const stamp = () => `+${((performance.now() - t0) / 1000).toFixed(2)}s`.padStart(7);
  // Logs at warn and above go to stderr; stdout carries the story of the turn.
  const log = pino({ level: 'warn', base: { device_id: 'demo' } }, pino.destination({ dest: 2, sync: true }));
  const server = new DevServer(
    // The dev-server's MCP client sets the volume from each utterance's length (protocol.md §5.4);
    // its OTA endpoint asks the fresh device to activate, until the demo types the code in.
    {
      host: '127.0.0.1',
      port: 0,
      vadSilenceMs: 600,
      mcpVolumeFromSpeech: true,
      ota: true,
      activation: { code: DEMO_CODE, pendingPolls: 1_000_000 },
    },
    log.child({ component: 'devserver' }),
  );
  const { url } = await server.start();
  const otaUrl = `http://127.0.0.1:${server.port}/xiaozhi/ota/`;
  out(`dev-server listening on ${url} (OTA ${otaUrl}, asks for activation with code ${DEMO_CODE})`);
  const stateDir = mkdtempSync(join(tmpdir(), 'speakerd-demo-'));

  const config = configSchema.parse({
    server: { otaUrl },
    hardware: 'simulated',
    // A fixed, locally administered MAC; a fresh Client-Id each run.
    identity: { deviceId: DEMO_DEVICE_ID, clientId: randomUUID() },
    stateDir,
  });
  const clock = new SystemClock();
  const identity = { deviceId: DEMO_DEVICE_ID, clientId: config.identity.clientId ?? '' };
  const ota = new OtaCredentialSource({
    client: new OtaClient({
      url: otaUrl,
      identity,
      version: packageVersion(),
      boardName: 'speakerd-demo',
      timeoutMs: 2_000,
      wallNow: Date.now,
      log,
    }),
    identity,
    stateDir,
    fallback: { url: '', token: '' },
    clock,
    random: systemRandom,
    log,
    // The firmware polls every 3 s; the demo's owner is quick.
    activation: { pendingDelayMs: 200, retryDelayMs: 500, maxTries: 100 },
  });
  // The demo writes no state: an in-memory volume, applied to what the (null) speaker plays.
  const volume = {
    level: 100,
    set(level: number): void {
      volume.level = level;
      out(`${stamp()}  server set the volume to ${level} (MCP ${SET_VOLUME})`);
    },
  };
  const sink = new DemoSink((pcm) => scalePcm(pcm, perceptualGain(volume.level)));
  const leds = {
    render: (i: Indicator) =>
      out(`${stamp()}  LED ${i.color === 'off' ? '○' : '●'} ${i.color} ${i.pattern} (${i.name})`),
  };
  const daemon = new Daemon({
    config,
    identity,
    credentials: ota,
    connector: wsConnector,
    source: new PcmSource('demo-mic', readPcmFile(SPEECH_FIXTURE), clock),
    sink,
    leds,
    clock,
    random: systemRandom,
    log,
    sounds: await loadDaemonSounds(DEFAULT_SOUND_PACK, config.audio.decodeRate),
    mcp: {
      tools: deviceTools({
        status: new SystemStatusSource({
          volume: () => volume.level,
          connection: () => daemon.supervisor.state,
          log,
        }),
        volume,
        log,
      }),
      version: packageVersion(),
    },
  });
  daemon.supervisor.on('message', (m) => {
    if (m.type === 'stt') out(`${stamp()}  server heard: ${m.text}`);
  });
  let codeSpoken = false;
  daemon.sounds?.on('prompt', (p) => {
    sink.markPrompt();
    out(`${stamp()}  ${describePrompt(p, config.sounds.language)}`);
    if (p.kind === 'code' && !codeSpoken) {
      codeSpoken = true;
      out(`${stamp()}  the owner types ${p.code} into the server's console`);
      server.confirmActivation(DEMO_DEVICE_ID);
    }
  });

  let timeline: TurnTimeline | undefined;
  const finished = new Promise<string | undefined>((resolve) => {
    const deadline = setTimeout(
      () => resolve(`no complete turn within ${DEMO_DEADLINE_MS / 1000} s`),
      DEMO_DEADLINE_MS,
    );
    daemon.supervisor.once('ready', () => {
      out(`${stamp()}  connected; pressing the button (you would say "Turn on the kitchen light, please.")`);
      daemon.input('click');
    });
    daemon.on('turn', (t) => {
      if (timeline !== undefined) return;
      timeline = t;
      if (t.outcome !== 'reply') {
        clearTimeout(deadline);
        resolve(`the turn ended with ${t.outcome}`);
        return;
      }
      // Auto mode listens again after the reply (protocol.md §11.9); a second click ends that.
      const onState = (to: string): void => {
        if (to === 'listening') {
          out(`${stamp()}  reply played; pressing the button again to stop listening`);
          daemon.input('click');
        } else if (to === 'idle') {
          daemon.conversation.off('state', onState);
          clearTimeout(deadline);
          resolve(undefined);
        }
      };
      daemon.conversation.on('state', onState);
    });
  });

  let failure: string | undefined;
  let provisioning: { stop(): Promise<void> } | undefined;
  try {
    await daemon.start();
    provisioning = attachProvisioning(ota, daemon);
    failure = await finished;
  } catch (err) {
    failure = describeError(err);
  }
  await daemon.stop();
  await provisioning?.stop();
  await server.stop();
  rmSync(stateDir, { recursive: true, force: true });
  if (failure !== undefined || timeline === undefined) {
    out(`demo FAILED: ${failure ?? 'no turn'}`);
    return 1;
  }
  out('');
  out('turn latency timeline (ms after the press):');
  for (const [mark, ms] of Object.entries(timeline.milestones))
    out(`  ${mark.padEnd(16)} ${Math.round(ms).toString().padStart(6)}`);
  out(formatTurn(timeline));
  const replies = sink.replies();
  out(
    `played ${replies.seconds.toFixed(2)} s of TTS audio at ${replies.rate} Hz, level ${dbfs(replies.level).toFixed(1)} dBFS`,
  );
  if (!codeSpoken) {
    out('demo FAILED: the activation code was never spoken');
    return 1;
  }
  out('demo OK');
  return replies.seconds > 0 ? 0 : 1;
}
