import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import type { Indicator } from '../../src/hardware/indicator.js';
import type { InputEvent } from '../../src/hardware/input.js';
import {
  formatIndicatorLine,
  keyToInput,
  lineToInput,
  SimulatedButton,
  TerminalLeds,
} from '../../src/hardware/simulated.js';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

function record(button: SimulatedButton): InputEvent[] {
  const events: InputEvent[] = [];
  button.on('input', (e) => events.push(e));
  return events;
}

test('key and line mapping: Enter = click, p = press, r = release, l = long press', () => {
  assert.equal(keyToInput('\r'), 'click');
  assert.equal(keyToInput('\n'), 'click');
  assert.equal(keyToInput('p'), 'press');
  assert.equal(keyToInput('r'), 'release');
  assert.equal(keyToInput('l'), 'longPress');
  assert.equal(keyToInput('x'), undefined);
  assert.equal(lineToInput(''), 'click');
  assert.equal(lineToInput('  P '), 'press');
  assert.equal(lineToInput('release'), 'release');
  assert.equal(lineToInput('long'), 'longPress');
  assert.equal(lineToInput('constructor'), undefined, 'no prototype keys');
  assert.equal(lineToInput('hello'), undefined);
});

test('line mode (not a TTY): one line per gesture, split across chunks', async () => {
  const keys = new PassThrough();
  const button = new SimulatedButton(keys);
  const events = record(button);
  button.start();
  assert.equal(button.raw, false);
  keys.write('\np\nr');
  keys.write('\nl\nnonsense\n');
  keys.write('\r\n'); // a CRLF line is still an empty line
  await tick();
  assert.deepEqual(events, ['click', 'press', 'release', 'longPress', 'click']);
  button.close();
  keys.write('\n');
  await tick();
  assert.equal(events.length, 5, 'nothing after close()');
});

test('raw mode on a TTY: one key per gesture, escape sequences ignored, Ctrl-C interrupts, close restores', async () => {
  const modes: boolean[] = [];
  const keys = Object.assign(new PassThrough(), {
    isTTY: true,
    setRawMode(mode: boolean) {
      modes.push(mode);
    },
  });
  const button = new SimulatedButton(keys);
  const events = record(button);
  let interrupts = 0;
  button.on('interrupt', () => interrupts++);
  button.start();
  button.start(); // idempotent
  assert.equal(button.raw, true);
  keys.write('\r');
  keys.write('prl');
  keys.write('\u001b[A'); // arrow up
  keys.write('x');
  keys.write('\u0003');
  await tick();
  assert.deepEqual(events, ['click', 'press', 'release', 'longPress']);
  assert.equal(interrupts, 1);
  button.close();
  button.close();
  assert.deepEqual(modes, [true, false], 'raw mode on at start, off at close, once each');
});

test('terminal LEDs: one plain line per change when not a TTY', () => {
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => {
    text += c.toString();
  });
  const leds = new TerminalLeds(out);
  const connecting: Indicator = { name: 'connecting', color: 'blue', pattern: 'steady' };
  leds.render(connecting);
  leds.render({ ...connecting });
  leds.render({ name: 'idle', color: 'off', pattern: 'off' });
  leds.render({ name: 'error', color: 'red', pattern: 'fast-blink' });
  assert.equal(
    text,
    '[LED] ● blue steady  (connecting)\n[LED] ○ off  (idle)\n[LED] ● red fast-blink  (error)\n',
  );
});

test('terminal LEDs: ANSI colour only on a TTY', () => {
  const plain = formatIndicatorLine({ name: 'listening', color: 'red', pattern: 'steady' }, false);
  assert.equal(plain, '[LED] ● red steady  (listening)');
  assert.ok(!plain.includes('\u001b'), 'no escape codes');
  const out = Object.assign(new PassThrough(), { isTTY: true });
  let text = '';
  out.on('data', (c: Buffer) => {
    text += c.toString();
  });
  new TerminalLeds(out).render({ name: 'offline', color: 'blue', pattern: 'slow-blink' });
  assert.equal(text, '[LED] \u001b[34m● blue slow-blink\u001b[0m  (offline)\n');
});
