/**
 * The real `speakerd` binary as a child of an end-to-end test: its stdout and stderr kept as
 * text, its exit awaited, and every child of the test file killed and reaped at the end.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface SpeakerdProc {
  readonly child: ChildProcess;
  /** Everything written to stdout so far. */
  out: string;
  /** Everything written to stderr so far. */
  err: string;
  readonly exit: Promise<Exit>;
}

/** Spawns speakerd children for one test file; `killAll()` in its `after` hook. */
export class SpeakerdProcs {
  readonly #procs: SpeakerdProc[] = [];

  /** `speakerd <args>` with only PATH and `env` in its environment; stdin is a pipe (the sim button). */
  spawn(args: readonly string[], env: NodeJS.ProcessEnv = {}): SpeakerdProc {
    const child = spawn(process.execPath, [MAIN, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const exit = new Promise<Exit>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code, signal }));
    });
    const p: SpeakerdProc = { child, out: '', err: '', exit };
    child.stdout?.on('data', (d: Buffer) => {
      p.out += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      p.err += d.toString();
    });
    this.#procs.push(p);
    return p;
  }

  /** `speakerd dev-server` on `port` (0 = any), resolved with its URL once it prints it. */
  async devServer(port: number, args: readonly string[] = []): Promise<{ proc: SpeakerdProc; url: string }> {
    const proc = this.spawn(['dev-server', '--port', String(port), ...args]);
    let url = '';
    await waitFor('the dev-server URL', 10_000, () => {
      url = /(ws:\/\/[^\s"]+)/.exec(proc.out)?.[1] ?? '';
      return url !== '';
    });
    return { proc, url };
  }

  /** SIGKILL whatever still runs, and reap every child. */
  async killAll(): Promise<void> {
    for (const p of this.#procs)
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all(this.#procs.map((p) => p.exit));
  }
}

/** Polls `pred` every 20 ms (children and sockets follow real time); rejects after `ms`. */
export async function waitFor(what: string, ms: number, pred: () => boolean): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** A TCP port that was free a moment ago (for a server that must come back on the same port). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}
