import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { ALL_CLIPS, type ClipName } from '../../src/sounds/clips.js';
import {
  type PromptOutput,
  PromptScheduler,
  type PromptSchedulerOptions,
} from '../../src/sounds/prompt-scheduler.js';
import { type Clip, SoundBank } from '../../src/sounds/sound-bank.js';
import { captureLogger } from '../fakes/capture-logger.js';

/**
 * A bank at 1 kHz whose every clip is recognisable: clip i is 100 ms (100 samples) of the value
 * i + 1, so what was played can be read back as a list of clip names.
 */
const RATE = 1000;
function fakeBank(): SoundBank {
  const clips = new Map<ClipName, Clip>();
  ALL_CLIPS.forEach((name, i) => {
    const pcm = Buffer.alloc(200);
    for (let s = 0; s < 100; s++) pcm.writeInt16LE(i + 1, s * 2);
    clips.set(name, { name, pcm, ms: 100 });
  });
  return new SoundBank(RATE, clips);
}

/** Reads a played buffer back as clip names and gaps ("·" per 50 ms of silence). */
function readBack(pcm: Buffer): string[] {
  const out: string[] = [];
  let silence = 0;
  for (let s = 0; s < pcm.length / 2; s++) {
    const v = pcm.readInt16LE(s * 2);
    if (v === 0) {
      silence++;
      continue;
    }
    if (silence > 0) out.push('·'.repeat(Math.round(silence / 50)));
    silence = 0;
    const name = ALL_CLIPS[v - 1] ?? `?${v}`;
    if (out[out.length - 1] !== name || s % 100 === 0) out.push(name);
    s += 99; // one clip is 100 samples
  }
  return out;
}

class FakeOutput implements PromptOutput {
  readonly events: string[] = [];
  readonly played: Buffer[] = [];
  play(pcm: Buffer, rate: number): void {
    assert.equal(rate, RATE);
    this.played.push(pcm);
    this.events.push(`play ${readBack(pcm).join(' ')}`);
  }
  stop(): void {
    this.events.push('stop');
  }
  released(): void {
    this.events.push('released');
  }
}

function rig(options: Partial<PromptSchedulerOptions> = {}) {
  const clock = new ManualClock(1000);
  const output = new FakeOutput();
  const { log, lines } = captureLogger();
  const prompts = new PromptScheduler({
    bank: fakeBank(),
    output,
    clock,
    log,
    options: { enabled: true, language: 'en', ...options },
  });
  return { clock, output, prompts, lines };
}

test('the activation code is spoken digit by digit in the configured language, with gaps', () => {
  for (const language of ['en', 'zh'] as const) {
    const { clock, output, prompts } = rig({ language, digitGapMs: 250 });
    prompts.setActivation('418');
    clock.advance(0);
    assert.deepEqual(output.events, [
      `play digit-${language}-4 ····· digit-${language}-1 ····· digit-${language}-8`,
    ]);
    assert.equal(prompts.state, 'code');
    // 3 × 100 ms of digits + 2 × 250 ms of gaps.
    assert.equal(output.played[0]?.length, (300 + 500) * 2);
  }
});

test('the code repeats 30 s after each reading ends, and stops once activated', () => {
  const { clock, output, prompts } = rig();
  prompts.setActivation('12');
  clock.advance(0);
  assert.equal(output.events.length, 1);
  clock.advance(600);
  prompts.outputEnded('drained');
  clock.advance(0);
  assert.equal(prompts.state, 'idle');
  assert.equal(clock.msToNext(), 30_000);
  clock.advance(29_999);
  assert.equal(output.events.length, 1, 'not before 30 s');
  clock.advance(1);
  assert.equal(output.events.length, 2);
  assert.match(output.events[1] ?? '', /^play digit-en-1 .* digit-en-2$/);
  // Activated while speaking: cut at once, nothing more, no timer left.
  prompts.setActivation(undefined);
  clock.advance(0);
  assert.deepEqual(output.events.slice(2), ['stop']);
  assert.equal(prompts.state, 'idle');
  assert.equal(clock.pending, 0);
  clock.advance(120_000);
  assert.equal(output.events.length, 3);
});

