/**
 * `speakerd fleet-report` (issue 13 §4): journal entries in — `journalctl -o json` lines on stdin,
 * or journalctl run here on journal directories/files — one line per device out.
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { StderrTail } from '../audio/stderr-tail.js';
import { describeError } from '../core/errors.js';
import type { Random } from '../core/random.js';
import { LineSplitter, parseJournalLine } from './journal-json.js';
import { FleetAggregator, LATENCY_SAMPLE, REPORT_FIELDS, type ReportWindow } from './report.js';
import { formatJson, formatTable } from './report-format.js';
import { journalctlTime, parseTimeSpec } from './time-spec.js';

export const FLEET_REPORT_USAGE = `usage: speakerd fleet-report [-D DIR | --file F]… [--since T] [--until T] [--json]

One line per device (DEVICE_ID) from speakerd's journal entries: last seen, link state, time
online, reconnects and their top causes, token refusals, mic/speaker faults, turns, reply latency,
last error.

input:
  (none)            journalctl -o json lines on stdin, e.g.
                      journalctl -o json SYSLOG_IDENTIFIER=speakerd --since today | speakerd fleet-report
                      journalctl -o json -D /var/log/journal/remote | speakerd fleet-report
  -D, --directory DIR, --file F
                    run journalctl -o json on these journal directories / files (a collector's
                    /var/log/journal/remote) with SYSLOG_IDENTIFIER=speakerd; both repeatable
  --since T, --until T
                    the window: "2026-12-06 10:00" (local time; or …Z, +02:00), "@SECONDS", "-2h",
                    "1 day ago", "today", "yesterday", "now"; entries outside are skipped.
                    Without them the window runs from the first to the last entry read.
  --json            JSON for machines instead of the table
  -h, --help        this text

columns:
  LAST SEEN         the device's last entry (UTC)
  LINK              the link state of its last link change (SPEAKERD_LINK_TO)
  ONLINE            time in "ready" over the window, from the link changes: before its first
                    change a device is in the state that change left, after its last one in the
                    state it entered; "–" when no link change is in the window
  RECONNECTS        times the link left ready (LinkDown; a daemon stop excluded), and the top
                    causes: SPEAKERD_CODE when E_*, else SPEAKERD_REASON up to its first ": "
  REFUSED           tokens the server refused: E_AUTH_REJECTED records (one per refusal)
  MIC, SPK          mic / speaker faults: E_AUDIO_SOURCE / E_AUDIO_SINK (the conversation's one
                    record per fault)
  TURNS             TurnEnded records; REPLY/LOST/TIMEOUT by SPEAKERD_TURN_OUTCOME (reply; lost;
                    deadline or connect-timeout; --json has every outcome)
  LATENCY P50/P95   reply latency: first audio − (released ?? stt), for each TurnEnded record
                    whose reply started (SPEAKERD_TURN_MILESTONES_*): from the end of the
                    utterance (the button released in push-to-talk, else the server's stt) to the
                    reply's first audio. Nearest-rank percentiles, exact up to ${LATENCY_SAMPLE} turns per
                    device, over a uniform sample of ${LATENCY_SAMPLE} past that
  LAST ERROR        the last entry with PRIORITY ≤ 3 (err, crit): time, code, MESSAGE_ID, MESSAGE

A malformed input line is counted and reported, never fatal. Exit 0; 1 when journalctl fails;
2 on a usage error.`;

export interface FleetIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly stdin: NodeJS.ReadableStream & { readonly isTTY?: boolean };
  /** Wall-clock ms since the epoch, for relative --since/--until ("-1h"). */
  readonly nowMs: () => number;
  /** For the latency sample past LATENCY_SAMPLE turns. */
  readonly random: Random;
  /** The journalctl binary (default: "journalctl" from PATH). */
  readonly journalctl?: string;
}

interface Args {
  readonly directories: readonly string[];
  readonly files: readonly string[];
  readonly window: ReportWindow;
  readonly json: boolean;
}

/** A line longer than this is not a journalctl -o json line (values past 4 KiB are null). */
const MAX_LINE_BYTES = 1024 * 1024;

