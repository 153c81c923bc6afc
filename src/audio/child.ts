/**
 * The narrow child-process type the audio children (aplay in aplay-run.ts, amixer in volume.ts)
 * are spawned through, so unit tests can hand in fakes. Split from playback.ts, where it began.
 */
import { spawn as nodeSpawn } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import type { Readable, Writable } from 'node:stream';

/**
 * The part of a `ChildProcess` the audio code uses: real children satisfy it, tests fake it.
 * Events used: 'error' (err), 'close' (code, signal) — 'close' rather than 'exit' so stderr has
 * been read to the end when the stream is reported.
 */
export interface ChildLike extends EventEmitter {
  readonly pid?: number | undefined;
  readonly stdin: Writable | null;
  readonly stderr: Readable | null;
  kill(signal?: NodeJS.Signals): boolean;
}

export interface SpawnOptionsLike {
  readonly env: NodeJS.ProcessEnv;
  readonly stdio: ['pipe' | 'ignore', 'ignore', 'pipe'];
}

export type SpawnFn = (command: string, args: readonly string[], options: SpawnOptionsLike) => ChildLike;

/** `node:child_process` spawn behind the narrow type (its overloads return a full ChildProcess). */
export const defaultSpawn: SpawnFn = (command, args, options) =>
  nodeSpawn(command, [...args], { env: options.env, stdio: [...options.stdio] });
