/**
 * `npm run measure`: the numbers the README reports, measured with the shipped connection
 * defaults against the real dev-server through the fault proxy (never asserted in tests).
 *  - dead-peer detection: the proxy blackholes a ready connection (half-open); time until the
 *    supervisor leaves `ready`. 10 devices in parallel, each blackholed at a random phase.
 *  - server restart → ready: the dev-server is stopped, restarted on the same port 1 s later;
 *    time from the new server listening to the daemon's `ready`. 20 devices, one restart each.
 */
import { systemRandom } from '../src/core/random.js';
import { Rig } from '../test/integration/harness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

const fmt = (xs: number[]) => xs.map((x) => (x / 1000).toFixed(2)).join(' ');

async function deadPeer(): Promise<number[]> {
  const one = async (i: number): Promise<number> => {
    const rig = await Rig.create({ productionTimings: true, random: systemRandom });
    try {
      await rig.ready();
      // A random phase against the 5 s ping schedule, like a real cable pull.
      await sleep(1000 + i * 450);
      const t0 = performance.now();
      rig.proxy.setMode('blackhole');
      await rig.until('dead peer detected', () => rig.link !== 'ready', 20_000);
      return performance.now() - t0;
    } finally {
      await rig.close();
    }
  };
  return Promise.all(Array.from({ length: 10 }, (_, i) => one(i)));
}

async function restarts(n: number): Promise<number[]> {
  // n devices, each with its own server, restarted at the same moment: every device starts from a
  // settled link (a fresh backoff), as after a long quiet day.
  const one = async (): Promise<number> => {
    const rig = await Rig.create({ productionTimings: true, random: systemRandom });
    try {
      await rig.ready();
      await sleep(500);
      await rig.serverDown();
      await sleep(1000);
      await rig.serverUp();
      const t0 = performance.now();
      await rig.ready(60_000);
      return performance.now() - t0;
    } finally {
      await rig.close();
    }
  };
  return Promise.all(Array.from({ length: n }, () => one()));
}

async function main(): Promise<void> {
  const dead = await deadPeer();
  console.log(`dead-peer detection (ping 5 s, pong timeout 4 s), 10 runs [s]: ${fmt(dead)}`);
  console.log(
    `  median ${(median(dead) / 1000).toFixed(2)} s, max ${(Math.max(...dead) / 1000).toFixed(2)} s (bound 9 s)`,
  );
  const up = await restarts(20);
  console.log(`server restart (1 s down) → ready, 20 restarts [s]: ${fmt(up)}`);
  console.log(`  median ${(median(up) / 1000).toFixed(2)} s, max ${(Math.max(...up) / 1000).toFixed(2)} s`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