function parse(argv: readonly string[], nowMs: number): Args | 'help' | string {
  let values: {
    directory?: string[];
    file?: string[];
    since?: string;
    until?: string;
    json?: boolean;
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args: joinTimeValues(argv),
      options: {
        directory: { type: 'string', short: 'D', multiple: true },
        file: { type: 'string', multiple: true },
        since: { type: 'string' },
        until: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  if (values.help === true) return 'help';
  const window: { sinceUs?: number; untilUs?: number } = {};
  for (const key of ['since', 'until'] as const) {
    const text = values[key];
    if (text === undefined) continue;
    const us = parseTimeSpec(text, nowMs);
    if (typeof us === 'string') return `--${key}: ${us}`;
    window[key === 'since' ? 'sinceUs' : 'untilUs'] = us;
  }
  if (window.sinceUs !== undefined && window.untilUs !== undefined && window.untilUs < window.sinceUs)
    return '--until is before --since';
  return {
    directories: values.directory ?? [],
    files: values.file ?? [],
    window,
    json: values.json === true,
  };
}

/**
 * `--since -1h` as journalctl takes it: node's parseArgs refuses an option value that starts with
 * a dash unless it is written `--since=-1h`, so the pair is joined that way first.
 */
function joinTimeValues(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    const next = argv[i + 1];
    if ((a === '--since' || a === '--until') && next !== undefined) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

export async function runFleetReport(argv: readonly string[], io: FleetIo): Promise<number> {
  const args = parse(argv, io.nowMs());
  if (args === 'help') {
    io.out(FLEET_REPORT_USAGE);
    return 0;
  }
  if (typeof args === 'string') {
    io.err(`speakerd fleet-report: ${args}\n\n${FLEET_REPORT_USAGE}`);
    return 2;
  }
  const agg = new FleetAggregator(args.window, io.random);
  const splitter = new LineSplitter(
    MAX_LINE_BYTES,
    (line) => {
      const parsed = parseJournalLine(line);
      if (parsed.ok) agg.add(parsed.entry);
      else agg.malformed(parsed.error);
    },
    () => agg.malformed(`line longer than ${MAX_LINE_BYTES} bytes`),
  );
  const fromJournal = args.directories.length > 0 || args.files.length > 0;
  if (fromJournal) {
    const sources = journalSources(args);
    if (typeof sources === 'string') {
      io.err(`speakerd fleet-report: ${sources}`);
      return 1;
    }
    const failure = await readJournalctl(
      io.journalctl ?? 'journalctl',
      [...sources, ...journalctlArgs(args)],
      splitter,
      io,
    );
    if (failure !== undefined) {
      io.err(`speakerd fleet-report: ${failure}`);
      return 1;
    }
  } else {
    if (io.stdin.isTTY === true) {
      io.err(
        `speakerd fleet-report: nothing to read: pipe journalctl -o json into it, or give -D/--file\n\n${FLEET_REPORT_USAGE}`,
      );
      return 2;
    }
    try {
      for await (const chunk of io.stdin)
        splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    } catch (err) {
      io.err(`speakerd fleet-report: reading stdin: ${describeError(err)}`);
      return 1;
    }
  }
  splitter.end();
  const report = agg.report();
  io.out(args.json ? formatJson(report) : formatTable(report));
  return 0;
}

/** The journalctl options after the sources: JSON, the fields read, the window, speakerd only. */
function journalctlArgs(args: Args): string[] {
  const out = ['-o', 'json', '--no-pager', `--output-fields=${REPORT_FIELDS.join(',')}`];
  if (args.window.sinceUs !== undefined) out.push('--since', journalctlTime(args.window.sinceUs));
  if (args.window.untilUs !== undefined) out.push('--until', journalctlTime(args.window.untilUs));
  out.push('SYSLOG_IDENTIFIER=speakerd');
  return out;
}

/**
 * journalctl takes one -D, or --file (repeatable), not both ("Please specify at most one of
 * -D/--directory=, --file=…"). One directory alone goes as -D, with journalctl's own rules; else
 * every source becomes --file so that one journalctl interleaves all entries by time (the report
 * needs each device's entries in order): a directory's journal files as sd_journal_open_directory
 * finds them (*.journal and *.journal~, in it and in its immediate subdirectories, where
 * /var/log/journal keeps one per machine id).
 */
function journalSources(args: Args): string[] | string {
  const [only] = args.directories;
  if (only !== undefined && args.directories.length === 1 && args.files.length === 0) return ['-D', only];
  const files = [...args.files];
  for (const dir of args.directories) {
    const found: string[] = [];
    try {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (isJournalFile(name)) found.push(path);
        else if (statSync(path).isDirectory())
          for (const sub of readdirSync(path)) if (isJournalFile(sub)) found.push(join(path, sub));
      }
    } catch (err) {
      return `reading ${dir}: ${describeError(err)}`;
    }
    if (found.length === 0) return `no journal files in ${dir}`;
    files.push(...found.sort());
  }
  return files.flatMap((f) => ['--file', f]);
}

function isJournalFile(name: string): boolean {
  return name.endsWith('.journal') || name.endsWith('.journal~');
}

/**
 * Runs journalctl with its output parsed as it comes (a collector's journals do not fit in
 * memory); resolves once the child is reaped: undefined on success, else why it failed with the
 * last lines it wrote to stderr. Warnings on a successful run (a truncated file skipped) go to
 * our stderr.
 */
function readJournalctl(
  command: string,
  args: readonly string[],
  splitter: LineSplitter,
  io: FleetIo,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const tail = new StderrTail(6);
    let spawnError: string | undefined;
    const child = spawn(command, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    // Every listener in this tick: a missing binary is an 'error' event right after spawn().
    child.on('error', (err) => {
      spawnError = describeError(err);
      // A child that never started has no 'close' to wait for.
      if (child.pid === undefined) resolve(`cannot run ${command}: ${spawnError}`);
    });
    child.stdout.on('data', (chunk: Buffer) => splitter.push(chunk));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => tail.push(chunk));
    // 'close': exited and its stdio drained, so every line has been pushed.
    child.on('close', (code, signal) => {
      tail.flush();
      const said = tail.latest.join(' | ');
      if (spawnError !== undefined) resolve(`${command} failed: ${spawnError}${said ? `: ${said}` : ''}`);
      else if (code !== 0)
        resolve(
          `${command} ${signal ? `was killed by ${signal}` : `exited with ${code}`}${said ? `: ${said}` : ''}`,
        );
      else {
        for (const line of tail.latest) io.err(`speakerd fleet-report: journalctl: ${line}`);
        resolve(undefined);
      }
    });
  });
}
