/**
 * Device-Id and Client-Id (design.md §3.1, protocol.md §2.4). xinnan binds issued tokens to both
 * ids (protocol.md §2.5), so both must be the same on every start: the Device-Id is a MAC read
 * from the system each time, the Client-Id a UUID v4 created once and kept in stateDir.
 */
import { randomUUID } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { describeError, ErrorCode, errnoCode, type Fault, fault } from '../core/errors.js';
import { type AtomicFileHandle, type AtomicFs, writeFileAtomic } from '../system/atomic-file.js';
import type { Logger } from '../system/logger.js';

export interface Identity {
  readonly deviceId: string;
  readonly clientId: string;
  /** Where the Device-Id came from, for `speakerd identity` and the startup log. */
  readonly deviceIdSource: string;
  readonly clientIdSource: string;
}

export type IdentityResult =
  | { readonly ok: true; readonly identity: Identity }
  | { readonly ok: false; readonly error: Fault };

/** The few file operations identity needs; `node:fs/promises` satisfies it, tests may fake it. */
export interface IdentityFs extends AtomicFs {
  readFile(path: string, encoding: 'utf8'): Promise<string>;
  readdir(path: string): Promise<string[]>;
}

/** Kept for callers that name it; the same as the atomic writer's handle. */
export type IdentityFileHandle = AtomicFileHandle;

export interface ResolveIdentityOptions {
  readonly config: Readonly<Config>;
  readonly log: Logger;
  /** Where config values came from (config/load.ts), so an id set by env is not called "config". */
  readonly origins?: ReadonlyMap<string, string>;
  /**
   * The interface table to pick the MAC from. Default: `os.networkInterfaces()` merged with
   * `/sys/class/net`, because the former lists only interfaces that have an IP address: an
   * unplugged eth0 would vanish from it at boot and the Device-Id would silently change.
   */
  readonly interfaces?: NodeJS.Dict<os.NetworkInterfaceInfo[]>;
  readonly fs?: IdentityFs;
  /** Where Linux lists every network interface, addressed or not; a seam for tests. */
  readonly sysNetDir?: string;
}

export const CLIENT_ID_FILE = 'client-id';
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

export async function resolveIdentity(options: ResolveIdentityOptions): Promise<IdentityResult> {
  const fs = options.fs ?? fsp;
  const interfaces =
    options.interfaces ?? (await systemInterfaces(fs, options.sysNetDir ?? '/sys/class/net', options.log));
  const origin = (path: string) => options.origins?.get(path) ?? `config ${path}`;
  const device = resolveDeviceId(options.config, macCandidates(interfaces), origin);
  if (!device.ok) return device;
  const client = await resolveClientId(options.config, options.log, fs, origin);
  if (!client.ok) return client;
  return {
    ok: true,
    identity: {
      deviceId: device.value,
      clientId: client.value,
      deviceIdSource: device.source,
      clientIdSource: client.source,
    },
  };
}

type Resolved = { ok: true; value: string; source: string } | { ok: false; error: Fault };

// ── Device-Id ────────────────────────────────────────────────────────────────────────────────

interface MacCandidate {
  readonly name: string;
  readonly mac: string;
  readonly internal: boolean;
}

/** Lowercase with colons, the firmware's `%02x:%02x:…` (protocol.md §2.4). */
export function normalizeMac(mac: string): string {
  return mac.trim().toLowerCase().replace(/-/g, ':');
}

/** A MAC that identifies one device: well-formed, not all-zero, not broadcast, not multicast. */
export function isUnicastMac(mac: string): boolean {
  if (!MAC.test(mac) || mac === '00:00:00:00:00:00' || mac === 'ff:ff:ff:ff:ff:ff') return false;
  // The I/G bit (least significant bit of the first octet) set means a group address.
  return (Number.parseInt(mac.slice(0, 2), 16) & 1) === 0;
}

/** Names of physical NICs first, unknown names next, known virtual bridges/tunnels last. */
function preference(name: string): number {
  if (/^(eth|en|wlan|wl)/.test(name)) return 0;
  if (/^(docker|veth|br-|virbr|vnet|tun|tap|lxc|cni|flannel|zt|tailscale|wg)/.test(name)) return 2;
  return 1;
}

