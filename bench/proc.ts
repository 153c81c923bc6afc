/**
 * CPU time of a process tree from /proc (Linux): the process and every live descendant, plus the
 * children it has already reaped (cutime + cstime: e.g. an arecord restarted meanwhile). Read at
 * two moments, the difference over the wall time between them is the share of one core the tree
 * used. Live processes are read from /proc/PID/task/TID/schedstat (nanoseconds on the CPU, every
 * thread) where the kernel has it: utime + stime count in 10 ms ticks, coarser than a quiet
 * arecord's whole use of a 20 s window. Without schedstat, utime + stime.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

interface Stat {
  readonly pid: number;
  readonly ppid: number;
  /** utime + stime, ticks. */
  readonly own: number;
  /** cutime + cstime (reaped children), ticks. */
  readonly reaped: number;
  readonly comm: string;
}

/** The fields of /proc/PID/stat, or undefined once the process is gone. */
function readStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    // ENOENT/ESRCH: it exited between the directory listing and the read.
    if (err instanceof Error) return undefined;
    throw err;
  }
  // comm is in parentheses and may itself contain spaces or ')': split after the last ')'.
  const close = text.lastIndexOf(')');
  const comm = text.slice(text.indexOf('(') + 1, close);
  const f = text
    .slice(close + 2)
    .split(' ')
    .map(Number);
  // f[0] is field 3 (state): field n is f[n - 3].
  const at = (n: number): number => f[n - 3] ?? 0;
  return { pid, ppid: at(4), own: at(14) + at(15), reaped: at(16) + at(17), comm };
}

function allStats(): Stat[] {
  const out: Stat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s) out.push(s);
  }
  return out;
}

/** CPU ms of a live process: the sum over its threads' schedstat, or utime + stime in ticks. */
function ownMs(s: Stat): number {
  let ns = 0;
  try {
    for (const tid of readdirSync(`/proc/${s.pid}/task`)) {
      ns += Number(readFileSync(`/proc/${s.pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    }
  } catch (err) {
    // No schedstat in this kernel, or the process just exited: its tick counters then.
    if (err instanceof Error) return (s.own * 1000) / clockTicks();
    throw err;
  }
  return Number.isFinite(ns) ? ns / 1e6 : (s.own * 1000) / clockTicks();
}

export interface TreeCpu {
  /** CPU ms of the whole tree (root + live descendants + what the root reaped). */
  readonly total: number;
  /** CPU ms of the root process alone. */
  readonly root: number;
  /** Live descendants by command name, e.g. { arecord: 12.5 }. */
  readonly byComm: Readonly<Record<string, number>>;
}

/** CPU ms of `pid` and its descendants; undefined if `pid` is gone. */
export function treeCpu(pid: number): TreeCpu | undefined {
  const stats = allStats();
  const root = stats.find((s) => s.pid === pid);
  if (!root) return undefined;
  const children = new Map<number, Stat[]>();
  for (const s of stats) {
    const list = children.get(s.ppid);
    if (list) list.push(s);
    else children.set(s.ppid, [s]);
  }
  const reapedMs = (s: Stat): number => (s.reaped * 1000) / clockTicks();
  const rootMs = ownMs(root);
  let total = rootMs + reapedMs(root);
  const byComm: Record<string, number> = {};
  const stack = [...(children.get(pid) ?? [])];
  for (let s = stack.pop(); s !== undefined; s = stack.pop()) {
    const ms = ownMs(s) + reapedMs(s);
    total += ms;
    byComm[s.comm] = (byComm[s.comm] ?? 0) + ms;
    stack.push(...(children.get(s.pid) ?? []));
  }
  return { total, root: rootMs, byComm };
}

/** Whether this kernel reports per-thread run time (the fine clock of treeCpu). */
export function hasSchedstat(): boolean {
  try {
    return Number(readFileSync('/proc/self/schedstat', 'utf8').split(' ')[0]) > 0;
  } catch (err) {
    if (err instanceof Error) return false;
    throw err;
  }
}

/** Clock ticks per second (USER_HZ), 100 on every Linux this runs on; asked of getconf once. */
let ticks: number | undefined;
export function clockTicks(): number {
  if (ticks === undefined) {
    let n = Number.NaN;
    try {
      n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 }).trim());
    } catch (err) {
      // No getconf: the kernel's USER_HZ is 100 on every supported architecture.
      if (!(err instanceof Error)) throw err;
    }
    ticks = Number.isFinite(n) && n > 0 ? n : 100;
  }
  return ticks;
}
