/**
 * The OTA request (protocol.md §7): one POST to the OTA URL with the device's ids, parsed strictly
 * into what speakerd uses — the WebSocket URL and token, an activation request, the server time.
 * Failures are values with stable codes. Nothing here retries (ota-credentials.ts does) and no
 * line written here carries a token: URLs are redacted, a token is only ever `token_present`.
 */
import os from 'node:os';
import { z } from 'zod';
import { redactUrl } from '../config/load.js';
import { describeError, ErrorCode, type Fault } from '../core/errors.js';
import type { Logger } from '../system/logger.js';

/** Firmware and py-xiaozhi default (protocol.md §7.1, §7.4). */
export const DEFAULT_OTA_URL = 'https://api.tenclass.net/xiaozhi/ota/';

/** The stable codes of OTA failures, a view of core/errors.ts ErrorCode (design.md §5.10). */
export const OtaErrorCode = {
  Unreachable: ErrorCode.OtaUnreachable,
  Timeout: ErrorCode.OtaTimeout,
  Http: ErrorCode.OtaHttp,
  Invalid: ErrorCode.OtaInvalid,
  Rejected: ErrorCode.OtaRejected,
  NoWebsocket: ErrorCode.OtaNoWebsocket,
} as const;
export type OtaErrorCode = (typeof OtaErrorCode)[keyof typeof OtaErrorCode];

/** An OTA failure: a Fault whose code is one of OtaErrorCode. */
export interface OtaFault extends Fault {
  readonly code: OtaErrorCode;
}

export interface OtaWebsocket {
  readonly url: string;
  /** '' when the server sends none: then no Authorization header goes out (protocol.md §7.2). */
  readonly token: string;
  /** Binary protocol version the server asks for (protocol.md §4.4); speakerd speaks 1. */
  readonly version?: number;
}

export interface OtaActivation {
  /** The digits the user enters in the control panel; '' when the server sent only a challenge. */
  readonly code: string;
  /** What the firmware shows on its display, e.g. "<control-panel URL>\n<code>". */
  readonly message: string;
  /** Present: poll `<ota>/activate` (protocol.md §7.3); absent: nothing to poll. */
  readonly challenge?: string;
  /** Parsed, unused, like the firmware. */
  readonly timeoutMs?: number;
}

export interface OtaResult {
  readonly websocket?: OtaWebsocket;
  readonly activation?: OtaActivation;
  readonly serverTime?: { readonly timestamp: number; readonly timezoneOffset?: number };
  /** Top-level members speakerd does not use (firmware, mqtt, …), for the log. */
  readonly ignored: readonly string[];
}

export type OtaCheck =
  | { readonly ok: true; readonly result: OtaResult }
  | { readonly ok: false; readonly fault: OtaFault }
  | { readonly ok: false; readonly aborted: true };

/** One `<ota>/activate` poll (protocol.md §7.3): 200 activated, 202 not yet, anything else failed. */
export type ActivateAnswer =
  | { readonly kind: 'activated' }
  | { readonly kind: 'pending' }
  | { readonly kind: 'failed'; readonly fault: OtaFault }
  | { readonly kind: 'aborted' };

/** The slice of `fetch` used here; a seam for tests. */
export type FetchFn = (url: string, init: RequestInit) => Promise<Response>;

export interface OtaClientOptions {
  readonly url: string;
  readonly identity: { readonly deviceId: string; readonly clientId: string };
  /** speakerd's version: `User-Agent: speakerd/<version>` and `application.version`. */
  readonly version: string;
  /** `Accept-Language` and the body's `language` (firmware: Lang::CODE, e.g. zh-CN). */
  readonly language?: string;
  /** `board.name` in the body, e.g. the host name. */
  readonly boardName: string;
  /** Bound of one request, answer body included. */
  readonly timeoutMs: number;
  /** Wall clock (ms since the epoch), for the clock-skew log line. */
  readonly wallNow: () => number;
  readonly log: Logger;
  readonly fetch?: FetchFn;
  /** The IPv4 address to report; default: first non-internal IPv4, read at each request. */
  readonly localIp?: () => string;
}

/** An OTA answer is a few hundred bytes; a device has no use for one bigger than this. */
const MAX_ANSWER_BYTES = 64 * 1024;
/** Past this, the operator should look at NTP: TLS and token timestamps depend on the clock. */
const SKEW_WARN_MS = 60_000;

const text = z.string().nullish();
const answerSchema = z.object({
  websocket: z
    .object({
      url: z.string().regex(/^wss?:\/\/[^\s/]+/, 'must be a ws:// or wss:// URL'),
      token: text,
      version: z.number().int().min(1).nullish(),
    })
    .optional(),
  activation: z
    .object({ code: text, message: text, challenge: text, timeout_ms: z.number().nullish() })
    .optional(),
  server_time: z.object({ timestamp: z.number(), timezone_offset: z.number().nullish() }).optional(),
});
const USED = new Set(['websocket', 'activation', 'server_time']);

