/**
 * `doctor` checks of the path to the server, in order (design.md §3.2, §3.7): OTA when
 * server.websocketUrl is unset (checks-ota.ts: it hands out the URL and token), then DNS, TCP,
 * TLS for wss:// (certificate verified as the daemon verifies it), and the WebSocket hello and
 * token (checks-websocket.ts) against the URL the daemon would use — the configured one, or the
 * one OTA handed out. Every step is bounded by `timeoutMs`; a step that fails skips the ones that
 * need it, so a stopped server is one ✗ line, quickly.
 */
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { redactUrl } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { describeError, errnoCode } from '../core/errors.js';
import type { Identity } from '../provisioning/identity.js';
import type { FetchFn } from '../provisioning/ota.js';
import type { Connector } from '../transport/connection.js';
import { type CheckResult, failed, ms, pass, skip, timed } from './check.js';
import { checkOta } from './checks-ota.js';
import { checkTls } from './checks-tls.js';
import { checkWebSocket } from './checks-websocket.js';

export interface ServerCheckOptions {
  readonly config: Readonly<Config>;
  readonly identity: Identity | undefined;
  /** Bound of each network step (OTA, DNS, TCP, TLS, upgrade). */
  readonly timeoutMs: number;
  readonly connector: Connector;
  /** Wall clock (OTA server_time skew). */
  readonly now: () => Date;
  /** Each result as it is known, for progress on a terminal. */
  readonly emit?: (result: CheckResult) => void;
  /** Test seam for the OTA request; default the global fetch. */
  readonly fetch?: FetchFn;
}

export interface ServerReport {
  readonly results: CheckResult[];
  /** The server certificate's validity window, when TLS was checked (for the clock check). */
  readonly cert?: { readonly validFrom: Date; readonly validTo: Date };
  /** The server's HTTP `Date` (or the OTA server_time), or why it is not known. */
  readonly serverDate: Date | string;
}

/** Rejects with an ETIMEDOUT error after `timeoutMs`; the timer never outlives the race. */
function bounded<T>(what: string, timeoutMs: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(Object.assign(new Error(`${what}: no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })),
      timeoutMs,
    );
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** The checks of the path to the WebSocket server, in order. */
const PATH = ['dns', 'tcp', 'tls', 'websocket', 'token', 'hello'] as const;
type PathCheck = (typeof PATH)[number];

/** Every path check after `after` (all of them for undefined), skipped with `why`. */
function skipAfter(after: PathCheck | undefined, why: string, secure: boolean | undefined): CheckResult[] {
  return PATH.slice(after === undefined ? 0 : PATH.indexOf(after) + 1)
    .filter((n) => n !== 'tls' || secure !== false)
    .map((n) => skip(n, why));
}

/** What the daemon would connect to, and where it comes from. */
interface Target {
  readonly url: string;
  readonly token: string;
  readonly from: 'config' | 'ota';
}

/** The config key (or the server setting) to fix when the URL is wrong. */
function urlKey(from: Target['from']): string {
  return from === 'config'
    ? 'server.websocketUrl'
    : 'the websocket URL the OTA server hands out (its server.websocket setting)';
}

export async function checkServer(o: ServerCheckOptions): Promise<ServerReport> {
  const { config, timeoutMs } = o;
  const results: CheckResult[] = [];
  const push = (...rs: CheckResult[]) => {
    for (const r of rs) {
      results.push(r);
      o.emit?.(r);
    }
  };
  const explicit = config.server.websocketUrl;
  if (explicit !== undefined) {
    push(skip('ota', 'server.websocketUrl is set: no OTA'));
    return checkPath(o, { url: explicit, token: config.server.token, from: 'config' }, push, results);
  }
  if (o.identity === undefined) {
    push(
      skip('ota', 'needs the Device-Id and Client-Id (see identity)'),
      ...skipAfter(undefined, 'needs the OTA answer', undefined),
    );
    return { results, serverDate: 'no OTA answer' };
  }
  const identity = o.identity;
  let answer: Awaited<ReturnType<typeof checkOta>> | undefined;
  push(
    await timed(async () => {
      answer = await checkOta({
        config,
        identity,
        // OTA has its own bound; doctor's --timeout-ms caps it, like every other step.
        timeoutMs: Math.min(config.ota.timeoutMs, timeoutMs),
        now: o.now,
        ...(o.fetch === undefined ? {} : { fetch: o.fetch }),
      });
      return answer.result;
    }),
  );
  const otaTime = answer?.serverTime;
  const ws = answer?.websocket;
  if (ws === undefined) {
    const pending = answer?.activationPending === true;
    push(...skipAfter(undefined, pending ? 'activation pending' : 'needs the OTA answer', undefined));
    return { results, serverDate: otaTime ?? (pending ? 'activation pending' : 'no OTA answer') };
  }
  const report = await checkPath(
    o,
    { url: ws.url, token: ws.token, from: 'ota' },
    push,
    results,
    answer?.activationPending === true ? 'activation pending' : undefined,
  );
  // The WebSocket server's Date when it answered; else the OTA server's clock.
  return otaTime !== undefined && !(report.serverDate instanceof Date)
    ? { ...report, serverDate: otaTime }
    : report;
}

/**
 * DNS, TCP, TLS, then the WebSocket round trip to `target`. `holdBeforeWebSocket`: a reason not to
 * open the WebSocket (activation pending: the server refuses the device until the code is entered).
 */
async function checkPath(
  o: ServerCheckOptions,
  target: Target,
  push: (...rs: CheckResult[]) => void,
  results: CheckResult[],
  holdBeforeWebSocket?: string,
): Promise<ServerReport> {
  const { config, timeoutMs } = o;
  const key = urlKey(target.from);
  const shown = redactUrl(target.url);
  let url: URL;
  try {
    url = new URL(target.url);
  } catch (err) {
    push(
      failed(
        'server url',
        `${shown}: ${describeError(err)}`,
        target.from === 'config'
          ? 'fix server.websocketUrl (ws://HOST:PORT/xiaozhi/v1/)'
          : `fix ${key} (ws://HOST:PORT/xiaozhi/v1/)`,
      ),
      ...skipAfter(undefined, 'needs a valid server URL', undefined),
    );
    return { results, serverDate: 'no server URL' };
  }
  const secure = url.protocol === 'wss:';
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port);
  const done = (serverDate: Date | string, extra?: Pick<ServerReport, 'cert'>): ServerReport => ({
    results,
    serverDate,
    ...extra,
  });

  const lookup = await timed(() => checkDns(host, timeoutMs, key));
  push(lookup);
  if (lookup.ok === false) {
    push(...skipAfter('dns', 'needs DNS', secure));
    return done('DNS failed');
  }
  const tcp = await timed(() => checkTcp(host, port, timeoutMs, key));
  push(tcp);
  if (tcp.ok === false) {
    push(...skipAfter('tcp', 'needs TCP', secure));
    return done('TCP failed');
  }
  let cert: ServerReport['cert'];
  if (secure) {
    const t = await timed(async () => {
      const got = await checkTls(host, port, timeoutMs, config.server.allowInsecureTls, key);
      cert = got.cert;
      return got.result;
    });
    push(t);
    if (t.ok === false) {
      push(...skipAfter('tls', 'needs a verified TLS certificate', secure));
      return done(await serverDate(url, host, port, timeoutMs), cert ? { cert } : {});
    }
  } else {
    push(skip('tls', 'ws:// has no TLS; the token travels in clear text, use wss:// beyond the LAN'));
  }
  const date = await serverDate(url, host, port, timeoutMs);
  if (holdBeforeWebSocket !== undefined) {
    push(...skipAfter('tls', holdBeforeWebSocket, secure));
    return done(date, cert ? { cert } : {});
  }
  push(
    ...(await checkWebSocket({
      ...o,
      url: target.url,
      shownUrl: shown,
      token: target.token,
      from: target.from,
    })),
  );
  return done(date, cert ? { cert } : {});
}