function byPreference(a: MacCandidate, b: MacCandidate): number {
  // Plain code-unit order, not localeCompare: the choice must not depend on the locale.
  return preference(a.name) - preference(b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

function macCandidates(interfaces: NodeJS.Dict<os.NetworkInterfaceInfo[]>): MacCandidate[] {
  const out: MacCandidate[] = [];
  for (const [name, entries] of Object.entries(interfaces)) {
    const first = entries?.[0];
    if (first === undefined) continue;
    out.push({ name, mac: normalizeMac(first.mac), internal: entries?.some((e) => e.internal) ?? false });
  }
  return out;
}

function resolveDeviceId(
  config: Readonly<Config>,
  candidates: readonly MacCandidate[],
  origin: (path: string) => string,
): Resolved {
  if (config.identity.deviceId !== undefined) {
    return { ok: true, value: config.identity.deviceId, source: origin('identity.deviceId') };
  }
  const names = candidates.map((c) => c.name).sort();
  const wanted = config.identity.interface;
  if (wanted !== undefined) {
    const c = candidates.find((x) => x.name === wanted);
    if (c === undefined) {
      return fail(
        `network interface "${wanted}" (identity.interface) not found; present: ${names.join(', ') || 'none'}. ` +
          'Set identity.interface to one of them, or set identity.deviceId.',
      );
    }
    if (c.internal || !isUnicastMac(c.mac)) {
      return fail(
        `network interface "${wanted}" (identity.interface) has no usable unicast MAC (${c.mac || 'none'}); ` +
          'choose another interface or set identity.deviceId.',
      );
    }
    return { ok: true, value: c.mac, source: `MAC of ${wanted} (identity.interface)` };
  }
  const usable = candidates.filter((c) => !c.internal && isUnicastMac(c.mac)).sort(byPreference);
  const chosen = usable[0];
  if (chosen === undefined) {
    return fail(
      `no network interface with a unicast MAC found (present: ${names.join(', ') || 'none'}); ` +
        'set identity.interface or identity.deviceId.',
    );
  }
  return {
    ok: true,
    value: chosen.mac,
    source: `MAC of ${chosen.name} (first usable of: ${usable.map((c) => c.name).join(', ')})`,
  };
}

/**
 * `os.networkInterfaces()` plus every interface in `/sys/class/net` (Linux), so the choice does
 * not depend on which links happen to have an address at boot. Off Linux only the former.
 */
export async function systemInterfaces(
  fs: IdentityFs,
  sysNetDir: string,
  log: Logger,
  fromOs: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces(),
): Promise<NodeJS.Dict<os.NetworkInterfaceInfo[]>> {
  const merged: NodeJS.Dict<os.NetworkInterfaceInfo[]> = { ...fromOs };
  let names: string[];
  try {
    names = await fs.readdir(sysNetDir);
  } catch (err) {
    log.debug(
      { dir: sysNetDir, err: describeError(err) },
      'no sysfs interface list; using addressed interfaces only',
    );
    return merged;
  }
  for (const name of names) {
    if (merged[name] !== undefined) continue;
    let mac: string;
    try {
      mac = normalizeMac(await fs.readFile(join(sysNetDir, name, 'address'), 'utf8'));
    } catch (err) {
      // Some virtual links (tun, wireguard) have no link-layer address; they cannot be a Device-Id.
      log.debug({ iface: name, err: describeError(err) }, 'interface has no readable MAC; skipped');
      continue;
    }
    // No address yet: describe the link with a placeholder IPv4 entry so it keeps the os.* shape.
    merged[name] = [
      { address: '0.0.0.0', netmask: '0.0.0.0', family: 'IPv4', mac, internal: name === 'lo', cidr: null },
    ];
  }
  return merged;
}

// ── Client-Id ────────────────────────────────────────────────────────────────────────────────

function fail(message: string): { ok: false; error: Fault } {
  return { ok: false, error: fault(ErrorCode.Identity, message) };
}

async function resolveClientId(
  config: Readonly<Config>,
  log: Logger,
  fs: IdentityFs,
  origin: (path: string) => string,
): Promise<Resolved> {
  if (config.identity.clientId !== undefined) {
    return { ok: true, value: config.identity.clientId, source: origin('identity.clientId') };
  }
  const file = join(config.stateDir, CLIENT_ID_FILE);
  let existing: string | undefined;
  try {
    existing = (await fs.readFile(file, 'utf8')).trim();
  } catch (err) {
    const code = errnoCode(err);
    // ENOTDIR: a path component is a regular file; creating the directory below reports it.
    if (code !== 'ENOENT' && code !== 'ENOTDIR') {
      // Never overwrite a file we could not read: it may hold the id the server's token is bound to.
      return fail(`cannot read Client-Id file ${file}: ${describeError(err)}. ${fixHint(config.stateDir)}`);
    }
  }
  if (existing !== undefined && UUID_V4.test(existing)) return { ok: true, value: existing, source: file };
  if (existing !== undefined) {
    log.warn(
      { file, content: JSON.stringify(existing.slice(0, 64)) },
      'Client-Id file is not a lowercase UUID v4; creating a new Client-Id (the server will see a new client)',
    );
  }
  const id = randomUUID();
  const written = await writeFileAtomic(file, `${id}\n`, log, fs);
  if (written !== undefined) {
    return fail(`cannot write Client-Id file ${file}: ${written}. ${fixHint(config.stateDir)}`);
  }
  log.info(
    { file, client_id: id },
    existing === undefined ? 'created Client-Id' : 'replaced corrupt Client-Id',
  );
  return { ok: true, value: id, source: `${file} (${existing === undefined ? 'created' : 'regenerated'})` };
}

function fixHint(stateDir: string): string {
  return (
    `Run speakerd as the user that owns ${stateDir} (the speakerd user under systemd), ` +
    'or set "stateDir" (or SPEAKERD_STATE_DIR) to a writable directory, or set identity.clientId.'
  );
}

/** `speakerd identity` output. */
export function formatIdentity(identity: Identity): string {
  return [
    `Device-Id: ${identity.deviceId}  from ${identity.deviceIdSource}`,
    `Client-Id: ${identity.clientId}  from ${identity.clientIdSource}`,
  ].join('\n');
}
