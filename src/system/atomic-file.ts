/**
 * Durable small-file writes for the state directory (Client-Id, volume, later the OTA cache):
 * temp file + fsync + rename + directory fsync, so a power cut — SD cards lose power — leaves the
 * old file or the new one, never a truncated one.
 */
import * as fsp from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { describeError, errnoCode } from '../core/errors.js';

export interface AtomicFileHandle {
  writeFile(data: string): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** The part of node:fs/promises this needs; a seam for tests. */
export interface AtomicFs {
  mkdir(path: string, options: { recursive: true; mode: number }): Promise<string | undefined>;
  open(path: string, flags: string, mode?: number): Promise<AtomicFileHandle>;
  rename(oldPath: string, newPath: string): Promise<void>;
  unlink(path: string): Promise<void>;
}

/** Writes `data` to `file` atomically; resolves undefined on success, else the reason. Never rejects. */
export async function writeFileAtomic(
  file: string,
  data: string,
  log: Logger,
  fs: AtomicFs = fsp,
  mode = 0o644,
): Promise<string | undefined> {
  const dir = dirname(file);
  const tmp = `${file}.tmp-${process.pid}`;
  let created = false;
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o755 });
    // 'w', not 'wx': a stale temp file from an earlier boot may carry the same pid.
    const handle = await fs.open(tmp, 'w', mode);
    created = true;
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
  } catch (err) {
    if (created) await removeTemp(fs, tmp, log);
    return describeError(err);
  }
  await syncDir(fs, dir, log);
  return undefined;
}

async function removeTemp(fs: AtomicFs, tmp: string, log: Logger): Promise<void> {
  try {
    await fs.unlink(tmp);
  } catch (err) {
    // ENOENT: the rename had already moved it away.
    if (errnoCode(err) !== 'ENOENT')
      log.warn({ file: tmp, err: describeError(err) }, 'could not remove temp file');
  }
}

/** The rename is durable only once the directory entry is on disk. */
async function syncDir(fs: AtomicFs, dir: string, log: Logger): Promise<void> {
  try {
    const handle = await fs.open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (err) {
    // Some filesystems refuse fsync on a directory (EINVAL); the file itself is already synced.
    log.debug({ dir, err: describeError(err) }, 'directory fsync not possible');
  }
}

/** The part of node:fs/promises replaceFile needs; a seam for tests (EACCES as root). */
export interface ReplaceFs {
  writeFile(path: string, data: string, options: { mode: number }): Promise<void>;
  chmod(path: string, mode: number): Promise<void>;
  rename(oldPath: string, newPath: string): Promise<void>;
  unlink(path: string): Promise<void>;
}

/** Why a replaceFile failed: `kind` is the errno code (ENOENT, EACCES, EROFS…) or 'other'. */
export interface ReplaceError {
  readonly kind: string;
  readonly message: string;
}

/**
 * Replaces `file` so that a reader sees the old content or the new, never a part: write a temp
 * file in the same directory, then rename it over the file. This is what node_exporter's textfile
 * collector asks of its writers (its README, "Textfile Collector": files "readable by the
 * prometheus user", read by the glob `*.prom`; "to atomically push": `echo … > f.prom.$$` then
 * `mv f.prom.$$ f.prom`).
 * Unlike writeFileAtomic, for files rewritten every few seconds that belong to another program:
 * - no mkdir: the directory is the reader's (node_exporter's package makes it); a missing one is a
 *   wrong path, and creating it would hide that nobody reads there;
 * - no fsync: the next rewrite comes in seconds and a reader only needs the rename's atomicity, so
 *   a power cut may lose the last values, which a restart rewrites anyway; syncing four times a
 *   minute would only wear the SD card;
 * - an explicit chmod: the unit's UMask=0077 would leave the file unreadable for another user
 *   (node_exporter runs as `prometheus`).
 * The temp name (`<file>.tmp-<pid>`) does not end in `.prom`, so the collector never reads it.
 * Resolves undefined on success, else the error. Never rejects.
 */
export async function replaceFile(
  file: string,
  data: string,
  mode: number,
  fs: ReplaceFs = fsp,
): Promise<ReplaceError | undefined> {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    await fs.writeFile(tmp, data, { mode });
    await fs.chmod(tmp, mode);
    await fs.rename(tmp, file);
    return undefined;
  } catch (err) {
    const failure = { kind: errnoCode(err) ?? 'other', message: describeError(err) };
    try {
      // A write that failed half way (ENOSPC) leaves its temp file; one never opened has none.
      await fs.unlink(tmp);
    } catch (unlinkErr) {
      if (errnoCode(unlinkErr) === 'ENOENT') return failure;
      // Reported with the write's own error: a temp file left behind is the same problem's trace.
      return { ...failure, message: `${failure.message}; the temp file stays: ${describeError(unlinkErr)}` };
    }
    return failure;
  }
}
