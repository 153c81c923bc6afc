/** The `speakerd` binary end to end: exit codes and output of every subcommand (spawned for real). */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'speakerd-cli-'));
/** An empty config: all defaults, without reading the machine's /etc/speakerd. */
const EMPTY_CONFIG = join(dir, 'empty.json');
writeFileSync(EMPTY_CONFIG, '{}');
after(() => rmSync(dir, { recursive: true, force: true }));

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
}

function start(
  args: string[],
  env: Record<string, string> = {},
): { child: ChildProcess; done: Promise<Result> } {
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: { PATH: process.env.PATH ?? '', SPEAKERD_CONFIG: EMPTY_CONFIG, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const done = new Promise<Result>((resolve, reject) => {
    child.on('error', reject);
    const kill = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('close', (code, signal) => {
      clearTimeout(kill);
      resolve({ code, signal, out, err });
    });
  });
  return { child, done };
}

const run = (args: string[], env?: Record<string, string>) => start(args, env).done;

test('help and usage errors', async () => {
  const help = await run(['help']);
  assert.equal(help.code, 0);
  assert.match(help.out, /check-config/);
  const bad = await run(['frobnicate']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /unknown command "frobnicate"/);
});

test('a missing explicit config file is an error, not silent defaults', async () => {
  const r = await run(['check-config', '--config', join(dir, 'absent.json')]);
  assert.equal(r.code, 78);
  assert.match(r.err, /absent\.json/);
});

test('check-config: 0 for a good file, 78 with every error for a bad one', async () => {
  const good = join(dir, 'good.json');
  writeFileSync(
    good,
    JSON.stringify({ server: { websocketUrl: 'ws://10.0.0.5:8000/xiaozhi/v1/', token: 'secret' } }),
  );
  const ok = await run(['check-config', '--config', good]);
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, /config OK/);
  assert.doesNotMatch(ok.out, /secret/, 'the token is never printed');
  const badFile = join(dir, 'bad.json');
  writeFileSync(
    badFile,
    JSON.stringify({
      connection: { pingIntervalMs: 1, mode: 'sometimes' },
      audio: { decodeRate: 44100 },
      bogus: 1,
    }),
  );
  const bad = await run(['check-config', '--config', badFile]);
  assert.equal(bad.code, 78);
  for (const path of ['connection.pingIntervalMs', 'connection.mode', 'audio.decodeRate', 'bogus']) {
    assert.match(bad.err, new RegExp(path.replace('.', '\\.')), `error list names ${path}`);
  }
});

test('run with an invalid config: exit 78, one fatal record with code E_CONFIG_INVALID and every error', async () => {
  const badFile = join(dir, 'bad-run.json');
  writeFileSync(badFile, JSON.stringify({ connection: { pingIntervalMs: 1 }, bogus: 1 }));
  const parse = (out: string) =>
    out
      .split('\n')
      .filter((l) => l.includes('{'))
      .map((l) => JSON.parse(l.slice(l.indexOf('{'))) as Record<string, unknown>);
  // Not under journald: the list for a person on stderr, the record on stdout (JSON lines).
  const plain = await run(['run', '--config', badFile]);
  assert.equal(plain.code, 78);
  assert.match(plain.err, /connection\.pingIntervalMs/);
  const [record, ...more] = parse(plain.out);
  assert.deepEqual(more, []);
  assert.equal(record?.code, 'E_CONFIG_INVALID');
  assert.equal(record?.level, 60);
  assert.equal(record?.exit_code, 78);
  assert.ok(Array.isArray(record?.errors) && record.errors.length === 2, 'both errors listed');
  // Under journald the record alone says it (with its priority prefix), not one entry per line.
  const journal = await run(['run', '--config', badFile], { JOURNAL_STREAM: '8:12345' });
  assert.equal(journal.code, 78);
  assert.equal(journal.err, '');
  assert.match(journal.out, /^<2>\{.*"code":"E_CONFIG_INVALID".*bogus/);
  assert.equal(parse(journal.out).length, 1);
});

test('identity: the same ids on every run, Client-Id kept in the state dir', async () => {
  const env = { SPEAKERD_STATE_DIR: join(dir, 'state'), SPEAKERD_DEVICE_ID: '02:11:22:33:44:55' };
  const a = await run(['identity'], env);
  const b = await run(['identity'], env);
  assert.equal(a.code, 0, a.err);
  const uuid = /[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}/;
  assert.match(a.out, /02:11:22:33:44:55/);
  assert.match(a.out, /\(created\)/, 'the first run creates the Client-Id');
  assert.equal(uuid.exec(a.out)?.[0], uuid.exec(b.out)?.[0], 'the second run reads the same one');
  assert.doesNotMatch(b.out, /created/);
});

test('run with "hardware": "gpio" on a machine without sysfs GPIO: exit 78 naming the cause, never a silent fallback', async () => {
  const r = await run(['run'], {
    SPEAKERD_STATE_DIR: join(dir, 'state'),
    SPEAKERD_DEVICE_ID: '02:11:22:33:44:55',
  });
  assert.equal(r.code, 78);
  assert.match(r.out + r.err, /E_GPIO: no sysfs GPIO at \/sys\/class\/gpio.*CONFIG_GPIO_SYSFS.*simulated/);
  // Nothing was started before the hardware check: no arecord, no connection.
  assert.doesNotMatch(r.out + r.err, /capture stopped → starting|link_to/);
});

test('run --sim: connects to a dev-server, SIGTERM stops it cleanly with exit 0', async () => {
  const server = start(['dev-server', '--port', '0']);
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('dev-server did not print its URL')), 10_000);
    server.child.stdout?.on('data', (d: Buffer) => {
      const m = /(ws:\/\/\S+)/.exec(d.toString());
      if (m?.[1]) {
        clearTimeout(t);
        resolve(m[1]);
      }
    });
  });
  const daemon = start(['run', '--sim'], {
    SPEAKERD_SERVER_URL: url,
    SPEAKERD_STATE_DIR: join(dir, 'state'),
    SPEAKERD_DEVICE_ID: '02:11:22:33:44:55',
  });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('daemon never became ready')), 10_000);
    daemon.child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('"link_to":"ready"')) {
        clearTimeout(t);
        resolve();
      }
    });
  });
  daemon.child.stdin?.write('\n'); // a click: the turn starts
  const t0 = Date.now();
  daemon.child.kill('SIGTERM');
  const r = await daemon.done;
  assert.equal(r.code, 0, r.err);
  assert.ok(Date.now() - t0 < 5000, 'stops within 5 s');
  assert.match(r.out, /"msg":"stopped"/);
  server.child.kill('SIGTERM');
  const s = await server.done;
  assert.equal(s.code, 0, s.err);
});
