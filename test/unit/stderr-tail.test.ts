import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StderrTail } from '../../src/audio/stderr-tail.js';

test('keeps the last N complete lines, cut to length; chunks may split lines anywhere', () => {
  const t = new StderrTail(3, 10);
  const seen: string[] = [];
  t.push('ALSA lib pcm.c: Unknown', (l) => seen.push(l));
  t.push(' PCM x\nsecond\n\nthird\nfou', (l) => seen.push(l));
  assert.deepEqual(seen, ['ALSA lib p', 'second', 'third']);
  assert.deepEqual(t.lines, ['ALSA lib p', 'second', 'third']);
  assert.deepEqual(t.latest, ['second', 'third', 'fou'], 'the unfinished line counts in the latest');
  t.push('rth\nfifth\n');
  assert.deepEqual(t.lines, ['third', 'fourth', 'fifth']);
});

test('an endless line without newline stays bounded and is flushed as a line at exit', () => {
  const t = new StderrTail(2, 5);
  for (let i = 0; i < 1000; i++) t.push('xxxxxxxxxx');
  assert.deepEqual(t.latest, ['xxxxx']);
  t.flush();
  assert.deepEqual(t.lines, ['xxxxx']);
});
