import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type * as os from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  defaultRouteInterface,
  parseMilliCelsius,
  readDeviceStatus,
  readHead,
  SystemStatusSource,
} from '../../src/mcp/device-status.js';
import { captureLogger } from '../fakes/capture-logger.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'speakerd-mcp-status-'));
  dirs.push(d);
  return d;
}

const ROUTE = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t0101A8C0\t0003\t0\t0\t200\t00000000\t0\t0\t0
wlan0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
wlan0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0
`;

type Ifaces = ReturnType<typeof os.networkInterfaces>;

function ipv4(address: string, internal = false): Ifaces[string] {
  return [
    {
      address,
      netmask: '255.255.255.0',
      family: 'IPv4',
      mac: '00:00:00:00:00:00',
      internal,
      cidr: `${address}/24`,
    },
  ];
}

function fakeOs(ifaces: Ifaces) {
  return {
    networkInterfaces: () => ifaces,
    uptime: () => 1234.6,
    totalmem: () => 4096,
    freemem: () => 1024,
  };
}

test('parseMilliCelsius: millidegrees to 0.1 °C; junk and absurd values are undefined', () => {
  assert.equal(parseMilliCelsius('48312\n'), 48.3);
  assert.equal(parseMilliCelsius('-5000'), -5);
  assert.equal(parseMilliCelsius(''), undefined);
  assert.equal(parseMilliCelsius('hot'), undefined);
  assert.equal(parseMilliCelsius('999999'), undefined);
});

test('defaultRouteInterface: the up default route with the lowest metric', () => {
  assert.equal(defaultRouteInterface(ROUTE), 'wlan0');
  assert.equal(defaultRouteInterface('Iface\tDestination\n'), undefined);
  assert.equal(defaultRouteInterface(ROUTE.replaceAll('0003', '0002')), undefined, 'not RTF_UP');
});

test('readHead reads at most the bound', async () => {
  const d = tempDir();
  writeFileSync(join(d, 'big'), 'x'.repeat(100_000));
  assert.equal((await readHead(join(d, 'big'), 64)).length, 64);
});

test('SystemStatusSource: temperature, default-route interface with its type, uptime, memory', async () => {
  const d = tempDir();
  writeFileSync(join(d, 'temp'), '51234\n');
  writeFileSync(join(d, 'route'), ROUTE);
  mkdirSync(join(d, 'net', 'wlan0', 'wireless'), { recursive: true });
  mkdirSync(join(d, 'net', 'eth0'), { recursive: true });
  const { log } = captureLogger();
  const src = new SystemStatusSource({
    volume: () => 42,
    connection: () => 'ready',
    log,
    thermalFile: join(d, 'temp'),
    routeFile: join(d, 'route'),
    sysNetDir: join(d, 'net'),
    os: fakeOs({ lo: ipv4('127.0.0.1', true), eth0: ipv4('192.168.1.9'), wlan0: ipv4('192.168.1.23') }),
  });
  assert.deepEqual(await readDeviceStatus(src, log), {
    audio_speaker: { volume: 42 },
    network: { interface: 'wlan0', address: '192.168.1.23', type: 'wifi' },
    chip: { temperature: 51.2 },
    uptime_s: 1235,
    memory: { total_bytes: 4096, available_bytes: 1024 },
    connection: 'ready',
  });
});

test('SystemStatusSource: missing files leave fields out (logged at debug), never a throw', async () => {
  const d = tempDir();
  const { log, lines } = captureLogger();
  const src = new SystemStatusSource({
    volume: () => 42,
    connection: () => undefined,
    log,
    thermalFile: join(d, 'nope'),
    routeFile: join(d, 'nope'),
    sysNetDir: join(d, 'nope'),
    os: fakeOs({ lo: ipv4('127.0.0.1', true), eth1: ipv4('10.0.0.5') }),
  });
  const status = await readDeviceStatus(src, log);
  assert.equal(status.chip, undefined);
  // No route table: the first non-internal IPv4; no sysfs entry: no type.
  assert.deepEqual(status.network, { interface: 'eth1', address: '10.0.0.5' });
  assert.ok(lines.some((l) => l.level === 20 && l.msg.includes('no CPU temperature')));
  assert.ok(!lines.some((l) => l.level >= 40));
  const offline = new SystemStatusSource({
    volume: () => 1,
    connection: () => 'offline',
    log,
    routeFile: join(d, 'nope'),
    os: fakeOs({ lo: ipv4('127.0.0.1', true) }),
  });
  assert.equal(await offline.network(), undefined);
});
