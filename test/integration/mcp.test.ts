/**
 * MCP end to end (protocol.md §5.4): the real `speakerd run --sim` advertises features.mcp, the
 * dev-server's MCP client initializes, lists the tools and, after an utterance, calls
 * self.audio_speaker.set_volume; the daemon applies it to what it plays (the --tts-out file is
 * quieter), keeps it in the state directory, and starts at that level the next time.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { perceptualGain } from '../../src/audio/volume.js';
import { SpeakerdProcs, waitFor } from '../fakes/speakerd-proc.js';

const dir = mkdtempSync(join(tmpdir(), 'speakerd-mcp-'));

const procs = new SpeakerdProcs();
after(async () => {
  await procs.killAll();
  rmSync(dir, { recursive: true, force: true });
});
const speakerd = (args: string[]) => procs.spawn(args);

test('the server sets the volume over MCP: applied to playback, persisted, loaded at the next start', async () => {
  const { proc: server, url } = await procs.devServer(0, ['--mcp-volume']);
  const stateDir = join(dir, 'state');
  const config = join(dir, 'config.json');
  writeFileSync(
    config,
    JSON.stringify({
      server: { websocketUrl: url },
      stateDir,
      identity: { deviceId: '02:4d:43:50:00:01' },
      hardware: 'simulated',
      conversation: { buttonMode: 'push-to-talk' },
      // The --tts-out file is the speaker: the press's listening chime (at the level before the
      // change) would be in it too; this test reads the reply's level alone.
      sounds: { enabled: false },
    }),
  );
  const tts = join(dir, 'tts.raw');
  const daemon = speakerd(['run', '--sim', '--config', config, '--tts-out', tts]);
  await waitFor('online', 10_000, () => daemon.out.includes('"link_to":"ready"'));
  assert.match(daemon.out, /"msg":"volume 100"/, 'starts at the default level');
  // The dev-server lists the device's tools once the hello advertised MCP.
  await waitFor('tools listed', 10_000, () => /self\.audio_speaker\.set_volume/.test(server.out));
  assert.match(server.out, /self\.get_device_status/);

  // One push-to-talk turn of ~2 s: the dev-server derives a volume from its length.
  daemon.child.stdin?.write('p\n');
  await sleep(2_000);
  daemon.child.stdin?.write('r\n');
  await waitFor('the reply played', 20_000, () =>
    /"conversation_from":"speaking","conversation_to":"idle"/.test(daemon.out),
  );
  // Logged once, by the daemon's volume control, which also emits its `volume` event for it.
  const set = /"msg":"volume 100 → (\d+) \(mcp\)"/.exec(daemon.out);
  assert.ok(set, 'the daemon logged the volume change');
  const level = Number(set[1]);
  assert.ok(level >= 10 && level < 100, `set_volume gave ${level}`);
  // Persisted in the background after the change is logged (an atomic rename): waited for, not
  // read at the moment the turn ended.
  const volumeFile = join(stateDir, 'volume.json');
  const persisted = (): string => (existsSync(volumeFile) ? readFileSync(volumeFile, 'utf8') : '');
  await waitFor(
    'the level persisted',
    10_000,
    () => persisted() !== '' && Reflect.get(Object(JSON.parse(persisted())), 'level') === level,
  );
  assert.deepEqual(JSON.parse(persisted()), { level });
  // The reply played at the new level: scaled by its gain, no sample can exceed gain × full scale.
  const played = readFileSync(tts);
  assert.ok(played.length > 24_000 * 2, `${played.length} bytes of TTS`);
  let peak = 0;
  for (let i = 0; i + 1 < played.length; i += 2) peak = Math.max(peak, Math.abs(played.readInt16LE(i)));
  const bound = Math.ceil(32_768 * perceptualGain(level)) + 1;
  assert.ok(peak > 0 && peak <= bound, `peak ${peak} at volume ${level} (bound ${bound})`);

  daemon.child.kill('SIGTERM');
  assert.deepEqual(await daemon.exit, { code: 0, signal: null });

  // Restarted: the level set over MCP is the level it starts with.
  const again = speakerd(['run', '--sim', '--config', config]);
  await waitFor('the volume loaded', 10_000, () => again.out.includes(`"msg":"volume ${level}"`));
  again.child.kill('SIGTERM');
  assert.deepEqual(await again.exit, { code: 0, signal: null });
  server.child.kill('SIGTERM');
  await server.exit;
});
