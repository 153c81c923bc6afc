/**
 * A fake systemd notify socket for integration tests (test-infra.md §3.2, appendix D). Node's dgram
 * cannot bind unix datagram sockets, so a python3 child binds it (with SO_PASSCRED: every message
 * carries its sender's pid, the thing NotifyAccess=main checks) and prints one JSON line each.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../../test/fakes/notify/notify_receiver.py', import.meta.url));
/** python3 start-up and bind; a cold Pi-class machine takes a few hundred ms. */
const START_TIMEOUT_MS = 5_000;
/** close(): SIGTERM, then SIGKILL after this long, then stop waiting after as long again. */
const KILL_AFTER_MS = 2_000;
/** Bounds what is kept of the child's stderr for error messages. */
const STDERR_KEEP = 2_000;

export interface NotifyMessage {
  /** The sender's pid from SCM_CREDENTIALS (what systemd sees), undefined if none came. */
  readonly pid: number | undefined;
  /** CLOCK_MONOTONIC milliseconds at reception (the clock of process.hrtime). */
  readonly at: number;
  /** KEY=VALUE lines of the datagram. */
  readonly fields: Readonly<Record<string, string>>;
}

export interface NotifyReceiver {
  readonly socketPath: string;
  messages(): readonly NotifyMessage[];
  /** The first message (already received or to come) matching `pred`; rejects after timeoutMs. */
  waitFor(pred: (m: NotifyMessage) => boolean, timeoutMs: number): Promise<NotifyMessage>;
  /** Ends the child (bounded) and removes its socket. Idempotent. */
  close(): Promise<void>;
}

interface Line {
  readonly listening?: string;
  readonly t?: number;
  readonly pid?: number | null;
  readonly msg?: Record<string, string>;
}

/** Binds `<dir>/notify.sock` and resolves once the child listens. */
export async function startNotifyReceiver(dir: string): Promise<NotifyReceiver> {
  const socketPath = join(dir, 'notify.sock');
  const received: NotifyMessage[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  let failure: string | undefined;
  let listening: () => void = () => undefined;
  let failed: (err: Error) => void = () => undefined;
  const ready = new Promise<void>((resolve, reject) => {
    listening = resolve;
    failed = reject;
  });

  const child: ChildProcess = spawn('python3', [SCRIPT, socketPath], { stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  child.on('error', (err) => {
    failure = `python3: ${err.message}`;
    failed(new Error(failure));
  });
  child.once('close', (code, signal) => {
    failure ??= `notify receiver exited (code ${code}, signal ${signal}): ${stderr.trim()}`;
    failed(new Error(failure));
    for (const wake of waiters) wake();
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-STDERR_KEEP);
  });
  let buf = '';
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = JSON.parse(buf.slice(0, nl)) as Line;
      buf = buf.slice(nl + 1);
      if (line.listening !== undefined) listening();
      else received.push({ pid: line.pid ?? undefined, at: line.t ?? Number.NaN, fields: line.msg ?? {} });
    }
    for (const wake of waiters) wake();
  });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      if (await within(exited, KILL_AFTER_MS)) return;
      child.kill('SIGKILL');
      await within(exited, KILL_AFTER_MS);
    })();
    return closing;
  };

  const started = await within(ready, START_TIMEOUT_MS).catch(async (err: unknown) => {
    await close();
    throw err;
  });
  if (!started) {
    await close();
    throw new Error(`notify receiver did not listen within ${START_TIMEOUT_MS} ms: ${stderr.trim()}`);
  }

  const waitFor = (pred: (m: NotifyMessage) => boolean, timeoutMs: number): Promise<NotifyMessage> =>
    new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(look);
      };
      const look = (): void => {
        const hit = received.find(pred);
        if (hit) {
          done();
          resolve(hit);
        } else if (failure !== undefined) {
          done();
          reject(new Error(failure));
        }
      };
      const timer = setTimeout(() => {
        done();
        const seen = received.map((m) => JSON.stringify(m.fields)).join(' ');
        reject(new Error(`no matching notify message within ${timeoutMs} ms; received: ${seen || 'none'}`));
      }, timeoutMs);
      waiters.add(look);
      look();
    });

  return { socketPath, messages: () => received, waitFor, close };
}

/** Whether `p` settled within `ms` (rejections propagate). */
async function within(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
