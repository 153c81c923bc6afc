/**
 * The test sound card for a long soak: the ALSA config of test/fakes/alsa-rig.ts (`fakemic` and
 * `fakespk`: the file plugin on FIFOs) and its python feeder and drain, but with nothing kept:
 * the speaker drains into /dev/null and its progress lines are only counted, so ten thousand
 * turns cost no disk and no memory. A drain that dies (the rig's own FIFO race) is restarted and
 * counted; that is the rig's fault, not the daemon's.
 */

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { killAndReap } from '../test/fakes/reap.js';

const HELPERS = fileURLToPath(new URL('../../test/fakes/alsa/', import.meta.url));
const STOCK_ALSA_CONF = '/usr/share/alsa/alsa.conf';

/** arecord, aplay and python3 on PATH, and the stock ALSA config: the real audio path can run. */
export function alsaAvailable(): boolean {
  if (!existsSync(STOCK_ALSA_CONF) || !existsSync(join(HELPERS, 'fifo_drain.py'))) return false;
  for (const tool of ['arecord', 'aplay', 'python3']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return false;
    }
  }
  return true;
}

export class SoakAlsa {
  readonly micFifo: string;
  readonly spkFifo: string;
  readonly env: NodeJS.ProcessEnv;
  /** Times the drain had to be restarted. */
  drainRestarts = 0;
  /** Streams the speaker received (one per aplay). */
  streams = 0;
  readonly errors: string[] = [];
  readonly #children = new Set<ChildProcess>();
  #closing = false;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    this.micFifo = join(dir, 'mic.fifo');
    this.spkFifo = join(dir, 'spk.fifo');
    execFileSync('mkfifo', [this.micFifo, this.spkFifo]);
    const conf = join(dir, 'asound.conf');
    writeFileSync(
      conf,
      [
        `pcm.fakemic { type file slave.pcm "null" file "/dev/null" infile "${this.micFifo}" format "raw" }`,
        `pcm.fakespk { type file slave.pcm "null" file "${this.spkFifo}" format "raw" }`,
        '',
      ].join('\n'),
    );
    this.env = { ALSA_CONFIG_PATH: `${STOCK_ALSA_CONF}:${conf}` };
  }

  /** The mic says `micFile` again and again with `gapS` of silence between: a talkative room. */
  startMic(micFile: string, gapS: number): void {
    this.#spawn('python3', [
      join(HELPERS, 'fifo_feeder.py'),
      micFile,
      this.micFifo,
      '32000',
      '4000',
      '0',
      String(gapS),
    ]);
  }

  /** Resolves once the drain is ready for the first aplay. */
  startSpeaker(rate: number): Promise<void> {
    return new Promise((resolve) => {
      const p = this.#spawn('python3', [
        join(HELPERS, 'fifo_drain.py'),
        this.spkFifo,
        '/dev/null',
        String(rate * 2),
      ]);
      let first = true;
      if (p.stdout) {
        createInterface({ input: p.stdout }).on('line', (line) => {
          if (line === 'ready' && first) {
            first = false;
            resolve();
          } else if (line === 'open') this.streams++;
        });
      }
      p.once('exit', (code, signal) => {
        if (this.#closing) return;
        this.drainRestarts++;
        this.errors.push(`speaker drain exited (${code ?? signal}); restarted`);
        if (first) resolve();
        void this.startSpeaker(rate);
      });
    });
  }

  #spawn(cmd: string, args: string[]): ChildProcess {
    // Own process group, like the daemon: a Ctrl-C at the terminal is the soak's to handle.
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    p.on('error', (err) => this.errors.push(`${cmd}: ${err.message}`));
    p.stderr?.on('data', (d: Buffer) => {
      if (this.errors.length < 50) this.errors.push(`${cmd}: ${d.toString().trim().slice(0, 300)}`);
    });
    // The feeder's one line is not needed; the drain's are read above. Unread, a pipe would fill.
    if (cmd === 'python3' && !args[0]?.endsWith('fifo_drain.py')) p.stdout?.resume();
    this.#children.add(p);
    p.on('exit', () => this.#children.delete(p));
    return p;
  }

  async close(): Promise<void> {
    this.#closing = true;
    await killAndReap(this.#children);
  }
}
