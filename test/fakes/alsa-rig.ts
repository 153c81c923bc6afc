/**
 * Real `arecord`/`aplay` without a sound card (test-infra.md §1): a private ALSA config whose
 * `fakemic` and `fakespk` PCMs are the `file` plugin on FIFOs, a paced feeder playing the mic and a
 * paced drain playing the speaker. Children get the config through `ALSA_CONFIG_PATH` in `env`.
 */

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errnoCode } from '../../src/core/errors.js';
import { killAndReap } from './reap.js';

const HERE = fileURLToPath(new URL('../../../test/fakes/alsa/', import.meta.url));
/** The stock config must come first, or even `null` is unknown (test-infra.md §1.2). */
const STOCK_ALSA_CONF = '/usr/share/alsa/alsa.conf';

export interface DrainEvent {
  readonly kind: 'open' | 'chunk' | 'close';
  readonly bytes: number;
  /** CLOCK_MONOTONIC seconds (Python's time.monotonic), comparable with `monotonicNow()`. */
  readonly at: number;
}

/** CLOCK_MONOTONIC in seconds, the clock the feeder and drain print (performance.now() is not it). */
export function monotonicNow(): number {
  return Number(process.hrtime.bigint()) / 1e9;
}

const AUDIO_PROCESS = /(^|\/)(arecord|aplay)$|fifo_feeder|fifo_drain/;

/**
 * The arecord, aplay, feeder and drain processes of the rig in `dir`, still alive on this machine
 * (pid and argv). Machine-wide, so an orphan that escaped its parent is found too, but only
 * this rig's: its directory is in the helper's arguments or in the ALSA_CONFIG_PATH the audio child
 * was given — a soak or another test's rig on the same machine is not ours.
 */
export function rigProcesses(dir: string): { pid: number; argv: string[] }[] {
  const found: { pid: number; argv: string[] }[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      if (!argv.some((a) => AUDIO_PROCESS.test(a))) continue;
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
      if (argv.some((a) => a.includes(dir)) || environ.includes(dir)) found.push({ pid: Number(pid), argv });
    } catch (err) {
      // The process ended between the listing and the read: it is not left behind.
      const code = errnoCode(err);
      if (code !== 'ENOENT' && code !== 'ESRCH') throw err;
    }
  }
  return found;
}

export class AlsaRig {
  readonly dir = mkdtempSync(join(tmpdir(), 'speakerd-alsa-'));
  readonly micFifo = join(this.dir, 'mic.fifo');
  readonly spkFifo = join(this.dir, 'spk.fifo');
  readonly playedFile = join(this.dir, 'played.raw');
  readonly conf = join(this.dir, 'asound.conf');
  readonly env: NodeJS.ProcessEnv;
  readonly drainEvents: DrainEvent[] = [];
  /** Monotonic time the feeder wrote its first period, once it has. */
  feederStartedAt: number | undefined;
  /** Helper processes that could not start (python3 missing…): the test reports them. */
  readonly errors: string[] = [];
  #feeder: ChildProcess | undefined;
  readonly #children = new Set<ChildProcess>();

  constructor(readonly playbackRate = 24000) {
    execFileSync('mkfifo', [this.micFifo, this.spkFifo]);
    const conf = this.conf;
    writeFileSync(
      conf,
      [
        `pcm.fakemic { type file slave.pcm "null" file "/dev/null" infile "${this.micFifo}" format "raw" }`,
        `pcm.fakespk { type file slave.pcm "null" file "${this.spkFifo}" format "raw" }`,
        '',
      ].join('\n'),
    );
    this.env = { ...process.env, ALSA_CONFIG_PATH: `${STOCK_ALSA_CONF}:${conf}` };
  }

  /**
   * Starts the mic: `pcm` (16 kHz S16_LE) after `leadSilenceS` of silence, then silence forever —
   * or, with `loopGapS`, the same words again after that much silence, forever (a talkative room).
   */
  startMic(pcm: Buffer, leadSilenceS = 0, loopGapS?: number): void {
    const src = join(this.dir, 'mic-src.raw');
    writeFileSync(src, pcm);
    const p = this.#spawn('python3', [
      join(HERE, 'fifo_feeder.py'),
      src,
      this.micFifo,
      '32000',
      '4000',
      String(leadSilenceS),
      String(loopGapS ?? -1),
    ]);
    p.stdout?.on('data', (d: Buffer) => {
      const m = /started (\d+\.\d+)/.exec(d.toString());
      if (m?.[1]) this.feederStartedAt = Number(m[1]);
    });
    this.#feeder = p;
  }

  /** The mic goes quiet without EOF: arecord stays alive and delivers nothing. */
  freezeMic(): void {
    this.#feeder?.kill('SIGSTOP');
  }

  thawMic(): void {
    this.#feeder?.kill('SIGCONT');
  }

  /**
   * Starts the speaker and resolves once its pipe is shrunk: an aplay whose first bytes arrived
   * before that would make the resize fail (EBUSY) and the drain with it.
   */
  startSpeaker(): Promise<void> {
    const p = this.#spawn('python3', [
      join(HERE, 'fifo_drain.py'),
      this.spkFifo,
      this.playedFile,
      String(this.playbackRate * 2),
    ]);
    let buf = '';
    let ready: () => void = () => undefined;
    const isReady = new Promise<void>((resolve) => {
      ready = resolve;
    });
    p.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = buf.slice(0, nl).trim().split(' ');
        buf = buf.slice(nl + 1);
        const kind = line[0];
        if (kind === 'ready') ready();
        else if (kind === 'open') this.drainEvents.push({ kind, bytes: 0, at: monotonicNow() });
        else if (kind === 'chunk')
          this.drainEvents.push({ kind, bytes: Number(line[1]), at: Number(line[2]) });
        else if (kind === 'close')
          this.drainEvents.push({ kind, bytes: Number(line[1]), at: monotonicNow() });
        nl = buf.indexOf('\n');
      }
    });
    return isReady;
  }

  /** Adds a PCM definition to the rig's ALSA config (arecord/aplay read it at every start). */
  definePcm(definition: string): void {
    appendFileSync(this.conf, `${definition}\n`);
  }

  /** Everything the speaker has played so far. */
  played(): Buffer {
    return existsSync(this.playedFile) ? readFileSync(this.playedFile) : Buffer.alloc(0);
  }

  #spawn(cmd: string, args: string[]): ChildProcess {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    p.on('error', (err) => this.errors.push(`${cmd}: ${err.message}`));
    this.#children.add(p);
    p.on('exit', () => this.#children.delete(p));
    return p;
  }

  /** Ends the feeder and drain (SIGKILL: a stopped feeder ignores SIGTERM) and removes the files. */
  async close(): Promise<void> {
    await killAndReap(this.#children);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
