/**
 * Where a running process's RSS is (Linux), for the memory goal (README, hardware.md: RSS ≤ 90 MB
 * steady): /proc/PID/smaps summed by kind of mapping, and with `--v8` the process's own view —
 * process.memoryUsage(), v8.getHeapSpaceStatistics(), v8.getHeapCodeStatistics() — read over the
 * inspector, which SIGUSR1 opens in any Node process (the daemon has no SIGUSR1 handler of its own).
 * The smaps reading comes first: the inspector, once open, costs the process a few MB of its own.
 *
 *   node dist/bench/rss.js PID [--v8] [--json]
 *   node dist/bench/rss.js 0 --smaps FILE      (a copy of /proc/PID/smaps taken earlier)
 *
 * Used on the soak's daemon (`npm run soak`: the real `speakerd run` with arecord/aplay on the
 * test card): `pgrep -f 'dist/src/main.js run'` gives its PID.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';
import { describeError } from '../src/core/errors.js';

export interface Mapping {
  readonly start: bigint;
  readonly end: bigint;
  readonly perms: string;
  readonly path: string;
  /** kB, as smaps reports them. */
  readonly sizeKb: number;
  readonly rssKb: number;
  readonly privateDirtyKb: number;
  readonly anonymousKb: number;
}

/** /proc/PID/smaps: one header line per mapping, then "Field: N kB" lines. */
export function parseSmaps(text: string): Mapping[] {
  const out: Mapping[] = [];
  let cur: { -readonly [K in keyof Mapping]: Mapping[K] } | undefined;
  for (const line of text.split('\n')) {
    const header = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header) {
      if (cur) out.push(cur);
      cur = {
        start: BigInt(`0x${header[1]}`),
        end: BigInt(`0x${header[2]}`),
        perms: header[3] ?? '',
        path: header[4] ?? '',
        sizeKb: 0,
        rssKb: 0,
        privateDirtyKb: 0,
        anonymousKb: 0,
      };
      continue;
    }
    const field = /^(\w+):\s+(\d+) kB$/.exec(line);
    if (!cur || !field) continue;
    const kb = Number(field[2]);
    if (field[1] === 'Size') cur.sizeKb = kb;
    else if (field[1] === 'Rss') cur.rssKb = kb;
    else if (field[1] === 'Private_Dirty') cur.privateDirtyKb = kb;
    else if (field[1] === 'Anonymous') cur.anonymousKb = kb;
  }
  if (cur) out.push(cur);
  return out;
}

/** A reservation this large is a WebAssembly memory's guard region (V8 on 64-bit: ~10 GiB each). */
const WASM_RESERVATION_KB = 1024 * 1024;
/**
 * glibc's per-thread malloc arenas on 64-bit: heaps of HEAP_MAX_SIZE = 64 MiB, aligned to it, the
 * used part read-write and the rest reserved (---p) right after it. Every thread that mallocs gets
 * one (up to 8 per core); what they keep after a peak stays in the RSS.
 */
const ARENA_KB = 64 * 1024;
const is64 = process.arch === 'x64' || process.arch === 'arm64';

/**
 * The kind of a mapping. Anonymous mappings carry no name: a WebAssembly memory is told apart by
 * its reservation (V8 reserves ~10 GiB per wasm memory on 64-bit; the accessible part is the
 * read-write mapping right before the inaccessible rest, and only its touched pages count); the
 * other anonymous mappings are V8's heap pages, malloc arenas and thread stacks together — `--v8`
 * separates the V8 heap out of them. `next`: the mapping after `m` in the address space.
 */
