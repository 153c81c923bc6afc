/**
 * The dev-server's MCP client (protocol.md §5.4): like xinnan it sends `initialize` once the
 * client's hello has advertised `features.mcp`, then `tools/list`, following `nextCursor` to the
 * last page, and logs the tool names. With `mcpVolumeFromSpeech` the session also calls
 * `self.audio_speaker.set_volume` after each utterance (see `volumeForSpeech`).
 *
 * Requests carry ids from a per-connection counter (like xinnan's, from 1); each answer is matched
 * by id within `timeoutMs`, at most `maxPending` requests are outstanding, and at most `maxPages`
 * pages and `maxTools` names are taken from a listing (design.md §5.11). Failures are logged and
 * returned as values, never thrown.
 */

import type { Clock, TimerHandle } from '../core/clock.js';
import { isPlainObject } from '../core/json.js';
import { StateCell } from '../core/state.js';
import type { McpPayload } from '../protocol/messages.js';
import type { Logger } from '../system/logger.js';

export const SET_VOLUME_TOOL = 'self.audio_speaker.set_volume';

export type McpClientState = 'idle' | 'initializing' | 'listing' | 'ready' | 'failed' | 'closed';

export type McpOutcome =
  | { readonly ok: true; readonly result: unknown }
  | { readonly ok: false; readonly error: string };

export interface McpClientPort {
  /** Guarded send of one `mcp` message with this payload; false when the socket is gone. */
  send(payload: McpPayload): boolean;
  readonly clock: Clock;
  readonly log: Logger;
}

export interface McpClientOptions {
  /** Per request; xinnan waits 30 s for a tool call, a dev tool need not. */
  readonly timeoutMs?: number;
  readonly maxPending?: number;
  readonly maxPages?: number;
  readonly maxTools?: number;
}

interface Pending {
  readonly method: string;
  readonly timer: TimerHandle;
  readonly resolve: (outcome: McpOutcome) => void;
}

/** Longest text of an answer we put into a log line. */
const LOG_TEXT_MAX = 200;

function clip(s: string): string {
  return s.length > LOG_TEXT_MAX ? `${s.slice(0, LOG_TEXT_MAX)}…` : s;
}

function describeRpcError(error: unknown): string {
  if (isPlainObject(error) && typeof error.message === 'string') {
    return typeof error.code === 'number' ? `${error.code} ${error.message}` : error.message;
  }
  return clip(JSON.stringify(error) ?? String(error));
}

/**
 * The dev-server has no ASR, so the "spoken" volume is derived from how long the user spoke:
 * 10 per half second of speech, clamped to 10–100 (1.5 s → 30, 4 s → 80, 5 s or more → 100).
 * Deterministic, so a demo or a test can pick the level by the length of what it says.
 */
export function volumeForSpeech(speechMs: number): number {
  const steps = Math.round(Math.max(0, speechMs) / 500);
  return Math.min(100, Math.max(10, steps * 10));
}

export class McpClient {
  readonly #port: McpClientPort;
  readonly #state: StateCell<McpClientState>;
  readonly #pending = new Map<number, Pending>();
  readonly #timeoutMs: number;
  readonly #maxPending: number;
  readonly #maxPages: number;
  readonly #maxTools: number;
  #nextId = 1;
  #tools: string[] = [];

  constructor(port: McpClientPort, o: McpClientOptions = {}) {
    this.#port = port;
    this.#state = new StateCell<McpClientState>('idle', port.log, 'devserver_mcp');
    this.#timeoutMs = o.timeoutMs ?? 5000;
    this.#maxPending = o.maxPending ?? 8;
    this.#maxPages = o.maxPages ?? 16;
    this.#maxTools = o.maxTools ?? 256;
  }

  get state(): McpClientState {
    return this.#state.value;
  }

  /** Names from the last complete listing. */
  get tools(): readonly string[] {
    return this.#tools;
  }

  get pending(): number {
    return this.#pending.size;
  }

