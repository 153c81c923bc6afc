/**
 * CPU of the uplink path per audio second, as a ratio to native libopus (issue 3, "Measure").
 *
 * Both sides encode the same 60 s of speech (the fixture looped) at the same settings: 16 kHz mono,
 * OPUS_APPLICATION_VOIP, complexity 5, 60 ms frames.
 *  - native: bench/opus-native.c, its own CPU clock around the encode loop only (no file I/O).
 *  - speakerd: 4000-byte chunks (an arecord period, not a multiple of a frame) → FrameAssembler →
 *    OpusEncoder.encode (opusscript) → SessionSupervisor.sendAudio (the guarded send) on a real `ws`
 *    connection to the dev-server, which runs in a child process so its decoding is not counted.
 *    One event-loop turn per chunk, as one pipe read per chunk on the device; process.cpuUsage()
 *    (user + system) around the loop. The recorder process itself is outside both sides.
 *  - opusscript encode alone, for the breakdown: how much of the ratio is wasm and how much the rest.
 * One warm-up run each, then RUNS interleaved runs; medians.
 */
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { CAPTURE_RATE, FRAME_BYTES } from '../src/audio/audio-port.js';
import { readPcmFile } from '../src/audio/file-audio.js';
import { FrameAssembler } from '../src/audio/frames.js';
import { OpusEncoder } from '../src/audio/opus.js';
import { configSchema } from '../src/config/schema.js';
import { SystemClock } from '../src/core/clock.js';
import { systemRandom } from '../src/core/random.js';
import { SessionSupervisor } from '../src/session/supervisor.js';
import { wsConnector } from '../src/transport/ws-connector.js';
import { startServerChild } from './children.js';
import { DEVICE_ID, deviceLogger, fixedCredentials, SPEECH_FILE, wsUrl } from './device.js';
import { buildNative, type NativeRun, runNative } from './native.js';
import { median } from './stats.js';

export const AUDIO_SECONDS = 60;
export const COMPLEXITY = 5;
const RUNS = 5;
/** An arecord period's worth of bytes; deliberately not a multiple of FRAME_BYTES. */
const CHUNK_BYTES = 4000;

export interface PathRun {
  readonly cpuMs: number;
  readonly frames: number;
  readonly bytes: number;
  readonly refused: number;
}

export interface CpuResult {
  readonly audioSeconds: number;
  /** CPU ms per audio second, medians. */
  readonly speakerd: number;
  readonly encodeOnly: number;
  readonly native: number | undefined;
  readonly ratio: number | undefined;
  readonly nativeVersion: string | undefined;
  /** Why there is no native number. */
  readonly nativeSkipped: string | undefined;
  /** Opus bytes per run: the two encoders should produce about the same stream. */
  readonly speakerdBytes: number;
  readonly nativeBytes: number | undefined;
  readonly refused: number;
  readonly runs: number;
}

/** The fixture looped to `seconds`, whole frames. */
function speech(seconds: number): Buffer {
  const one = readPcmFile(SPEECH_FILE);
  const out = Buffer.alloc(seconds * CAPTURE_RATE * 2);
  for (let off = 0; off < out.length; off += one.length)
    one.copy(out, off, 0, Math.min(one.length, out.length - off));
  return out;
}

async function speakerdRun(pcm: Buffer, send: (packet: Buffer) => boolean): Promise<PathRun> {
  const encoder = new OpusEncoder({ complexity: COMPLEXITY });
  const frames = new FrameAssembler();
  let n = 0;
  let bytes = 0;
  let refused = 0;
  const onFrame = (frame: Buffer): void => {
    const packet = encoder.encode(frame);
    n++;
    bytes += packet.length;
    if (!send(packet)) refused++;
  };
  const c0 = process.cpuUsage();
  for (let off = 0; off < pcm.length; off += CHUNK_BYTES) {
    // A fresh Buffer per chunk, as a pipe read delivers one.
    frames.push(Buffer.from(pcm.subarray(off, off + CHUNK_BYTES)), onFrame);
    await nextTurn();
  }
  const c = process.cpuUsage(c0);
  encoder.delete();
  return { cpuMs: (c.user + c.system) / 1000, frames: n, bytes, refused };
}

