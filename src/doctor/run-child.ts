/**
 * Runs one short-lived child (arecord, aplay) for `doctor` with every wait bounded: stdout kept up
 * to a limit, the last stderr lines kept (ALSA says there why a device failed), killed after a
 * deadline (SIGTERM, then SIGKILL: aplay ignores SIGTERM while blocked in a write), always reaped.
 */
import { spawn } from 'node:child_process';
import { StderrTail } from '../audio/stderr-tail.js';
import { describeError } from '../core/errors.js';

export interface ChildRun {
  readonly command: string;
  readonly args: readonly string[];
  /** The child's environment: the caller's, so ALSA_CONFIG_PATH and friends apply. */
  readonly env: NodeJS.ProcessEnv;
  /** SIGTERM after this long. */
  readonly timeoutMs: number;
  /** Bytes of stdout kept; more is read and dropped. */
  readonly maxStdoutBytes?: number;
  /** Written to stdin, which is then closed; without it stdin is /dev/null. */
  readonly input?: Buffer;
}

export interface ChildOutcome {
  /** Exit code, or null when killed by a signal or never started. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: Buffer;
  /** The last few stderr lines. */
  readonly stderr: readonly string[];
  /** Set when the child could not be started (ENOENT: not installed). */
  readonly spawnError?: string;
  /** The deadline passed and the child was killed. */
  readonly timedOut: boolean;
  /** An error writing stdin (EPIPE when the child died before reading it all). */
  readonly stdinError?: string;
  readonly ms: number;
}

/** SIGKILL this long after SIGTERM; then give up waiting this long again (a child in D state). */
const KILL_GRACE_MS = 500;

export function runChild(run: ChildRun): Promise<ChildOutcome> {
  const t0 = performance.now();
  const maxStdout = run.maxStdoutBytes ?? 1024 * 1024;
  return new Promise((resolve) => {
    const stdoutChunks: Buffer[] = [];
    let stdoutBytes = 0;
    const tail = new StderrTail(4);
    let spawnError: string | undefined;
    let stdinError: string | undefined;
    let timedOut = false;
    let settled = false;
    const timers: NodeJS.Timeout[] = [];

    const child = spawn(run.command, [...run.args], {
      env: run.env,
      stdio: [run.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      tail.flush();
      resolve({
        code,
        signal,
        stdout: Buffer.concat(stdoutChunks),
        stderr: tail.latest,
        ...(spawnError === undefined ? {} : { spawnError }),
        ...(stdinError === undefined ? {} : { stdinError }),
        timedOut,
        ms: performance.now() - t0,
      });
    };
    // Every listener in this tick: a missing binary is an 'error' event right after spawn().
    child.on('error', (err) => {
      spawnError = describeError(err);
      // A child that never started has no 'close' to wait for.
      if (child.pid === undefined) finish(null, null);
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      if (stdoutBytes >= maxStdout) return;
      const keep = chunk.subarray(0, maxStdout - stdoutBytes);
      stdoutChunks.push(keep);
      stdoutBytes += keep.length;
    });
    child.stderr?.on('data', (chunk: Buffer) => tail.push(chunk.toString('utf8')));
    child.on('close', (code, signal) => finish(code, signal));
    if (run.input !== undefined && child.stdin) {
      child.stdin.on('error', (err) => {
        stdinError = describeError(err);
      });
      child.stdin.end(run.input);
    }
    timers.push(
      setTimeout(() => {
        timedOut = true;
        child.kill('SIGTERM');
        timers.push(
          setTimeout(() => {
            child.kill('SIGKILL');
            // Not reaped even after SIGKILL (uninterruptible sleep in a driver): stop waiting.
            timers.push(setTimeout(() => finish(null, 'SIGKILL'), KILL_GRACE_MS));
          }, KILL_GRACE_MS),
        );
      }, run.timeoutMs),
    );
  });
}