/** `<ota>/activate`, built as the firmware does: a `/` inserted when missing (protocol.md §7.3). */
export function activateUrl(otaUrl: string): string {
  return otaUrl.endsWith('/') ? `${otaUrl}activate` : `${otaUrl}/activate`;
}

export class OtaClient {
  readonly #o: OtaClientOptions;
  readonly #fetch: FetchFn;

  constructor(options: OtaClientOptions) {
    if (!/^https?:\/\//.test(options.url)) throw new RangeError(`OTA URL must be http(s): ${options.url}`);
    this.#o = options;
    this.#fetch = options.fetch ?? fetch;
  }

  get url(): string {
    return this.#o.url;
  }

  /** One OTA request. Never rejects; `signal` (stop) ends it as `aborted`. */
  async check(signal?: AbortSignal): Promise<OtaCheck> {
    const answer = await this.#post(this.#o.url, JSON.stringify(this.#body()), signal);
    if (answer.kind === 'aborted') return { ok: false, aborted: true };
    if (answer.kind === 'fault') return { ok: false, fault: answer.fault };
    if (answer.status !== 200) return { ok: false, fault: httpFault(answer.status, answer.text) };
    const parsed = parseOtaAnswer(answer.text);
    if (parsed.ok) this.#logAnswer(parsed.result);
    return parsed;
  }

  /**
   * One activation poll. The body is `{}`: the firmware sends that when the chip has no eFuse
   * serial number and HMAC key, which a Pi never has (protocol.md §7.3, Activation-Version 1).
   */
  async activate(signal?: AbortSignal): Promise<ActivateAnswer> {
    const answer = await this.#post(activateUrl(this.#o.url), '{}', signal);
    if (answer.kind === 'aborted') return { kind: 'aborted' };
    if (answer.kind === 'fault') return { kind: 'failed', fault: answer.fault };
    if (answer.status === 200) return { kind: 'activated' };
    if (answer.status === 202) return { kind: 'pending' };
    return { kind: 'failed', fault: httpFault(answer.status, answer.text) };
  }

  /** Headers of every OTA and activation request (firmware `Ota::SetupHttp`, protocol.md §7.1). */
  headers(): Record<string, string> {
    const { identity, version, language } = this.#o;
    return {
      // 1: no eFuse serial number, so no HMAC challenge answer (protocol.md §7.1).
      'Activation-Version': '1',
      'Device-Id': identity.deviceId,
      'Client-Id': identity.clientId,
      'User-Agent': `speakerd/${version}`,
      'Accept-Language': language ?? 'zh-CN',
      'Content-Type': 'application/json',
    };
  }

  /** The firmware's system-info body, reduced to what means something on a Pi (protocol.md §7.1). */
  #body(): Record<string, unknown> {
    const { identity, version, language, boardName } = this.#o;
    return {
      version: 2,
      language: language ?? 'zh-CN',
      mac_address: identity.deviceId,
      uuid: identity.clientId,
      // manager-api dereferences application.version for unknown devices (protocol.md §7.1).
      application: { name: 'speakerd', version },
      board: {
        type: 'speakerd',
        name: boardName,
        mac: identity.deviceId,
        ip: (this.#o.localIp ?? firstIpv4)(),
      },
    };
  }

  async #post(url: string, body: string, signal: AbortSignal | undefined): Promise<PostAnswer> {
    const timeout = AbortSignal.timeout(this.#o.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const target = redactUrl(url);
    try {
      const res = await this.#fetch(url, {
        method: 'POST',
        headers: this.headers(),
        body,
        signal: combined,
      });
      const text = await readBounded(res, MAX_ANSWER_BYTES);
      this.#o.log.debug({ url: target, status: res.status, bytes: text?.length }, 'OTA: answer');
      if (text === undefined) {
        return fault(
          OtaErrorCode.Invalid,
          `answer bigger than ${MAX_ANSWER_BYTES} bytes (HTTP ${res.status})`,
        );
      }
      return { kind: 'answer', status: res.status, text };
    } catch (err) {
      if (signal?.aborted) return { kind: 'aborted' };
      if (timeout.aborted)
        return fault(OtaErrorCode.Timeout, `no answer from ${target} within ${this.#o.timeoutMs} ms`);
      return fault(OtaErrorCode.Unreachable, `${target}: ${networkCause(err)}`);
    }
  }

  #logAnswer(r: OtaResult): void {
    const log = this.#o.log;
    const skew = r.serverTime === undefined ? undefined : r.serverTime.timestamp - this.#o.wallNow();
    log.info(
      {
        ota_url: redactUrl(this.#o.url),
        ws_url: r.websocket === undefined ? undefined : redactUrl(r.websocket.url),
        token_present: r.websocket === undefined ? undefined : r.websocket.token !== '',
        ws_version: r.websocket?.version,
        activation: r.activation !== undefined,
        skew_ms: skew,
        // firmware: speakerd is updated by its package, not by the OTA answer; mqtt: WebSocket only.
        ignored: r.ignored.length > 0 ? r.ignored : undefined,
      },
      r.ignored.length > 0
        ? `OTA answered; ignored ${r.ignored.join(', ')} (speakerd speaks WebSocket and is updated by its package)`
        : 'OTA answered',
    );
    if (skew !== undefined && Math.abs(skew) > SKEW_WARN_MS) {
      log.warn(
        { skew_ms: skew },
        `system clock differs from the OTA server's by ${(skew / 1000).toFixed(0)} s; check NTP (TLS and tokens depend on it)`,
      );
    }
  }
}

