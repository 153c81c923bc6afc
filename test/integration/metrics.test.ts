/**
 * Metrics for node_exporter's textfile collector (issue 13 §5), end to end: the real
 * `speakerd run --sim` against the dev-server, three push-to-talk turns, and the file it keeps
 * rewriting checked by the real `promtool check metrics` (Debian package `prometheus`: the
 * Prometheus project's own parser and linter of the exposition format) after the turns and after
 * the stop, with the counts matching the turns the daemon logged and the test made.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startNotifyReceiver } from '../fakes/notify-receiver.js';
import { SpeakerdProcs, waitFor } from '../fakes/speakerd-proc.js';

const dir = mkdtempSync(join(tmpdir(), 'speakerd-metrics-'));
const procs = new SpeakerdProcs();
after(async () => {
  await procs.killAll();
  rmSync(dir, { recursive: true, force: true });
});

const TURNS = 3;

/** `promtool check metrics` reads the text on stdin; exit 0 = parses and lints clean. */
function promtool(text: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile('promtool', ['check', 'metrics'], (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      if (err !== null && code === -1) reject(err);
      else resolve({ code, output: `${stdout}${stderr}` });
    });
    child.stdin?.end(text);
  });
}

function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n'))
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  return undefined;
}

/** Turn outcomes as the daemon logged them (one `{ turn }` record per turn: turn-context.ts). */
function loggedTurns(out: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of out.split('\n')) {
    if (!line.includes('"turn":{')) continue;
    const turn: unknown = Reflect.get(Object(JSON.parse(line)), 'turn');
    const outcome = String(Reflect.get(Object(turn), 'outcome'));
    counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
  }
  return counts;
}

test('run --sim: three turns, the textfile parses with promtool and counts them; the stop writes it once more', async (t) => {
  const receiver = await startNotifyReceiver(dir);
  t.after(() => receiver.close());
  const { proc: server, url } = await procs.devServer(0);
  const textfileDir = join(dir, 'node-exporter');
  mkdirSync(textfileDir);
  const file = join(textfileDir, 'speakerd.prom');
  const config = join(dir, 'config.json');
  writeFileSync(
    config,
    JSON.stringify({
      server: { websocketUrl: url },
      stateDir: join(dir, 'state'),
      identity: { deviceId: '02:4d:45:54:52:01' },
      hardware: 'simulated',
      conversation: { buttonMode: 'push-to-talk' },
      metrics: { textfile: file, intervalMs: 1000 },
    }),
  );
  const daemon = procs.spawn(['run', '--sim', '--config', config], {
    NOTIFY_SOCKET: receiver.socketPath,
    WATCHDOG_USEC: '2000000',
  });
  await waitFor('online', 10_000, () => daemon.out.includes('"link_to":"ready"'));
  await waitFor('the first metrics file', 5_000, () => existsSync(file));
  for (let i = 1; i <= TURNS; i++) {
    daemon.child.stdin?.write('p\n');
    await sleep(1_200);
    daemon.child.stdin?.write('r\n');
    await waitFor(`turn ${i} replied`, 20_000, () => (loggedTurns(daemon.out).get('reply') ?? 0) === i);
  }
  const read = () => readFileSync(file, 'utf8');
  await waitFor(
    'the turns in the file',
    5_000,
    () => sample(read(), 'speakerd_turns_total{outcome="reply"}') === TURNS,
  );
  const running = read();
  const checked = await promtool(running);
  assert.equal(checked.code, 0, `promtool check metrics:\n${checked.output}\n${running}`);
  assert.equal(sample(running, 'speakerd_link_state{state="ready"}'), 1);
  assert.equal(sample(running, 'speakerd_reply_latency_seconds_count'), TURNS, 'each reply has a latency');
  const sum = sample(running, 'speakerd_reply_latency_seconds_sum') ?? 0;
  assert.ok(sum > 0 && sum < TURNS * 5, `latency sum ${sum} s`);
  assert.equal(sample(running, 'speakerd_watchdog_healthy'), 1, 'under WatchdogSec the health is there');
  assert.equal(sample(running, 'speakerd_volume_ratio'), 1);
  assert.equal(sample(running, 'speakerd_connection_attempts_total'), 1);
  assert.equal(sample(running, 'speakerd_mic_faults_total'), 0);
  assert.equal((statSync(file).mode & 0o777).toString(8), '644');
  t.diagnostic(`file while running: ${running.length} bytes, ${running.split('\n').length} lines`);

  daemon.child.kill('SIGTERM');
  assert.deepEqual(await daemon.exit, { code: 0, signal: null });
  const last = read();
  const lastChecked = await promtool(last);
  assert.equal(lastChecked.code, 0, `promtool check metrics:\n${lastChecked.output}`);
  assert.equal(sample(last, 'speakerd_link_state{state="stopped"}'), 1, 'the stop wrote the last state');
  // Every turn the daemon logged, by outcome, and nothing else.
  const logged = loggedTurns(daemon.out);
  assert.equal(logged.get('reply'), TURNS);
  for (const line of last.split('\n')) {
    const m = /^speakerd_turns_total\{outcome="([^"]+)"\} (\d+)$/.exec(line);
    if (m) assert.equal(Number(m[2]), logged.get(m[1] ?? '') ?? 0, `outcome ${m[1]}`);
  }
  assert.deepEqual(readdirSync(textfileDir), ['speakerd.prom'], 'no temp file left for node_exporter');
  server.child.kill('SIGTERM');
  await server.exit;
});
