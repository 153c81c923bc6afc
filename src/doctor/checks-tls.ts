/**
 * The `doctor` TLS check for wss:// (design.md §3.2): the handshake with the host name as SNI, the
 * certificate verified as the daemon's `ws` client verifies it (Node's CA store plus
 * NODE_EXTRA_CA_CERTS, host name checked), described either way: subject, issuer, days left.
 */
import net from 'node:net';
import tls from 'node:tls';
import { describeError } from '../core/errors.js';
import { type CheckResult, failed, ms, pass } from './check.js';

export interface TlsOutcome {
  readonly result: CheckResult;
  /** The certificate's validity window, for the clock check. */
  readonly cert?: { readonly validFrom: Date; readonly validTo: Date };
}

/** Which kind of fix a certificate error code needs (also for the OTA host, checks-ota.ts). */
export const TLS_FIXES: Readonly<Record<string, string>> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'CA',
  SELF_SIGNED_CERT_IN_CHAIN: 'CA',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'CA',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'CA',
  CERT_HAS_EXPIRED: 'time',
  CERT_NOT_YET_VALID: 'time',
  ERR_TLS_CERT_ALTNAME_INVALID: 'name',
};

function tlsFix(code: string, names: string | undefined, urlKey: string): string {
  switch (TLS_FIXES[code]) {
    case 'CA':
      return 'give Node the CA (Environment=NODE_EXTRA_CA_CERTS=/etc/speakerd/ca.pem in the unit), or accept it explicitly with server.allowInsecureTls: true';
    case 'time':
      return 'check this clock first (see the clock line; sudo timedatectl set-ntp true); if it is right, renew the certificate on the server';
    case 'name':
      return `use a host name the certificate is issued for${names ? ` (${names})` : ''} in ${urlKey}`;
    default:
      return 'check the server certificate (openssl s_client -connect HOST:PORT -servername HOST)';
  }
}

function name(entity: unknown): string | undefined {
  if (typeof entity !== 'object' || entity === null) return undefined;
  for (const key of ['CN', 'O']) {
    const v: unknown = Reflect.get(entity, key);
    if (typeof v === 'string' && v !== '') return v;
  }
  return undefined;
}

export async function checkTls(
  host: string,
  port: number,
  timeoutMs: number,
  allowInsecure: boolean,
  /** Where the URL comes from, for the fix: server.websocketUrl, or the OTA answer. */
  urlKey = 'server.websocketUrl',
): Promise<TlsOutcome> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    // Not rejecting here so the certificate can be described; the verdict below follows the daemon's.
    const socket = tls.connect({
      host,
      port,
      ...(net.isIP(host) === 0 ? { servername: host } : {}),
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
    });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({
        result: failed(
          'tls',
          `no TLS handshake within ${timeoutMs} ms`,
          'is this a TLS port? use ws:// for a plain server, or the server’s TLS port',
        ),
      });
    }, timeoutMs);
    socket.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({
        result: failed(
          'tls',
          `handshake failed: ${describeError(err)}`,
          'is this a TLS port? use ws:// for a plain server, or the server’s TLS port',
        ),
      });
    });
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const peer = socket.getPeerCertificate();
      const why: unknown = socket.authorizationError;
      const authorized = socket.authorized;
      const protocol = socket.getProtocol() ?? 'TLS';
      socket.destroy();
      const validFrom = new Date(peer.valid_from);
      const validTo = new Date(peer.valid_to);
      const hasDates = !Number.isNaN(validFrom.getTime()) && !Number.isNaN(validTo.getTime());
      const cert = hasDates ? { validFrom, validTo } : undefined;
      const daysLeft = hasDates ? Math.floor((validTo.getTime() - Date.now()) / 86_400_000) : undefined;
      const described =
        `${protocol}, certificate ${name(peer.subject) ?? '?'} issued by ${name(peer.issuer) ?? '?'}` +
        (hasDates ? `, valid to ${validTo.toISOString().slice(0, 10)} (${daysLeft} days left)` : '');
      const took = ` in ${ms(performance.now() - t0)}`;
      if (authorized) {
        resolve({ result: pass('tls', `${described}${took}`), ...(cert ? { cert } : {}) });
        return;
      }
      const code = typeof why === 'string' ? why : describeError(why);
      const result = allowInsecure
        ? pass('tls', `${described}${took}; NOT verified (${code}), accepted by server.allowInsecureTls`)
        : failed(
            'tls',
            `${described}: certificate not accepted: ${code}`,
            tlsFix(code, peer.subjectaltname, urlKey),
          );
      resolve({ result, ...(cert ? { cert } : {}) });
    });
  });
}
