/**
 * The mute switch or button and the volume buttons (issue 15 §3) through the real `speakerd run`,
 * its real GPIO adapter (onoff) and fakegpiofs, the FUSE imitation of /sys/class/gpio
 * (test-infra.md §2.2), the same rig as the talk button's test (daemon.test.ts). No server is
 * needed: the mute and the volume are the device's own; the link stays offline (a closed port).
 *
 * - a switch: its position at start wins over the saved state; bounced flips mute and unmute,
 *   once each; a click while muted starts no turn;
 * - volume up/down: bounced presses step once each, clamped, and the level is in volume.json;
 * - a mute button: each bounced press toggles, and the state survives a restart.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  exportedLines,
  FAKE_GPIO_RUN_HINT,
  GPIO_ROOT,
  insideFakeGpio,
  type Level,
  pressBounced,
  readAttr,
  setLevel,
} from '../fakes/gpio-rig.js';
import { freePort } from '../fakes/speakerd-proc.js';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));

// The fake is a Pi 4 on kernel ≥ 6.6: BCM n is sysfs 512 + n. All wired to GND with pull-ups.
const BUTTON = 529; // GPIO17
const MUTE = 517; // GPIO5
const UP = 518; // GPIO6
const DOWN = 525; // GPIO13
/**
 * The debounce configured for the controls. The bounce trains below are writes 2 ms apart, but each
 * is a FUSE round trip, and on a loaded CPU one can take over 20 ms (test/gpio/fake-sysfs.test.ts saw
 * it): 100 ms keeps every train one edge with a wide margin, and is still a plausible debounce.
 */
const DEBOUNCE_MS = 100;

interface Proc {
  readonly child: ChildProcess;
  readonly lines: string[];
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const procs: Proc[] = [];
const dir = mkdtempSync(join(tmpdir(), 'speakerd-gpio-controls-'));
/** Ends every daemon still running (a test that failed midway), so the next test starts clean. */
async function reapAll(): Promise<void> {
  for (const p of procs)
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exit));
}
after(async () => {
  await reapAll();
  rmSync(dir, { recursive: true, force: true });
});

function spawnSpeakerd(args: string[]): Proc {
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let partial = '';
  const take = (d: Buffer) => {
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
  };
  child.stdout?.on('data', take);
  child.stderr?.on('data', take);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  const p = { child, lines, exit };
  procs.push(p);
  return p;
}

/** The outside world's level on a line before the daemon exports it (a pull-up, a closed switch). */
async function preset(line: number, level: Level): Promise<void> {
  // Still exported when an earlier test's daemon died without unexporting (SIGKILL after a failure).
  if (!existsSync(`${GPIO_ROOT}/gpio${line}`)) await writeFile(`${GPIO_ROOT}/export`, String(line));
  await setLevel(line, level);
  await writeFile(`${GPIO_ROOT}/unexport`, String(line));
}

/** Polls `pred` every 20 ms (children and sysfs follow real time); fails after `ms`. */
async function waitFor(what: string, ms: number, pred: () => boolean, lines: readonly string[]) {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms)
      throw new Error(
        `timed out after ${ms} ms waiting for ${what}; last lines:\n${lines.slice(-15).join('\n')}`,
      );
    await sleep(20);
  }
}

const count = (p: Proc, s: string) => p.lines.filter((l) => l.includes(s)).length;

/** When the last log line containing `needle` was written (its ISO `time`, system/logger.ts), epoch ms. */
function loggedAt(p: Proc, needle: string): number {
  const line = p.lines.filter((l) => l.includes(needle)).at(-1);
  const time = line === undefined ? undefined : (JSON.parse(line) as { time?: unknown }).time;
  const ms = typeof time === 'string' ? Date.parse(time) : Number.NaN;
  if (Number.isNaN(ms)) throw new Error(`no log line with a time for ${needle}: ${line}`);
  return ms;
}

