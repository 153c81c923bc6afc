/**
 * `npm run demo` (issue: step 1 §9): the dev-server on a free loopback port, the daemon with
 * simulated hardware and the bundled speech fixture, one scripted button press, the LED changes
 * and the turn's latency timeline printed, exit 0. No network, no sound card.
 */
import { randomUUID } from 'node:crypto';
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
import { ConfigCredentialSource } from './session/credentials.js';
import { wsConnector } from './transport/ws-connector.js';
import { packageVersion } from './version.js';

export const SPEECH_FIXTURE = fileURLToPath(new URL('../../assets/speech16k.raw', import.meta.url));

/** The whole demo must finish well within this; a stuck run is a failed run, not a hang. */
const DEMO_DEADLINE_MS = 30_000;

export async function runDemo(out: (line: string) => void): Promise<number> {
  const t0 = performance.now();
  const stamp = () => `+${((performance.now() - t0) / 1000).toFixed(2)}s`.padStart(7);
  // Logs at warn and above go to stderr; stdout carries the story of the turn.
  const log = pino({ level: 'warn', base: { device_id: 'demo' } }, pino.destination({ dest: 2, sync: true }));
  const server = new DevServer(
    // The dev-server's MCP client sets the volume from each utterance's length (protocol.md §5.4).
    { host: '127.0.0.1', port: 0, vadSilenceMs: 600, mcpVolumeFromSpeech: true },
    log.child({ component: 'devserver' }),
  );
  const { url } = await server.start();
  out(`dev-server listening on ${url}`);

  const config = configSchema.parse({
    server: { websocketUrl: url },
    hardware: 'simulated',
    // A fixed, locally administered MAC: the demo writes no state anywhere.
    identity: { deviceId: '02:00:00:00:00:01', clientId: randomUUID() },
    stateDir: '/nonexistent',
  });
  const clock = new SystemClock();
  // The demo writes no state: an in-memory volume, applied to what the (null) speaker plays.
  const volume = {
    level: 100,
    set(level: number): void {
      volume.level = level;
      out(`${stamp()}  server set the volume to ${level} (MCP ${SET_VOLUME})`);
    },
  };
  const sink = new NullSink((pcm) => scalePcm(pcm, perceptualGain(volume.level)));
  const leds = {
    render: (i: Indicator) =>
      out(`${stamp()}  LED ${i.color === 'off' ? '○' : '●'} ${i.color} ${i.pattern} (${i.name})`),
  };
  const daemon = new Daemon({
    config,
    identity: { deviceId: config.identity.deviceId ?? '', clientId: config.identity.clientId ?? '' },
    credentials: new ConfigCredentialSource({
      env: () => ({}),
      initial: { url, token: '' },
      log,
      defaultPath: '/nonexistent/speakerd-demo.json',
    }),
    connector: wsConnector,
    source: new PcmSource('demo-mic', readPcmFile(SPEECH_FIXTURE), clock),
    sink,
    leds,
    clock,
    random: systemRandom,
    log,
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
  try {
    await daemon.start();
    failure = await finished;
  } catch (err) {
    failure = describeError(err);
  }
  await daemon.stop();
  await server.stop();
  if (failure !== undefined || timeline === undefined) {
    out(`demo FAILED: ${failure ?? 'no turn'}`);
    return 1;
  }
  out('');
  out('turn latency timeline (ms after the press):');
  for (const [mark, ms] of Object.entries(timeline.milestones))
    out(`  ${mark.padEnd(16)} ${Math.round(ms).toString().padStart(6)}`);
  out(formatTurn(timeline));
  const seconds = sink.bytes / 2 / (sink.rate || 24000);
  out(
    `played ${seconds.toFixed(2)} s of TTS audio at ${sink.rate} Hz, level ${dbfs(sink.level).toFixed(1)} dBFS`,
  );
  out('demo OK');
  return sink.bytes > 0 ? 0 : 1;
}
