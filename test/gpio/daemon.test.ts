/**
 * The real `speakerd run` with its real GPIO adapter (onoff) against fakegpiofs, the FUSE
 * imitation of /sys/class/gpio (test-infra.md §2.2), and the dev-server: lines exported as
 * configured, a bounced button press driving a whole push-to-talk turn, the LEDs' physical levels
 * through connecting → idle → listening → speaking → idle, offline and back when the server is
 * killed and restarted, and every line unexported with the LEDs off after SIGTERM. The LED
 * history comes from the fake's trace of every write, so no blink or brief state is missed.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
  pressBounced,
  readAttr,
  readTrace,
  setLevel,
  type TraceEntry,
} from '../fakes/gpio-rig.js';
import { freePort } from '../fakes/speakerd-proc.js';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));

// The fake is a Pi 4 on kernel ≥ 6.6: BCM n is sysfs 512 + n.
const BUTTON = 529; // GPIO17, active low (to GND, pull-up)
const RED = 534; // GPIO22
const GREEN = 535; // GPIO23
const BLUE = 536; // GPIO24, configured active low: lit on a low level (a common-anode channel)
const LED_ACTIVE_LOW = new Map([
  [RED, false],
  [GREEN, false],
  [BLUE, true],
]);

interface Proc {
  readonly child: ChildProcess;
  readonly lines: string[];
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const procs: Proc[] = [];
const dir = mkdtempSync(join(tmpdir(), 'speakerd-gpio-'));
after(async () => {
  for (const p of procs)
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exit));
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

async function startDevServer(port: number): Promise<Proc> {
  const server = spawnSpeakerd(['dev-server', '--port', String(port)]);
  await waitFor('the dev-server URL', 10_000, () =>
    server.lines.some((l) => l.includes(`ws://127.0.0.1:${port}`)),
  );
  return server;
}

/** The LED colour shown after each traced write: the lit roles, '' when dark. */
function ledHistory(trace: readonly TraceEntry[]): string[] {
  const lit = new Map<number, boolean>();
  const out: string[] = [];
  for (const e of trace) {
    const activeLow = LED_ACTIVE_LOW.get(e.line);
    if (activeLow === undefined || e.dir !== 'out') continue;
    lit.set(e.line, (e.level === 1) !== activeLow);
    const shown = [
      [RED, 'red'],
      [GREEN, 'green'],
      [BLUE, 'blue'],
    ]
      .filter(([line]) => lit.get(Number(line)) === true)
      .map(([, name]) => name)
      .join('+');
    if (out.at(-1) !== shown) out.push(shown);
  }
  return out;
}

/** Whether `seq` occurs in `history` in order (other entries may come between). */
function inOrder(history: readonly string[], seq: readonly string[]): boolean {
  let i = 0;
  for (const h of history) if (h === seq[i]) i++;
  return i === seq.length;
}

const conversationReached = (daemon: Proc, to: string) =>
  daemon.lines.some((l) => l.includes(`"conversation_to":"${to}"`));

