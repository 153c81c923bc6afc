/**
 * The test journald (issue 13): what a journal test uses in place of systemd-journald on a
 * machine that has none. Two real children, piped into each other:
 *
 *   test/fakes/journal/test_journald.py  — binds /run/systemd/journal/socket (where libsystemd's
 *       sd_journal_sendv and `logger --journald` always send), parses the native protocol as
 *       journald-native.c does, adds journald's trusted fields, writes journal export format;
 *   systemd-journal-remote -o FILE.journal -  — the real importer: turns that stream into a real
 *       journal file that `journalctl --file`/`-D` reads.
 *
 * Why python3 for the socket and not the `unix-dgram` npm package: Node has no unix datagram
 * sockets, and unix-dgram exposes neither the ancillary data journald relies on (SCM_CREDENTIALS
 * for _PID/_UID/_GID, SO_TIMESTAMP for _SOURCE_REALTIME_TIMESTAMP) nor SCM_RIGHTS (the memfd a big
 * entry arrives as); python3's socket.recvmsg has all three, python3 is already a test package
 * (the notify receiver, the ALSA feeder), and no dependency is added.
 *
 * It only works inside the private mount namespace of test/fakes/journal/journal-ns.sh (as root),
 * where /run/systemd/journal is a directory of the test's; see FAKE_JOURNAL_RUN_HINT.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const JOURNAL_DIR = '/run/systemd/journal';
export const JOURNAL_SOCKET = `${JOURNAL_DIR}/socket`;
export const JOURNAL_REMOTE = '/lib/systemd/systemd-journal-remote';
export const JOURNAL_UPLOAD = '/lib/systemd/systemd-journal-upload';

const RECEIVER = fileURLToPath(new URL('../../../test/fakes/journal/test_journald.py', import.meta.url));
export const SOCKET_ACTIVATE = fileURLToPath(
  new URL('../../../test/fakes/journal/socket_activate.py', import.meta.url),
);

/** What a test file prints when it runs outside the rig. */
export const FAKE_JOURNAL_RUN_HINT =
  'this test needs the test journald: from the repository root, as root, run ' +
  '`npx tsc -p . && unshare -m --propagation private bash test/fakes/journal/journal-ns.sh ' +
  'node --test dist/test/journal/<file>.test.js` (needs apt packages python3 systemd-journal-remote)';

/** python3 start-up and bind; a cold Pi-class machine takes a few hundred ms. */
const START_TIMEOUT_MS = 5_000;
/** The fields a failed wait shows of the last entries. */
const SUMMARY = ['DEVICE_ID', 'MESSAGE_ID', 'SPEAKERD_CODE', 'MESSAGE'];
/** stop(): SIGTERM (the receiver drains its queue first), then SIGKILL after this long. */
const STOP_TIMEOUT_MS = 5_000;
/** Bounds what is kept of each child's stderr for error messages. */
const STDERR_KEEP = 4_000;

/**
 * A field value: UTF-8 text, the bytes (base64) of a value that is not UTF-8, or for a value over
 * 64 KiB its sha256 (hex) and length (the journal file has it whole).
 */
export type FieldValue =
  | string
  | { readonly base64: string }
  | { readonly sha256: string; readonly length: number };

/** One entry as the receiver dispatched it: the client's fields, then journald's trusted ones. */
export interface ReceivedEntry {
  readonly fields: readonly (readonly [string, FieldValue])[];
  /** The sender's pid from SCM_CREDENTIALS (what journald records as _PID). */
  readonly pid: number | undefined;
  /** __REALTIME_TIMESTAMP (µs) the receiver gave the entry. */
  readonly realtime: number;
}

/** The one text value of `key` in `e`; undefined when absent; throws when repeated, binary or big. */
export function field(e: ReceivedEntry, key: string): string | undefined {
  const all = e.fields.filter(([k]) => k === key);
  if (all.length > 1) throw new Error(`${key} appears ${all.length} times`);
  const v = all[0]?.[1];
  if (v !== undefined && typeof v !== 'string')
    throw new Error(`${key} is not text here: ${JSON.stringify(v)}`);
  return v;
}

