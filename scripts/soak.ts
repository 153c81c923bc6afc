/**
 * `npm run soak -- [--turns N] [--seed S] [--sim | --alsa] [--faults a,b] [--toggle] [--json] [--verbose]`:
 * the daemon against the dev-server through the fault proxy, a random fault before every turn
 * (soak-run.ts). Exit 1 when the daemon crashed, a state outlived its deadline, a turn never
 * completed after its fault cleared, an unexpected error line was logged, file descriptors or
 * child processes grew, or SIGTERM did not end it cleanly; turns that needed more than one press
 * are reported, not failed.
 */
import { parseArgs } from 'node:util';
import { FAULTS, type FaultName, isFaultName } from './soak-faults.js';
import { formatReport } from './soak-report.js';
import { runSoak } from './soak-run.js';

const USAGE = `usage: soak [--turns N] [--seed S] [--sim | --alsa] [--faults ${FAULTS.join(',')}]
            [--toggle] [--hold-ms MS] [--margin-ms MS] [--log FILE] [--json [--details]] [--verbose]`;

async function main(): Promise<number> {
  let values: ReturnType<typeof parse>['values'];
  try {
    values = parse().values;
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const int = (s: string | undefined, def: number, name: string): number => {
    if (s === undefined) return def;
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} needs a whole number, got ${s}`);
    return n;
  };
  const faults: FaultName[] = [];
  for (const f of (values.faults ?? '').split(',').filter(Boolean)) {
    if (!isFaultName(f)) {
      process.stderr.write(`unknown fault ${f}\n${USAGE}\n`);
      return 2;
    }
    faults.push(f);
  }
  if (values.sim && values.alsa) {
    process.stderr.write(`--sim and --alsa exclude each other\n${USAGE}\n`);
    return 2;
  }
  // Ctrl-C or SIGTERM: finish the turn under way, then report and clean up; a second one exits.
  const stop = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (stop.signal.aborted) process.exit(130);
    process.stderr.write(`soak: ${sig}: ending after this turn (again to quit at once)\n`);
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const report = await runSoak({
    signal: stop.signal,
    turns: int(values.turns, 100, 'turns'),
    seed: int(values.seed, 1, 'seed'),
    audio: values.sim ? 'sim' : values.alsa ? 'alsa' : 'auto',
    buttonMode: values.toggle ? 'toggle' : 'push-to-talk',
    faults,
    holdMs: int(values['hold-ms'], 200, 'hold-ms'),
    marginMs: int(values['margin-ms'], 1000, 'margin-ms'),
    verbose: values.verbose === true,
    turnDetails: values.details === true,
    ...(values.log ? { logFile: values.log } : {}),
    progress: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`${values.json ? JSON.stringify(report, null, 2) : formatReport(report)}\n`);
  return report.ok ? 0 : 1;
}

function parse() {
  return parseArgs({
    options: {
      turns: { type: 'string' },
      seed: { type: 'string' },
      sim: { type: 'boolean' },
      alsa: { type: 'boolean' },
      faults: { type: 'string' },
      toggle: { type: 'boolean' },
      'hold-ms': { type: 'string' },
      'margin-ms': { type: 'string' },
      log: { type: 'string' },
      json: { type: 'boolean' },
      details: { type: 'boolean' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`soak: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 70;
  },
);
