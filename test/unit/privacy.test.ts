/**
 * The privacy mute's owner (audio/privacy.ts) and the control lines' debounce (hardware/controls.ts):
 * one state with a logged transition, persisted across a restart like the volume, and the switch /
 * button levels turned into control events on a manual clock.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FRAME_BYTES } from '../../src/audio/audio-port.js';
import { PrerollSource } from '../../src/audio/preroll.js';
import { MUTE_FILE, PrivacyMute } from '../../src/audio/privacy.js';
import { configSchema, type LedRole, muteSchema } from '../../src/config/schema.js';
import { ManualClock } from '../../src/core/clock.js';
import type { Fault } from '../../src/core/errors.js';
import { type ControlEvent, DebouncedLine } from '../../src/hardware/controls.js';
import { controlEvent } from '../../src/hardware/gpio-hardware.js';
import { INDICATORS_BY_NAME } from '../../src/hardware/indicator.js';
import { GpioLeds, rolesFor } from '../../src/hardware/leds.js';
import { deviceStatusTool } from '../../src/mcp/tools.js';
import { captureLogger } from '../fakes/capture-logger.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function stateDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'speakerd-mute-'));
  dirs.push(d);
  return d;
}

test('PrivacyMute: unmuted without a file; set() takes effect at once, logs one transition, persists', async () => {
  const dir = stateDir();
  const { log, lines } = captureLogger();
  const mute = new PrivacyMute({ stateDir: dir, log });
  await mute.load();
  assert.equal(mute.state, 'unmuted');
  const changes: [boolean, string][] = [];
  mute.on('change', (m, why) => changes.push([m, why]));
  const saved = mute.set(true, 'button');
  assert.equal(mute.muted, true, 'in effect before the write');
  assert.deepEqual(changes, [[true, 'button']]);
  await saved;
  assert.deepEqual(JSON.parse(readFileSync(join(dir, MUTE_FILE), 'utf8')), { muted: true });
  const transitions = lines.filter((l) => l.mute_from !== undefined);
  assert.deepEqual(
    transitions.map((l) => [l.mute_from, l.mute_to, l.reason]),
    [['unmuted', 'muted', 'button']],
  );
  // The same state again: no event, no transition line.
  await mute.set(true, 'switch');
  assert.equal(changes.length, 1);
  await mute.toggle('button');
  assert.equal(mute.state, 'unmuted');
  assert.deepEqual(changes.at(-1), [false, 'button']);
  await mute.close();
  assert.deepEqual(JSON.parse(readFileSync(join(dir, MUTE_FILE), 'utf8')), { muted: false });
});

test('PrivacyMute: survives a restart; a corrupt file is a warning and unmuted', async () => {
  const dir = stateDir();
  const first = new PrivacyMute({ stateDir: dir, log: captureLogger().log });
  await first.load();
  await first.set(true, 'button');
  await first.close();
  const second = new PrivacyMute({ stateDir: dir, log: captureLogger().log });
  await second.load();
  assert.equal(second.state, 'muted', 'muted after a restart');

  for (const bad of ['{not json', '{"muted":"yes"}', '[]']) {
    writeFileSync(join(dir, MUTE_FILE), bad);
    const { log, lines } = captureLogger();
    const m = new PrivacyMute({ stateDir: dir, log });
    await m.load();
    assert.equal(m.state, 'unmuted', bad);
    assert.ok(
      lines.some((l) => l.level === 40 && String(l.msg).includes('mute state')),
      `a warning for ${bad}`,
    );
  }
});

test('DebouncedLine: the start level counts at once; a bounce train settles once, after debounceMs', () => {
  const clock = new ManualClock();
  const line = new DebouncedLine(clock, 30, captureLogger().log, 'mute');
  const levels: [boolean, boolean][] = [];
  line.on('level', (active, atStart) => levels.push([active, atStart]));
  line.initial(false);
  assert.deepEqual(levels, [[false, true]]);
  // Closed with three bounces, 2 ms apart.
  for (const v of [true, false, true, false, true]) {
    line.edge(v);
    clock.advance(2);
  }
  assert.equal(levels.length, 1, 'nothing while it bounces');
  clock.advance(27);
  assert.equal(levels.length, 1, 'not before the level held 30 ms');
  clock.advance(1);
  assert.deepEqual(levels, [
    [false, true],
    [true, false],
  ]);
  assert.equal(line.state, 'active');
  // A spike shorter than the window: nothing.
  line.edge(false);
  clock.advance(10);
  line.edge(true);
  clock.advance(100);
  assert.equal(levels.length, 2);
  // No timer left behind by stop().
  line.edge(false);
  line.stop();
  assert.equal(clock.pending, 0);
});

test('controlEvent: a switch reports its position (start included) by mutedWhen; a button only its presses', () => {
  const sw = muteSchema.parse({ line: 5 });
  assert.deepEqual(controlEvent('mute', true, true, sw), { kind: 'muteSwitch', muted: true, atStart: true });
  assert.deepEqual(controlEvent('mute', false, false, sw), {
    kind: 'muteSwitch',
    muted: false,
    atStart: false,
  });
  const inverted = muteSchema.parse({ line: 5, mutedWhen: 'inactive' });
  assert.deepEqual(controlEvent('mute', false, true, inverted), {
    kind: 'muteSwitch',
    muted: true,
    atStart: true,
  });
  const button = muteSchema.parse({ line: 5, kind: 'button' });
  const events: (ControlEvent | undefined)[] = [
    controlEvent('mute', true, true, button), // held at start: no press
    controlEvent('mute', true, false, button),
    controlEvent('mute', false, false, button), // a release: nothing
    controlEvent('volumeUp', true, false, undefined),
    controlEvent('volumeDown', true, false, undefined),
    controlEvent('volumeDown', false, false, undefined),
  ];
  assert.deepEqual(events, [
    undefined,
    { kind: 'muteToggle' },
    undefined,
    { kind: 'volumeUp' },
    { kind: 'volumeDown' },
    undefined,
  ]);
});

test('PrerollSource.mute: the ring is dropped, nothing kept or forwarded, start() does nothing; unmute refills', () => {
  const capture = new (class extends EventEmitter<{ frame: [pcm: Buffer]; fault: [fault: Fault] }> {
    start(): void {
      this.emit('frame', Buffer.alloc(FRAME_BYTES, 9));
    }
    async stop(): Promise<void> {
      this.removeAllListeners('frame');
    }
  })();
  const source = new PrerollSource(capture, { name: 'alsa:test', prerollMs: 300 });
  const out: Buffer[] = [];
  source.on('frame', (f) => out.push(f));
  source.mute(true);
  assert.equal(source.state, 'closed', 'a closed source stays closed');
  source.open();
  assert.equal(source.buffered, 1);
  source.start();
  assert.equal(out.length, 1, 'the pre-roll went out with the turn');
  source.mute(true);
  assert.equal(source.state, 'muted');
  capture.emit('frame', Buffer.alloc(FRAME_BYTES, 1));
  assert.equal(out.length, 1, 'a live turn gets nothing once muted');
  source.start();
  source.stop();
  capture.emit('frame', Buffer.alloc(FRAME_BYTES, 2));
  assert.equal(source.state, 'muted', 'start and stop leave the mute');
  assert.equal(source.buffered, 0);
  source.mute(false);
  assert.equal(source.state, 'buffering');
  capture.emit('frame', Buffer.alloc(FRAME_BYTES, 3));
  source.start();
  assert.deepEqual(
    out.map((f) => f[0]),
    [9, 3],
    'after the unmute only what was heard since',
  );
});

test('config: the controls are optional, default to switch/active-low/30 ms, and may not share a line', () => {
  const plain = configSchema.parse({});
  assert.equal(plain.gpio.mute, undefined, 'absent = no mute');
  assert.equal(plain.gpio.volumeUp, undefined);
  assert.equal(plain.audio.volumeStep, 10);
  const c = configSchema.parse({ gpio: { mute: { line: 27 }, volumeUp: { line: 26 } } });
  assert.deepEqual(c.gpio.mute, {
    line: 27,
    kind: 'switch',
    activeLow: true,
    mutedWhen: 'active',
    debounceMs: 30,
  });
  assert.deepEqual(c.gpio.volumeUp, { line: 26, activeLow: true, debounceMs: 30 });
  const clash = configSchema.safeParse({
    gpio: { mute: { line: 17 }, volumeUp: { line: 26 }, volumeDown: { line: 26 } },
  });
  assert.equal(clash.success, false);
  const messages = clash.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
  assert.deepEqual(messages.sort(), [
    'gpio.mute.line: GPIO17 is already button.line',
    'gpio.volumeDown.line: GPIO26 is already volumeUp.line',
  ]);
  const led = configSchema.safeParse({ gpio: { mute: { line: 22 } } });
  assert.ok(
    led.error?.issues.some((i) => i.message === 'GPIO22 is already mute.line'),
    'an LED on the mute line',
  );
  const power = configSchema.safeParse({
    gpio: { mute: { line: 5 } },
    leds: { type: 'apa102', preset: 'respeaker-4mic' },
  });
  assert.ok(
    power.error?.issues.some((i) => i.message === 'GPIO5 is already gpio.mute.line'),
    "the 4-Mic's LED power line is not free for the mute",
  );
});

test('self.get_device_status reports the privacy mute and the volume; without a mute, no microphone key', async () => {
  const base = {
    volume: () => 70,
    network: () => undefined,
    uptimeS: () => 5,
    cpuTempC: () => undefined,
    memory: () => undefined,
    connection: () => 'ready',
  };
  const { log } = captureLogger();
  let muted = true;
  const tool = deviceStatusTool({ ...base, muted: () => muted }, log);
  assert.deepEqual(JSON.parse(await tool.call({})), {
    audio_speaker: { volume: 70 },
    uptime_s: 5,
    connection: 'ready',
    microphone: { muted: true },
  });
  muted = false;
  assert.deepEqual(JSON.parse(await tool.call({})).microphone, { muted: false });
  const without = JSON.parse(await deviceStatusTool(base, log).call({}));
  assert.equal('microphone' in without, false);
});

test('the privacy look on GPIO LEDs: red and green (amber) and a status LED, steady, no timer', () => {
  const clock = new ManualClock();
  const lit = new Map<LedRole, boolean>();
  const leds = new GpioLeds(
    { ledRoles: ['red', 'green', 'blue', 'status'], setLed: (role, on) => lit.set(role, on) },
    clock,
  );
  leds.render(INDICATORS_BY_NAME.privacy);
  assert.deepEqual(Object.fromEntries(lit), { red: true, green: true, blue: false, status: true });
  assert.equal(leds.blinking, false);
  assert.equal(clock.pending, 0);
  assert.deepEqual([...rolesFor('amber')].sort(), ['green', 'red', 'status']);
});
