/**
 * The dev-server's switches to misbehave on purpose (design.md §3.8), each one a server behaviour a
 * real client has met or may meet (protocol.md §8, §10). All off by default.
 */

export interface DevServerFaults {
  /** Right after the server hello, send a close frame with an empty payload: the client sees 1005 (protocol.md §8.5). */
  readonly closeAfterHello?: boolean;
  /** Never answer the client hello (protocol.md §3.3: the client's hello timeout must fire). */
  readonly noHello?: boolean;
  /** Stop answering WebSocket pings, as a hung server would (the client's heartbeat must notice). */
  readonly ignorePings?: boolean;
  /** After hello send malformed frames; during each reply add a binary frame that is not valid Opus. */
  readonly garbage?: boolean;
  /** After hello send a 2 MiB binary frame (a client with a 1 MiB limit closes 1009, protocol.md §8.1 row 10). */
  readonly oversize?: boolean;
  /** Send `tts start` and a few audio packets, then nothing: no more audio, no `tts stop`. */
  readonly stopTtsMidway?: boolean;
  /** After `tts start` and a few audio packets, close 1000 without `tts stop` (protocol.md §8.1 row 5). */
  readonly closeDuringTts?: boolean;
  /**
   * After the `tts stop` that ends each reply to an utterance, close 1000 about 3 ms later: what
   * xinnan does after a farewell, an exit command or an exit intent (protocol.md §8.1 rows 3, 5, 6;
   * [SRV core/handle/sendAudioHandle.py · sendAudioMessage]: `tts stop`, then `close_after_chat`).
   */
  readonly closeAfterReply?: boolean;
  /** Answer the HTTP upgrade with this status instead of 101 (e.g. 401, as a proxy might). */
  readonly rejectUpgrade?: number | undefined;
}

/** Command-line names of the boolean switches (`--fault close-after-hello`). */
export const FAULT_NAMES = {
  'close-after-hello': 'closeAfterHello',
  'no-hello': 'noHello',
  'ignore-pings': 'ignorePings',
  garbage: 'garbage',
  oversize: 'oversize',
  'stop-tts-midway': 'stopTtsMidway',
  'close-during-tts': 'closeDuringTts',
  'close-after-reply': 'closeAfterReply',
} as const satisfies Record<string, keyof DevServerFaults>;

export type FaultName = keyof typeof FAULT_NAMES;

export function isFaultName(s: string): s is FaultName {
  return Object.hasOwn(FAULT_NAMES, s);
}

/** How many audio packets the TTS faults let through before they misbehave. */
export const FAULT_TTS_PACKETS = 3;

/** The malformed frames `sendGarbage` can send, one kind at a time. */
export const GARBAGE_KINDS = ['text', 'array', 'bogus-type', 'tts-no-state', 'binary', 'oversize'] as const;
export type GarbageKind = (typeof GARBAGE_KINDS)[number];

/** What the `garbage` switch sends right after hello (the binary kind goes into each reply). */
export const GARBAGE_AFTER_HELLO: readonly GarbageKind[] = ['text', 'array', 'bogus-type', 'tts-no-state'];

/** Bigger than the 1 MiB limit of xinnan and of our client (protocol.md §8.1 row 10). */
export const OVERSIZE_BYTES = 2 * 1024 * 1024;

export interface GarbageFrame {
  readonly data: string | Buffer;
  readonly binary: boolean;
}

/**
 * A packet that is *guaranteed* invalid Opus: about a third of random byte strings decode fine,
 * so it starts with a TOC byte of frame-count code 3 followed by a count byte of 0 frames, which
 * libopus always rejects (RFC 6716 §3.2.5); the rest is random.
 */
export function invalidOpusPacket(random: () => number): Buffer {
  const bytes = Buffer.alloc(64);
  for (let i = 2; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
  bytes[0] = 0xff;
  bytes[1] = 0x00;
  return bytes;
}

export function garbageFrame(kind: GarbageKind, random: () => number): GarbageFrame {
  switch (kind) {
    case 'text':
      return { data: 'this is not JSON {', binary: false };
    case 'array':
      return { data: '[1,2,3]', binary: false };
    case 'bogus-type':
      return { data: '{"type":"bogus"}', binary: false };
    case 'tts-no-state':
      return { data: '{"type":"tts"}', binary: false };
    case 'binary':
      return { data: invalidOpusPacket(random), binary: true };
    case 'oversize':
      return { data: Buffer.alloc(OVERSIZE_BYTES, 0x55), binary: true };
  }
}
