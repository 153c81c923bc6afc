/**
 * The prompt sounds, loaded once at start (issue 15 §1): the pack is read, checked (every clip of
 * clips.ts present, checksum, packet sizes) and decoded in one go into S16_LE PCM at the rate the
 * speaker plays TTS at (the downlink decoder's fixed rate, 24 kHz by default), so a prompt goes
 * through exactly the same `sink.begin(rate)` as a reply. Decoded, all clips take ~0.5 MB at
 * 24 kHz; decoding them takes tens of ms, once.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { isOpusRate, OpusDecoder, type OpusRate } from '../audio/opus.js';
import { describeError } from '../core/errors.js';
import { ALL_CLIPS, type ClipName } from './clips.js';
import { type PackClip, type PackHeader, type ParsedPack, parsePack, SoundAssetError } from './sound-pack.js';

/** The committed pack, relative to this file in src/ and in dist/src/. */
export const DEFAULT_SOUND_PACK = fileURLToPath(
  new URL('../../../assets/sounds/sounds.pack', import.meta.url),
);

export interface Clip {
  readonly name: ClipName;
  /** Mono S16_LE at `SoundBank.rate`. */
  readonly pcm: Buffer;
  readonly ms: number;
}

export class SoundBank {
  constructor(
    readonly rate: number,
    readonly clips: ReadonlyMap<ClipName, Clip>,
  ) {}

  get(name: ClipName): Clip {
    const clip = this.clips.get(name);
    // The loader refused any pack without every clip: a miss here is a programmer error.
    if (!clip) throw new Error(`sound bank has no clip ${name}`);
    return clip;
  }

  /** Bytes of PCM held. */
  get bytes(): number {
    let n = 0;
    for (const c of this.clips.values()) n += c.pcm.length;
    return n;
  }
}

/** Reads and checks the pack at `file`; throws SoundAssetError if it is missing or damaged. */
export async function readSoundPack(file: string): Promise<ParsedPack> {
  let data: Buffer;
  try {
    data = await readFile(file);
  } catch (err) {
    throw new SoundAssetError(file, `cannot read: ${describeError(err)}`);
  }
  return parsePack(data, file);
}

/** Reads and decodes the pack at `file`; throws SoundAssetError if it is missing or damaged. */
export async function loadSoundBank(file: string, rate: number): Promise<SoundBank> {
  if (!isOpusRate(rate)) throw new RangeError(`sound bank rate must be an Opus rate, got ${rate}`);
  return decodeSoundBank(await readSoundPack(file), rate, file);
}

/** Decodes a parsed pack to PCM at `rate`. */
export function decodeSoundBank(pack: ParsedPack, rate: OpusRate, file: string): SoundBank {
  const missing = ALL_CLIPS.filter((name) => !pack.clips.has(name));
  if (missing.length > 0) throw new SoundAssetError(file, `missing clips: ${missing.join(', ')}`);
  const decoder = new OpusDecoder(rate);
  const clips = new Map<ClipName, Clip>();
  try {
    for (const clip of pack.clips.values()) {
      const pcm = decodeClip(decoder, pack.header, clip, file);
      clips.set(clip.name, { name: clip.name, pcm, ms: (pcm.length / 2 / rate) * 1000 });
    }
  } finally {
    decoder.delete();
  }
  return new SoundBank(rate, clips);
}

/** One clip of a parsed pack decoded at `rate` (the uplink gate's 16 kHz listening chime). */
export function decodeOneClip(pack: ParsedPack, name: ClipName, rate: OpusRate, file: string): Buffer {
  const clip = pack.clips.get(name);
  if (!clip) throw new SoundAssetError(file, `missing clips: ${name}`);
  const decoder = new OpusDecoder(rate);
  try {
    return decodeClip(decoder, pack.header, clip, file);
  } finally {
    decoder.delete();
  }
}

function decodeClip(decoder: OpusDecoder, header: PackHeader, clip: PackClip, file: string): Buffer {
  const rate = decoder.rate;
  const scale = rate / header.rate;
  const skipBytes = Math.round(header.preSkip * scale) * 2;
  decoder.reset();
  const parts: Buffer[] = [];
  for (const [i, packet] of clip.packets.entries()) {
    const pcm = decoder.decode(packet);
    if (!Buffer.isBuffer(pcm))
      throw new SoundAssetError(file, `clip ${clip.name} packet ${i}: ${pcm.message}`);
    parts.push(pcm);
  }
  const all = Buffer.concat(parts);
  const wantBytes = Math.round(clip.samples * scale) * 2;
  if (all.length < skipBytes + wantBytes) {
    throw new SoundAssetError(
      file,
      `clip ${clip.name} decodes to ${all.length} bytes, expected ≥ ${skipBytes + wantBytes}`,
    );
  }
  // A copy, so the decoder's concatenation buffer is not kept alive by a view.
  return Buffer.from(all.subarray(skipBytes, skipBytes + wantBytes));
}