test('a press while activation waits speaks the code at once and restarts the 30 s', () => {
  const { clock, output, prompts } = rig();
  prompts.setActivation('7');
  clock.advance(0);
  prompts.outputEnded('drained');
  clock.advance(0);
  clock.advance(10_000);
  prompts.press();
  clock.advance(0);
  assert.deepEqual(output.events, ['play digit-en-7', 'play digit-en-7']);
  // A press while it is being spoken adds nothing.
  prompts.press();
  clock.advance(0);
  assert.equal(output.events.length, 2);
  prompts.outputEnded('drained');
  clock.advance(0);
  assert.equal(clock.msToNext(), 30_000);
  // Without activation a press plays nothing.
  const other = rig();
  other.prompts.press();
  other.clock.advance(0);
  assert.deepEqual(other.output.events, []);
});

test('lastReading: the code once more, then forgotten; one under way counts as it; cut by an earcon, read again', () => {
  const { clock, output, prompts } = rig();
  prompts.setActivation('7');
  clock.advance(0);
  prompts.outputEnded('drained');
  clock.advance(10_000);
  prompts.lastReading();
  clock.advance(0);
  assert.deepEqual(output.events, ['play digit-en-7', 'play digit-en-7']);
  prompts.outputEnded('drained');
  clock.advance(0);
  assert.equal(clock.pending, 0, 'no repeat timer');
  prompts.press();
  clock.advance(120_000);
  assert.equal(output.events.length, 2, 'nothing after, not even on a press');
  // A reading under way when the wait ends is that last reading.
  const b = rig();
  b.prompts.setActivation('7');
  b.clock.advance(0);
  b.prompts.lastReading();
  b.prompts.outputEnded('drained');
  b.clock.advance(120_000);
  assert.deepEqual(b.output.events, ['play digit-en-7']);
  // Cut by an earcon, the last reading is read again after it, in full.
  const c = rig();
  c.prompts.setActivation('7');
  c.clock.advance(0);
  c.prompts.lastReading();
  c.prompts.earcon('volume');
  c.clock.advance(0);
  c.prompts.outputEnded('drained');
  c.clock.advance(0);
  c.prompts.outputEnded('drained');
  c.clock.advance(120_000);
  assert.deepEqual(c.output.events, ['play digit-en-7', 'stop', 'play earcon-volume', 'play digit-en-7']);
});

test('the code never plays over TTS: it waits, and is spoken in full when the reply ends', () => {
  const { clock, output, prompts } = rig();
  prompts.setTts(true);
  clock.advance(0);
  prompts.setActivation('35');
  clock.advance(0);
  assert.deepEqual(output.events, []);
  assert.equal(prompts.state, 'held');
  clock.advance(5_000);
  prompts.setTts(false);
  clock.advance(0);
  assert.deepEqual(output.events, ['play digit-en-3 ····· digit-en-5']);
  // A reply that starts while the code plays replaces our stream (sink.begin) — we do not stop()
  // (that would abort the reply) — and the code is spoken again, from the start, afterwards.
  prompts.setTts(true);
  clock.advance(0);
  assert.equal(prompts.state, 'held');
  assert.deepEqual(output.events.slice(1), ['released']);
  prompts.setTts(false);
  clock.advance(0);
  assert.deepEqual(output.events.slice(2), ['play digit-en-3 ····· digit-en-5']);
});

test('an earcon never holds the press: it starts on the next tick, after the caller is done', () => {
  const { clock, output, prompts } = rig();
  const order: string[] = [];
  prompts.earcon('listening');
  order.push('listen start sent');
  assert.deepEqual(output.events, [], 'nothing spawned inside the call');
  clock.advance(0);
  assert.deepEqual(output.events, ['play earcon-listening']);
  assert.deepEqual(order, ['listen start sent']);
  assert.equal(prompts.state, 'earcon');
  prompts.outputEnded('drained');
  assert.equal(prompts.state, 'idle');
  // Two requests within one tick: one start, of the later one.
  prompts.earcon('volume');
  prompts.earcon('error');
  clock.advance(0);
  assert.deepEqual(output.events.slice(1), ['play earcon-error']);
});

