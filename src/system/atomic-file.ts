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