/** Whether /run/systemd/journal is a mount point here (journal-ns.sh binds a directory there). */
export function insideFakeJournal(): boolean {
  if (process.env.FAKE_JOURNAL_DIR === undefined) return false;
  for (const entry of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    if (entry.split(' ')[4] === JOURNAL_DIR) return true;
  }
  return false;
}

export interface TestJournald {
  /** Entries dispatched so far, in order of reception. */
  entries(): readonly ReceivedEntry[];
  /** What journald would have dropped silently (bad field names, truncation, noise): a test expects none. */
  problems(): readonly string[];
  /** Big entries that came as a memfd over SCM_RIGHTS (their sizes). */
  memfds(): readonly number[];
  /** The first entry (received or to come) matching `pred`; rejects after `ms`. */
  waitFor(what: string, ms: number, pred: (e: ReceivedEntry) => boolean): Promise<ReceivedEntry>;
  /**
   * Stops receiving (what is queued on the socket is still taken), lets systemd-journal-remote
   * finish the file, and resolves with its path. Rejects if either child failed.
   */
  stop(): Promise<string>;
  /** SIGKILL both children and reap them (a failed test's `after`). Idempotent. */
  kill(): Promise<void>;
}

interface Event {
  readonly listening?: string;
  readonly entry?: [string, FieldValue][];
  readonly pid?: number | null;
  readonly realtime?: number;
  readonly problem?: string;
  readonly memfd?: number;
  readonly closed?: boolean;
}

/** A child whose stderr is kept and whose end is awaited; spawn errors reject `exit`. */
export interface Kept {
  readonly child: ChildProcess;
  readonly name: string;
  stderr(): string;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function keep(name: string, child: ChildProcess): Kept {
  let err = '';
  child.stderr?.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-STDERR_KEEP);
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', (e) => reject(new Error(`${name}: ${e.message}`)));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  // A rejection nobody awaits yet must not become an unhandled one; whoever awaits `exit` sees it.
  exit.catch(() => undefined);
  return { child, name, stderr: () => err, exit };
}

/** SIGKILL if still running, then wait for the end (errors included: the child is gone either way). */
export async function reap(k: Kept): Promise<void> {
  if (k.child.exitCode === null && k.child.signalCode === null) k.child.kill('SIGKILL');
  await k.exit.catch(() => undefined);
}

/** Resolves with `p`'s value, or rejects with `what` after `ms`. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts the receiver on /run/systemd/journal/socket and the importer writing
 * `<outDir>/received.journal`. Must run inside journal-ns.sh (checked).
 */
