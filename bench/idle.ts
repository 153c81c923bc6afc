/**
 * Idle CPU: the real `speakerd run` (ALSA audio on the fake sound card of test/fakes/alsa-rig.ts,
 * so its arecord runs all the time at real-time pace behind the pre-roll; simulated button and
 * LEDs; the watchdog on as under the unit, WATCHDOG_USEC 30 s; connected to the dev-server in a
 * child process; nobody pressing). CPU time from /proc (bench/proc.ts) of the daemon and its
 * arecord over a window after a warm-up, as a share of one core. The warm-up is long (15 s) because V8's
 * memory reducer runs its GCs ~10 s after start-up: that is start-up cost, not idle cost.
 * Side by side in the same window: the same arecord command alone on a second fake card (the floor
 * any capture-based daemon pays), `speakerd run --sim` (the same daemon without a capture: what
 * the capture path adds) and a bare `node` with one timer (the floor of an idle Node process).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { readPcmFile } from '../src/audio/file-audio.js';
import { describeError } from '../src/core/errors.js';
import { AlsaRig } from '../test/fakes/alsa-rig.js';
import { type NotifyReceiver, startNotifyReceiver } from '../test/fakes/notify-receiver.js';
import { startServerChild } from './children.js';
import { SPEECH_FILE, wsUrl } from './device.js';
import { clockTicks, hasSchedstat, type TreeCpu, treeCpu } from './proc.js';
import { alsaMissing, monoMs, scratchDir, spawnSpeakerd, writeBenchConfig } from './speakerd-child.js';
import { Skipped } from './stats.js';

export interface IdleResult {
  readonly windowS: number;
  readonly warmupS: number;
  /** % of one core: the daemon and its children (arecord). */
  readonly speakerdPct: number;
  /** % of one core: the daemon's Node process alone. */
  readonly nodePct: number;
  /** % of one core: `speakerd run --sim` (file mic, idle: no capture running), watchdog on too. */
  readonly simPct: number;
  /** Voluntary context switches of the daemon's main thread per second: its event-loop wake-ups. */
  readonly wakeupsPerS: number;
  /** % of one core: the same arecord command alone, in the same window. */
  readonly arecordPct: number;
  /** % of one core: `node -e` with one 1 s timer, in the same window. */
  readonly bareNodePct: number;
  readonly ratio: number;
  /** What the CPU times were read from. */
  readonly clock: string;
  /** The daemon's last STATUS= at the end of the window. */
  readonly status: string;
}

/** The argv AlsaCapture gives arecord (src/audio/arecord-env-recorder.cts). */
const ARECORD_ARGS = ['-D', 'fakemic', '-q', '-r', '16000', '-c', '1', '-t', 'raw', '-f', 'S16_LE', '-'];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Plain {
  readonly child: ChildProcess;
  readonly closed: Promise<void>;
}

function plain(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv): Plain {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'ignore'] });
  const closed = new Promise<void>((resolve) => {
    child.on('error', () => resolve());
    child.on('close', () => resolve());
  });
  child.stdout?.resume(); // read and dropped, as fast as it comes
  return { child, closed };
}

async function end(p: Plain): Promise<void> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await p.closed;
}

/** Voluntary context switches of the main thread (the event loop sleeping in epoll, woken again). */
function wakeups(pid: number): number {
  const m = /voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? Number.NaN);
}

function ticksOf(pid: number | undefined, what: string): TreeCpu {
  const t = pid === undefined ? undefined : treeCpu(pid);
  if (!t) throw new Error(`${what} is not running`);
  return t;
}