function encodeOnlyRun(frames: readonly Buffer[]): number {
  const encoder = new OpusEncoder({ complexity: COMPLEXITY });
  const c0 = process.cpuUsage();
  for (const f of frames) encoder.encode(f);
  const c = process.cpuUsage(c0);
  encoder.delete();
  return (c.user + c.system) / 1000;
}

/** A supervisor connected to a dev-server child; the guarded send the daemon uses per frame. */
async function connectUplink(): Promise<{ supervisor: SessionSupervisor; close: () => Promise<void> }> {
  const server = await startServerChild(1);
  const url = wsUrl(server.port);
  const config = configSchema.parse({ server: { websocketUrl: url } });
  const supervisor = new SessionSupervisor({
    connector: wsConnector,
    credentials: fixedCredentials(url),
    identity: { deviceId: DEVICE_ID, clientId: 'b0000000-0000-4000-8000-000000000000' },
    config: config.connection,
    clock: new SystemClock(),
    random: systemRandom,
    log: deviceLogger().child({ component: 'session' }),
  });
  const close = async (): Promise<void> => {
    await supervisor.stop();
    await server.stop();
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no server hello within 10 s')), 10_000);
      supervisor.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
      supervisor.start();
    });
  } catch (err) {
    await close();
    throw err;
  }
  return { supervisor, close };
}

/** `audioSeconds` and `runs`: smaller for the bench's short form (`--short`), same code paths. */
export async function measureCpu(
  say: (line: string) => void,
  o: { audioSeconds?: number; runs?: number } = {},
): Promise<CpuResult> {
  const audioSeconds = o.audioSeconds ?? AUDIO_SECONDS;
  const runs = o.runs ?? RUNS;
  const pcm = speech(audioSeconds);
  const frameList: Buffer[] = [];
  for (let off = 0; off + FRAME_BYTES <= pcm.length; off += FRAME_BYTES)
    frameList.push(pcm.subarray(off, off + FRAME_BYTES));

  const native = await buildNative(say);
  const nativeSkipped = typeof native === 'string' ? native : undefined;
  // Beside the binary: its temporary directory goes, file included, with dispose().
  const file = typeof native === 'string' ? '' : join(dirname(native.binary), 'speech60.raw');
  if (typeof native !== 'string') await writeFile(file, pcm);

  const js: PathRun[] = [];
  const enc: number[] = [];
  const nat: NativeRun[] = [];
  let uplink: Awaited<ReturnType<typeof connectUplink>> | undefined;
  try {
    uplink = await connectUplink();
    const { supervisor } = uplink;
    const send = (packet: Buffer): boolean => supervisor.sendAudio(packet);
    // Warm-up: wasm compilation tiers and JIT first, then the measured, interleaved runs.
    await speakerdRun(pcm, send);
    encodeOnlyRun(frameList);
    if (typeof native !== 'string') await runNative(native, file, COMPLEXITY);
    for (let i = 0; i < runs; i++) {
      js.push(await speakerdRun(pcm, send));
      enc.push(encodeOnlyRun(frameList));
      if (typeof native !== 'string') nat.push(await runNative(native, file, COMPLEXITY));
    }
  } finally {
    await uplink?.close();
    if (typeof native !== 'string') await native.dispose();
  }

  // Both sides must have encoded the same frames (1000 in 60 s), or the ratio compares different work.
  const short = [...js.map((r) => r.frames), ...nat.map((r) => r.frames)].find((f) => f !== frameList.length);
  if (short !== undefined) throw new Error(`a run encoded ${short} frames, not ${frameList.length}`);
  const perS = (ms: number): number => ms / audioSeconds;
  const speakerd = perS(median(js.map((r) => r.cpuMs)));
  const nativeMs = nat.length ? perS(median(nat.map((r) => r.cpuMs))) : undefined;
  return {
    audioSeconds,
    speakerd,
    encodeOnly: perS(median(enc)),
    native: nativeMs,
    ratio: nativeMs ? speakerd / nativeMs : undefined,
    nativeVersion: nat[0]?.version,
    nativeSkipped,
    speakerdBytes: js[0]?.bytes ?? 0,
    nativeBytes: nat[0]?.bytes,
    refused: js.reduce((s, r) => s + r.refused, 0),
    runs,
  };
}