test('an earcon waiting behind TTS is dropped when stale or no longer current, played when still current', () => {
  const { clock, output, prompts, lines } = rig({ earconStaleMs: 500 });
  prompts.setTts(true);
  clock.advance(0);
  prompts.earcon('volume');
  clock.advance(0);
  clock.advance(3_000);
  prompts.setTts(false);
  clock.advance(0);
  assert.deepEqual(output.events, [], 'a 3 s old volume blip after a reply is dropped');
  assert.ok(lines.some((l) => /earcon volume dropped: 3000 ms old/.test(l.msg)));

  let muted = true;
  prompts.setTts(true);
  clock.advance(0);
  prompts.earcon('mute-on', () => muted);
  clock.advance(0);
  muted = false;
  clock.advance(100);
  prompts.setTts(false);
  clock.advance(0);
  assert.deepEqual(output.events, [], 'no longer current');

  prompts.setTts(true);
  clock.advance(0);
  prompts.earcon('mute-off', () => true);
  clock.advance(0);
  clock.advance(200);
  prompts.setTts(false);
  clock.advance(0);
  assert.deepEqual(output.events, ['play earcon-mute-off']);
});

test('a newer earcon cuts the one playing; an earcon cuts the code, which is spoken again after it', () => {
  const { clock, output, prompts } = rig();
  prompts.earcon('volume');
  clock.advance(0);
  prompts.earcon('volume');
  clock.advance(0);
  assert.deepEqual(output.events, ['play earcon-volume', 'stop', 'play earcon-volume']);
  prompts.outputEnded('drained');
  clock.advance(0);

  prompts.setActivation('9');
  clock.advance(0);
  prompts.earcon('error');
  clock.advance(0);
  assert.deepEqual(output.events.slice(3), ['play digit-en-9', 'stop', 'play earcon-error']);
  prompts.outputEnded('drained');
  clock.advance(0);
  assert.deepEqual(output.events.slice(6), ['play digit-en-9']);
  prompts.outputEnded('drained');
  clock.advance(0);
  assert.equal(clock.msToNext(), 30_000);
});

test('a prompt whose end is never reported ends by itself (length + slack); a fault counts as played', () => {
  const { clock, output, prompts, lines } = rig({ endSlackMs: 2_000 });
  prompts.setActivation('1');
  clock.advance(0);
  clock.advance(2_099);
  assert.equal(prompts.state, 'code');
  clock.advance(1);
  assert.equal(prompts.state, 'idle');
  assert.ok(lines.some((l) => l.level === 40 && /no end reported for the code prompt/.test(l.msg)));
  // Rescheduled like a played one, not retried in a loop.
  assert.equal(clock.msToNext(), 30_000);
  clock.advance(30_000);
  prompts.outputEnded('fault');
  clock.advance(0);
  assert.equal(clock.msToNext(), 30_000);
  assert.equal(output.events.length, 2);
});

test('sounds.enabled false: nothing ever plays, and it is said once', () => {
  const { clock, output, prompts, lines } = rig({ enabled: false });
  prompts.setActivation('123456');
  clock.advance(0);
  prompts.press();
  clock.advance(0);
  prompts.earcon('listening');
  clock.advance(0);
  prompts.setTts(true);
  clock.advance(0);
  prompts.setTts(false);
  clock.advance(0);
  clock.advance(60_000);
  assert.deepEqual(output.events, []);
  assert.equal(prompts.state, 'stopped');
  assert.equal(lines.filter((l) => /sounds disabled/.test(l.msg)).length, 1);
});

test('a code with other characters speaks its digits and warns; stop() silences and forgets all', () => {
  const { clock, output, prompts, lines } = rig();
  prompts.setActivation('12-3');
  clock.advance(0);
  assert.match(output.events[0] ?? '', /^play digit-en-1 .* digit-en-2 .* digit-en-3$/);
  assert.ok(lines.some((l) => l.level === 40 && /not digits/.test(l.msg)));
  prompts.stop();
  prompts.stop();
  assert.deepEqual(output.events.slice(1), ['stop']);
  assert.equal(clock.pending, 0);
  prompts.earcon('listening');
  clock.advance(0);
  assert.equal(output.events.length, 2);
});