export async function startTestJournald(outDir: string): Promise<TestJournald> {
  if (!insideFakeJournal()) throw new Error(FAKE_JOURNAL_RUN_HINT);
  if (existsSync(JOURNAL_SOCKET))
    throw new Error(`${JOURNAL_SOCKET} exists already: another journald listens in this namespace`);
  const file = join(outDir, 'received.journal');

  // The importer first: the receiver's stdout is its stdin (one pipe, no copy through Node).
  const remote = keep(
    'systemd-journal-remote',
    spawn(JOURNAL_REMOTE, ['-o', file, '-'], { stdio: ['pipe', 'ignore', 'pipe'] }),
  );
  const remoteIn = remote.child.stdin;
  if (remoteIn === null) throw new Error('systemd-journal-remote has no stdin pipe');
  const receiver = keep(
    'test_journald.py',
    // stdin: a pipe that ends when this process dies (the receiver then exits); fd 3: events.
    spawn('python3', [RECEIVER, JOURNAL_SOCKET], { stdio: ['pipe', remoteIn, 'pipe', 'pipe'] }),
  );
  // Only the receiver writes to the importer now: its EOF is the importer's EOF.
  remoteIn.destroy();

  const received: ReceivedEntry[] = [];
  const problems: string[] = [];
  const memfds: number[] = [];
  const wakers = new Set<() => void>();
  let listening: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    listening = resolve;
  });
  let closed = false;
  let buf = '';
  const events = receiver.child.stdio[3];
  if (!events || !('on' in events)) throw new Error('test_journald.py has no event pipe');
  events.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const ev = JSON.parse(buf.slice(0, nl)) as Event;
      buf = buf.slice(nl + 1);
      if (ev.listening !== undefined) listening();
      if (ev.entry !== undefined)
        received.push({ fields: ev.entry, pid: ev.pid ?? undefined, realtime: ev.realtime ?? Number.NaN });
      if (ev.problem !== undefined) problems.push(ev.problem);
      if (ev.memfd !== undefined) memfds.push(ev.memfd);
      if (ev.closed === true) closed = true;
    }
    for (const wake of wakers) wake();
  });
  const ended = Promise.all([receiver.exit, remote.exit]);
  ended.then(
    () => {
      for (const wake of wakers) wake();
    },
    () => {
      for (const wake of wakers) wake();
    },
  );

  const kill = async (): Promise<void> => {
    await Promise.all([reap(receiver), reap(remote)]);
  };

  try {
    // The receiver's end before it listens is a failure; after, `stop()` deals with it.
    const early = receiver.exit.then(() => {
      throw new Error('exited before it listened');
    });
    early.catch(() => undefined);
    await within(Promise.race([ready, early]), START_TIMEOUT_MS, 'test_journald.py listening');
  } catch (err) {
    await kill();
    throw new Error(`test journald did not start (${String(err)}): ${receiver.stderr()} ${remote.stderr()}`);
  }

  const waitFor = (what: string, ms: number, pred: (e: ReceivedEntry) => boolean): Promise<ReceivedEntry> =>
    new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        wakers.delete(look);
      };
      const look = (): void => {
        const hit = received.find(pred);
        if (hit) {
          done();
          resolve(hit);
        } else if (receiver.child.exitCode !== null || receiver.child.signalCode !== null) {
          done();
          reject(new Error(`test journald ended before ${what}: ${receiver.stderr()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        const last = received
          .slice(-12)
          .map((e) =>
            e.fields
              .filter(([k]) => SUMMARY.includes(k))
              .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
              .join(' '),
          )
          .join('\n  ');
        reject(
          new Error(
            `no journal entry for ${what} within ${ms} ms (${received.length} received; the last:\n  ${last})`,
          ),
        );
      }, ms);
      wakers.add(look);
      look();
    });

  let stopping: Promise<string> | undefined;
  const stop = (): Promise<string> => {
    stopping ??= (async () => {
      receiver.child.kill('SIGTERM');
      try {
        const [r, m] = await within(ended, STOP_TIMEOUT_MS, 'test journald stop');
        if (r.code !== 0 || !closed)
          throw new Error(`test_journald.py ended with ${r.code ?? r.signal}: ${receiver.stderr()}`);
        if (m.code !== 0)
          throw new Error(`systemd-journal-remote ended with ${m.code ?? m.signal}: ${remote.stderr()}`);
      } catch (err) {
        await kill();
        throw err;
      }
      return file;
    })();
    return stopping;
  };

  return {
    entries: () => received,
    problems: () => problems,
    memfds: () => memfds,
    waitFor,
    stop,
    kill,
  };
}

export interface ToolRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

/** Runs a tool to its end (bounded), stdout as bytes, stderr kept; stdin closed. */
export async function runTool(cmd: string, args: readonly string[], ms = 30_000): Promise<ToolRun> {
  const k = keep(cmd, spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  const chunks: Buffer[] = [];
  k.child.stdout?.on('data', (d: Buffer) => chunks.push(d));
  try {
    const { code, signal } = await within(k.exit, ms, `${cmd} ${args.join(' ')}`);
    return { code, signal, stdout: Buffer.concat(chunks), stderr: k.stderr() };
  } finally {
    await reap(k);
  }
}

/** A field of `journalctl -o json`: text, null (too big without --all), bytes, or repeated values. */
export type JsonField = string | null | number[] | (string | number[])[];

/** `journalctl ARGS -o json --all`: one object per entry; fails on a non-zero exit. */
export async function journalctl(args: readonly string[]): Promise<Record<string, JsonField>[]> {
  const r = await runTool('journalctl', [...args, '-o', 'json', '--all', '--no-pager']);
  if (r.code !== 0) throw new Error(`journalctl ${args.join(' ')} exited ${r.code ?? r.signal}: ${r.stderr}`);
  return r.stdout
    .toString()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, JsonField>);
}
