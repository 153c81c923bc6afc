/**
 * The committed sound pack is what the committed generator makes with the Debian tools of CI
 * (espeak-ng, sox: scripts/test.sh installs them): regenerated twice, byte for byte the same both
 * times, and the same as assets/sounds/sounds.pack. A failure after a Debian upgrade of espeak-ng
 * or sox means: regenerate (`npm run sounds`), listen, commit.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEFAULT_SOUND_PACK } from '../../src/sounds/sound-bank.js';

const SCRIPT = fileURLToPath(new URL('../../scripts/make-sounds.js', import.meta.url));

function generate(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('make-sounds regenerates the committed pack byte for byte, twice', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'make-sounds-'));
  try {
    const a = generate(['--out', join(dir, 'a.pack')]);
    assert.equal(a.status, 0, a.stderr);
    assert.match(a.stdout, /digit-zh-0 .* ms .* B\n/);
    assert.match(a.stdout, /pack: \d+ bytes \(\d+ bytes as 16 kHz S16 PCM\)/);
    const [pa, committed] = await Promise.all([readFile(join(dir, 'a.pack')), readFile(DEFAULT_SOUND_PACK)]);
    assert.ok(
      pa.equals(committed),
      'differs from assets/sounds/sounds.pack: tool versions or the generator changed',
    );
    // The second run, compared by the script itself: both runs equal the committed bytes.
    const check = generate(['--check']);
    assert.equal(check.status, 0, check.stderr);
    assert.match(check.stdout, /identical to .*sounds\.pack/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
