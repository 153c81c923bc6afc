/**
 * Start-up: spawn → READY=1 of the real `speakerd run` (as the unit starts it) at a fake
 * NOTIFY_SOCKET (test/fakes/notify-receiver.ts, the datagram's reception time on CLOCK_MONOTONIC),
 * and spawn → link ready (its "link_to":"ready" log line arriving on the pipe; the dev-server runs
 * in a child process). Two variants: `--sim` (file mic) and ALSA (arecord on the fake sound card of
 * test/fakes/alsa-rig.ts; READY waits for the capture to run). Baseline in the same rounds: a bare
 * `node -e 0`, spawn → exit. One warm-up round, then RUNS rounds interleaved; medians.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { readPcmFile } from '../src/audio/file-audio.js';
import { describeError } from '../src/core/errors.js';
import { AlsaRig } from '../test/fakes/alsa-rig.js';
import { type NotifyReceiver, startNotifyReceiver } from '../test/fakes/notify-receiver.js';
import { startServerChild } from './children.js';
import { SPEECH_FILE, wsUrl } from './device.js';
import {
  alsaMissing,
  monoMs,
  pythonMissing,
  scratchDir,
  spawnSpeakerd,
  writeBenchConfig,
} from './speakerd-child.js';
import { median, Skipped } from './stats.js';

export const RUNS = 5;
const TIMEOUT_MS = 15_000;
const LINK_READY = /"link_to":"ready"/;

export interface StartupTimes {
  readonly readyMs: readonly number[];
  readonly linkMs: readonly number[];
  readonly readyP50: number;
  readonly linkP50: number;
}

export interface StartupResult {
  readonly runs: number;
  readonly bareNodeMs: readonly number[];
  readonly bareNodeP50: number;
  readonly sim: StartupTimes;
  readonly alsa: StartupTimes | undefined;
  /** Why there is no ALSA variant. */
  readonly alsaSkipped: string | undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** spawn → exit of `node -e 0`: what any Node program pays before its first line runs. */
function bareNode(): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = monoMs();
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code) => {
      const ms = monoMs() - t0;
      if (code === 0) resolve(ms);
      else reject(new Error(`node -e 0 exited with ${code}`));
    });
  });
}

async function startOnce(
  receiver: NotifyReceiver,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<{ readyMs: number; linkMs: number }> {
  const d = spawnSpeakerd(args, { ...env, NOTIFY_SOCKET: receiver.socketPath }, [LINK_READY]);
  try {
    const ready = await receiver.waitFor((m) => m.pid === d.pid && m.fields.READY === '1', TIMEOUT_MS);
    const t = monoMs();
    while (d.seen(0) === undefined) {
      if (monoMs() - t > TIMEOUT_MS) throw new Error(`no link ready within ${TIMEOUT_MS} ms`);
      await sleep(5);
    }
    return { readyMs: ready.at - d.spawnedAt, linkMs: (d.seen(0) ?? Number.NaN) - d.spawnedAt };
  } catch (err) {
    throw new Error(`speakerd ${args.join(' ')}: ${describeError(err)}\n${d.output().slice(-800)}`);
  } finally {
    await d.stop();
  }
}

function times(xs: readonly { readyMs: number; linkMs: number }[]): StartupTimes {
  const readyMs = xs.map((x) => x.readyMs);
  const linkMs = xs.map((x) => x.linkMs);
  return { readyMs, linkMs, readyP50: median(readyMs), linkP50: median(linkMs) };
}

export async function measureStartup(runs = RUNS): Promise<StartupResult> {
  const noPython = await pythonMissing();
  if (noPython) throw new Skipped(noPython);
  const alsaSkipped = await alsaMissing();
  const dir = scratchDir('startup');
  const speech = readPcmFile(SPEECH_FILE);
  const server = await startServerChild(1);
  let receiver: NotifyReceiver | undefined;
  try {
    receiver = await startNotifyReceiver(dir);
    const r = receiver;
    const env = { ...process.env, SPEAKERD_SERVER_URL: wsUrl(server.port) };
    const simEnv = { ...env, SPEAKERD_CONFIG: writeBenchConfig(dir, 'sim') };
    const alsaConfig = writeBenchConfig(dir, 'alsa', {
      audio: { captureDevice: 'fakemic', playbackDevice: 'fakespk' },
    });
    const alsaOnce = async (): Promise<{ readyMs: number; linkMs: number }> => {
      const rig = new AlsaRig();
      try {
        rig.startMic(speech, 0, 1);
        // python3 up and waiting in open() on the FIFO before the clock starts.
        await sleep(300);
        return await startOnce(r, ['run'], { ...env, ...rig.env, SPEAKERD_CONFIG: alsaConfig });
      } finally {
        await rig.close();
      }
    };
    const bare: number[] = [];
    const sim: { readyMs: number; linkMs: number }[] = [];
    const alsa: { readyMs: number; linkMs: number }[] = [];
    for (let i = 0; i <= runs; i++) {
      const counted = i > 0; // round 0 warms the page cache and the dev-server
      const b = await bareNode();
      const s = await startOnce(r, ['run', '--sim'], simEnv);
      const a = alsaSkipped === undefined ? await alsaOnce() : undefined;
      if (!counted) continue;
      bare.push(b);
      sim.push(s);
      if (a) alsa.push(a);
    }
    return {
      runs,
      bareNodeMs: bare,
      bareNodeP50: median(bare),
      sim: times(sim),
      alsa: alsa.length > 0 ? times(alsa) : undefined,
      alsaSkipped,
    };
  } finally {
    await receiver?.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
