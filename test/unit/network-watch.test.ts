import assert from 'node:assert/strict';
import type { NetworkInterfaceInfo } from 'node:os';
import { test } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { type InterfaceTable, NetworkWatch } from '../../src/system/network-watch.js';
import { captureLogger } from '../fakes/capture-logger.js';

function info(address: string, family: 'IPv4' | 'IPv6' = 'IPv4', internal = false): NetworkInterfaceInfo {
  const common = { address, netmask: '255.255.255.0', mac: '02:00:00:00:00:01', internal, cidr: null };
  return family === 'IPv4' ? { ...common, family } : { ...common, family, scopeid: 0 };
}

test('a new external address is reported once; loopback and link-local are not', () => {
  const clock = new ManualClock();
  let table: InterfaceTable = { lo: [info('127.0.0.1', 'IPv4', true)], wlan0: [] };
  const { log } = captureLogger();
  const w = new NetworkWatch(clock, 2000, () => table, log);
  const seen: string[][] = [];
  w.on('address', (a) => seen.push(a));
  w.start();
  table = { ...table, wlan0: [info('fe80::1', 'IPv6')] };
  clock.advance(2000);
  assert.deepEqual(seen, [], 'link-local only: not usable yet');
  table = { ...table, wlan0: [info('fe80::1', 'IPv6'), info('192.168.1.7')] };
  clock.advance(2000);
  assert.deepEqual(seen, [['wlan0 192.168.1.7']]);
  clock.advance(10_000);
  assert.equal(seen.length, 1, 'an address that stays is not news');
  table = { ...table, wlan0: [] };
  clock.advance(2000);
  table = { ...table, wlan0: [info('192.168.1.7')] };
  clock.advance(2000);
  assert.equal(seen.length, 2, 'lost and regained is news again');
  w.stop();
  assert.equal(clock.pending, 0);
});

test('an unreadable table is logged, not thrown, and the watch goes on', () => {
  const clock = new ManualClock();
  let fail = true;
  const { log, lines } = captureLogger();
  const w = new NetworkWatch(
    clock,
    1000,
    () => {
      if (fail) throw new Error('EMFILE');
      return { eth0: [info('10.0.0.2')] };
    },
    log,
  );
  const seen: string[][] = [];
  w.on('address', (a) => seen.push(a));
  w.start();
  clock.advance(1000);
  fail = false;
  clock.advance(1000);
  assert.ok(lines.some((l) => l.level === 40 && /network interfaces/.test(l.msg)));
  assert.deepEqual(seen, [], 'the first good look is the baseline');
  w.stop();
});