export function kindOf(m: Mapping, exe: string, next?: Mapping): string {
  if ((exe !== '' && m.path === exe) || m.path.endsWith('/node')) return 'node binary (code, data, ICU)';
  if (/\.so(\.|$)/.test(m.path)) return 'shared libraries';
  if (m.path === '[heap]') return 'malloc heap ([heap], brk)';
  if (m.path === '[stack]' || m.path === '[vvar]' || m.path === '[vdso]' || m.path === '[vsyscall]')
    return 'main stack, vdso';
  if (m.path !== '') return `other files and named mappings`;
  const guard = (x: Mapping | undefined): boolean =>
    x !== undefined && x.path === '' && x.sizeKb >= WASM_RESERVATION_KB;
  if (guard(m) || (guard(next) && next?.start === m.end))
    return 'wasm memory (opusscript heap, touched pages)';
  const rest = next?.start === m.end && next.perms === '---p' && next.path === '' ? next.sizeKb : 0;
  if (is64 && m.perms === 'rw-p' && m.start % BigInt(ARENA_KB * 1024) === 0n && m.sizeKb + rest === ARENA_KB)
    return 'malloc thread arenas (64 MiB heaps)';
  if (m.perms.includes('x')) return 'anonymous executable (V8 and wasm code)';
  return 'anonymous (V8 heap pages, thread stacks, large mallocs)';
}

export interface Breakdown {
  readonly pid: number;
  readonly rssKb: number;
  readonly kinds: Readonly<Record<string, { rssKb: number; privateDirtyKb: number; mappings: number }>>;
}

/** Sums the mappings' RSS by kind; `exe`: the process's node binary path ('' when unknown). */
export function breakdownOf(pid: number, exe: string, maps: readonly Mapping[]): Breakdown {
  const kinds: Record<string, { rssKb: number; privateDirtyKb: number; mappings: number }> = {};
  let rssKb = 0;
  for (const [i, m] of maps.entries()) {
    const k = kindOf(m, exe, maps[i + 1]);
    const e = kinds[k] ?? { rssKb: 0, privateDirtyKb: 0, mappings: 0 };
    kinds[k] = e;
    e.rssKb += m.rssKb;
    e.privateDirtyKb += m.privateDirtyKb;
    e.mappings++;
    rssKb += m.rssKb;
  }
  return { pid, rssKb, kinds };
}

/** `smapsFile`: a saved copy of /proc/PID/smaps to read instead of the live one. */
export function breakdown(pid: number, smapsFile?: string): Breakdown {
  const exe = smapsFile ? '' : (readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '');
  return breakdownOf(pid, exe, parseSmaps(readFileSync(smapsFile ?? `/proc/${pid}/smaps`, 'utf8')));
}

export interface V8View {
  readonly memoryUsage: NodeJS.MemoryUsage;
  readonly spaces: readonly {
    space_name: string;
    space_size: number;
    space_used_size: number;
    physical_space_size: number;
  }[];
  readonly code: Readonly<Record<string, number>>;
  readonly heap: Readonly<Record<string, number>>;
}

/**
 * What the expression evaluated inside the target returns (a JSON string of a V8View). `require`
 * is the inspector's command-line API (includeCommandLineAPI): an ES module has none of its own,
 * and a dynamic import() from an inspector evaluation has no loader callback in Node 20.
 */
const PROBE = `(() => { const v8 = require('node:v8'); return JSON.stringify({
  memoryUsage: process.memoryUsage(),
  spaces: v8.getHeapSpaceStatistics(),
  code: v8.getHeapCodeStatistics(),
  heap: v8.getHeapStatistics(),
}); })()`;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** SIGUSR1 opens the target's inspector on 127.0.0.1:9229; one Runtime.evaluate reads the numbers. */
export async function v8View(pid: number, port = 9229): Promise<V8View> {
  process.kill(pid, 'SIGUSR1');
  let url: string | undefined;
  for (let i = 0; i < 50 && url === undefined; i++) {
    await sleep(100);
    try {
      const list: unknown = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
      const first: unknown = Array.isArray(list) ? list[0] : undefined;
      if (typeof first === 'object' && first !== null && 'webSocketDebuggerUrl' in first) {
        url = String(first.webSocketDebuggerUrl);
      }
    } catch (err) {
      // Not listening yet: the next round asks again (bounded: 5 s).
      if (!(err instanceof TypeError)) throw err;
    }
  }
  if (url === undefined) throw new Error(`no inspector on 127.0.0.1:${port} within 5 s of SIGUSR1`);
  const ws = new WebSocket(url);
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const reply = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer from the inspector within 5 s')), 5000);
      ws.on('message', (data: Buffer) => {
        clearTimeout(timer);
        resolve(data.toString());
      });
      ws.send(
        JSON.stringify({
          id: 1,
          method: 'Runtime.evaluate',
          params: { expression: PROBE, includeCommandLineAPI: true, returnByValue: true },
        }),
      );
    });
    const parsed: unknown = JSON.parse(reply);
    const value =
      typeof parsed === 'object' && parsed !== null && 'result' in parsed
        ? (parsed.result as { result?: { value?: unknown } }).result?.value
        : undefined;
    if (typeof value !== 'string') throw new Error(`inspector answered ${reply.slice(0, 300)}`);
    // The JSON our own PROBE expression built from these Node APIs.
    return JSON.parse(value) as V8View;
  } finally {
    ws.close();
  }
}

