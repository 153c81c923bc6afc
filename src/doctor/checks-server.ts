/**
 * `doctor` checks of the path to the server, in order (design.md §3.2): the URL, DNS, TCP, TLS
 * for wss:// (certificate verified as the daemon verifies it), OTA, then the WebSocket hello and
 * the token (checks-websocket.ts). Every step is bounded by `timeoutMs`; a step that fails skips
 * the ones that need it, so a stopped server is one ✗ line, quickly.
 */
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { redactUrl } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { describeError, errnoCode } from '../core/errors.js';
import type { Identity } from '../provisioning/identity.js';
import type { Connector } from '../transport/connection.js';
import { type CheckResult, failed, ms, pass, skip, timed } from './check.js';
import { checkTls } from './checks-tls.js';
import { checkWebSocket } from './checks-websocket.js';

export interface ServerCheckOptions {
  readonly config: Readonly<Config>;
  readonly identity: Identity | undefined;
  /** Bound of each network step (DNS, TCP, TLS, upgrade). */
  readonly timeoutMs: number;
  readonly connector: Connector;
}

export interface ServerReport {
  readonly results: CheckResult[];
  /** The server certificate's validity window, when TLS was checked (for the clock check). */
  readonly cert?: { readonly validFrom: Date; readonly validTo: Date };
  /** The server's HTTP `Date`, or why it is not known. */
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

/** The server checks after DNS, in order. */
const LATER = ['tcp', 'tls', 'ota', 'websocket', 'token', 'hello'] as const;

/** OTA provisioning has no config key yet: the daemon connects to server.websocketUrl as given. */
const OTA = skip('ota', 'not configured: server.websocketUrl is explicit');

/** Every server check after `after` skipped because it failed (OTA says why it never applies). */
function skipRest(after: (typeof LATER)[number] | 'dns', needs: string, secure: boolean): CheckResult[] {
  return LATER.slice(after === 'dns' ? 0 : LATER.indexOf(after) + 1)
    .filter((n) => n !== 'tls' || secure)
    .map((n) => (n === 'ota' ? OTA : skip(n, `needs ${needs}`)));
}

export async function checkServer(o: ServerCheckOptions): Promise<ServerReport> {
  const { config, timeoutMs } = o;
  const shown = redactUrl(config.server.websocketUrl);
  let url: URL;
  try {
    url = new URL(config.server.websocketUrl);
  } catch (err) {
    const r = failed(
      'server url',
      `${shown}: ${describeError(err)}`,
      'fix server.websocketUrl (ws://HOST:PORT/xiaozhi/v1/)',
    );
    return { results: [r], serverDate: 'no server URL' };
  }
  const secure = url.protocol === 'wss:';
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port);
  const results: CheckResult[] = [];
  const done = (serverDate: Date | string, extra?: Pick<ServerReport, 'cert'>): ServerReport => ({
    results,
    serverDate,
    ...extra,
  });

  const lookup = await timed(() => checkDns(host, timeoutMs));
  results.push(lookup);
  if (lookup.ok === false) {
    results.push(...skipRest('dns', 'DNS', secure));
    return done('DNS failed');
  }
  const tcp = await timed(() => checkTcp(host, port, timeoutMs));
  results.push(tcp);
  if (tcp.ok === false) {
    results.push(...skipRest('tcp', 'TCP', secure));
    return done('TCP failed');
  }
  let cert: ServerReport['cert'];
  if (secure) {
    const t = await timed(async () => {
      const got = await checkTls(host, port, timeoutMs, config.server.allowInsecureTls);
      cert = got.cert;
      return got.result;
    });
    results.push(t);
    if (t.ok === false) {
      results.push(...skipRest('tls', 'a verified TLS certificate', secure));
      return done(await serverDate(url, host, port, timeoutMs), cert ? { cert } : {});
    }
  } else {
    results.push(skip('tls', 'ws:// has no TLS; the token travels in clear text, use wss:// beyond the LAN'));
  }
  results.push(OTA);
  const date = await serverDate(url, host, port, timeoutMs);
  const ws = await checkWebSocket({ ...o, url: config.server.websocketUrl, shownUrl: shown });
  results.push(...ws);
  return done(date, cert ? { cert } : {});
}

async function checkDns(host: string, timeoutMs: number): Promise<CheckResult> {
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
        ? `check the host name in server.websocketUrl (getent hosts ${host})`
        : 'no DNS answer: is the network up (ip addr, ip route)? check /etc/resolv.conf';
    return failed('dns', `${host}: ${describeError(err)}`, fix);
  }
}

function checkTcp(host: string, port: number, timeoutMs: number): Promise<CheckResult> {
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
          ? `nothing listens on ${target}: start the server, or fix the port in server.websocketUrl`
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
