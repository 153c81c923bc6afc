/**
 * The dev-server as a bench peer in its own process (started by children.ts startServerChild):
 * prints `{"port":N}` once listening, stops when its stdin ends (so it never outlives the bench).
 *
 *   node dist/bench/server-child.js [--speedup K]
 *
 * `--speedup K` runs its clock K times faster (bench/scaled-clock.ts): the TTS it plays back is
 * paced K times faster, for the accelerated turns of the memory bench.
 */
import pino from 'pino';
import { type Clock, SystemClock } from '../src/core/clock.js';
import { describeError } from '../src/core/errors.js';
import { DevServer } from '../src/devserver/index.js';
import { ScaledClock } from './scaled-clock.js';

async function main(): Promise<void> {
  const i = process.argv.indexOf('--speedup');
  const speedup = i >= 0 ? Number(process.argv[i + 1]) : 1;
  const clock: Clock = speedup === 1 ? new SystemClock() : new ScaledClock(speedup);
  const log = pino(
    { level: 'warn', base: { component: 'bench-devserver' } },
    pino.destination({ dest: 2, sync: true }),
  );
  const server = new DevServer(
    // Server pings off: at K× speed its 20 s keepalive would be a ping every few ms of real time.
    // vadSilenceMs as in the integration rig: a turn ends 400 ms after the speech.
    { host: '127.0.0.1', port: 0, vadSilenceMs: 400, pingIntervalMs: 0 },
    log,
    clock,
  );
  const { port } = await server.start();
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    server.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`bench dev-server: stop failed: ${describeError(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.on('SIGTERM', stop);
  process.stdin.resume();
  process.stdout.write(`${JSON.stringify({ port })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench dev-server: ${describeError(err)}\n`);
  process.exit(1);
});
