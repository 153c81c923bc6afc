/**
 * Shared by the devserver*.test.ts files: a raw `ws` client that queues what it receives, bounded
 * waits, synthetic speech and Opus helpers, and a dev-server started on 127.0.0.1:0.
 */
import type { TestContext } from 'node:test';
import { WebSocket } from 'ws';
import { FRAME_BYTES } from '../../src/audio/audio-port.js';
import { OpusDecoder, OpusEncoder } from '../../src/audio/opus.js';
import { ManualClock, SystemClock } from '../../src/core/clock.js';
import { DevServer, type DevServerOptions } from '../../src/devserver/index.js';
import { rmsDbfs } from '../../src/devserver/vad.js';
import { captureLogger, type LogLine } from '../fakes/capture-logger.js';

export type Frame =
  | { readonly kind: 'text'; readonly text: string; readonly json: Record<string, unknown> | undefined }
  | { readonly kind: 'binary'; readonly data: Buffer };

export const DEVICE_ID = 'aa:bb:cc:dd:ee:ff';
export const CLIENT_ID = '9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d';

/** Rejects after `ms` unless `p` settles first; never leaves its timer behind. */
export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `cond` every few ms until it holds; fails after `ms`. */
export async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await delay(5);
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>) // a non-null, non-array object, checked just above
      : undefined;
  } catch {
    // Not JSON (garbage and plain-text frames are expected in these tests): no object.
    return undefined;
  }
}

export interface ClientOptions {
  readonly deviceId?: string | undefined;
  readonly clientId?: string;
  readonly token?: string;
  readonly maxPayload?: number;
  readonly autoPong?: boolean;
}

export class TestClient {
  readonly ws: WebSocket;
  /** Received and not yet consumed by next()/until(). */
  readonly queue: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly opened: Promise<void>;
  /** HTTP status when the upgrade was refused. */
  rejectedStatus: number | undefined;
  isClosed = false;
  readonly errors: Error[] = [];
  #wake: (() => void) | undefined;

  constructor(url: string, o: ClientOptions = {}) {
    const headers: Record<string, string> = { 'Protocol-Version': '1', 'Client-Id': o.clientId ?? CLIENT_ID };
    const deviceId = 'deviceId' in o ? o.deviceId : DEVICE_ID;
    if (deviceId !== undefined) headers['Device-Id'] = deviceId;
    if (o.token !== undefined) headers.Authorization = `Bearer ${o.token}`;
    this.ws = new WebSocket(url, {
      headers,
      perMessageDeflate: false,
      maxPayload: o.maxPayload ?? 10 * 1024 * 1024,
      autoPong: o.autoPong ?? true,
    });
    this.ws.on('error', (err) => this.errors.push(err));
    this.ws.on('unexpected-response', (_req, res) => {
      this.rejectedStatus = res.statusCode;
      res.resume();
      this.ws.terminate();
    });
    this.ws.on('message', (data, isBinary) => {
      const buf = Array.isArray(data)
        ? Buffer.concat(data)
        : Buffer.isBuffer(data)
          ? data
          : Buffer.from(data);
      const text = buf.toString('utf8');
      this.queue.push(
        isBinary ? { kind: 'binary', data: buf } : { kind: 'text', text, json: parseObject(text) },
      );
      this.#wake?.();
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('close', () => reject(new Error(`closed before open (status ${this.rejectedStatus})`)));
    });
    // Only tests that expect an open await it; the others must not see an unhandled rejection.
    this.opened.catch((err: unknown) =>
      this.errors.push(err instanceof Error ? err : new Error(String(err))),
    );
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => {
        this.isClosed = true;
        this.#wake?.();
        resolve({ code, reason: reason.toString('utf8') });
      });
    });
  }

  /** The next frame, in order. */
  async next(ms = 2000): Promise<Frame> {
    const deadline = Date.now() + ms;
    for (;;) {
      const f = this.queue.shift();
      if (f) return f;
      if (this.isClosed) throw new Error('socket closed while waiting for a frame');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no frame within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          this.#wake = undefined;
          resolve();
        };
      });
    }
  }

  /** Waits `ms` and returns whatever arrived meanwhile (for "nothing more comes" checks). */
  async drain(ms: number): Promise<Frame[]> {
    await delay(ms);
    return this.queue.splice(0);
  }

  /** Consumes frames until one matches; returns it and what came before it. */
  async until(pred: (f: Frame) => boolean, ms = 3000): Promise<{ match: Frame; before: Frame[] }> {
    const deadline = Date.now() + ms;
    const before: Frame[] = [];
    for (;;) {
      const f = await this.next(Math.max(1, deadline - Date.now()));
      if (pred(f)) return { match: f, before };
      before.push(f);
    }
  }

  send(obj: unknown): void {
    this.ws.send(JSON.stringify(obj));
  }

  sendText(text: string): void {
    this.ws.send(text);
  }

  sendBinary(data: Buffer): void {
    this.ws.send(data, { binary: true });
  }

  /** Client hello (protocol.md §3.1), then the server's answer. */
  async hello(): Promise<Record<string, unknown>> {
    await withTimeout(this.opened, 2000, 'open');
    this.send({
      type: 'hello',
      version: 1,
      features: { mcp: true },
      transport: 'websocket',
      audio_params: { format: 'opus', sample_rate: 16000, channels: 1, frame_duration: 60 },
    });
    const f = await this.next();
    if (f.kind !== 'text' || f.json?.type !== 'hello')
      throw new Error(`expected hello, got ${JSON.stringify(f)}`);
    return f.json;
  }

  close(): void {
    this.ws.close();
  }
}

