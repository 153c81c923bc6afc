/**
 * Child processes of the bench: every one gets an 'error' listener, a bounded lifetime and is
 * reaped (awaited to its 'close') before the bench goes on.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface Finished {
  /** null when killed by a signal or never started. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Why it did not start or was killed (ENOENT, timeout); undefined for a normal exit. */
  readonly error: string | undefined;
}

export interface RunOptions {
  readonly timeoutMs: number;
  readonly env?: NodeJS.ProcessEnv;
}

/** Output kept per stream: enough for any report line or error tail, bounded all the same. */
const MAX_OUTPUT = 1024 * 1024;

/** Runs a command to its end and never rejects: a missing binary is an answer, not a crash. */
export function run(cmd: string, args: readonly string[], o: RunOptions): Promise<Finished> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: o.env ?? process.env });
    let stdout = '';
    let stderr = '';
    let error: string | undefined;
    let settled = false;
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      if (stdout.length < MAX_OUTPUT) stdout += s;
    });
    child.stderr.on('data', (s: string) => {
      if (stderr.length < MAX_OUTPUT) stderr += s;
    });
    const timer = setTimeout(() => {
      error = `timed out after ${o.timeoutMs} ms`;
      child.kill('SIGKILL');
    }, o.timeoutMs);
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, error });
    };
    // A spawn failure (ENOENT) emits 'error' and may never emit 'close': settle on whichever comes.
    child.on('error', (err) => {
      error ??= err.message;
      finish(null, null);
    });
    child.on('close', (code, signal) => finish(code, signal));
  });
}

/** The last lines of a child's stderr, for an error message. */
export function tail(text: string, lines = 5): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

/** Path of a compiled sibling script (dist/bench/NAME.js). */
export function benchScript(name: string): string {
  return fileURLToPath(new URL(`./${name}`, import.meta.url));
}

/** The port in the child's `{"port":N}` line, or NaN for anything else (never throws in a 'data' handler). */
function portOf(line: string): number {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (err) {
    // Not JSON: the caller reports the line itself; the parse error adds nothing to it.
    if (!(err instanceof SyntaxError)) throw err;
    return Number.NaN;
  }
  return typeof parsed === 'object' && parsed !== null && 'port' in parsed ? Number(parsed.port) : Number.NaN;
}

export interface ServerChild {
  readonly port: number;
  /** Closes the child's stdin (its signal to stop) and waits for it to exit; kills it after 5 s. */
  stop(): Promise<void>;
}

/**
 * The dev-server in a process of its own (bench/server-child.ts), so its work (Opus decoding of the
 * uplink, TTS encoding) is neither in the CPU nor in the RSS measured here.
 */
export function startServerChild(speedup: number): Promise<ServerChild> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [benchScript('server-child.js'), '--speedup', String(speedup)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let exited = false;
    let started = false;
    const closed = new Promise<void>((r) => {
      child.on('close', () => {
        exited = true;
        clearTimeout(timer);
        r();
        if (!started) reject(new Error('dev-server child exited before listening'));
      });
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      if (!started) reject(new Error('dev-server child did not listen within 10 s'));
    }, 10_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      if (!started) reject(err);
    });
    // The child exits when its stdin ends; an EPIPE here only means it is already gone.
    child.stdin.on('error', (err) => {
      if (!exited) process.stderr.write(`bench: dev-server child stdin: ${err.message}\n`);
    });
    let buf = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      if (started) return;
      buf += s;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const port = portOf(buf.slice(0, nl));
      if (!Number.isInteger(port)) {
        child.kill('SIGKILL');
        reject(new Error(`dev-server child said ${buf.slice(0, nl)}`));
        return;
      }
      started = true;
      clearTimeout(timer);
      resolve({
        port,
        async stop(): Promise<void> {
          if (exited) return;
          child.stdin.end();
          const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
          await closed;
          clearTimeout(kill);
        },
      });
    });
  });
}