const MB = 1024 * 1024;
const kbMb = (kb: number): string => `${(kb / 1024).toFixed(1)} MB`.padStart(9);
const bMb = (b: number): string => `${(b / MB).toFixed(1)} MB`.padStart(9);

export function formatBreakdown(b: Breakdown, v8?: V8View): string {
  const lines = [`RSS of ${b.pid}: ${kbMb(b.rssKb).trim()} (smaps, before any inspector)`];
  const kinds = Object.entries(b.kinds).sort((x, y) => y[1].rssKb - x[1].rssKb);
  for (const [k, e] of kinds) {
    lines.push(
      `  ${kbMb(e.rssKb)}  ${k.padEnd(52)} (private dirty ${kbMb(e.privateDirtyKb).trim()}, ${e.mappings} mappings)`,
    );
  }
  if (v8) {
    const m = v8.memoryUsage;
    lines.push(
      `process.memoryUsage() (after the inspector opened): rss ${bMb(m.rss).trim()}, heapTotal ${bMb(m.heapTotal).trim()}, heapUsed ${bMb(m.heapUsed).trim()}, external ${bMb(m.external).trim()}, arrayBuffers ${bMb(m.arrayBuffers).trim()}`,
    );
    lines.push('V8 heap spaces: physical (committed and touched) / used');
    let physical = 0;
    for (const s of v8.spaces) {
      physical += s.physical_space_size;
      lines.push(`  ${s.space_name.padEnd(24)} ${bMb(s.physical_space_size)} / ${bMb(s.space_used_size)}`);
    }
    lines.push(`  ${'total'.padEnd(24)} ${bMb(physical)}`);
    const code = v8.code;
    lines.push(
      `V8 code: bytecode and metadata ${bMb(code.bytecode_and_metadata_size ?? 0).trim()}, code and metadata ${bMb(code.code_and_metadata_size ?? 0).trim()}, external scripts ${bMb(code.external_script_source_size ?? 0).trim()}`,
    );
    lines.push(
      `V8 heap statistics: malloced_memory ${bMb(v8.heap.malloced_memory ?? 0).trim()} (peak ${bMb(v8.heap.peak_malloced_memory ?? 0).trim()}), external_memory ${bMb(v8.heap.external_memory ?? 0).trim()}`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      v8: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      smaps: { type: 'string' },
    },
  });
  const pid = Number(positionals[0]);
  if (!Number.isInteger(pid) || pid < 0) {
    throw new Error('usage: rss.js PID [--v8] [--json] | rss.js 0 --smaps FILE');
  }
  const b = breakdown(pid, values.smaps);
  const v8 = values.v8 ? await v8View(pid) : undefined;
  process.stdout.write(`${values.json ? JSON.stringify({ ...b, v8 }) : formatBreakdown(b, v8)}\n`);
}

if (process.argv[1]?.endsWith('/rss.js')) {
  main().catch((err: unknown) => {
    process.stderr.write(`rss: ${describeError(err)}\n`);
    process.exit(1);
  });
}
