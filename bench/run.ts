/**
 * `npm run bench` (issue 3, "Measure"; design.md §4: ratios measured side by side in one run):
 *  - CPU of the uplink path per audio second as a ratio to native libopus (bench/cpu.ts),
 *  - press → first frame on the wire, p50/p95 over 50 presses (bench/latency.ts),
 *  - RSS after 10 and 1,000 turns and a bare Node baseline (bench/memory.ts).
 * Prints one compact report with the goals and exits 0: a bench reports, it does not fail CI.
 *
 *   node dist/bench/run.js [--only cpu,latency,memory] [--memory-node-flags=--max-semi-space-size=2]
 */
import { arch, cpus, platform } from 'node:os';
import { parseArgs } from 'node:util';
import { describeError } from '../src/core/errors.js';
import { type CpuResult, measureCpu } from './cpu.js';
import { type LatencyResult, measureLatency, pcmFileSource, prerollSource } from './latency.js';
import { daemonNodeFlags, type MemoryResult, measureMemory } from './memory.js';
import { MB, mark, mb } from './stats.js';

const GOALS = {
  cpuRatio: 2.5,
  latencyP95Ms: 70,
  growthBytes: 5 * MB,
  steadyBytes: 90 * MB,
} as const;

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

function reportCpu(r: CpuResult): void {
  out('CPU      uplink path per audio second: 4000-byte capture chunks → 60 ms frames → Opus → guarded send');
  out(`         on a real ws connection; ${r.audioSeconds} s of speech, complexity 5, 16 kHz mono VOIP;`);
  out(`         medians of ${r.runs} interleaved runs`);
  if (r.native !== undefined && r.ratio !== undefined) {
    out(
      `         native ${r.nativeVersion ?? 'libopus'} (gcc -O2)   ${r.native.toFixed(2)} ms CPU / audio s`,
    );
  } else {
    out(`         native libopus: skipped — ${r.nativeSkipped ?? 'no result'}`);
  }
  out(
    `         speakerd (opusscript)     ${r.speakerd.toFixed(2)} ms CPU / audio s  (Opus encode alone ${r.encodeOnly.toFixed(2)})`,
  );
  if (r.ratio !== undefined) {
    out(
      `         ratio speakerd / native   ${r.ratio.toFixed(2)}×   goal ≤ ${GOALS.cpuRatio}×   ${mark(r.ratio <= GOALS.cpuRatio)}`,
    );
    out(
      `         (Opus bytes per run: speakerd ${r.speakerdBytes}, native ${r.nativeBytes ?? '?'}; frames refused by the send guard: ${r.refused})`,
    );
  }
}

function reportLatency(r: LatencyResult): void {
  const f = r.firstFrame;
  out(
    `LATENCY  press → first Opus frame received by the dev-server, persistent connection, ${r.presses} presses`,
  );
  out(`         (mic: ${r.label})`);
  out(
    `         p50 ${f.p50.toFixed(1)} ms   p95 ${f.p95.toFixed(1)} ms   max ${f.max.toFixed(1)} ms   goal p95 ≤ ${GOALS.latencyP95Ms} ms   ${mark(f.p95 <= GOALS.latencyP95Ms)}`,
  );
  out(
    `         (p50: press → listen start at the server ${r.listenStartP50.toFixed(1)} ms, → first frame handed to the socket ${r.firstSentP50.toFixed(1)} ms;`,
  );
  out(`         the first press after start, not counted: ${r.coldMs.toFixed(1)} ms)`);
}

function reportMemory(r: MemoryResult): void {
  const growth = r.afterAll - r.after10;
  out(
    `MEMORY   RSS of the daemon process (real ws client, dev-server in another process), turns ${r.speedup}× time-compressed,`,
  );
  const flags = r.nodeFlags.length ? `; node flags: ${r.nodeFlags.join(' ')}` : '; Node defaults';
  out(
    `         ${r.gc ? 'full GC before each reading' : 'no --expose-gc: readings without a forced GC'}${flags}`,
  );
  out(
    `         bare \`node -e\` ${mb(r.baseline)}   after 10 turns ${mb(r.after10)}   after ${r.turns} turns ${mb(r.afterAll)}`,
  );
  out(
    `         growth ${(growth / MB).toFixed(1)} MB   goal ≤ ${GOALS.growthBytes / MB} MB   ${mark(growth <= GOALS.growthBytes)}`,
  );
  out(
    `         steady ${mb(r.afterAll)}   goal ≤ ${GOALS.steadyBytes / MB} MB   ${mark(r.afterAll <= GOALS.steadyBytes)}`,
  );
  const trend = r.samples.map((s) => `${s.turns}: ${(s.rss / MB).toFixed(1)}`).join('  ');
  out(`         RSS [MB] after n turns           ${trend}`);
  const heap = r.samples.map((s) => `${s.turns}: ${(s.heapUsed / MB).toFixed(1)}`).join('  ');
  out(`         V8 heap used [MB] after n turns  ${heap}`);
  const first = r.samples[0];
  const last = r.samples[r.samples.length - 1];
  if (first && last) {
    out(
      `         V8 heap committed ${mb(first.heapTotal)} → ${mb(last.heapTotal)}, external (wasm, Buffers) ${mb(first.external)} → ${mb(last.external)}`,
    );
  }
  const outcomes = Object.entries(r.outcomes)
    .map(([k, v]) => `${v} ${k}`)
    .join(', ');
  out(
    `         turns ended: ${outcomes} (each turn: a reply, then a click ends the auto follow-up); ${r.seconds.toFixed(0)} s`,
  );
}

async function part<T>(name: string, measure: () => Promise<T>, report: (r: T) => void): Promise<void> {
  try {
    report(await measure());
  } catch (err) {
    // Reported, not thrown: the other measurements still run and the bench still exits 0.
    out(`${name.padEnd(8)} not measured: ${describeError(err)}`);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string', default: 'cpu,latency,memory' },
      'memory-node-flags': { type: 'string', default: '' }, // default: the daemon's shebang flags
    },
  });
  const only = new Set(values.only.split(','));
  const t0 = performance.now();
  out(
    `speakerd bench · node ${process.version} · ${platform()} ${arch()} · ${cpus().length} CPUs · ${new Date().toISOString().slice(0, 16)}Z`,
  );
  if (only.has('cpu')) await part('CPU', () => measureCpu((l) => out(l)), reportCpu);
  if (only.has('latency')) {
    // The device path (arecord behind a 300 ms pre-roll) and the simulated file mic.
    await part(
      'LATENCY',
      () => measureLatency({ label: 'pre-roll 300 ms (device)', source: prerollSource }),
      reportLatency,
    );
    await part(
      'LATENCY',
      () => measureLatency({ label: 'file mic (--sim)', source: pcmFileSource }),
      reportLatency,
    );
  }
  if (only.has('memory')) {
    const given = values['memory-node-flags'].split(' ').filter((f) => f !== '');
    // By default the daemon's own V8 flags, as `speakerd` starts with them (src/main.ts shebang).
    const flags = given.length > 0 ? given : daemonNodeFlags();
    await part('MEMORY', () => measureMemory(flags), reportMemory);
  }
  out(`(${((performance.now() - t0) / 1000).toFixed(0)} s)`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    // A bug in the bench itself: say so, still exit 0 (the bench never fails a CI run).
    process.stderr.write(`bench: ${describeError(err)}\n`);
    process.exit(0);
  },
);
