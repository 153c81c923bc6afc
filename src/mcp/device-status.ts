/**
 * What `self.get_device_status` reports (protocol.md §5.4), and where it comes from. The tool reads
 * everything through `DeviceStatusSource`; `SystemStatusSource` is the real one (os module, sysfs,
 * procfs; every file read bounded, every failure an absent field logged at debug).
 *
 * The JSON keeps the firmware's keys where they exist (`audio_speaker.volume`, `network.type`,
 * `chip.temperature`; 78/xiaozhi-esp32 `main/boards/common/wifi_board.cc` · GetDeviceStatusJson)
 * and adds what a Linux board knows, e.g.
 * `{"audio_speaker":{"volume":60},"network":{"type":"wifi","interface":"wlan0","address":"192.168.1.23"},
 *   "chip":{"temperature":48.3},"uptime_s":3600,"memory":{"total_bytes":…,"available_bytes":…},
 *   "connection":"ready","microphone":{"muted":false}}`. `microphone.muted` is the privacy mute
 * (audio/privacy.ts; the firmware has no mute and no such key), absent on a device without one.
 */
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import { join } from 'node:path';
import { describeError } from '../core/errors.js';
import type { Logger } from '../system/logger.js';

export interface NetworkStatus {
  readonly interface: string;
  readonly address: string;
  /** 'wifi' when the interface has `/sys/class/net/<if>/wireless`, else 'ethernet'; absent when unknown. */
  readonly type?: 'wifi' | 'ethernet';
}

export interface MemoryStatus {
  readonly totalBytes: number;
  readonly availableBytes: number;
}

type MaybePromise<T> = T | Promise<T>;

/** Every input of the status; undefined (or a throw) leaves the field out. */
export interface DeviceStatusSource {
  volume(): MaybePromise<number | undefined>;
  network(): MaybePromise<NetworkStatus | undefined>;
  uptimeS(): MaybePromise<number | undefined>;
  cpuTempC(): MaybePromise<number | undefined>;
  memory(): MaybePromise<MemoryStatus | undefined>;
  /** The link state (session/session-port.ts LinkState), e.g. "ready". */
  connection(): MaybePromise<string | undefined>;
  /** The privacy mute; absent (or undefined) on a device without a mute switch or button. */
  muted?(): MaybePromise<boolean | undefined>;
}

export interface DeviceStatus {
  readonly audio_speaker: { readonly volume?: number };
  readonly network?: NetworkStatus;
  readonly chip?: { readonly temperature: number };
  readonly uptime_s?: number;
  readonly memory?: { readonly total_bytes: number; readonly available_bytes: number };
  readonly connection?: string;
  readonly microphone?: { readonly muted: boolean };
}

/** Reads every field; one failing input never costs the others. Never rejects. */
export async function readDeviceStatus(source: DeviceStatusSource, log: Logger): Promise<DeviceStatus> {
  const field = async <T>(what: string, read: () => MaybePromise<T | undefined>): Promise<T | undefined> => {
    try {
      return await read();
    } catch (err) {
      log.debug({ field: what, err: describeError(err) }, `device status: ${what} unavailable`);
      return undefined;
    }
  };
  const [volume, network, uptime, temp, memory, connection, muted] = await Promise.all([
    field('volume', () => source.volume()),
    field('network', () => source.network()),
    field('uptime', () => source.uptimeS()),
    field('cpu temperature', () => source.cpuTempC()),
    field('memory', () => source.memory()),
    field('connection', () => source.connection()),
    field('mute', () => source.muted?.()),
  ]);
  return {
    audio_speaker: volume === undefined ? {} : { volume },
    ...(network === undefined ? {} : { network }),
    ...(temp === undefined ? {} : { chip: { temperature: temp } }),
    ...(uptime === undefined ? {} : { uptime_s: uptime }),
    ...(memory === undefined
      ? {}
      : { memory: { total_bytes: memory.totalBytes, available_bytes: memory.availableBytes } }),
    ...(connection === undefined ? {} : { connection }),
    ...(muted === undefined ? {} : { microphone: { muted } }),
  };
}

// ---------------------------------------------------------------- the real source

/** sysfs files hold a line; /proc/net/route a few lines per route. */
const THERMAL_READ_MAX = 64;
const ROUTE_READ_MAX = 16 * 1024;
/** RTF_UP in /proc/net/route's Flags column. */
const RTF_UP = 0x1;

