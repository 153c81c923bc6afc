/**
 * Runs the built `speakerd fleet-report` as a child, for tests that check a report on journals
 * (stdin text, or -D/--file arguments): exit code, stdout, stderr; `--json` output parsed.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));

export interface ReportRun {
  readonly code: number | null;
  readonly out: string;
  readonly err: string;
}

export function runFleetReportCli(args: readonly string[], stdin?: string | Buffer): Promise<ReportRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, 'fleet-report', ...args], {
      env: { PATH: process.env.PATH ?? '', TZ: 'UTC' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    child.on('error', reject);
    const kill = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code) => {
      clearTimeout(kill);
      resolve({ code, out, err });
    });
    // Without input: an empty stdin (not a terminal), as under a test runner or cron.
    child.stdin.end(stdin);
  });
}