export async function measureIdle(o: { windowS?: number; warmupS?: number } = {}): Promise<IdleResult> {
  const windowS = o.windowS ?? 20;
  const warmupS = o.warmupS ?? 15;
  const missing = await alsaMissing();
  if (missing) throw new Skipped(missing);
  const dir = scratchDir('idle');
  const speech = readPcmFile(SPEECH_FILE);
  const rigs: AlsaRig[] = [];
  const plains: Plain[] = [];
  let receiver: NotifyReceiver | undefined;
  let daemon: ReturnType<typeof spawnSpeakerd> | undefined;
  let sim: ReturnType<typeof spawnSpeakerd> | undefined;
  const server = await startServerChild(1);
  try {
    receiver = await startNotifyReceiver(dir);
    const rig = new AlsaRig();
    const alone = new AlsaRig();
    rigs.push(rig, alone);
    // A talkative room (the words, 1 s of silence, again): a live mic, never digital silence.
    rig.startMic(speech, 0, 1);
    alone.startMic(speech, 0, 1);
    daemon = spawnSpeakerd(['run'], {
      ...rig.env,
      SPEAKERD_CONFIG: writeBenchConfig(dir, 'idle', {
        audio: { captureDevice: 'fakemic', playbackDevice: 'fakespk' },
      }),
      SPEAKERD_SERVER_URL: wsUrl(server.port),
      NOTIFY_SOCKET: receiver.socketPath,
      WATCHDOG_USEC: '30000000',
    });
    const pid = daemon.pid;
    sim = spawnSpeakerd(['run', '--sim'], {
      ...process.env,
      // A device of its own: the dev-server sees two devices, not one that connects twice.
      SPEAKERD_CONFIG: writeBenchConfig(dir, 'idle-sim', {
        identity: { deviceId: '02:00:00:00:00:b8', clientId: '6f1c2a4e-8b1d-4c3e-9f2a-0123456789b8' },
      }),
      SPEAKERD_SERVER_URL: wsUrl(server.port),
      NOTIFY_SOCKET: receiver.socketPath,
      WATCHDOG_USEC: '30000000',
    });
    const simPid = sim.pid;
    plains.push(plain('arecord', ARECORD_ARGS, alone.env));
    plains.push(plain(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], process.env));
    const r = receiver;
    const ofDaemon = (m: { pid: number | undefined }) => m.pid === pid;
    for (const d of [daemon, sim]) {
      try {
        await r.waitFor((m) => m.pid === d.pid && m.fields.READY === '1', 20_000);
        await r.waitFor((m) => m.pid === d.pid && (m.fields.STATUS ?? '').startsWith('online'), 20_000);
      } catch (err) {
        throw new Error(`speakerd did not come up: ${describeError(err)}\n${d.output().slice(-800)}`);
      }
    }
    await sleep(warmupS * 1000);
    const [arecordAlone, bareNode] = plains.map((p) => p.child.pid);
    const a0 = ticksOf(pid, 'speakerd');
    const b0 = ticksOf(arecordAlone, 'arecord alone');
    const n0 = ticksOf(bareNode, 'bare node');
    const s0 = ticksOf(simPid, 'speakerd --sim');
    const w0 = wakeups(pid);
    const t0 = monoMs();
    await sleep(windowS * 1000);
    const a1 = ticksOf(pid, 'speakerd');
    const b1 = ticksOf(arecordAlone, 'arecord alone');
    const n1 = ticksOf(bareNode, 'bare node');
    const s1 = ticksOf(simPid, 'speakerd --sim');
    const w1 = wakeups(pid);
    const wallS = (monoMs() - t0) / 1000;
    if (!Object.keys(a1.byComm).includes('arecord')) throw new Error('speakerd has no arecord child');
    const statuses = r.messages().filter((m) => ofDaemon(m) && m.fields.STATUS !== undefined);
    const last = statuses[statuses.length - 1]?.fields.STATUS ?? '?';
    // Idle means online and idle the whole window: a reconnect inside it would be measured too.
    const changes = statuses.filter((m) => m.at >= t0).length;
    const status =
      changes === 0 ? `${last} throughout` : `${last} (${changes} status changes in the window!)`;
    const pct = (ms: number): number => (ms / 1000 / wallS) * 100;
    const speakerdPct = pct(a1.total - a0.total);
    const arecordPct = pct(b1.total - b0.total);
    return {
      windowS: wallS,
      warmupS,
      speakerdPct,
      nodePct: pct(a1.root - a0.root),
      simPct: pct(s1.total - s0.total),
      wakeupsPerS: (w1 - w0) / wallS,
      arecordPct,
      bareNodePct: pct(n1.total - n0.total),
      ratio: arecordPct > 0 ? speakerdPct / arecordPct : Number.POSITIVE_INFINITY,
      clock: hasSchedstat()
        ? 'schedstat (ns, every thread)'
        : `utime+stime (${clockTicks()} ticks/s: 1 tick = ${(100 / clockTicks() / wallS).toFixed(2)} %)`,
      status,
    };
  } finally {
    await daemon?.stop();
    await sim?.stop();
    await Promise.all(plains.map(end));
    await receiver?.close();
    await server.stop();
    await Promise.all(rigs.map((rig) => rig.close()));
    rmSync(dir, { recursive: true, force: true });
  }
}
