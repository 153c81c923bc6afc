/**
 * The memory bench's device process (spawned by bench/memory.ts with --expose-gc): the real daemon
 * composition against a dev-server child, time compressed K× (bench/scaled-clock.ts), running
 * complete turns one after another — click, 1.4 s of speech up, the VAD ends it, stt, tts start,
 * the reply decoded to a null sink, tts stop, listening again (auto mode), click, idle — and
 * printing RSS after the given turn counts as one JSON line.
 *
 *   node --expose-gc dist/bench/memory-child.js --port N --speedup K --turns 1000 --at 10,100,1000
 */
import { PcmSource } from '../src/audio/file-audio.js';
import type { TurnOutcome, TurnTimeline } from '../src/conversation/conversation.js';
import { describeError } from '../src/core/errors.js';
import { composeDevice, idleAndReady, turnSpeech, waitFor, wsUrl } from './device.js';
import { ScaledClock } from './scaled-clock.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

export interface MemorySample {
  readonly turns: number;
  readonly rss: number;
  readonly heapUsed: number;
  /** V8 heap committed (young generation included): where most of the RSS beyond the baseline sits. */
  readonly heapTotal: number;
  readonly external: number;
}

export interface MemoryChildReport {
  readonly samples: MemorySample[];
  readonly outcomes: Partial<Record<TurnOutcome, number>>;
  readonly gc: boolean;
  readonly seconds: number;
  readonly speedup: number;
}

/** Real milliseconds one step of a turn may take before the run counts as stuck. */
const STEP_MS = 10_000;

/** Full collections until the heap stops shrinking (a single gc() can leave finalizer work behind). */
async function settle(): Promise<void> {
  const gc = globalThis.gc;
  if (!gc) return;
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
}

async function main(): Promise<void> {
  const port = Number(arg('--port', '0'));
  const speedup = Number(arg('--speedup', '20'));
  const turns = Number(arg('--turns', '1000'));
  const at = new Set(arg('--at', `10,${turns}`).split(',').map(Number));
  const clock = new ScaledClock(speedup);
  const { daemon } = composeDevice({
    url: wsUrl(port),
    clock,
    source: new PcmSource('bench-mic', turnSpeech(), clock),
    // The heartbeat at its longest (120 s of scaled time ≈ 120/K s real): at the default 5 s it
    // would ping every few real ms and a GC pause in either process would count as a dead peer.
    connection: { pingIntervalMs: 120_000, pongTimeoutMs: 120_000 },
  });
  const outcomes: Partial<Record<TurnOutcome, number>> = {};
  let replies = 0;
  daemon.on('turn', (t: TurnTimeline) => {
    outcomes[t.outcome] = (outcomes[t.outcome] ?? 0) + 1;
    if (t.outcome === 'reply') replies++;
  });
  const samples: MemorySample[] = [];
  const t0 = performance.now();
  await daemon.start();
  for (let n = 1; n <= turns; n++) {
    await waitFor(daemon, `turn ${n}: idle and ready`, () => idleAndReady(daemon), STEP_MS);
    const r0 = replies;
    daemon.input('click');
    await waitFor(daemon, `turn ${n}: the reply`, () => replies > r0, STEP_MS);
    await waitFor(
      daemon,
      `turn ${n}: listening again`,
      () => daemon.conversation.state === 'listening',
      STEP_MS,
    );
    daemon.input('click');
    await waitFor(daemon, `turn ${n}: idle`, () => daemon.conversation.state === 'idle', STEP_MS);
    if (at.has(n)) {
      await settle();
      const m = process.memoryUsage();
      samples.push({
        turns: n,
        rss: m.rss,
        heapUsed: m.heapUsed,
        heapTotal: m.heapTotal,
        external: m.external,
      });
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  await daemon.stop();
  const report: MemoryChildReport = { samples, outcomes, gc: globalThis.gc !== undefined, seconds, speedup };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench memory: ${describeError(err)}\n`);
    process.exit(1);
  },
);