  /** initialize, then every page of tools/list. Resolves with the tool names, or undefined on failure. */
  async start(): Promise<readonly string[] | undefined> {
    if (this.#state.value !== 'idle') return undefined;
    this.#state.transition('initializing', 'client hello advertised features.mcp');
    const init = await this.request('initialize', {
      protocolVersion: '2024-11-05',
      capabilities: {},
      clientInfo: { name: 'speakerd-dev-server', version: '1' },
    });
    if (!init.ok) return this.#fail(`initialize: ${init.error}`);
    const info = isPlainObject(init.result) ? init.result.serverInfo : undefined;
    this.#port.log.info(
      { server_info: isPlainObject(info) ? info : undefined },
      'dev-server: client MCP initialized',
    );
    if (this.#current() !== 'initializing') return undefined; // closed meanwhile
    this.#state.transition('listing', 'initialize answered');
    const names: string[] = [];
    let cursor: string | undefined;
    for (let page = 1; ; page++) {
      if (page > this.#maxPages) return this.#fail(`tools/list: more than ${this.#maxPages} pages`);
      const r = await this.request('tools/list', cursor === undefined ? undefined : { cursor });
      if (!r.ok) return this.#fail(`tools/list: ${r.error}`);
      const result = r.result;
      if (!isPlainObject(result) || !Array.isArray(result.tools))
        return this.#fail('tools/list: result without a tools array');
      for (const t of result.tools) {
        if (names.length >= this.#maxTools)
          return this.#fail(`tools/list: more than ${this.#maxTools} tools`);
        names.push(isPlainObject(t) && typeof t.name === 'string' ? clip(t.name) : '(unnamed)');
      }
      const next = result.nextCursor;
      if (typeof next !== 'string' || next === '') break;
      if (next === cursor) return this.#fail(`tools/list: nextCursor ${clip(next)} repeats`);
      cursor = next;
    }
    if (this.#current() !== 'listing') return undefined;
    this.#tools = names;
    this.#port.log.info({ tools: names }, `dev-server: client MCP tools: ${names.join(', ')}`);
    this.#state.transition('ready', `${names.length} tools listed`);
    return names;
  }

  /** tools/call of self.audio_speaker.set_volume; logs the call and the answer. */
  async setVolume(volume: number): Promise<McpOutcome> {
    if (this.#state.value !== 'ready') {
      this.#port.log.info({ volume, mcp: this.#state.value }, 'dev-server: MCP not ready, volume not set');
      return { ok: false, error: `MCP ${this.#state.value}` };
    }
    if (!this.#tools.includes(SET_VOLUME_TOOL)) {
      this.#port.log.info({ volume }, `dev-server: the client has no ${SET_VOLUME_TOOL}, volume not set`);
      return { ok: false, error: `no ${SET_VOLUME_TOOL}` };
    }
    this.#port.log.info({ volume }, `dev-server: MCP ${SET_VOLUME_TOOL} ${volume}`);
    const r = await this.request('tools/call', { name: SET_VOLUME_TOOL, arguments: { volume } });
    if (!r.ok) {
      this.#port.log.warn({ volume, err: r.error }, `dev-server: MCP set_volume failed: ${r.error}`);
      return r;
    }
    const result = r.result;
    const first = isPlainObject(result) && Array.isArray(result.content) ? result.content[0] : undefined;
    const text = isPlainObject(first) && typeof first.text === 'string' ? clip(first.text) : undefined;
    const isError = isPlainObject(result) && result.isError === true;
    // xinnan counts isError:true as a failure too (protocol.md §5.4).
    if (isError) {
      this.#port.log.warn({ volume, text }, 'dev-server: MCP set_volume answered isError');
      return { ok: false, error: text ?? 'isError' };
    }
    this.#port.log.info({ volume, text }, `dev-server: MCP set_volume answered ${text}`);
    return r;
  }

  /** Sends one request and waits (bounded) for its answer. */
  request(method: string, params?: Record<string, unknown>): Promise<McpOutcome> {
    const state = this.#state.value;
    if (state === 'closed') return Promise.resolve({ ok: false, error: 'closed' });
    if (this.#pending.size >= this.#maxPending)
      return Promise.resolve({ ok: false, error: `${this.#maxPending} requests already pending` });
    const id = this.#nextId++;
    const payload: McpPayload = { jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) };
    if (!this.#port.send(payload)) return Promise.resolve({ ok: false, error: 'socket not open' });
    this.#port.log.debug({ id, method }, `dev-server: MCP ${method} sent`);
    return new Promise((resolve) => {
      const timer = this.#port.clock.setTimeout(() => {
        this.#pending.delete(id);
        resolve({ ok: false, error: `no answer to ${method} (id ${id}) within ${this.#timeoutMs} ms` });
      }, this.#timeoutMs);
      this.#pending.set(id, { method, timer, resolve });
    });
  }

  /** An inbound `mcp` payload from the client: an answer to one of ours, or something we only log. */
  onMessage(payload: McpPayload): void {
    if (payload.method !== undefined) {
      // Device-initiated requests and notifications: xinnan only logs them.
      this.#port.log.debug(
        { method: clip(payload.method) },
        'dev-server: MCP message from the client ignored',
      );
      return;
    }
    const id = payload.id;
    const p = typeof id === 'number' ? this.#pending.get(id) : undefined;
    if (typeof id !== 'number' || p === undefined) {
      this.#port.log.debug({ id }, 'dev-server: MCP answer to no pending request ignored');
      return;
    }
    this.#pending.delete(id);
    this.#port.clock.clearTimeout(p.timer);
    if (payload.error !== undefined) p.resolve({ ok: false, error: describeRpcError(payload.error) });
    else p.resolve({ ok: true, result: payload.result });
  }

  /** The session is closing: every pending request ends now. Idempotent. */
  close(): void {
    this.#state.transition('closed', 'session closing');
    for (const [id, p] of this.#pending) {
      this.#port.clock.clearTimeout(p.timer);
      p.resolve({ ok: false, error: `closed before ${p.method} (id ${id}) was answered` });
    }
    this.#pending.clear();
  }

  /** Read through a call: the state can change across an await, which narrowing cannot see. */
  #current(): McpClientState {
    return this.#state.value;
  }

  #fail(why: string): undefined {
    if (this.#state.value === 'closed') return undefined;
    this.#port.log.warn({ err: why }, `dev-server: client MCP failed: ${why}`);
    this.#state.transition('failed', why);
    return undefined;
  }
}
