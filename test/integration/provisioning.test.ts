/**
 * A device fresh out of the box, end to end (design.md §3.7, protocol.md §7): `speakerd run --sim`
 * with no server URL in its config asks the dev-server's OTA endpoint, shows the activation code
 * (STATUS through a fake NOTIFY_SOCKET, the log, the activating LED line), polls /activate
 * (202 ×3, then 200), asks OTA again and connects with the URL and token it was given; the
 * answer is cached with mode 0600 and no token reaches the output. Restarted with the OTA
 * endpoint answering garbage, it connects with the cached URL and token.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { startNotifyReceiver } from '../fakes/notify-receiver.js';
import { freePort, SpeakerdProcs, waitFor } from '../fakes/speakerd-proc.js';

const dir = mkdtempSync(join(tmpdir(), 'speakerd-provisioning-'));

const procs = new SpeakerdProcs();
after(async () => {
  await procs.killAll();
  rmSync(dir, { recursive: true, force: true });
});
const speakerd = (args: string[], env: NodeJS.ProcessEnv = {}) => procs.spawn(args, env);
const devServer = async (port: number, args: string[]) => (await procs.devServer(port, args)).proc;

test('fresh device: OTA → activation code shown → 202 ×3 → 200 → OTA → ready; the cache carries it through an OTA outage', async (t) => {
  const port = await freePort();
  const key = 'provisioning-test-key';
  let server = await devServer(port, ['--ota', '--activation', '482913:3', '--auth-key', key]);
  const stateDir = join(dir, 'state');
  const config = join(dir, 'config.json');
  writeFileSync(
    config,
    JSON.stringify({
      server: { otaUrl: `http://127.0.0.1:${port}/xiaozhi/ota/` },
      stateDir,
      hardware: 'simulated',
      identity: { deviceId: '02:4f:54:41:00:01' },
    }),
  );
  const receiver = await startNotifyReceiver(dir);
  t.after(() => receiver.close());
  const statuses = () => receiver.messages().flatMap((m) => (m.fields.STATUS ? [m.fields.STATUS] : []));
  const daemon = speakerd(['run', '--sim', '--config', config], { NOTIFY_SOCKET: receiver.socketPath });

  // READY does not wait for OTA: the device is up, waiting for its server.
  await waitFor('READY=1', 10_000, () => receiver.messages().some((m) => m.fields.READY === '1'));
  await waitFor('the code in STATUS', 10_000, () =>
    statuses().some((s) => s.startsWith('activating · code 482913')),
  );
  assert.match(daemon.out, /activation required: code 482913/);
  assert.match(daemon.out, /\[LED\] ● green slow-blink {2}\(activating\)/);
  // Three 202s, 3 s apart, then 200, OTA again and the connection with the token it handed out.
  await waitFor('online', 30_000, () => statuses().includes('online · idle'));
  const polls = [...server.out.matchAll(/"status":(\d+),"msg":"dev-server: activation poll answered"/g)].map(
    (m) => Number(m[1]),
  );
  assert.deepEqual(polls, [202, 202, 202, 200], 'polled until the server confirmed');
  const cache = statSync(join(stateDir, 'ota-cache.json'));
  assert.equal(cache.mode & 0o777, 0o600, 'the OTA cache is private to the daemon');
  daemon.child.kill('SIGTERM');
  assert.deepEqual(await daemon.exit, { code: 0, signal: null });

  // The OTA endpoint broken at the next boot (the same server without --ota answers its plain
  // "Server is running"), the WebSocket up with the same key: the cached URL and token connect.
  server.child.kill('SIGTERM');
  await server.exit;
  server = await devServer(port, ['--auth-key', key]);
  const again = speakerd(['run', '--sim', '--config', config]);
  await waitFor('online with the cached credentials', 20_000, () => again.out.includes('"link_to":"ready"'));
  assert.match(again.out, /cache/i);
  again.child.kill('SIGTERM');
  assert.deepEqual(await again.exit, { code: 0, signal: null });

  // Neither the token nor the cache's content ever reached the output.
  const token = /"token":"([^"]{8,})"/.exec(server.out + daemon.out + again.out)?.[1];
  assert.equal(token, undefined, 'no token value in any log line');
  assert.doesNotMatch(daemon.out + again.out, /Bearer [^[\s"]/);
  server.child.kill('SIGTERM');
  await server.exit;
});