type PostAnswer =
  | { readonly kind: 'answer'; readonly status: number; readonly text: string }
  | { readonly kind: 'fault'; readonly fault: OtaFault }
  | { readonly kind: 'aborted' };

function fault(code: OtaErrorCode, message: string): PostAnswer {
  return { kind: 'fault', fault: { code, message } };
}

function httpFault(status: number, body: string): OtaFault {
  return { code: OtaErrorCode.Http, message: `HTTP ${status}${snippet(body)}` };
}

/** A short, single-line excerpt of a server's error text (never of a successful answer). */
function snippet(body: string): string {
  const line = body.replace(/\s+/g, ' ').trim().slice(0, 120);
  return line === '' ? '' : `: ${line}`;
}

/** fetch says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND, a TLS error) is its cause. */
function networkCause(err: unknown): string {
  if (err instanceof Error && err.cause !== undefined) return describeError(err.cause);
  return describeError(err);
}

/** The answer text, or undefined past `max` bytes (the stream is cancelled there). */
async function readBounded(res: Response, max: number): Promise<string | undefined> {
  if (res.body === null) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Strict parsing of an HTTP-200 OTA answer (protocol.md §7.2). Pure. */
export function parseOtaAnswer(body: string): OtaCheck {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (err) {
    return invalid(`answer is not JSON (${describeError(err)})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return invalid('answer is not a JSON object');
  if ('success' in raw && raw.success === false) {
    const message = 'message' in raw && typeof raw.message === 'string' ? raw.message : '(no message)';
    return {
      ok: false,
      fault: { code: OtaErrorCode.Rejected, message: `server refused: ${message.slice(0, 200)}` },
    };
  }
  const parsed = answerSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    return invalid(`${first?.path.join('.') || 'answer'}: ${first?.message ?? 'invalid'}`);
  }
  const a = parsed.data;
  const ignored = Object.keys(raw).filter((k) => !USED.has(k));
  const ws = a.websocket;
  const act = a.activation;
  // As the firmware: activation mode when a code or a challenge came (protocol.md §7.2).
  const needsActivation = act !== undefined && (Boolean(act.code) || Boolean(act.challenge));
  const result: OtaResult = {
    ignored,
    ...(ws === undefined
      ? {}
      : {
          websocket: {
            url: ws.url,
            token: ws.token ?? '',
            ...(ws.version == null ? {} : { version: ws.version }),
          },
        }),
    ...(!needsActivation || act === undefined
      ? {}
      : {
          activation: {
            code: act.code ?? '',
            message: act.message ?? '',
            ...(act.challenge ? { challenge: act.challenge } : {}),
            ...(act.timeout_ms == null ? {} : { timeoutMs: act.timeout_ms }),
          },
        }),
    ...(a.server_time === undefined
      ? {}
      : {
          serverTime: {
            timestamp: a.server_time.timestamp,
            ...(a.server_time.timezone_offset == null
              ? {}
              : { timezoneOffset: a.server_time.timezone_offset }),
          },
        }),
  };
  if (result.websocket === undefined && result.activation === undefined) {
    const offers = ignored.includes('mqtt')
      ? 'only MQTT (an mqtt section)'
      : `only: ${ignored.join(', ') || 'nothing'}`;
    return {
      ok: false,
      fault: {
        code: OtaErrorCode.NoWebsocket,
        message: `the OTA answer has no websocket section; it offers ${offers}${errorText(raw)}`,
      },
    };
  }
  return { ok: true, result };
}

/** manager-api answers some errors at HTTP 200 with a `msg`/`message`; worth showing the operator. */
function errorText(raw: object): string {
  for (const key of ['message', 'msg', 'error']) {
    const v: unknown = Reflect.get(raw, key);
    if (typeof v === 'string' && v !== '') return ` (${key}: ${v.slice(0, 120)})`;
  }
  return '';
}

function invalid(message: string): OtaCheck {
  return { ok: false, fault: { code: OtaErrorCode.Invalid, message } };
}

function firstIpv4(): string {
  for (const entries of Object.values(os.networkInterfaces())) {
    const v4 = entries?.find((e) => e.family === 'IPv4' && !e.internal);
    if (v4) return v4.address;
  }
  return '';
}
