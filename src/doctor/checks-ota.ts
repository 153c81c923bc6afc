/**
 * The `doctor` OTA check (protocol.md §7, design.md §3.7): when server.websocketUrl is unset, the
 * daemon gets its WebSocket URL and token from server.otaUrl. This asks once, as the daemon does
 * (same headers and body, one bounded request, no retries, no activation polling), and reports
 * what came back: the WebSocket URL (redacted), whether a token came (never the token), the clock
 * skew against `server_time`, and a pending activation code. A failure names its cause — DNS, TCP,
 * TLS of the OTA host, an HTTP status, an answer that is not an OTA answer — and the fix.
 */
import os from 'node:os';
import { redactUrl } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { describeError, errnoCode } from '../core/errors.js';
import type { Identity } from '../provisioning/identity.js';
import { type FetchFn, OtaClient, OtaErrorCode, type OtaFault } from '../provisioning/ota.js';
import { createLogger } from '../system/logger.js';
import { packageVersion } from '../version.js';
import { type CheckResult, failed, ms, pass } from './check.js';
import { TLS_FIXES } from './checks-tls.js';

export interface OtaCheckOptions {
  readonly config: Readonly<Config>;
  readonly identity: Identity;
  /** Bound of the request, answer included (already min(ota.timeoutMs, --timeout-ms)). */
  readonly timeoutMs: number;
  /** Wall clock, for the skew against `server_time`. */
  readonly now: () => Date;
  /** Test seam; default the global fetch, as the daemon's OtaClient. */
  readonly fetch?: FetchFn;
}

export interface OtaOutcome {
  readonly result: CheckResult;
  /** What the daemon would connect to; absent when OTA failed or handed out no websocket. */
  readonly websocket?: { readonly url: string; readonly token: string };
  /** Set while the server waits for the user to enter the code: the device may not talk yet. */
  readonly activationPending?: boolean;
  /** The OTA server's clock (`server_time`), for the clock check. */
  readonly serverTime?: Date;
}

/** The request is bounded by OtaClient's own timeout; this is the backstop should that ever fail. */
const BACKSTOP_MS = 1_000;

export async function checkOta(o: OtaCheckOptions): Promise<OtaOutcome> {
  const otaUrl = o.config.server.otaUrl;
  const shown = redactUrl(otaUrl);
  let url: URL;
  try {
    url = new URL(otaUrl);
  } catch (err) {
    return {
      result: failed(
        'ota',
        `${shown}: not a URL (${describeError(err)})`,
        'fix server.otaUrl (https://HOST/xiaozhi/ota/)',
      ),
    };
  }
  // fetch says only "fetch failed"; the errno or TLS code of its cause picks the fix.
  let cause: unknown;
  const base: FetchFn = o.fetch ?? fetch;
  const recording: FetchFn = async (target, init) => {
    try {
      return await base(target, init);
    } catch (err) {
      cause = err instanceof Error && err.cause !== undefined ? err.cause : err;
      throw err;
    }
  };
  let client: OtaClient;
  try {
    client = new OtaClient({
      url: otaUrl,
      identity: o.identity,
      version: packageVersion(),
      language: o.config.ota.language,
      boardName: os.hostname(),
      timeoutMs: o.timeoutMs,
      wallNow: () => o.now().getTime(),
      log: createLogger({ level: 'silent', format: 'json', destination: { write: () => undefined } }),
      fetch: recording,
    });
  } catch (err) {
    return {
      result: failed(
        'ota',
        `${shown}: ${describeError(err)}`,
        'fix server.otaUrl (https://HOST/xiaozhi/ota/)',
      ),
    };
  }
  const t0 = performance.now();
  const answer = await client.check(AbortSignal.timeout(o.timeoutMs + BACKSTOP_MS));
  const took = ms(performance.now() - t0);
  if (!answer.ok) {
    if ('aborted' in answer)
      return {
        result: failed('ota', `${shown}: no answer within ${o.timeoutMs} ms`, timeoutFix(shown)),
      };
    return {
      result: failed(
        'ota',
        `${detailOf(answer.fault, shown)} (${answer.fault.code})`,
        fixOf(answer.fault, cause, url, shown),
      ),
    };
  }
  const r = answer.result;
  const notes: string[] = [];
  if (r.websocket !== undefined) {
    notes.push(`websocket ${redactUrl(r.websocket.url)}`);
    notes.push(`token ${r.websocket.token === '' ? 'no' : 'yes'}`);
  } else {
    notes.push('no websocket section yet');
  }
  let serverTime: Date | undefined;
  if (r.serverTime !== undefined) {
    serverTime = new Date(r.serverTime.timestamp);
    const aheadS = Math.round((o.now().getTime() - r.serverTime.timestamp) / 1000);
    notes.push(
      Math.abs(aheadS) <= 1
        ? 'this clock agrees with server_time (±1 s)'
        : `this clock is ${Math.abs(aheadS)} s ${aheadS > 0 ? 'ahead of' : 'behind'} server_time`,
    );
  }
  const act = r.activation;
  if (act !== undefined) {
    notes.push(
      act.code === ''
        ? 'activation pending: no code (the server sent only a challenge) — bind this Device-Id in the server’s console'
        : `activation pending: code ${act.code} — say it to the server's console/app`,
    );
  }
  return {
    result: pass('ota', `${shown} answered in ${took}: ${notes.join(', ')}`),
    ...(r.websocket === undefined ? {} : { websocket: { url: r.websocket.url, token: r.websocket.token } }),
    ...(act === undefined ? {} : { activationPending: true }),
    ...(serverTime === undefined ? {} : { serverTime }),
  };
}

