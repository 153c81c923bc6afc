/**
 * pino logging (design.md §3.6). Synchronous destinations: the async default loses lines on
 * SIGTERM/SIGABRT. Under journald each record is a native journal entry with fields (journal.ts,
 * issue 13 §1); where the binding cannot load, each line starts with `<N>`, its syslog priority,
 * so `journalctl -p warning` still filters. On a TTY lines are pretty-printed; anywhere else they
 * are JSON lines (tests, containers).
 */
import pino, { type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';
import {
  JOURNAL_FIX,
  type JournalBinding,
  JournalDestination,
  type LogTarget,
  loadJournalBinding,
  wantsNativeJournal,
} from './journal.js';
import { syslogPriority } from './journal-fields.js';
import type { ModuleLoader } from './notify.js';

export type { Logger } from 'pino';
export { syslogPriority } from './journal-fields.js';

/** Wraps a destination so every line carries its `<N>` journal priority prefix. */
export function journalStream(dest: DestinationStream): DestinationStream {
  return {
    write(line: string): void {
      const m = /"level":(\d+)/.exec(line);
      const prio = syslogPriority(m?.[1] ? Number(m[1]) : 30);
      dest.write(`<${prio}>${line}`);
    },
  };
}

/** native: journal entries with fields; journal: `<N>`-prefixed JSON lines (the fallback). */
export type LogFormat = 'json' | 'journal' | 'native' | 'pretty';

export function detectLogFormat(env: NodeJS.ProcessEnv, isTty: boolean): LogFormat {
  if (env.JOURNAL_STREAM) return 'journal';
  return isTty ? 'pretty' : 'json';
}

/** Where the daemon's records go, decided once per process (both of main.ts's loggers share it). */
export interface LogOutput {
  readonly format: LogFormat;
  readonly binding?: JournalBinding;
  /** Said once by the caller when native entries were wanted but the binding cannot load. */
  readonly notice?: string;
}

export function resolveLogOutput(o: {
  readonly env: NodeJS.ProcessEnv;
  readonly isTty: boolean;
  readonly target: LogTarget;
  readonly socketExists?: () => boolean;
  readonly load?: ModuleLoader;
}): LogOutput {
  const text = detectLogFormat(o.env, o.isTty);
  if (!wantsNativeJournal(o.target, o.env, o.socketExists)) {
    // `stdout` under a unit still prefixes priorities: journald reads stdout there.
    return { format: text };
  }
  const loaded = loadJournalBinding(o.load);
  if (loaded.ok) return { format: 'native', binding: loaded.binding };
  return {
    format: 'journal',
    notice: `native journal entries unavailable (${loaded.why}); writing <N>-prefixed JSON lines to stdout. Fix: ${JOURNAL_FIX}`,
  };
}

export interface LoggerOptions {
  readonly level: string;
  readonly deviceId?: string;
  readonly format: LogFormat;
  /** With format `native`: the loaded binding (resolveLogOutput). */
  readonly binding?: JournalBinding;
  /** Defaults to a synchronous stdout (fd 1); with `native`, where refused records go. */
  readonly destination?: DestinationStream;
}

function destinationOf(options: LoggerOptions): DestinationStream {
  const base = options.destination ?? pino.destination({ dest: 1, sync: true });
  switch (options.format) {
    case 'native':
      // Without a binding there is nothing native to write with: the `<N>` lines are the fallback.
      return options.binding
        ? new JournalDestination({ binding: options.binding, fallback: journalStream(base) })
        : journalStream(base);
    case 'journal':
      return journalStream(base);
    case 'pretty':
      return pretty({
        sync: true,
        colorize: true,
        singleLine: true,
        destination: 1,
        ignore: 'pid,hostname',
        translateTime: 'HH:MM:ss.l',
      });
    case 'json':
      return base;
  }
}

export function createLogger(options: LoggerOptions): Logger {
  const dest = destinationOf(options);
  return pino(
    {
      level: options.level,
      base: options.deviceId ? { device_id: options.deviceId } : {},
      // Never let a token reach the journal.
      redact: {
        paths: [
          'token',
          '*.token',
          'headers.Authorization',
          'headers.authorization',
          '*.headers.Authorization',
        ],
        censor: '[redacted]',
      },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    dest,
  );
}
