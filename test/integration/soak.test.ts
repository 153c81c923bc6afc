/**
 * The short soak of CI (issue "Proof at scale"): the real `speakerd run` (the test sound card when
 * alsa-utils and python3 are here, else `--sim`) against the dev-server through the fault proxy,
 * 60 turns with a seeded random fault before each. Every turn must bring a reply after its fault
 * cleared; no crash, no state past its deadline, no unexpected error line, no growth of file
 * descriptors or child processes, and a clean SIGTERM. `npm run soak -- --turns N` is the long one.
 * 60, not 100 as before: the seed still draws every one of the 9 faults 4 to 9 times, and the 40
 * turns more cost CI a minute it now spends on the journal, catalog and wake-word tests.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeadlineMonitor, stateLimits } from '../../scripts/soak-checks.js';
import type { LogRecord } from '../../scripts/soak-daemon.js';
import { formatReport } from '../../scripts/soak-report.js';
import { runSoak, SOAK_CONFIG, SOAK_SERVER } from '../../scripts/soak-run.js';
import { configSchema } from '../../src/config/schema.js';

/** Push-to-talk turns of the CI soak. */
const SOAK_TURNS = 60;

test('the deadline check counts a state past its deadline, not one re-armed by a gesture', () => {
  const limits = stateLimits(configSchema.parse(SOAK_CONFIG), SOAK_SERVER);
  const monitor = new DeadlineMonitor(limits, 100, 250, () => 'synthetic');
  const t0 = Date.parse('2030-01-01T00:00:00.000Z');
  const line = (ms: number, fields: Record<string, unknown>): LogRecord => ({
    level: 30,
    msg: '',
    time: new Date(t0 + ms).toISOString(),
    ...fields,
  });
  monitor.restart(t0);
  monitor.feed(line(0, { link_to: 'ready' }));
  monitor.feed(line(0, { conversation_to: 'error' }));
  monitor.feed(line(290, { conversation_to: 'idle' })); // error display 200 ms + 100 ms margin: fine
  monitor.feed(line(300, { conversation_to: 'error' }));
  monitor.feed(line(700, { conversation_to: 'idle' })); // 400 ms: past it
  // A pending press (connect deadline 3 s) re-armed by a long press at 2.5 s: 4 s in all is fine.
  monitor.feed(line(1000, { conversation_to: 'connecting' }));
  monitor.feed({ ...line(3500, { input: 'longPress' }), level: 20, msg: 'input longPress in connecting' });
  monitor.feed(line(5000, { conversation_to: 'idle' }));
  monitor.feed(line(6000, { link_to: 'handshaking' }));
  monitor.finish(t0 + 8000); // still handshaking 2 s after a 1 s hello timeout: past it
  assert.deepEqual(
    monitor.stuck.map((s) => `${s.machine} ${s.state} ${s.ms}/${s.limitMs} ${s.endedBy}`),
    ['conversation error 400/200 ', 'link handshaking 2000/1000 still in it at the end'],
  );
  // idle from 5000 with the link handshaking from 6000 until the end: shown ready without a link.
  assert.deepEqual(
    monitor.mismatches.map((m) => `${m.conversation}/${m.link} ${m.ms}`),
    ['idle/handshaking 2000'],
  );
});

test('soak: 60 turns, a random fault before each, every turn completes and nothing leaks', {
  timeout: 240_000,
}, async (t) => {
  const progress: string[] = [];
  const report = await runSoak({
    turns: SOAK_TURNS,
    seed: 2024,
    audio: 'auto',
    progress: (l) => progress.push(l),
  });
  for (const line of formatReport(report).split('\n')) t.diagnostic(line);
  assert.equal(report.attempted, SOAK_TURNS);
  assert.equal(report.completed, report.attempted, `turns that never completed: ${progress.join(' | ')}`);
  assert.deepEqual(report.crashes, [], 'the daemon never exited on its own');
  assert.equal(report.fatalLines, 0);
  assert.deepEqual(report.stuck, [], 'no state outlived its deadline');
  assert.deepEqual(report.mismatches, [], 'never idle/listening/speaking without a link');
  assert.deepEqual(report.unexpectedErrors, [], 'no error line but the refused token of an auth rotation');
  assert.equal(report.invariantLines, 0);
  const { start, end } = report.resources;
  assert.ok(end.fds <= start.fds + report.fdTolerance, `fds ${start.fds} → ${end.fds}`);
  assert.ok(end.children.length <= start.children.length, `children ${start.children} → ${end.children}`);
  assert.equal(report.stop.code, 0, 'SIGTERM ends it with 0');
  // Every kind of fault was drawn at least once: 60 draws from 9 with this seed (4 to 9 of each).
  assert.equal(Object.keys(report.byFault).length, 9, `faults drawn: ${Object.keys(report.byFault)}`);
  assert.ok(report.ok, report.problems.join('; '));
});

test('soak, toggle mode: 15 turns, the reply plays out and auto mode listens again under faults', {
  timeout: 240_000,
}, async (t) => {
  const progress: string[] = [];
  const report = await runSoak({
    turns: 15,
    seed: 3,
    audio: 'auto',
    buttonMode: 'toggle',
    progress: (l) => progress.push(l),
  });
  for (const line of formatReport(report).split('\n')) t.diagnostic(line);
  assert.equal(report.buttonMode, 'toggle');
  assert.equal(report.completed, report.attempted, `turns that never completed: ${progress.join(' | ')}`);
  // The conversation went on by itself after replies: auto turns were opened (and ended by the user).
  assert.ok(
    Object.keys(report.outcomes).some((k) => k.startsWith('auto → ')),
    `turn lines: ${JSON.stringify(report.outcomes)}`,
  );
  assert.deepEqual(report.crashes, []);
  assert.deepEqual(report.stuck, [], 'no state outlived its deadline');
  assert.deepEqual(report.unexpectedErrors, []);
  assert.equal(report.invariantLines, 0);
  assert.ok(report.ok, report.problems.join('; '));
});