/** The fault's message, with the (redacted) OTA URL in front when the message lacks it. */
function detailOf(fault: OtaFault, shown: string): string {
  return fault.message.includes(shown) ? fault.message : `${shown}: ${fault.message}`;
}

function timeoutFix(shown: string): string {
  return `is the OTA server up and reachable? (curl -v -X POST ${shown}); on a slow link raise ota.timeoutMs and --timeout-ms`;
}

const ABOUT_PATH = 'is server.otaUrl the xiaozhi OTA endpoint (http(s)://HOST:PORT/xiaozhi/ota/)?';

function fixOf(fault: OtaFault, cause: unknown, url: URL, shown: string): string {
  switch (fault.code) {
    case OtaErrorCode.Unreachable:
      return unreachableFix(errnoCode(cause), url, shown);
    case OtaErrorCode.Timeout:
      return timeoutFix(shown);
    case OtaErrorCode.Http:
      return `${ABOUT_PATH} see the OTA server's log`;
    case OtaErrorCode.Invalid:
      return `the answer is not an OTA answer: ${ABOUT_PATH}`;
    case OtaErrorCode.Rejected:
      return 'the OTA server refused this device: see its log (xinnan says "request error." without Device-Id/Client-Id); or set server.websocketUrl and server.token to skip OTA';
    case OtaErrorCode.NoWebsocket:
      return 'speakerd speaks WebSocket only: give the server a websocket URL (xinnan server.websocket), or set server.websocketUrl';
    default:
      return `see the OTA server's log (curl -v -X POST ${shown})`;
  }
}

/** DNS, TCP or TLS of the OTA host: the errno/TLS code of fetch's cause decides. */
function unreachableFix(code: string | undefined, url: URL, shown: string): string {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  const target = `${host}:${port}`;
  switch (code) {
    case 'ENOTFOUND':
      return `check the host name in server.otaUrl (getent hosts ${host})`;
    case 'EAI_AGAIN':
      return 'no DNS answer: is the network up (ip addr, ip route)? check /etc/resolv.conf';
    case 'ECONNREFUSED':
      return `nothing listens on ${target}: start the OTA server, or fix the port in server.otaUrl`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'no route to the OTA server: is the network connected (ip addr, ip route)?';
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return `the connection was cut: http:// vs https:// in server.otaUrl? a proxy or firewall in the way? (curl -v -X POST ${shown})`;
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
      return `${target} does not speak TLS: use http:// in server.otaUrl, or the server's TLS port`;
  }
  if (code !== undefined) {
    switch (TLS_FIXES[code]) {
      case 'CA':
        return 'give Node the CA of the OTA server (Environment=NODE_EXTRA_CA_CERTS=/etc/speakerd/ca.pem in the unit)';
      case 'time':
        return 'check this clock first (see the clock line; sudo timedatectl set-ntp true); if it is right, the OTA server’s certificate needs renewing';
      case 'name':
        return 'use a host name the certificate is issued for in server.otaUrl';
    }
  }
  return `check that ${target} is reachable from this network (curl -v -X POST ${shown})`;
}
