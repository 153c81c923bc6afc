/**
 * The measuring side of bench/journal.ts, run inside a private mount namespace whose
 * /run/systemd/journal/socket is read by the bench's receiver. Logs the same realistic records
 * through both of the daemon's journal paths, in interleaved rounds, and prints the CPU each took:
 *  - native: createLogger format `native` (journal-fields.ts mapping + sd_journal_sendv),
 *  - lines:  createLogger format `journal` (`<N>`-prefixed JSON lines, today's path) to stdout, a
 *            pipe the parent drains as journald drains a unit's stdout stream socket.
 * Result: one JSON line on stderr. Usage: node journal-child.js RECORDS_PER_ROUND ROUNDS
 */
import { ErrorCode } from '../src/core/errors.js';
import { loadJournalBinding } from '../src/system/journal.js';
import { createLogger, type Logger } from '../src/system/logger.js';
import { MessageId } from '../src/system/message-ids.js';

const perRound = Number(process.argv[2] ?? '1000');
const rounds = Number(process.argv[3] ?? '5');

const loaded = loadJournalBinding();
if (!loaded.ok) {
  process.stderr.write(`${JSON.stringify({ error: `systemd-journald binding: ${loaded.why}` })}\n`);
  process.exit(2);
}
let refused = 0;
const deviceId = '02:fc:00:00:be:01';
const native = createLogger({
  level: 'info',
  format: 'native',
  binding: loaded.binding,
  deviceId,
  // The native path's fallback: counted, so a refused record shows as a broken measurement.
  destination: {
    write: () => {
      refused += 1;
    },
  },
});
const lines = createLogger({ level: 'info', format: 'journal', deviceId });

/** The mix a busy device logs: link transitions, a turn record with its timeline, a fault with a code. */
function emit(log: Logger, i: number): void {
  const session = log.child({ component: 'session' });
  session.info(
    {
      link_from: 'connecting',
      link_to: 'ready',
      reason: `attempt ${i}: hello`,
      message_id: MessageId.LinkUp,
    },
    'link connecting → ready: hello',
  );
  log.child({ component: 'conversation' }).info(
    {
      message_id: MessageId.TurnEnded,
      turn: {
        trigger: 'press',
        mode: 'manual',
        outcome: 'reply',
        startedAt: 1_000_000 + i,
        durationMs: 4210,
        milestones: {
          firstFrameSent: 4,
          released: 2100,
          stt: 2380,
          ttsStart: 2460,
          firstAudio: 2530,
          ttsStop: 4100,
        },
        framesSent: 35,
        framesRefused: 0,
        framesOverflowed: 0,
        packetsPlayed: 27,
        packetsUndecodable: 0,
      },
    },
    'turn press/manual → reply in 4.21 s: first frame 4 ms, stt 2380 ms, first audio 2530 ms',
  );
  session.warn(
    { code: ErrorCode.HeartbeatTimeout, attempt: i, silent_ms: 30_000 },
    'no heartbeat answer for 30000 ms; reconnecting',
  );
}
const RECORDS_PER_EMIT = 3;

const cpuMs = { native: 0, lines: 0 };
const variants: readonly ['native' | 'lines', Logger][] = [
  ['native', native],
  ['lines', lines],
];
// Warm-up: JIT both paths before anything is counted.
for (const [, log] of variants) for (let i = 0; i < 200; i++) emit(log, i);
for (let r = 0; r < rounds; r++) {
  // Alternate which goes first, so neither always runs on a warmer cache.
  const order = r % 2 === 0 ? variants : [...variants].reverse();
  for (const [name, log] of order) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < perRound / RECORDS_PER_EMIT; i++) emit(log, i);
    const c = process.cpuUsage(c0);
    cpuMs[name] += (c.user + c.system) / 1000;
  }
}
const records = Math.floor(perRound / RECORDS_PER_EMIT) * RECORDS_PER_EMIT * rounds;
const nativeSent = records + 200 * RECORDS_PER_EMIT;
process.stderr.write(`${JSON.stringify({ records, nativeSent, refused, cpuMs })}\n`);
