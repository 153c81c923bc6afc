/**
 * The bench's own parts that decide what it measures: the paced null speaker of the memory bench
 * (bench/device.ts: auto mode re-listens on its 'drained', which must come when the reply would
 * have played, not at once and not never) and the smaps reading of bench/rss.ts (which mappings
 * are malloc arenas, wasm memory, code).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PacedNullSink } from '../../bench/device.js';
import { breakdownOf, kindOf, parseSmaps } from '../../bench/rss.js';
import { ManualClock } from '../../src/core/clock.js';

/** 100 ms of 24 kHz mono S16_LE. */
const MS100 = Buffer.alloc(24_000 * 2 * 0.1);

test('PacedNullSink: drained when the last sample written would have played', () => {
  const clock = new ManualClock();
  const sink = new PacedNullSink(clock);
  let drained = 0;
  sink.on('drained', () => drained++);
  sink.begin(24_000);
  for (let i = 0; i < 5; i++) sink.write(MS100); // 500 ms queued at t = 0
  clock.advance(200);
  sink.end();
  clock.advance(299);
  assert.equal(drained, 0, 'drained before the queued audio played');
  clock.advance(1);
  assert.equal(drained, 1);
  clock.advance(10_000);
  assert.equal(drained, 1, 'drained once per stream');
});

test('PacedNullSink: an underrun plays the next chunk from its arrival; end() with nothing queued drains at once', () => {
  const clock = new ManualClock();
  const sink = new PacedNullSink(clock);
  let drained = 0;
  sink.on('drained', () => drained++);
  sink.begin(24_000);
  sink.write(MS100); // plays 0–100
  clock.advance(300); // the speaker ran dry at 100
  sink.write(MS100); // plays 300–400
  sink.end();
  clock.advance(99);
  assert.equal(drained, 0);
  clock.advance(1);
  assert.equal(drained, 1);
  sink.begin(24_000);
  sink.end();
  clock.advance(0);
  assert.equal(drained, 2);
});

test('PacedNullSink: abort and a new stream cancel the pending drain', () => {
  const clock = new ManualClock();
  const sink = new PacedNullSink(clock);
  let drained = 0;
  sink.on('drained', () => drained++);
  sink.begin(24_000);
  sink.write(MS100);
  sink.end();
  sink.abort();
  clock.advance(1000);
  assert.equal(drained, 0, 'an aborted stream never drains');
  assert.equal(sink.aborts, 1);
  sink.begin(24_000);
  sink.write(MS100);
  sink.end();
  sink.begin(24_000); // a new stream before the old one drained
  clock.advance(1000);
  assert.equal(drained, 0);
  assert.equal(sink.streams, 3);
});

/** One smaps entry: header line and the fields rss.ts reads. */
function entry(range: string, perms: string, path: string, sizeKb: number, rssKb: number): string {
  return [
    `${range} ${perms} 00000000 00:00 0                          ${path}`.trimEnd(),
    `Size:           ${sizeKb} kB`,
    `Rss:            ${rssKb} kB`,
    `Private_Dirty:  ${rssKb} kB`,
    `Anonymous:      ${path === '' ? rssKb : 0} kB`,
    'VmFlags: rd wr mr mw me ac',
  ].join('\n');
}

test('rss.ts: malloc arenas, wasm memory, code and the rest told apart in smaps', () => {
  const text = [
    entry('00400000-00500000', 'r-xp', '/usr/bin/node', 1024, 800),
    // A glibc thread arena: 64 MiB aligned, 8 MiB used, the rest of its 64 MiB reserved.
    entry('7f0004000000-7f0004800000', 'rw-p', '', 8192, 6000),
    entry('7f0004800000-7f0008000000', '---p', '', 57344, 0),
    // A V8 heap page, and JIT code.
    entry('7f0010040000-7f0010080000', 'rw-p', '', 256, 256),
    entry('7f0010100000-7f0010140000', 'rwxp', '', 256, 100),
    // A wasm memory: 16 MiB accessible, then its ~10 GiB guard reservation.
    entry('7f1000000000-7f1001000000', 'rw-p', '', 16384, 300),
    entry('7f1001000000-7f1281000000', '---p', '', 10485760, 0),
    entry('7f2000000000-7f2000100000', 'r-xp', '/usr/lib/x86_64-linux-gnu/libc.so.6', 1024, 500),
    entry('7f3000000000-7f3000021000', 'rw-p', '[heap]', 132, 132),
  ].join('\n');
  const maps = parseSmaps(text);
  assert.equal(maps.length, 9);
  const kinds = maps.map((m, i) => kindOf(m, '/usr/bin/node', maps[i + 1]));
  assert.equal(kinds[0], 'node binary (code, data, ICU)');
  if (process.arch === 'x64' || process.arch === 'arm64') {
    assert.equal(kinds[1], 'malloc thread arenas (64 MiB heaps)');
  }
  assert.match(kinds[3] ?? '', /^anonymous \(V8 heap pages/);
  assert.equal(kinds[4], 'anonymous executable (V8 and wasm code)');
  assert.equal(kinds[5], 'wasm memory (opusscript heap, touched pages)');
  assert.equal(kinds[6], 'wasm memory (opusscript heap, touched pages)');
  assert.equal(kinds[7], 'shared libraries');
  assert.equal(kinds[8], 'malloc heap ([heap], brk)');
  const b = breakdownOf(1, '/usr/bin/node', maps);
  assert.equal(b.rssKb, 800 + 6000 + 256 + 100 + 300 + 500 + 132);
  assert.equal(b.kinds['wasm memory (opusscript heap, touched pages)']?.rssKb, 300);
});
