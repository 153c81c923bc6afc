/**
 * Loopback TCP fault proxy (test-infra.md §4d): the daemon connects here, the proxy forwards to
 * the real server and can blackhole (half-open), delay, reset (RST) or refuse.
 */
import net from 'node:net';

export type ProxyMode = 'pass' | 'blackhole' | 'refuse' | { delayMs: number };

export class FaultProxy {
  #mode: ProxyMode = 'pass';
  readonly #pairs = new Set<{ c: net.Socket; u: net.Socket }>();
  readonly #server: net.Server;
  readonly #timers = new Set<NodeJS.Timeout>();
  /** Socket errors seen (ECONNRESET etc. are expected when faults are injected). */
  readonly errors: string[] = [];
  accepted = 0;

  constructor(
    private readonly targetPort: number,
    private readonly host = '127.0.0.1',
  ) {
    this.#server = net.createServer((c) => this.#accept(c));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, this.host, resolve));
    const addr = this.#server.address();
    if (addr === null || typeof addr === 'string') throw new Error('proxy has no TCP address');
    return addr.port;
  }

  get port(): number {
    const addr = this.#server.address();
    return addr !== null && typeof addr !== 'string' ? addr.port : 0;
  }

  setMode(mode: ProxyMode): void {
    this.#mode = mode;
  }

  get connections(): number {
    return this.#pairs.size;
  }

  /** RST both sides of every pair (a crashed server, a NAT that dropped the flow with reject). */
  resetAll(): void {
    for (const { c, u } of this.#pairs) {
      c.resetAndDestroy();
      u.resetAndDestroy();
    }
  }

  async close(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    for (const { c, u } of this.#pairs) {
      c.destroy();
      u.destroy();
    }
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(c: net.Socket): void {
    c.on('error', (e) => this.errors.push(`client: ${e.message}`));
    if (this.#mode === 'refuse') {
      c.resetAndDestroy();
      return;
    }
    this.accepted++;
    const u = net.connect(this.targetPort, this.host);
    u.on('error', (e) => this.errors.push(`upstream: ${e.message}`));
    const pair = { c, u };
    this.#pairs.add(pair);
    const pipe = (from: net.Socket, to: net.Socket) =>
      from.on('data', (d) => {
        const m = this.#mode;
        if (m === 'blackhole') return; // swallowed: both ends see a live socket that never answers
        if (typeof m === 'object') {
          const t = setTimeout(() => {
            this.#timers.delete(t);
            if (!to.destroyed) to.write(d);
          }, m.delayMs);
          this.#timers.add(t);
          return;
        }
        if (!to.destroyed) to.write(d);
      });
    pipe(c, u);
    pipe(u, c);
    const end = () => {
      this.#pairs.delete(pair);
      c.destroy();
      u.destroy();
    };
    c.on('close', end);
    u.on('close', end);
  }
}