/** Reads at most `max` bytes of a file (a wedged or huge file cannot stall or flood us). */
export async function readHead(path: string, max: number): Promise<string> {
  const fh = await fsp.open(path, 'r');
  try {
    const buf = Buffer.alloc(max);
    const { bytesRead } = await fh.read(buf, 0, max, 0);
    return buf.toString('utf8', 0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** `/sys/class/thermal/thermal_zone0/temp` holds millidegrees ("48312\n"); °C to 0.1, or undefined. */
export function parseMilliCelsius(text: string): number | undefined {
  const t = text.trim();
  if (!/^-?\d{1,7}$/.test(t)) return undefined;
  const c = Math.round(Number(t) / 100) / 10;
  return c >= -60 && c <= 200 ? c : undefined;
}

/** The interface of the lowest-metric default route that is up, from /proc/net/route text. */
export function defaultRouteInterface(routeText: string): string | undefined {
  let best: { iface: string; metric: number } | undefined;
  for (const line of routeText.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    const [iface, destination, , flags, , , metric] = cols;
    if (!iface || destination !== '00000000' || flags === undefined || metric === undefined) continue;
    if ((Number.parseInt(flags, 16) & RTF_UP) === 0) continue;
    const m = Number(metric);
    if (!best || m < best.metric) best = { iface, metric: m };
  }
  return best?.iface;
}

type OsLike = Pick<typeof os, 'networkInterfaces' | 'uptime' | 'totalmem' | 'freemem'>;

export interface SystemStatusDeps {
  /** e.g. `() => volume.level`. */
  readonly volume: () => number | undefined;
  /** e.g. `() => supervisor.state`. */
  readonly connection: () => string | undefined;
  /** e.g. `() => daemon.muted`; absent without a mute switch or button. */
  readonly muted?: () => boolean | undefined;
  readonly log: Logger;
  /** Test seams; the defaults are the real paths and module. */
  readonly thermalFile?: string;
  readonly routeFile?: string;
  readonly sysNetDir?: string;
  readonly os?: OsLike;
}

export class SystemStatusSource implements DeviceStatusSource {
  readonly #d: SystemStatusDeps;
  readonly #os: OsLike;

  constructor(deps: SystemStatusDeps) {
    this.#d = deps;
    this.#os = deps.os ?? os;
  }

  volume(): number | undefined {
    return this.#d.volume();
  }

  connection(): string | undefined {
    return this.#d.connection();
  }

  muted(): boolean | undefined {
    return this.#d.muted?.();
  }

  uptimeS(): number {
    return Math.round(this.#os.uptime());
  }

  /** os.freemem() is MemAvailable on Linux (libuv ≥ 1.45, Node ≥ 20.3), what a user calls "free". */
  memory(): MemoryStatus {
    return { totalBytes: this.#os.totalmem(), availableBytes: this.#os.freemem() };
  }

  async cpuTempC(): Promise<number | undefined> {
    const file = this.#d.thermalFile ?? '/sys/class/thermal/thermal_zone0/temp';
    try {
      const c = parseMilliCelsius(await readHead(file, THERMAL_READ_MAX));
      if (c === undefined) this.#d.log.debug({ file }, 'device status: unparsable CPU temperature');
      return c;
    } catch (err) {
      this.#d.log.debug({ file, err: describeError(err) }, 'device status: no CPU temperature');
      return undefined;
    }
  }

  /** The default route's interface and its IPv4 address; else the first non-internal IPv4 by name. */
  async network(): Promise<NetworkStatus | undefined> {
    const routeFile = this.#d.routeFile ?? '/proc/net/route';
    let preferred: string | undefined;
    try {
      preferred = defaultRouteInterface(await readHead(routeFile, ROUTE_READ_MAX));
    } catch (err) {
      this.#d.log.debug({ file: routeFile, err: describeError(err) }, 'device status: no route table');
    }
    const all = this.#os.networkInterfaces();
    const ipv4 = (name: string): string | undefined =>
      all[name]?.find((a) => a.family === 'IPv4' && !a.internal)?.address;
    let iface = preferred !== undefined && ipv4(preferred) !== undefined ? preferred : undefined;
    iface ??= Object.keys(all)
      .sort()
      .find((name) => ipv4(name) !== undefined);
    const address = iface === undefined ? undefined : ipv4(iface);
    if (iface === undefined || address === undefined) return undefined;
    const type = await this.#linkType(iface);
    return { interface: iface, address, ...(type === undefined ? {} : { type }) };
  }

  async #linkType(iface: string): Promise<'wifi' | 'ethernet' | undefined> {
    const dir = join(this.#d.sysNetDir ?? '/sys/class/net', iface);
    const exists = async (p: string): Promise<boolean> =>
      fsp.access(p).then(
        () => true,
        () => false,
      );
    if (await exists(join(dir, 'wireless'))) return 'wifi';
    return (await exists(dir)) ? 'ethernet' : undefined;
  }
}
