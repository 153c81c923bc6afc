/**
 * The soak's device: the real `speakerd run` as a child process (node with the flags of main.ts'
 * shebang), button gestures written to its stdin (the simulated button's line mode), its JSON log
 * lines parsed from stdout. It keeps the two state fields the log reports (`conversation_to`,
 * `link_to`), the per-turn records, and reads the process's resources from /proc.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** One JSON log line of the daemon (pino): `time` is an ISO timestamp with milliseconds. */
export interface LogRecord {
  readonly level: number;
  readonly msg: string;
  readonly time?: string;
  readonly [key: string]: unknown;
}

/** The part of a per-turn log line (conversation/turn-timeline.ts) the soak reads. */
export interface TurnRecord {
  /** Running number of turn lines seen, over every daemon process of the run. */
  readonly seq: number;
  readonly trigger: string;
  readonly outcome: string;
  readonly packetsPlayed: number;
  readonly at: number;
}

/** The simulated button's words (hardware/simulated.ts): `c` is a click (Enter). */
export type Gesture = 'p' | 'r' | 'l' | 'd' | 'c';

export interface Resources {
  readonly rssKb: number;
  readonly fds: number;
  /** Direct children of the daemon (arecord, aplay), by command name. */
  readonly children: readonly string[];
}

export interface DaemonSpawn {
  readonly mainJs: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  /** Every stdout and stderr line also goes here (`--log FILE`). */
  readonly copy?: (line: string) => void;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

const TAIL = 40;

/** Node flags from the shebang of main.js (`#!/usr/bin/env -S node --flag …`), so the child runs as installed. */
export function shebangFlags(mainJs: string): string[] {
  const first = readFileSync(mainJs, 'utf8').split('\n', 1)[0] ?? '';
  const m = /^#!.*\bnode\b(.*)$/.exec(first);
  return (m?.[1] ?? '').split(/\s+/).filter((f) => f.startsWith('--'));
}

export function epochMs(record: LogRecord): number {
  return typeof record.time === 'string' ? Date.parse(record.time) : Date.now();
}

export class DaemonProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  conversation = 'offline';
  link = 'offline';
  /** Turn lines of this process, the last few hundred. */
  readonly turns: TurnRecord[] = [];
  /** Last lines of stdout and stderr, for excerpts. */
  readonly tail: string[] = [];
  readonly stderrTail: string[] = [];
  exit: Exit | undefined;
  /** stdout lines that looked like JSON but did not parse (a torn line would be a logger bug). */
  unparsed = 0;
  /** stop() was called: an exit from now on is expected. */
  stopping = false;
  readonly exited: Promise<Exit>;
  readonly #listeners: Array<(r: LogRecord) => void> = [];
  readonly #turnSeq: { n: number };

  constructor(spawnOptions: DaemonSpawn, turnSeq: { n: number }) {
    this.#turnSeq = turnSeq;
    const flags = shebangFlags(spawnOptions.mainJs);
    this.child = spawn(process.execPath, [...flags, spawnOptions.mainJs, 'run', ...spawnOptions.args], {
      env: spawnOptions.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      // Its own process group: a Ctrl-C at the terminal ends the soak (which stops it), not the device.
      detached: true,
    });
    if (this.child.pid === undefined) throw new Error('speakerd did not start (no pid)');
    this.pid = this.child.pid;
    this.exited = new Promise((resolve) => {
      this.child.once('close', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
    // A write to a dead child's stdin (EPIPE) must not end the soak: its exit is what counts.
    this.child.stdin?.on('error', (e) => this.stderrTail.push(`[soak] stdin: ${e.message}`));
    const out = this.child.stdout;
    const err = this.child.stderr;
    if (!out || !err) throw new Error('speakerd has no stdout/stderr pipe');
    const copy = spawnOptions.copy;
    createInterface({ input: out }).on('line', (line) => {
      copy?.(line);
      this.#line(line);
    });
    createInterface({ input: err }).on('line', (line) => {
      copy?.(`[stderr] ${line}`);
      this.stderrTail.push(line);
      if (this.stderrTail.length > TAIL) this.stderrTail.shift();
    });
  }

  onRecord(listener: (r: LogRecord) => void): void {
    this.#listeners.push(listener);
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  gesture(g: Gesture): void {
    if (!this.alive || this.child.stdin?.writable !== true) return;
    this.child.stdin.write(g === 'c' ? '\n' : `${g}\n`);
  }

  /** The last turn line's running number (0: none yet). */
  get lastTurnSeq(): number {
    return this.turns.at(-1)?.seq ?? 0;
  }

  turnsAfter(seq: number): TurnRecord[] {
    return this.turns.filter((t) => t.seq > seq);
  }

  /** SIGTERM, and how it ended; SIGKILL after `ms`. */
  async stop(ms = 6_000): Promise<{ exit: Exit; ms: number }> {
    this.stopping = true;
    const t0 = Date.now();
    if (this.alive) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), ms);
    const exit = await this.exited;
    clearTimeout(timer);
    return { exit, ms: Date.now() - t0 };
  }

  resources(): Resources {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const rss = /VmRSS:\s+(\d+)\s+kB/.exec(status);
    return {
      rssKb: rss?.[1] ? Number(rss[1]) : 0,
      fds: readdirSync(`/proc/${this.pid}/fd`).length,
      children: childrenOf(this.pid),
    };
  }

  #line(line: string): void {
    this.tail.push(line);
    if (this.tail.length > TAIL) this.tail.shift();
    if (!line.startsWith('{')) return; // the simulated LEDs' lines
    let record: LogRecord;
    try {
      record = JSON.parse(line) as LogRecord;
    } catch {
      this.unparsed++;
      return;
    }
    if (typeof record.conversation_to === 'string') this.conversation = record.conversation_to;
    if (typeof record.link_to === 'string') this.link = record.link_to;
    const turn = record.turn;
    if (typeof turn === 'object' && turn !== null && 'outcome' in turn) {
      const t = turn as { trigger?: unknown; outcome?: unknown; packetsPlayed?: unknown };
      this.turns.push({
        seq: ++this.#turnSeq.n,
        trigger: String(t.trigger),
        outcome: String(t.outcome),
        packetsPlayed: typeof t.packetsPlayed === 'number' ? t.packetsPlayed : 0,
        at: epochMs(record),
      });
      if (this.turns.length > 500) this.turns.splice(0, 250);
    }
    for (const l of this.#listeners) l(record);
  }
}

/** Direct children of `pid`, by command name (field 4 of /proc/<pid>/stat is the parent). */
export function childrenOf(pid: number): string[] {
  const names: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // the process ended while we looked
    }
    // comm may contain spaces and parentheses: the fields after it start at the last ')'.
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    if (Number(fields[1]) === pid) names.push(stat.slice(stat.indexOf('(') + 1, close));
  }
  return names.sort();
}
