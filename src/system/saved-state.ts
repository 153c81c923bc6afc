/**
 * A small JSON value kept in the state directory (the volume, the privacy mute): read once at
 * start, written atomically on every change. The device must start whatever is on the card: a
 * missing file is the default without a word, one that cannot be read or holds something else is
 * the default with a warning; never a throw. A failed write is a warning too: the new value is in
 * effect until the restart.
 */
import * as fsp from 'node:fs/promises';
import type { Logger } from 'pino';
import { describeError, errnoCode } from '../core/errors.js';
import { writeFileAtomic } from './atomic-file.js';

export interface SavedStateSpec<T> {
  readonly file: string;
  /** What it is, in the log lines: "volume", "mute state". */
  readonly what: string;
  /** The JSON it must hold, for the warning: `{"level": 0–100}`. */
  readonly shape: string;
  /** The value in the parsed JSON; undefined when it holds something else. */
  readonly pick: (parsed: unknown) => T | undefined;
  readonly log: Logger;
}

/** The saved value, or `fallback` (`fallbackWords` says what that means: "starting unmuted"). */
export async function readSavedState<T>(
  spec: SavedStateSpec<T>,
  fallback: T,
  fallbackWords: string,
): Promise<T> {
  const { file, what, log } = spec;
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return fallback;
    log.warn({ file, err: describeError(err) }, `cannot read the saved ${what}; ${fallbackWords}`);
    return fallback;
  }
  const content = JSON.stringify(text.slice(0, 64));
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    log.warn({ file, err: describeError(err), content }, `saved ${what} is not JSON; ${fallbackWords}`);
    return fallback;
  }
  const value = spec.pick(parsed);
  if (value === undefined) {
    log.warn({ file, content }, `saved ${what} is not ${spec.shape}; ${fallbackWords}`);
    return fallback;
  }
  return value;
}

/** Atomically (atomic-file.ts): a power cut leaves the old value or the new one. */
export async function writeSavedState(
  spec: Pick<SavedStateSpec<unknown>, 'file' | 'what' | 'log'>,
  json: unknown,
  inEffect: string,
): Promise<void> {
  const failed = await writeFileAtomic(spec.file, `${JSON.stringify(json)}\n`, spec.log);
  if (failed !== undefined) {
    spec.log.warn(
      { file: spec.file, err: failed },
      `cannot save the ${spec.what} (${inEffect} is in effect until restart)`,
    );
  }
}
