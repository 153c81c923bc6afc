/**
 * Opus with opusscript (design.md §3.4): one long-lived 16 kHz VOIP encoder for the uplink and one
 * decoder at a fixed output rate for the downlink. Buffers only; `delete()` frees the wasm memory.
 */
import OpusScript from 'opusscript';
import { describeError, ErrorCode, type Fault, fault } from '../core/errors.js';
import { CAPTURE_RATE, FRAME_MS } from './audio-port.js';

export type OpusRate = 8000 | 12000 | 16000 | 24000 | 48000;
export const OPUS_RATES: readonly OpusRate[] = [8000, 12000, 16000, 24000, 48000];

export function isOpusRate(n: number): n is OpusRate {
  return (OPUS_RATES as readonly number[]).includes(n);
}

// libopus CTL request numbers (opus_defines.h).
const OPUS_SET_BITRATE = 4002;
const OPUS_SET_COMPLEXITY = 4010;
const OPUS_RESET_STATE = 4028;

export interface EncoderOptions {
  /** 0–10; the firmware uses 0, we default to 5 (design.md §3.4). Undefined: libopus' default. */
  readonly complexity?: number | undefined;
  /** Bits per second, or undefined for libopus' automatic choice. */
  readonly bitrate?: number | undefined;
  /** Input rate; 16 kHz for the uplink (protocol.md §4.1), other rates for the dev-server's TTS. */
  readonly rate?: OpusRate;
}

/** 60 ms frames, VOIP application, mono. */
export class OpusEncoder {
  readonly rate: OpusRate;
  /** Samples in one 60 ms frame at `rate` (960 at 16 kHz). */
  readonly frameSamples: number;
  #opus: OpusScript | undefined;

  constructor(options: EncoderOptions) {
    this.rate = options.rate ?? CAPTURE_RATE;
    this.frameSamples = (this.rate * FRAME_MS) / 1000;
    const opus = new OpusScript(this.rate, 1, OpusScript.Application.VOIP);
    if (options.complexity !== undefined) opus.encoderCTL(OPUS_SET_COMPLEXITY, options.complexity);
    if (options.bitrate !== undefined) opus.encoderCTL(OPUS_SET_BITRATE, options.bitrate);
    this.#opus = opus;
  }

  /** Encodes one 60 ms frame (exactly frameSamples × 2 bytes; FRAME_BYTES at 16 kHz) into one packet. */
  encode(pcm: Buffer): Buffer {
    if (!this.#opus) throw new Error('OpusEncoder used after delete()');
    if (pcm.length !== this.frameSamples * 2) {
      throw new RangeError(`expected ${this.frameSamples * 2} bytes, got ${pcm.length}`);
    }
    return this.#opus.encode(pcm, this.frameSamples);
  }

  delete(): void {
    this.#opus?.delete();
    this.#opus = undefined;
  }
}

export class OpusDecoder {
  #opus: OpusScript | undefined;

  /** `rate` is ours, never the server hello's (protocol.md §4.3). */
  constructor(readonly rate: OpusRate) {
    this.#opus = new OpusScript(rate, 1, OpusScript.Application.VOIP);
  }

  /** Decodes one packet; an invalid packet is a Fault value, not an exception. */
  decode(packet: Buffer): Buffer | Fault {
    if (!this.#opus) throw new Error('OpusDecoder used after delete()');
    // opusscript copies the packet into a fixed 3828-byte wasm buffer; a larger one would overrun it.
    if (packet.length === 0 || packet.length > OpusScript.MAX_PACKET_SIZE) {
      return fault(ErrorCode.OpusDecode, `invalid Opus packet length ${packet.length}`);
    }
    try {
      return this.#opus.decode(packet);
    } catch (err) {
      return fault(ErrorCode.OpusDecode, describeError(err));
    }
  }

  /** Forget the previous stream's state (each `tts start`, protocol.md §11.8). */
  reset(): void {
    this.#opus?.decoderCTL(OPUS_RESET_STATE, 0);
  }

  delete(): void {
    this.#opus?.delete();
    this.#opus = undefined;
  }
}