if (!insideFakeGpio()) {
  test('GPIO integration (fakegpiofs)', () => assert.fail(FAKE_GPIO_RUN_HINT));
} else {
  test('speakerd on (fake) GPIO: a bounced press drives a turn, LEDs follow, SIGTERM leaves nothing behind', async (t) => {
    // The button's pull-up: the line reads high (not pressed) before the daemon exports it.
    await writeFile(`${GPIO_ROOT}/export`, String(BUTTON));
    await setLevel(BUTTON, 1);
    await writeFile(`${GPIO_ROOT}/unexport`, String(BUTTON));

    const port = await freePort();
    let server = await startDevServer(port);
    const config = join(dir, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({
        server: { websocketUrl: `ws://127.0.0.1:${port}/xiaozhi/v1/` },
        identity: { deviceId: '02:47:50:49:4f:01' },
        stateDir: join(dir, 'state'),
        hardware: 'gpio',
        conversation: { buttonMode: 'push-to-talk' },
        gpio: {
          button: { line: 17 },
          leds: [
            { line: 22, role: 'red' },
            { line: 23, role: 'green' },
            { line: 24, role: 'blue', activeLow: true },
          ],
        },
        logLevel: 'debug',
      }),
    );
    const daemon = spawnSpeakerd(['run', '--sim-audio', '--config', config]);
    await waitFor('connected and idle', 15_000, () => conversationReached(daemon, 'idle'));

    // Exported as configured.
    assert.deepEqual(await exportedLines(), [BUTTON, RED, GREEN, BLUE]);
    assert.deepEqual(
      [
        await readAttr(BUTTON, 'direction'),
        await readAttr(BUTTON, 'active_low'),
        await readAttr(BUTTON, 'edge'),
      ],
      ['in', '1', 'both'],
    );
    for (const [line, activeLow] of LED_ACTIVE_LOW) {
      assert.equal(await readAttr(line, 'direction'), 'out', `line ${line}`);
      assert.equal(await readAttr(line, 'active_low'), activeLow ? '1' : '0', `line ${line}`);
    }
    assert.ok(
      daemon.lines.some((l) => l.includes('GPIO chip pinctrl-bcm2711: BCM n is sysfs 512 + n')),
      'the chip base was resolved from sysfs',
    );
    await waitFor(
      'LEDs: connecting → idle',
      5_000,
      traced(() => inOrder(ledHistory(currentTrace), ['blue', ''])),
    );

    // One bounced press, held 2.5 s, one bounced release: exactly one turn.
    await pressBounced(BUTTON, { to: 0, bounces: 3, spacingMs: 2 });
    await waitFor('listening after the press', 5_000, () => conversationReached(daemon, 'listening'));
    await sleep(2_500);
    await pressBounced(BUTTON, { to: 1, bounces: 3, spacingMs: 2 });
    await waitFor('the reply played and the device idle again', 20_000, () =>
      daemon.lines.some((l) => l.includes('"conversation_from":"speaking","conversation_to":"idle"')),
    );
    const presses = daemon.lines.filter((l) => l.includes('"msg":"button: press"')).length;
    const releases = daemon.lines.filter((l) => l.includes('"msg":"button: release"')).length;
    assert.deepEqual([presses, releases], [1, 1], 'the bounces were swallowed by the debounce');
    await refreshTrace();
    const turn = ledHistory(currentTrace);
    assert.ok(inOrder(turn, ['blue', '', 'red', 'green', '']), `LED history ${JSON.stringify(turn)}`);
    t.diagnostic(`LED history of the turn: ${turn.map((c) => c || 'off').join(' → ')}`);

    // The server dies mid-turn: offline (blue slow blink) on the LED lines, idle once it is back.
    const before = currentTrace.length;
    const listenings = daemon.lines.filter((l) => l.includes('"conversation_to":"listening"')).length;
    await pressBounced(BUTTON, { to: 0, bounces: 2, spacingMs: 2 });
    await waitFor(
      'listening again',
      5_000,
      () => daemon.lines.filter((l) => l.includes('"conversation_to":"listening"')).length > listenings,
    );
    await sleep(500);
    server.child.kill('SIGKILL');
    await server.exit;
    await waitFor(
      'LEDs blinking blue (offline)',
      10_000,
      traced(() => {
        const h = ledHistory(currentTrace.slice(before));
        // A blink: blue on and off at least twice each after the server died.
        return h.filter((c) => c === 'blue').length >= 2 && h.filter((c) => c === '').length >= 2;
      }),
    );
    await pressBounced(BUTTON, { to: 1, bounces: 2, spacingMs: 2 });
    server = await startDevServer(port);
    await waitFor(
      'reconnected',
      40_000,
      () => daemon.lines.filter((l) => l.includes('"link_to":"ready"')).length >= 2,
    );
    await waitFor(
      'LEDs dark (idle)',
      5_000,
      traced(() => ledHistory(currentTrace).at(-1) === ''),
    );
    // Steady: no blink keeps writing once idle.
    const settled = currentTrace.length;
    await sleep(1_200);
    await refreshTrace();
    assert.ok(
      currentTrace.slice(settled).every((e) => !LED_ACTIVE_LOW.has(e.line)),
      'idle is steady: no LED writes',
    );

    // SIGTERM: exit 0 within 5 s, every line unexported, each LED's last level dark.
    const t0 = Date.now();
    daemon.child.kill('SIGTERM');
    const exit = await daemon.exit;
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(Date.now() - t0 < 5_000, `stopped in ${Date.now() - t0} ms`);
    assert.deepEqual(await exportedLines(), []);
    await refreshTrace();
    for (const line of [BUTTON, RED, GREEN, BLUE]) {
      const own = currentTrace.filter((e) => e.line === line);
      assert.equal(own.at(-1)?.what, 'unexport', `line ${line} unexported last`);
      if (line === BUTTON) continue;
      const last = own.at(-1);
      assert.ok(last);
      assert.equal(
        (last.level === 1) !== LED_ACTIVE_LOW.get(line),
        false,
        `LED ${line} dark when unexported`,
      );
    }
    server.child.kill('SIGTERM');
    await server.exit;
  });
}

let currentTrace: TraceEntry[] = [];
async function refreshTrace(): Promise<void> {
  currentTrace = await readTrace();
}

/** Polls `pred` every 20 ms (sockets, children and sysfs follow real time); fails after `ms`. */
async function waitFor(what: string, ms: number, pred: () => boolean | Promise<boolean>): Promise<void> {
  const t0 = Date.now();
  while (!(await pred())) {
    if (Date.now() - t0 > ms) {
      throw new Error(
        `timed out after ${ms} ms waiting for ${what}; LED history ${JSON.stringify(ledHistory(currentTrace))}`,
      );
    }
    await sleep(20);
  }
}

/** Refreshes the trace, then asks `pred`. */
const traced = (pred: () => boolean) => async () => {
  await refreshTrace();
  return pred();
};
