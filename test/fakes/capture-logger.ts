import pino, { type Logger } from 'pino';

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [key: string]: unknown;
}

/** A real pino logger whose lines are kept in memory so tests can assert on them. */
export function captureLogger(level = 'trace'): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino(
    { level, base: { device_id: 'aa:bb:cc:dd:ee:ff' } },
    {
      write(line: string): void {
        lines.push(JSON.parse(line) as LogLine);
      },
    },
  );
  return { log, lines };
}
