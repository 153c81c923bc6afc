/**
 * The file the prompt sounds are stored in (assets/sounds/sounds.pack): Opus packets of every clip
 * in one file, so the daemon reads one file once at start and a missing or damaged clip is found
 * then, by name, not when the clip is first needed.
 *
 * Layout (all integers little-endian):
 *   8 bytes   magic "SPKSND1\n"
 *   u32       length of the header
 *   header    UTF-8 JSON: PackHeader (below)
 *   body      for each clip in header order, for each of its packets: u16 length, then the packet
 *
 * Why not Ogg Opus: Ogg pages, granule positions and CRCs would be code to write and to test for
 * no gain; nothing but speakerd reads this file. What Ogg solves that we need (pre-skip, the real
 * length of the last packet) the header carries: `preSkip` and each clip's `samples`.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { type ClipName, isClipName } from './clips.js';

export const PACK_MAGIC = Buffer.from('SPKSND1\n', 'latin1');
export const PACK_FORMAT = 1;
/** A header past this is not ours: refuse it before parsing. */
const MAX_HEADER_BYTES = 64 * 1024;

export interface PackClip {
  readonly name: ClipName;
  /** Samples of the clip at the pack rate, without the encoder's padding. */
  readonly samples: number;
  readonly packets: readonly Buffer[];
}

export interface PackHeader {
  readonly format: typeof PACK_FORMAT;
  readonly codec: 'opus';
  /** Rate the clips were encoded at. */
  readonly rate: number;
  /** Samples per packet at `rate`. */
  readonly frameSamples: number;
  /**
   * Encoder lookahead at `rate`: decoded audio is late by this much (Ogg's pre-skip). libopus:
   * OPUS_GET_LOOKAHEAD = Fs/400 + Fs/250 (delay compensation) for the VOIP and AUDIO applications.
   */
  readonly preSkip: number;
  readonly clips: readonly { readonly name: ClipName; readonly samples: number; readonly packets: number }[];
  /** sha256 of the body (hex): a truncated or altered file is refused before decoding. */
  readonly sha256: string;
  /** How the pack was made (generator, tools and versions): for people, not checked. */
  readonly source?: string;
}

/** A missing, unreadable or damaged sound asset; the message names the file and the fix. */
export class SoundAssetError extends Error {
  override readonly name = 'SoundAssetError';
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(
      `sound assets ${file}: ${problem} (regenerate with \`npm run sounds\`, or set sounds.enabled false)`,
    );
  }
}

export function encodePack(
  meta: Pick<PackHeader, 'rate' | 'frameSamples' | 'preSkip' | 'source'>,
  clips: readonly PackClip[],
): Buffer {
  const parts: Buffer[] = [];
  for (const clip of clips) {
    for (const p of clip.packets) {
      if (p.length === 0 || p.length > 0xffff)
        throw new RangeError(`${clip.name}: packet of ${p.length} bytes`);
      const len = Buffer.alloc(2);
      len.writeUInt16LE(p.length);
      parts.push(len, p);
    }
  }
  const body = Buffer.concat(parts);
  const header: PackHeader = {
    format: PACK_FORMAT,
    codec: 'opus',
    rate: meta.rate,
    frameSamples: meta.frameSamples,
    preSkip: meta.preSkip,
    clips: clips.map((c) => ({ name: c.name, samples: c.samples, packets: c.packets.length })),
    sha256: createHash('sha256').update(body).digest('hex'),
    ...(meta.source !== undefined ? { source: meta.source } : {}),
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length);
  return Buffer.concat([PACK_MAGIC, len, json, body]);
}

export interface ParsedPack {
  readonly header: PackHeader;
  readonly clips: ReadonlyMap<ClipName, PackClip>;
}

/** Parses and checks a pack; anything wrong is a SoundAssetError naming `file`. */
export function parsePack(data: Buffer, file: string): ParsedPack {
  const bad = (problem: string) => new SoundAssetError(file, problem);
  if (data.length < PACK_MAGIC.length + 4 || !data.subarray(0, PACK_MAGIC.length).equals(PACK_MAGIC)) {
    throw bad('not a speakerd sound pack (bad magic)');
  }
  const headerLen = data.readUInt32LE(PACK_MAGIC.length);
  const headerStart = PACK_MAGIC.length + 4;
  if (headerLen > MAX_HEADER_BYTES || headerStart + headerLen > data.length) {
    throw bad(`header length ${headerLen} does not fit the file (${data.length} bytes)`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(data.subarray(headerStart, headerStart + headerLen).toString('utf8'));
  } catch (err) {
    throw bad(`header is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  const header = checkHeader(raw, bad);
  const body = data.subarray(headerStart + headerLen);
  const digest = createHash('sha256').update(body).digest('hex');
  if (digest !== header.sha256) throw bad('checksum mismatch: the file is truncated or damaged');

  const clips = new Map<ClipName, PackClip>();
  let at = 0;
  for (const c of header.clips) {
    const packets: Buffer[] = [];
    for (let i = 0; i < c.packets; i++) {
      if (at + 2 > body.length) throw bad(`clip ${c.name}: body ends inside packet ${i}`);
      const len = body.readUInt16LE(at);
      if (len === 0 || at + 2 + len > body.length)
        throw bad(`clip ${c.name}: packet ${i} of ${len} bytes does not fit`);
      packets.push(body.subarray(at + 2, at + 2 + len));
      at += 2 + len;
    }
    if (c.samples > c.packets * header.frameSamples - header.preSkip) {
      throw bad(`clip ${c.name}: ${c.samples} samples do not fit in ${c.packets} packets`);
    }
    if (clips.has(c.name)) throw bad(`clip ${c.name} appears twice`);
    clips.set(c.name, { name: c.name, samples: c.samples, packets });
  }
  if (at !== body.length) throw bad(`${body.length - at} bytes after the last clip`);
  return { header, clips };
}

const HeaderSchema = z.object({
  format: z.literal(PACK_FORMAT),
  codec: z.literal('opus'),
  rate: z.int().min(8000),
  frameSamples: z.int().positive(),
  preSkip: z.int().nonnegative(),
  clips: z.array(
    z.object({
      name: z.string().refine(isClipName, 'not a clip speakerd knows'),
      samples: z.int().positive(),
      packets: z.int().positive(),
    }),
  ),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  source: z.string().optional(),
});

function checkHeader(raw: unknown, bad: (problem: string) => SoundAssetError): PackHeader {
  const parsed = HeaderSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(header)'}: ${i.message}`);
    throw bad(`bad header: ${issues.join('; ')}`);
  }
  const { clips, source, ...rest } = parsed.data;
  return {
    ...rest,
    // The refine above checked each name; filter narrows the type without a cast.
    clips: clips.flatMap((c) => (isClipName(c.name) ? [{ ...c, name: c.name }] : [])),
    ...(source !== undefined ? { source } : {}),
  };
}
