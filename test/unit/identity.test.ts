import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import type { NetworkInterfaceInfo } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { type Config, configSchema } from '../../src/config/schema.js';
import {
  formatIdentity,
  type IdentityFs,
  type IdentityResult,
  isUnicastMac,
  resolveIdentity,
  systemInterfaces,
} from '../../src/provisioning/identity.js';
import { captureLogger } from '../fakes/capture-logger.js';

const root = mkdtempSync(join(tmpdir(), 'speakerd-identity-'));
after(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
function freshDir(): string {
  return join(root, `state-${n++}`);
}

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** One interface as os.networkInterfaces() reports it (IPv4 entry only; the MAC is what matters). */
function nic(mac: string, internal = false): NetworkInterfaceInfo[] {
  return [
    {
      address: internal ? '127.0.0.1' : '10.0.0.2',
      netmask: '255.0.0.0',
      family: 'IPv4',
      mac,
      internal,
      cidr: null,
    },
  ];
}

const LO = nic('00:00:00:00:00:00', true);
const ETH0 = 'dc:a6:32:00:00:01';
const WLAN0 = 'dc:a6:32:00:00:02';

function config(extra: Record<string, unknown> = {}, stateDir = freshDir()): Config {
  return configSchema.parse({ stateDir, ...extra });
}

async function deviceIdOf(
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>,
  identity: Record<string, string> = {},
): Promise<IdentityResult> {
  // A fixed Client-Id keeps these Device-Id tests away from the file system.
  const c = config({ identity: { clientId: '123e4567-e89b-42d3-a456-426614174000', ...identity } });
  return resolveIdentity({ config: c, log: captureLogger().log, interfaces });
}

function ok(r: IdentityResult) {
  if (!r.ok) assert.fail(`expected an identity, got ${r.error.code}: ${r.error.message}`);
  return r.identity;
}

function failure(r: IdentityResult) {
  if (r.ok) assert.fail(`expected a fault, got ${formatIdentity(r.identity)}`);
  return r.error;
}

test('unicast MAC rules: all-zero, broadcast and multicast are not usable', () => {
  assert.equal(isUnicastMac('dc:a6:32:00:00:01'), true);
  assert.equal(isUnicastMac('02:42:ac:11:00:02'), true); // locally administered is still unicast
  assert.equal(isUnicastMac('00:00:00:00:00:00'), false);
  assert.equal(isUnicastMac('ff:ff:ff:ff:ff:ff'), false);
  assert.equal(isUnicastMac('01:00:5e:00:00:fb'), false);
  assert.equal(isUnicastMac('33:33:00:00:00:01'), false);
  assert.equal(isUnicastMac('DC:A6:32:00:00:01'), false); // callers normalise first
});

test('loopback is skipped', async () => {
  const id = ok(await deviceIdOf({ lo: LO, eth0: nic(ETH0) }));
  assert.equal(id.deviceId, ETH0);
  assert.equal(id.deviceIdSource, 'MAC of eth0 (first usable of: eth0)');
  // An internal interface is skipped even if it reports a plausible MAC.
  assert.equal(
    ok(await deviceIdOf({ aaa: nic('dc:a6:32:00:00:99', true), wlan0: nic(WLAN0) })).deviceId,
    WLAN0,
  );
});

test('all-zero and multicast MACs are skipped', async () => {
  assert.equal(ok(await deviceIdOf({ eth0: nic('00:00:00:00:00:00'), wlan0: nic(WLAN0) })).deviceId, WLAN0);
  assert.equal(ok(await deviceIdOf({ eth0: nic('01:00:5e:00:00:01'), wlan0: nic(WLAN0) })).deviceId, WLAN0);
});

test('physical-looking names win, then others, virtual bridges last; ties by name', async () => {
  const table = {
    'br-1a2b': nic('02:42:00:00:00:01'),
    docker0: nic('02:42:00:00:00:02'),
    veth9f: nic('02:42:00:00:00:03'),
    usb0: nic('02:42:00:00:00:04'),
    wlan0: nic(WLAN0),
    eth0: nic(ETH0),
    lo: LO,
  };
  const id = ok(await deviceIdOf(table));
  assert.equal(id.deviceId, ETH0);
  assert.equal(
    id.deviceIdSource,
    'MAC of eth0 (first usable of: eth0, wlan0, usb0, br-1a2b, docker0, veth9f)',
  );
  const { eth0: _e, wlan0: _w, ...rest } = table;
  assert.equal(ok(await deviceIdOf(rest)).deviceId, '02:42:00:00:00:04'); // usb0 before docker0
  // Insertion order does not matter, only names.
  assert.equal(
    ok(await deviceIdOf({ wlan0: nic(WLAN0), end0: nic('dc:a6:32:00:00:03') })).deviceId,
    'dc:a6:32:00:00:03',
  );
});

test('MACs are normalised to lowercase with colons', async () => {
  assert.equal(ok(await deviceIdOf({ eth0: nic('DC-A6-32-00-00-0A') })).deviceId, 'dc:a6:32:00:00:0a');
});

test('identity.interface picks that interface even when another is preferred', async () => {
  const id = ok(await deviceIdOf({ eth0: nic(ETH0), wlan0: nic(WLAN0) }, { interface: 'wlan0' }));
  assert.equal(id.deviceId, WLAN0);
  assert.equal(id.deviceIdSource, 'MAC of wlan0 (identity.interface)');
});

test('identity.interface that is absent or has no usable MAC → E_IDENTITY', async () => {
  const missing = failure(await deviceIdOf({ eth0: nic(ETH0), lo: LO }, { interface: 'wlan1' }));
  assert.equal(missing.code, 'E_IDENTITY');
  assert.match(missing.message, /"wlan1" \(identity\.interface\) not found; present: eth0, lo/);
  const unusable = failure(await deviceIdOf({ lo: LO }, { interface: 'lo' }));
  assert.equal(unusable.code, 'E_IDENTITY');
  assert.match(unusable.message, /"lo" .* no usable unicast MAC/);
});

test('no usable interface at all → E_IDENTITY naming the fix', async () => {
  const f = failure(await deviceIdOf({ lo: LO }));
  assert.equal(f.code, 'E_IDENTITY');
  assert.match(f.message, /no network interface with a unicast MAC.*present: lo.*identity\.deviceId/);
});

test('identity.deviceId from config wins over interfaces', async () => {
  const id = ok(await deviceIdOf({ eth0: nic(ETH0) }, { deviceId: 'aa:bb:cc:00:11:22' }));
  assert.equal(id.deviceId, 'aa:bb:cc:00:11:22');
  assert.equal(id.deviceIdSource, 'config identity.deviceId');
});

test('an id set by SPEAKERD_DEVICE_ID / SPEAKERD_CLIENT_ID says so, not "config"', async () => {
  const loaded = loadConfig({
    env: {
      SPEAKERD_DEVICE_ID: 'aa:bb:cc:00:11:22',
      SPEAKERD_CLIENT_ID: '123e4567-e89b-42d3-a456-426614174000',
    },
    defaultPath: join(freshDir(), 'absent.json'),
  });
  assert.ok(loaded.ok);
  const got = await resolveIdentity({
    config: loaded.config,
    log: captureLogger().log,
    interfaces: { eth0: nic(ETH0) },
    origins: loaded.origins,
  });
  const id = ok(got);
  assert.equal(id.deviceId, 'aa:bb:cc:00:11:22');
  assert.equal(id.deviceIdSource, 'env SPEAKERD_DEVICE_ID');
  assert.equal(id.clientIdSource, 'env SPEAKERD_CLIENT_ID');
});

test('systemInterfaces adds links without an address from sysfs', async () => {
  const sys = join(root, 'sys-class-net');
  const link = (name: string, address?: string) => {
    mkdirSync(join(sys, name), { recursive: true });
    if (address !== undefined) writeFileSync(join(sys, name, 'address'), `${address}\n`);
  };
  link('eth0', ETH0); // cable unplugged: no IP, so os.networkInterfaces() would not list it
  link('lo', '00:00:00:00:00:00');
  link('tun0'); // no link-layer address
  link('wlan0', 'ff:ff:ff:ff:ff:ff'); // already listed by os: the os entry is kept
  const { log } = captureLogger();
  const merged = await systemInterfaces(fsp, sys, log, { wlan0: nic(WLAN0), lo: LO });
  assert.deepEqual(Object.keys(merged).sort(), ['eth0', 'lo', 'wlan0']);
  assert.equal(merged.eth0?.[0]?.mac, ETH0);
  assert.equal(merged.wlan0?.[0]?.mac, WLAN0);
  // The Device-Id does not depend on which link has an address at boot.
  assert.equal(ok(await deviceIdOf(merged)).deviceId, ETH0);
  // Off Linux there is no sysfs: the os table alone.
  assert.deepEqual(Object.keys(await systemInterfaces(fsp, join(root, 'no-sys'), log, { lo: LO })), ['lo']);
});

test('Client-Id is created once, written atomically, and stable across calls', async () => {
  const stateDir = join(freshDir(), 'nested', 'state'); // created recursively
  const c = config({}, stateDir);
  const { log, lines } = captureLogger();
  const first = ok(await resolveIdentity({ config: c, log, interfaces: { eth0: nic(ETH0) } }));
  assert.match(first.clientId, UUID_V4);
  assert.equal(first.clientIdSource, `${join(stateDir, 'client-id')} (created)`);
  assert.ok(lines.some((l) => l.msg === 'created Client-Id'));

  const second = ok(await resolveIdentity({ config: c, log, interfaces: { eth0: nic(ETH0) } }));
  assert.equal(second.clientId, first.clientId);
  assert.equal(second.deviceId, first.deviceId);
  assert.equal(second.clientIdSource, join(stateDir, 'client-id'));

  assert.equal(readFileSync(join(stateDir, 'client-id'), 'utf8'), `${first.clientId}\n`);
  assert.deepEqual(readdirSync(stateDir), ['client-id'], 'no temp file left behind');
  // Modes are 0644/0755 before the umask: nothing beyond those bits.
  assert.equal(statSync(join(stateDir, 'client-id')).mode & 0o777 & ~0o644, 0);
  assert.equal(statSync(stateDir).mode & 0o777 & ~0o755, 0);
});

test('a corrupt Client-Id file is replaced, with a warning, and then stays', async () => {
  const stateDir = freshDir();
  mkdirSync(stateDir);
  writeFileSync(join(stateDir, 'client-id'), 'not-a-uuid\n');
  const c = config({}, stateDir);
  const { log, lines } = captureLogger();
  const first = ok(await resolveIdentity({ config: c, log, interfaces: { eth0: nic(ETH0) } }));
  assert.match(first.clientId, UUID_V4);
  assert.match(first.clientIdSource, /\(regenerated\)$/);
  const warning = lines.find((l) => l.level === 40);
  assert.match(warning?.msg ?? '', /not a lowercase UUID v4/);
  assert.equal(warning?.content, '"not-a-uuid"');
  const second = ok(await resolveIdentity({ config: c, log, interfaces: { eth0: nic(ETH0) } }));
  assert.equal(second.clientId, first.clientId);
  assert.deepEqual(readdirSync(stateDir), ['client-id']);
});

test('an existing valid Client-Id (with surrounding whitespace) is used as is', async () => {
  const stateDir = freshDir();
  mkdirSync(stateDir);
  const id = '0f8fad5b-d9cb-469f-a165-70867728950e';
  writeFileSync(join(stateDir, 'client-id'), `  ${id}\n\n`);
  const got = ok(
    await resolveIdentity({
      config: config({}, stateDir),
      log: captureLogger().log,
      interfaces: { eth0: nic(ETH0) },
    }),
  );
  assert.equal(got.clientId, id);
});

test('identity.clientId from config wins and nothing is written', async () => {
  const stateDir = freshDir();
  const clientId = '123e4567-e89b-42d3-a456-426614174000';
  const c = config({ identity: { clientId } }, stateDir);
  const got = ok(
    await resolveIdentity({ config: c, log: captureLogger().log, interfaces: { eth0: nic(ETH0) } }),
  );
  assert.equal(got.clientId, clientId);
  assert.equal(got.clientIdSource, 'config identity.clientId');
  assert.throws(() => statSync(stateDir), /ENOENT/);
});

test('a stateDir under a regular file → E_IDENTITY naming the path and the fix', async () => {
  const blocker = join(root, `blocker-${n++}`);
  writeFileSync(blocker, 'a file, not a directory');
  const stateDir = join(blocker, 'state');
  const f = failure(
    await resolveIdentity({
      config: config({}, stateDir),
      log: captureLogger().log,
      interfaces: { eth0: nic(ETH0) },
    }),
  );
  assert.equal(f.code, 'E_IDENTITY');
  assert.ok(f.message.includes(join(stateDir, 'client-id')), f.message);
  assert.match(f.message, /speakerd user.*stateDir.*SPEAKERD_STATE_DIR/);
});

test('an unreadable Client-Id file is a fault and is not overwritten', async () => {
  const stateDir = freshDir();
  mkdirSync(join(stateDir, 'client-id'), { recursive: true }); // EISDIR on read
  const f = failure(
    await resolveIdentity({
      config: config({}, stateDir),
      log: captureLogger().log,
      interfaces: { eth0: nic(ETH0) },
    }),
  );
  assert.equal(f.code, 'E_IDENTITY');
  assert.match(f.message, /cannot read Client-Id file .*EISDIR/);
  assert.deepEqual(readdirSync(stateDir), ['client-id']);
});

test('a failed rename removes the temp file and reports the fault', async () => {
  const stateDir = freshDir();
  const failingFs: IdentityFs = {
    ...fsp,
    rename: async () => {
      throw Object.assign(new Error('read-only file system'), { code: 'EROFS' });
    },
  };
  const f = failure(
    await resolveIdentity({
      config: config({}, stateDir),
      log: captureLogger().log,
      interfaces: { eth0: nic(ETH0) },
      fs: failingFs,
    }),
  );
  assert.equal(f.code, 'E_IDENTITY');
  assert.match(f.message, /EROFS read-only file system/);
  assert.deepEqual(readdirSync(stateDir), [], 'temp file removed');
});

test('formatIdentity says what each id is and where it came from', () => {
  const text = formatIdentity({
    deviceId: ETH0,
    clientId: '123e4567-e89b-42d3-a456-426614174000',
    deviceIdSource: 'MAC of eth0 (first usable of: eth0)',
    clientIdSource: '/var/lib/speakerd/client-id',
  });
  assert.equal(
    text,
    `Device-Id: ${ETH0}  from MAC of eth0 (first usable of: eth0)\n` +
      'Client-Id: 123e4567-e89b-42d3-a456-426614174000  from /var/lib/speakerd/client-id',
  );
});