async function checkDns(host: string, timeoutMs: number, key: string): Promise<CheckResult> {
  if (net.isIP(host) !== 0) return skip('dns', `${host} is an IP address, no lookup needed`);
  const t0 = performance.now();
  try {
    const addrs = await bounded(`lookup ${host}`, timeoutMs, dns.promises.lookup(host, { all: true }));
    return pass(
      'dns',
      `${host} → ${addrs.map((a) => a.address).join(', ')} in ${ms(performance.now() - t0)}`,
    );
  } catch (err) {
    const code = errnoCode(err);
    const fix =
      code === 'ENOTFOUND'
        ? `check the host name in ${key} (getent hosts ${host})`
        : 'no DNS answer: is the network up (ip addr, ip route)? check /etc/resolv.conf';
    return failed('dns', `${host}: ${describeError(err)}`, fix);
  }
}

function checkTcp(host: string, port: number, timeoutMs: number, key: string): Promise<CheckResult> {
  const t0 = performance.now();
  const target = `${host}:${port}`;
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(
        failed(
          'tcp',
          `${target}: no answer within ${timeoutMs} ms (packets dropped: a firewall, a wrong address, or the host is down)`,
          `check that ${target} is reachable from this network (nc -vz ${host} ${port}); a firewall or VPN in the way?`,
        ),
      );
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      const remote = `${socket.remoteAddress ?? host}:${socket.remotePort ?? port}`;
      socket.destroy();
      resolve(pass('tcp', `connected to ${remote} in ${ms(performance.now() - t0)}`));
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      const code = errnoCode(err);
      const fix =
        code === 'ECONNREFUSED'
          ? `nothing listens on ${target}: start the server, or fix the port in ${key}`
          : code === 'EHOSTUNREACH' || code === 'ENETUNREACH'
            ? 'no route to the server: is the network connected (ip addr, ip route)?'
            : `check that ${target} is reachable from this network (nc -vz ${host} ${port})`;
      resolve(failed('tcp', `${target}: ${describeError(err)}`, fix));
    });
  });
}

/**
 * The server's HTTP `Date` from a plain GET on the WebSocket path (xinnan and the dev-server answer
 * "Server is running"), to compare clocks. Only a diagnostic: a failure is a note, not a check.
 */
async function serverDate(url: URL, host: string, port: number, timeoutMs: number): Promise<Date | string> {
  const secure = url.protocol === 'wss:';
  // The query may carry a credential: only the path goes out.
  const options = { host, port, path: url.pathname, method: 'GET', headers: { Host: url.host } };
  const got = new Promise<string | undefined>((resolve, reject) => {
    const req = secure
      ? // Unverified on purpose: only the Date is read, and a bad clock is one reason TLS fails.
        https.request({
          ...options,
          rejectUnauthorized: false,
          ...(net.isIP(host) === 0 ? { servername: host } : {}),
        })
      : http.request(options);
    req.once('response', (res) => {
      res.resume();
      resolve(res.headers.date);
      req.destroy();
    });
    req.on('error', reject);
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no HTTP answer within ${timeoutMs} ms`)));
    req.end();
  });
  try {
    const text = await bounded('HTTP Date', timeoutMs, got);
    if (text === undefined) return 'the server sent no Date header';
    const date = new Date(text);
    return Number.isNaN(date.getTime()) ? `unparseable Date ${JSON.stringify(text)}` : date;
  } catch (err) {
    return describeError(err);
  }
}
