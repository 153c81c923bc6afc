/**
 * The memory bench's device process (spawned by bench/memory.ts with --expose-gc): the real daemon
 * composition against a dev-server child, time compressed K× (bench/scaled-clock.ts), running
 * complete turns one after another — click, 1.4 s of speech up, the VAD ends it, stt, tts start,
 * the reply decoded and played at its sample rate to a paced null speaker (bench/device.ts), tts
 * stop, the speaker plays out the reply's tail, listening again (auto mode), click, idle — and
 * printing RSS after the given turn counts as one JSON line. A turn that ends any other way (a
 * deadline, a lost link) stops the run with that turn's timeline: the bench measures whole turns
 * or nothing.
 *
 *   node --expose-gc dist/bench/memory-child.js --port N --speedup K --turns 1000 --at 10,100,1000
 */
import { PcmSource } from '../src/audio/file-audio.js';
import type { TurnOutcome, TurnTimeline } from '../src/conversation/conversation.js';
import { formatTurn } from '../src/conversation/turn-timeline.js';
import { describeError } from '../src/core/errors.js';
import { composeDevice, idleAndReady, PacedNullSink, turnSpeech, waitFor, wsUrl } from './device.js';
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

/**
 * The device's conversation deadlines, in scaled time (the schema's maximum, 600 s = 7.5 s real at
 * 80×). Not what is measured here, and at the shipped values they would fire on the peer's real
 * CPU time, which the scaled clock does not compress: the dev-server encodes a whole reply to Opus
 * before its `tts start` (devserver/turn.ts #reply), 240 ms real for the first reply of a cold
 * process on the bench machine = 19 s of scaled time, past the 15 s reply deadline (187 ms real).
 * The first turn then ended in `deadline` and the late reply arrived as a server-initiated turn, so
 * the run waited for an auto re-listen that never comes ("timed out … waiting for turn 1: listening
 * again (link ready, conversation idle)").
 */
const DEADLINE_MS = 600_000;

/** How each of a turn's two conversation turns must end; anything else stops the run. */
const EXPECTED: Readonly<Record<'click' | 'auto', TurnOutcome>> = { click: 'reply', auto: 'cancelled' };

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
    sink: new PacedNullSink(clock),
    // The heartbeat at its longest (120 s of scaled time ≈ 120/K s real): at the default 5 s it
    // would ping every few real ms and a GC pause in either process would count as a dead peer.
    connection: { pingIntervalMs: 120_000, pongTimeoutMs: 120_000 },
    conversation: {
      listenDeadlineMs: DEADLINE_MS,
      replyDeadlineMs: DEADLINE_MS,
      speakingDeadlineMs: DEADLINE_MS,
    },
  });
  const outcomes: Partial<Record<TurnOutcome, number>> = {};
  let replies = 0;
  let unexpected: string | undefined;
  let n = 0;
  daemon.on('turn', (t: TurnTimeline) => {
    outcomes[t.outcome] = (outcomes[t.outcome] ?? 0) + 1;
    const expected = t.trigger === 'click' || t.trigger === 'auto' ? EXPECTED[t.trigger] : undefined;
    if (t.outcome === expected) {
      if (t.trigger === 'click') replies++;
      return;
    }
    unexpected ??= `turn ${n}: ${t.trigger}/${t.mode} ended ${t.outcome}, not ${expected ?? 'at all'}: ${formatTurn(t)}`;
  });
  const failed = (): string | undefined => unexpected;
  const samples: MemorySample[] = [];
  const t0 = performance.now();
  await daemon.start();
  for (n = 1; n <= turns; n++) {
    await waitFor(daemon, `turn ${n}: idle and ready`, () => idleAndReady(daemon), STEP_MS, failed);
    const r0 = replies;
    daemon.input('click');
    await waitFor(daemon, `turn ${n}: the reply`, () => replies > r0, STEP_MS, failed);
    // Auto mode: the reply has played out and the device listens again (turn-context.ts playOut).
    await waitFor(
      daemon,
      `turn ${n}: listening again`,
      () => daemon.conversation.state === 'listening',
      STEP_MS,
      failed,
    );
    daemon.input('click');
    await waitFor(daemon, `turn ${n}: idle`, () => daemon.conversation.state === 'idle', STEP_MS, failed);
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
