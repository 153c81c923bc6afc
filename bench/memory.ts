/**
 * RSS after 10 and after 1,000 turns, and a bare Node baseline (issue 3, "Measure"). The turns run
 * in a child process of their own (bench/memory-child.ts, --expose-gc, full GCs before each
 * reading) so the RSS is the daemon's alone: no bench code, no dev-server (another child), no test
 * harness. Time is compressed SPEEDUP× so a thousand complete turns take about a minute.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { benchScript, run, startServerChild, tail } from './children.js';
import type { MemoryChildReport, MemorySample } from './memory-child.js';

export const TURNS = 1000;
/**
 * Scaled time: a turn of ~4 s (1.4 s speech, 0.4 s VAD silence, ~2 s of reply) in ~50 ms of real
 * timers; with the real CPU of both processes (Opus both ways, the dev-server encoding each reply)
 * ~0.2 s real per turn on a 2-core x86 VM.
 */
export const SPEEDUP = 80;

/** RSS readings after these turn counts: 10 (warm), then the given fractions of the run. */
export function checkpoints(turns: number): number[] {
  const at = [10, ...[0.1, 0.25, 0.5, 0.75, 1].map((f) => Math.round(turns * f))];
  return [...new Set(at.filter((n) => n >= 1 && n <= turns))].sort((a, b) => a - b);
}

export interface MemoryResult {
  readonly baseline: number;
  readonly samples: readonly MemorySample[];
  readonly after10: number;
  readonly afterAll: number;
  readonly turns: number;
  readonly outcomes: MemoryChildReport['outcomes'];
  readonly gc: boolean;
  readonly seconds: number;
  readonly speedup: number;
  readonly nodeFlags: readonly string[];
}

/** RSS of a Node process that has loaded nothing: what any daemon on this Node starts from. */
export async function bareNodeRss(): Promise<number> {
  const r = await run(
    process.execPath,
    ['-e', 'setTimeout(()=>console.log(process.memoryUsage().rss), 200)'],
    {
      timeoutMs: 10_000,
    },
  );
  const rss = Number(r.stdout.trim());
  if (r.code !== 0 || !Number.isFinite(rss)) throw new Error(`bare node: ${r.error ?? tail(r.stderr)}`);
  return rss;
}

function parseReport(stdout: string): MemoryChildReport {
  const line = stdout.trim().split('\n').pop() ?? '';
  // Our own child's one JSON line (memory-child.ts builds it from MemoryChildReport).
  const report = JSON.parse(line) as MemoryChildReport;
  if (!Array.isArray(report.samples)) throw new Error(`memory child said ${line}`);
  return report;
}

/** The V8 flags `speakerd` runs with: read from the shebang of the built main.js. */
export function daemonNodeFlags(): string[] {
  const main = readFileSync(fileURLToPath(new URL('../src/main.js', import.meta.url)), 'utf8');
  const shebang = main.slice(0, main.indexOf('\n'));
  return shebang.split(' ').filter((w) => w.startsWith('--'));
}

/**
 * `nodeFlags`: Node/V8 flags for the device process, e.g. the ones a systemd unit would use.
 * `turns`: 1,000 for the bench, fewer for its short form (`--short`); at least 10.
 */
export async function measureMemory(
  nodeFlags: readonly string[] = [],
  turns: number = TURNS,
): Promise<MemoryResult> {
  if (!(turns >= 10)) throw new RangeError(`the memory bench needs at least 10 turns, got ${turns}`);
  const baseline = await bareNodeRss();
  const server = await startServerChild(SPEEDUP);
  let report: MemoryChildReport;
  try {
    const r = await run(
      process.execPath,
      [
        '--expose-gc',
        ...nodeFlags,
        benchScript('memory-child.js'),
        '--port',
        String(server.port),
        '--speedup',
        String(SPEEDUP),
        '--turns',
        String(turns),
        '--at',
        checkpoints(turns).join(','),
      ],
      // A bound for a stuck child beyond the per-step one inside it: ~0.2 s a turn measured, 1 s allowed.
      { timeoutMs: 30_000 + turns * 1000 },
    );
    if (r.code !== 0) throw new Error(`memory child: ${r.error ?? tail(r.stderr)}`);
    report = parseReport(r.stdout);
  } finally {
    await server.stop();
  }
  const at = (n: number): number => {
    const s = report.samples.find((x) => x.turns === n);
    if (!s) throw new Error(`no RSS sample after ${n} turns`);
    return s.rss;
  };
  return {
    baseline,
    samples: report.samples,
    after10: at(10),
    afterAll: at(turns),
    turns,
    outcomes: report.outcomes,
    gc: report.gc,
    seconds: report.seconds,
    speedup: report.speedup,
    nodeFlags,
  };
}
