/**
 * pino logging (design.md §3.6). Synchronous destination: the async default loses lines on
 * SIGTERM/SIGABRT. Under systemd (JOURNAL_STREAM set) each line starts with `<N>`, its syslog
 * priority, so `journalctl -p warning` filters; on a TTY lines are pretty-printed.
 */
import pino, { type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger } from 'pino';

/** pino numeric level → syslog priority (sd-daemon(3) `<N>` prefixes). */
export function syslogPriority(level: number): number {
  if (level >= 60) return 2; // fatal → crit
  if (level >= 50) return 3; // error → err
  if (level >= 40) return 4; // warn → warning
  if (level >= 30) return 6; // info → info
  return 7; // debug/trace → debug
}

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

export type LogFormat = 'json' | 'journal' | 'pretty';

export function detectLogFormat(env: NodeJS.ProcessEnv, isTty: boolean): LogFormat {
  if (env.JOURNAL_STREAM) return 'journal';
  return isTty ? 'pretty' : 'json';
}

export interface LoggerOptions {
  readonly level: string;
  readonly deviceId?: string;
  readonly format: LogFormat;
  /** Defaults to a synchronous stdout (fd 1). */
  readonly destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const base = options.destination ?? pino.destination({ dest: 1, sync: true });
  const dest =
    options.format === 'journal'
      ? journalStream(base)
      : options.format === 'pretty'
        ? pretty({
            sync: true,
            colorize: true,
            singleLine: true,
            destination: 1,
            ignore: 'pid,hostname',
            translateTime: 'HH:MM:ss.l',
          })
        : base;
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
