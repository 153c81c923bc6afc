/**
 * Notices a network interface gaining an address (Wi-Fi back, DHCP lease, cable plugged in), so a
 * device waiting out a long backoff retries at once (design.md §3.2). Node has no netlink; reading
 * the interface table every couple of seconds is cheap and needs no privileges.
 */
import { EventEmitter } from 'node:events';
import type { NetworkInterfaceInfo } from 'node:os';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../core/clock.js';
import { describeError } from '../core/errors.js';

export type InterfaceTable = NodeJS.Dict<NetworkInterfaceInfo[]>;

export interface NetworkWatchEvents {
  /** Addresses (`iface address`) that were not there at the previous look. */
  address: [added: string[]];
}

export function externalAddresses(table: InterfaceTable): Set<string> {
  const out = new Set<string>();
  for (const [name, infos] of Object.entries(table)) {
    for (const info of infos ?? []) {
      // Link-local IPv6 appears with the carrier alone; it does not mean the network is usable.
      if (info.internal || (info.family === 'IPv6' && info.address.startsWith('fe80:'))) continue;
      out.add(`${name} ${info.address}`);
    }
  }
  return out;
}

export class NetworkWatch extends EventEmitter<NetworkWatchEvents> {
  #timer: TimerHandle | undefined;
  #known: Set<string> | undefined;
  #state: 'stopped' | 'running' = 'stopped';

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly read: () => InterfaceTable,
    private readonly log: Logger,
  ) {
    super();
  }

  start(): void {
    if (this.#state === 'running') return;
    this.#state = 'running';
    this.#known = this.#look();
    this.#schedule();
  }

  stop(): void {
    this.#state = 'stopped';
    this.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #look(): Set<string> | undefined {
    try {
      return externalAddresses(this.read());
    } catch (err) {
      this.log.warn({ err: describeError(err) }, 'cannot read the network interfaces');
      return undefined;
    }
  }

  #schedule(): void {
    this.#timer = this.clock.setTimeout(() => {
      if (this.#state !== 'running') return;
      const now = this.#look();
      if (now !== undefined) {
        const known = this.#known;
        const added = known === undefined ? [] : [...now].filter((a) => !known.has(a));
        this.#known = now;
        if (added.length > 0) {
          this.log.info({ added }, 'network address gained');
          this.emit('address', added);
        }
      }
      this.#schedule();
    }, this.intervalMs);
  }
}