export function isJson(type: string, state?: string): (f: Frame) => boolean {
  return (f) =>
    f.kind === 'text' && f.json?.type === type && (state === undefined || f.json?.state === state);
}

// ---------------------------------------------------------------- audio

/** A voiced-sounding 200 Hz sine/sawtooth mix peaking at exactly `peakDbfs`, 16 kHz mono S16_LE. */
export function voiced(ms: number, peakDbfs = -12): Buffer {
  const n = Math.round((16000 * ms) / 1000);
  const raw = new Float64Array(n);
  let max = 0;
  for (let i = 0; i < n; i++) {
    const phase = (i * 200) / 16000;
    const saw = 2 * (phase - Math.floor(phase + 0.5));
    raw[i] = 0.6 * Math.sin(2 * Math.PI * phase) + 0.4 * saw;
    max = Math.max(max, Math.abs(raw[i] ?? 0));
  }
  const scale = (32767 * 10 ** (peakDbfs / 20)) / (max || 1);
  const out = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) out.writeInt16LE(Math.round((raw[i] ?? 0) * scale), i * 2);
  return out;
}

export function silence(ms: number): Buffer {
  return Buffer.alloc(Math.round((16000 * ms) / 1000) * 2);
}

/** 60 ms Opus packets at 16 kHz via the daemon's own encoder (src/audio/opus.ts). */
export function opusPackets16k(pcm: Buffer): Buffer[] {
  const enc = new OpusEncoder({ complexity: 5 });
  try {
    const out: Buffer[] = [];
    for (let off = 0; off < pcm.length; off += FRAME_BYTES) {
      const frame = Buffer.alloc(FRAME_BYTES);
      pcm.copy(frame, 0, off, Math.min(pcm.length, off + FRAME_BYTES));
      out.push(enc.encode(frame));
    }
    return out;
  } finally {
    enc.delete();
  }
}

/** Decodes downlink packets at 24 kHz; counts the ones that fail. */
export function decode24k(packets: readonly Buffer[]): { pcm: Buffer; failed: number; levelDbfs: number } {
  const dec = new OpusDecoder(24000);
  try {
    const parts: Buffer[] = [];
    let failed = 0;
    for (const p of packets) {
      const r = dec.decode(p);
      if (Buffer.isBuffer(r)) parts.push(r);
      else failed++;
    }
    const pcm = Buffer.concat(parts);
    return { pcm, failed, levelDbfs: rmsDbfs(pcm) };
  } finally {
    dec.delete();
  }
}

// ---------------------------------------------------------------- server

export interface Started {
  readonly server: DevServer;
  readonly clock: SystemClock;
  readonly lines: LogLine[];
  readonly url: string;
  readonly port: number;
}

/** Fast defaults for tests: short VAD silence, short TTS tail and close grace. */
export async function startServer(t: TestContext, options: DevServerOptions = {}): Promise<Started> {
  const { log, lines } = captureLogger('debug');
  const clock = new SystemClock();
  const server = new DevServer(
    { vadSilenceMs: 300, vadMinSpeechMs: 300, ttsTailMs: 120, closeGraceMs: 200, ...options },
    log,
    clock,
  );
  const { url, port } = await server.start();
  t.after(() => server.stop());
  return { server, clock, lines, url, port };
}

export interface ManualStarted {
  readonly server: DevServer;
  readonly clock: ManualClock;
  readonly lines: LogLine[];
  readonly url: string;
}

/**
 * A dev-server on a ManualClock: its timers (TTS pacing, no-voice timer, close delays) move only
 * when the test advances the clock, while the sockets stay real. Server pings are off: a ping
 * fired by the manual clock would be answered in real time, after the clock had moved on.
 */
export async function startManualServer(
  t: TestContext,
  options: DevServerOptions = {},
): Promise<ManualStarted> {
  const { log, lines } = captureLogger('debug');
  const clock = new ManualClock();
  const server = new DevServer(
    {
      vadSilenceMs: 300,
      vadMinSpeechMs: 300,
      ttsTailMs: 120,
      closeGraceMs: 200,
      pingIntervalMs: 0,
      ...options,
    },
    log,
    clock,
  );
  const { url } = await server.start();
  t.after(() => server.stop());
  return { server, clock, lines, url };
}

/** Fires the manual clock's timers one due time at a time until `cond` holds (bounded). */
export function stepUntil(clock: ManualClock, cond: () => boolean, what: string, maxSteps = 10_000): void {
  for (let i = 0; i < maxSteps && !cond(); i++) clock.advance(clock.msToNext());
  if (!cond()) throw new Error(`${what}: not reached within ${maxSteps} timer steps`);
}

export interface Reply {
  readonly stt: string;
  readonly sentence: string | undefined;
  readonly packets: Buffer[];
  readonly order: string[];
}

/** Reads one reply turn up to and including `tts stop`. */
export async function readReply(c: TestClient, ms = 4500): Promise<Reply> {
  const deadline = Date.now() + ms;
  let stt = '';
  let sentence: string | undefined;
  const packets: Buffer[] = [];
  const order: string[] = [];
  for (;;) {
    const f = await c.next(Math.max(1, deadline - Date.now()));
    if (f.kind === 'binary') {
      packets.push(f.data);
      if (order.at(-1) !== 'audio') order.push('audio');
      continue;
    }
    const j = f.json;
    order.push(`${String(j?.type)}${j?.state === undefined ? '' : `:${String(j.state)}`}`);
    if (j?.type === 'stt') stt = String(j.text);
    if (j?.type === 'tts' && j.state === 'sentence_start') sentence = String(j.text);
    if (j?.type === 'tts' && j.state === 'stop') return { stt, sentence, packets, order };
  }
}
