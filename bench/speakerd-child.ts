/**
 * The real `speakerd run` as a child of the bench, started as the systemd unit starts it
 * (`node --max-semi-space-size=1 dist/src/main.js run …`, the flags read from main.js's shebang):
 * an 'error' listener, output drained and kept bounded, stop() = SIGTERM, SIGKILL after 5 s,
 * always awaited to 'close'.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './children.js';
import { daemonNodeFlags } from './memory.js';

export const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));
export const BENCH_DEVICE_ID = '02:00:00:00:00:b7';
export const BENCH_CLIENT_ID = '6f1c2a4e-8b1d-4c3e-9f2a-0123456789be';

/** CLOCK_MONOTONIC in ms: the clock of process.hrtime and of the notify receiver's timestamps. */
export function monoMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

const KEEP = 8 * 1024;

export interface SpeakerdChild {
  readonly pid: number;
  /** monoMs() just before spawn(). */
  readonly spawnedAt: number;
  /** The last few KiB of stdout+stderr, for an error message. */
  output(): string;
  /**
   * monoMs() when a stdout line first matched `watch[i]` (arrival in the pipe: the logger writes
   * synchronously), or undefined so far.
   */
  seen(i: number): number | undefined;
  readonly closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

export function spawnSpeakerd(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  watch: readonly RegExp[] = [],
): SpeakerdChild {
  const spawnedAt = monoMs();
  const child: ChildProcess = spawn(process.execPath, [...daemonNodeFlags(), MAIN, ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (d: Buffer): void => {
    out = (out + d.toString()).slice(-KEEP);
  };
  const seenAt: (number | undefined)[] = watch.map(() => undefined);
  let line = '';
  child.stdout?.on('data', (d: Buffer) => {
    keep(d);
    if (watch.length === 0) return;
    const now = monoMs();
    const lines = (line + d.toString()).split('\n');
    line = (lines.pop() ?? '').slice(-KEEP);
    for (const l of lines)
      watch.forEach((re, i) => {
        if (seenAt[i] === undefined && re.test(l)) seenAt[i] = now;
      });
  });
  child.stderr?.on('data', keep);
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('error', (err) => {
      keep(Buffer.from(`\nspawn: ${err.message}\n`));
      // A spawn failure may never emit 'close'.
      if (child.pid === undefined) resolve({ code: null, signal: null });
    });
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  return {
    pid: child.pid ?? -1,
    spawnedAt,
    output: () => out,
    seen: (i) => seenAt[i],
    closed,
    async stop(): Promise<void> {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
        await closed;
        return;
      }
      child.kill('SIGTERM');
      const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
      await closed;
      clearTimeout(kill);
    },
  };
}

/** A scratch directory for configs, state and the notify socket; the caller removes it. */
export function scratchDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `speakerd-bench-${name}-`));
}

/** A config file in `dir`: the bench identity, simulated button and LEDs, its own state directory. */
export function writeBenchConfig(dir: string, name: string, extra: Record<string, unknown> = {}): string {
  const path = join(dir, `${name}.json`);
  writeFileSync(
    path,
    JSON.stringify({
      stateDir: join(dir, `state-${name}`),
      identity: { deviceId: BENCH_DEVICE_ID, clientId: BENCH_CLIENT_ID },
      hardware: 'simulated',
      ...extra,
    }),
  );
  return path;
}

/** Why the real-ALSA parts cannot run here (alsa-utils or python3 missing), or undefined. */
export async function alsaMissing(): Promise<string | undefined> {
  const arecord = await run('arecord', ['--version'], { timeoutMs: 5000 });
  if (arecord.code !== 0) return `no arecord (alsa-utils): ${arecord.error ?? `exit ${arecord.code}`}`;
  return pythonMissing();
}

/** The fake sound card and the fake NOTIFY_SOCKET are python3 helpers. */
export async function pythonMissing(): Promise<string | undefined> {
  const py = await run('python3', ['--version'], { timeoutMs: 5000 });
  if (py.code !== 0)
    return `no python3 (the fake sound card and notify socket): ${py.error ?? `exit ${py.code}`}`;
  return undefined;
}
