/**
 * The OTA cache file (design.md §3.7): the last good OTA answer in `stateDir/ota-cache.json`, used
 * at once when OTA is unreachable at boot (ota-credentials.ts). Validated with zod and bound to the
 * OTA URL and both ids; written atomically with mode 0600 (it holds the token); its content never
 * reaches a log line.
 */
import * as fsp from 'node:fs/promises';
import { z } from 'zod';
import { redactUrl } from '../config/load.js';
import { describeError, errnoCode } from '../core/errors.js';
import { type AtomicFs, writeFileAtomic } from '../system/atomic-file.js';
import type { Logger } from '../system/logger.js';

export interface OtaCacheFs extends AtomicFs {
  readFile(path: string, encoding: 'utf8'): Promise<string>;
}

export const OTA_CACHE_FILE = 'ota-cache.json';

/** What a cached answer must match to be used: the OTA URL and the ids the token is bound to. */
export interface OtaCacheKey {
  readonly otaUrl: string;
  readonly deviceId: string;
  readonly clientId: string;
}

const cacheSchema = z.object({
  version: z.literal(1),
  savedAt: z.number(),
  otaUrl: z.string(),
  deviceId: z.string(),
  clientId: z.string(),
  websocket: z.object({
    url: z.string().regex(/^wss?:\/\/[^\s/]+/),
    token: z.string(),
    version: z.number().int().min(1).optional(),
  }),
});
export type OtaCacheEntry = z.infer<typeof cacheSchema>;

/**
 * The cached answer, if it is valid and belongs to this OTA URL and these ids (a token is bound to
 * both ids, protocol.md §2.5). Never logs the content. Never rejects.
 */
export async function loadOtaCache(
  file: string,
  expected: OtaCacheKey,
  log: Logger,
  fs: Pick<OtaCacheFs, 'readFile'> = fsp,
): Promise<OtaCacheEntry | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') log.debug({ file }, 'no OTA cache yet');
    else log.warn({ file, err: describeError(err) }, 'OTA cache unreadable; ignored');
    return undefined;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    log.warn({ file, err: describeError(err) }, 'OTA cache is not JSON; ignored');
    return undefined;
  }
  const parsed = cacheSchema.safeParse(raw);
  if (!parsed.success) {
    log.warn(
      { file, err: parsed.error.issues[0]?.path.join('.') },
      'OTA cache has an unknown shape; ignored',
    );
    return undefined;
  }
  const entry = parsed.data;
  const stale = (['otaUrl', 'deviceId', 'clientId'] as const).filter((k) => entry[k] !== expected[k]);
  if (stale.length > 0) {
    log.info({ file, differs: stale }, 'OTA cache belongs to another OTA URL or identity; ignored');
    return undefined;
  }
  log.info(
    {
      file,
      saved_at: new Date(entry.savedAt).toISOString(),
      url: redactUrl(entry.websocket.url),
      token_present: entry.websocket.token !== '',
    },
    'OTA cache loaded',
  );
  return entry;
}

/** Atomic, mode 0600 (it holds the token). Resolves undefined, or the reason it failed; logs that. */
export async function saveOtaCache(
  file: string,
  entry: OtaCacheEntry,
  log: Logger,
  fs: AtomicFs = fsp,
): Promise<string | undefined> {
  const failed = await writeFileAtomic(file, `${JSON.stringify(entry)}\n`, log, fs, 0o600);
  if (failed !== undefined) log.warn({ file, err: failed }, 'could not write the OTA cache');
  else log.debug({ file }, 'OTA cache written');
  return failed;
}