async function stop(p: Proc): Promise<void> {
  p.child.kill('SIGTERM');
  assert.deepEqual(await p.exit, { code: 0, signal: null });
}

function writeConfig(name: string, port: number, stateDir: string, mute: Record<string, unknown>): string {
  const file = join(dir, name);
  writeFileSync(
    file,
    JSON.stringify({
      // Nobody listens there: the device stays offline, which the mute and the volume do not need.
      server: { websocketUrl: `ws://127.0.0.1:${port}/xiaozhi/v1/` },
      identity: { deviceId: '02:47:50:49:4f:02' },
      stateDir,
      hardware: 'gpio',
      audio: { defaultVolume: 80, volumeStep: 10 },
      gpio: {
        button: { line: 17, debounceMs: DEBOUNCE_MS },
        leds: [],
        mute: { line: 5, debounceMs: DEBOUNCE_MS, ...mute },
        volumeUp: { line: 6, debounceMs: DEBOUNCE_MS },
        volumeDown: { line: 13, debounceMs: DEBOUNCE_MS },
      },
      logLevel: 'debug',
    }),
  );
  return file;
}

if (!insideFakeGpio()) {
  test('GPIO controls (fakegpiofs)', () => assert.fail(FAKE_GPIO_RUN_HINT));
} else {
  test('a mute switch (its start position wins, bounced flips) and volume buttons (bounced steps, persisted)', async (t) => {
    /** From the last level written (the contact settled) to the daemon's log line: the debounce and the rest. */
    const latencies: number[] = [];
    const stateDir = join(dir, 'state-switch');
    mkdirSync(stateDir);
    // Saved unmuted; the switch is closed (level 0 on a pulled-up line): muted wins.
    writeFileSync(join(stateDir, 'mute.json'), '{"muted":false}\n');
    for (const line of [BUTTON, UP, DOWN]) await preset(line, 1);
    await preset(MUTE, 0);
    const config = writeConfig('switch.json', await freePort(), stateDir, { kind: 'switch' });
    const d = spawnSpeakerd(['run', '--sim-audio', '--config', config]);
    await waitFor(
      'muted by the switch at start',
      10_000,
      () => count(d, '"mute_to":"muted","reason":"switch position at start"') === 1,
      d.lines,
    );
    assert.deepEqual(
      await exportedLines(),
      [MUTE, UP, DOWN, BUTTON].sort((a, b) => a - b),
    );
    for (const line of [MUTE, UP, DOWN])
      assert.deepEqual(
        [await readAttr(line, 'direction'), await readAttr(line, 'active_low'), await readAttr(line, 'edge')],
        ['in', '1', 'both'],
        `line ${line}`,
      );
    await waitFor('the status says muted', 5_000, () => count(d, 'muted (privacy)') > 0, d.lines);

    // A click while muted: no turn.
    await pressBounced(BUTTON, { to: 0, bounces: 2, spacingMs: 2 });
    await sleep(DEBOUNCE_MS + 20);
    await pressBounced(BUTTON, { to: 1, bounces: 2, spacingMs: 2 });
    await waitFor('the click refused', 5_000, () => count(d, 'click while muted: no turn') === 1, d.lines);
    assert.equal(count(d, '"conversation_to":"connecting"'), 0, 'no turn was started');

    // Switch opened (bounced): unmuted once; closed again: muted once.
    await pressBounced(MUTE, { to: 1, bounces: 3, spacingMs: 2 });
    let settled = Date.now();
    const unmuted = '"mute_to":"unmuted","reason":"switch"';
    await waitFor('unmuted by the switch', 5_000, () => count(d, unmuted) === 1, d.lines);
    latencies.push(loggedAt(d, unmuted) - settled);
    await pressBounced(MUTE, { to: 0, bounces: 3, spacingMs: 2 });
    settled = Date.now();
    const muted = '"mute_to":"muted","reason":"switch"';
    await waitFor('muted by the switch', 5_000, () => count(d, muted) === 1, d.lines);
    latencies.push(loggedAt(d, muted) - settled);
    await sleep(DEBOUNCE_MS * 3);
    assert.equal(count(d, '"mute_to":'), 3, 'each bounced flip counted once');

    // Volume: 80 → 90 → 100 → 100 (clamped) → 90, one step per bounced press.
    for (const [line, expect] of [
      [UP, 90],
      [UP, 100],
      [UP, 100],
      [DOWN, 90],
    ] as const) {
      const before = count(d, '(button)"');
      await pressBounced(line, { to: 0, bounces: 3, spacingMs: 2 });
      const pressed = Date.now();
      await waitFor(`volume ${expect}`, 5_000, () => count(d, '(button)"') === before + 1, d.lines);
      latencies.push(loggedAt(d, '(button)"') - pressed);
      await pressBounced(line, { to: 1, bounces: 3, spacingMs: 2 });
      await sleep(DEBOUNCE_MS * 2);
      assert.equal(count(d, '(button)"'), before + 1, 'one step per press, none for the release');
      assert.ok(
        d.lines.some((l) => l.includes(`→ ${expect} (button)"`)),
        `volume ${expect}: ${d.lines.filter((l) => l.includes('(button)"')).at(-1)}`,
      );
    }
    t.diagnostic(`contact settled → logged (ms; debounce ${DEBOUNCE_MS}): ${latencies.join(', ')}`);
    // No stall after the debounce. (That it waited the debounce is the unit test's job, on a
    // manual clock: here the test's own clock reading after the write can lag under load.)
    for (const ms of latencies) assert.ok(ms < 1_000, `latency ${ms} ms`);
    await stop(d);
    assert.deepEqual(JSON.parse(readFileSync(join(stateDir, 'volume.json'), 'utf8')), { level: 90 });
    assert.deepEqual(JSON.parse(readFileSync(join(stateDir, 'mute.json'), 'utf8')), { muted: true });
    assert.deepEqual(await exportedLines(), [], 'every line unexported');
  });

  test('a mute button toggles on each bounced press, and the state survives a restart', async () => {
    await reapAll();
    const stateDir = join(dir, 'state-button');
    mkdirSync(stateDir);
    for (const line of [BUTTON, MUTE, UP, DOWN]) await preset(line, 1);
    const port = await freePort();
    const config = writeConfig('button.json', port, stateDir, { kind: 'button' });
    let d = spawnSpeakerd(['run', '--sim-audio', '--config', config]);
    await waitFor('started unmuted', 10_000, () => count(d, 'privacy mute off at start') === 1, d.lines);
    await pressBounced(MUTE, { to: 0, bounces: 3, spacingMs: 2 });
    await waitFor(
      'muted by the button',
      5_000,
      () => count(d, '"mute_to":"muted","reason":"button"') === 1,
      d.lines,
    );
    await pressBounced(MUTE, { to: 1, bounces: 3, spacingMs: 2 });
    await sleep(DEBOUNCE_MS * 2);
    assert.equal(count(d, '"mute_to":'), 1, 'the release toggles nothing');
    await stop(d);
    assert.deepEqual(JSON.parse(readFileSync(join(stateDir, 'mute.json'), 'utf8')), { muted: true });

    d = spawnSpeakerd(['run', '--sim-audio', '--config', config]);
    await waitFor(
      'still muted after the restart',
      10_000,
      () => count(d, 'privacy mute on at start') === 1,
      d.lines,
    );
    await waitFor('the status says muted', 5_000, () => count(d, 'muted (privacy)') > 0, d.lines);
    await pressBounced(MUTE, { to: 0, bounces: 3, spacingMs: 2 });
    await waitFor(
      'unmuted by the button',
      5_000,
      () => count(d, '"mute_to":"unmuted","reason":"button"') === 1,
      d.lines,
    );
    await stop(d);
    assert.deepEqual(JSON.parse(readFileSync(join(stateDir, 'mute.json'), 'utf8')), { muted: false });
  });
}
