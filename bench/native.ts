/**
 * The native libopus reference (bench/opus-native.c), compiled at bench time. Needs gcc and
 * Debian's libopus-dev; as root the bench installs them with apt-get (as `npm test` does for its
 * packages), otherwise it prints the one line to run and the CPU ratio is skipped.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, tail } from './children.js';

const SOURCE = fileURLToPath(new URL('../../bench/opus-native.c', import.meta.url));
const PACKAGES = ['libopus-dev', 'gcc'] as const;
export const INSTALL_LINE = `apt-get install -y ${PACKAGES.join(' ')}`;

export interface NativeEncoder {
  readonly binary: string;
  /** Removes the temporary build directory. */
  dispose(): Promise<void>;
}

export interface NativeRun {
  readonly frames: number;
  readonly bytes: number;
  readonly cpuMs: number;
  readonly version: string;
}

async function hasGcc(): Promise<boolean> {
  const r = await run('gcc', ['--version'], { timeoutMs: 10_000 });
  return r.code === 0;
}

async function hasOpusHeaders(): Promise<boolean> {
  const r = await run('pkg-config', ['--exists', 'opus'], { timeoutMs: 10_000 });
  if (r.code === 0) return true;
  // No pkg-config on the machine: the header itself is what the build needs.
  return existsSync('/usr/include/opus/opus.h');
}

async function missingPackages(): Promise<string[]> {
  const missing: string[] = [];
  if (!(await hasOpusHeaders())) missing.push('libopus-dev');
  if (!(await hasGcc())) missing.push('gcc');
  return missing;
}

/**
 * Builds the reference encoder; returns why not when it cannot (a reason to print, never a throw:
 * the rest of the bench still runs).
 */
export async function buildNative(say: (line: string) => void): Promise<NativeEncoder | string> {
  let missing = await missingPackages();
  if (missing.length > 0) {
    if (process.getuid?.() !== 0) {
      return `needs ${missing.join(', ')}; run as root: ${INSTALL_LINE}`;
    }
    say(`  installing ${missing.join(' ')} for the native reference: ${INSTALL_LINE}`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const update = await run('apt-get', ['update', '-qq'], { timeoutMs: 300_000, env });
    const install = await run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
      timeoutMs: 600_000,
      env,
    });
    if (install.code !== 0) {
      const why = install.error ?? tail(install.stderr || update.stderr);
      return `apt-get install ${missing.join(' ')} failed: ${why}`;
    }
    missing = await missingPackages();
    if (missing.length > 0) return `still missing after apt-get: ${missing.join(', ')}`;
  }
  const dir = await mkdtemp(join(tmpdir(), 'speakerd-bench-'));
  const binary = join(dir, 'opus-native');
  const cc = await run('gcc', ['-O2', SOURCE, '-lopus', '-o', binary], { timeoutMs: 60_000 });
  if (cc.code !== 0) {
    await rm(dir, { recursive: true, force: true });
    return `gcc failed: ${cc.error ?? tail(cc.stderr)}`;
  }
  return { binary, dispose: () => rm(dir, { recursive: true, force: true }) };
}

/** One run of the reference over a raw PCM file; throws when it fails (a broken build is a bug). */
export async function runNative(enc: NativeEncoder, file: string, complexity: number): Promise<NativeRun> {
  const r = await run(enc.binary, [file, String(complexity)], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`opus-native failed: ${r.error ?? tail(r.stderr)}`);
  const out: unknown = JSON.parse(r.stdout);
  if (typeof out !== 'object' || out === null) throw new Error(`opus-native said ${r.stdout}`);
  // A non-null object from JSON.parse: its fields are unknowns here, each converted and checked below.
  const o = out as Record<string, unknown>;
  const run1 = {
    frames: Number(o.frames),
    bytes: Number(o.bytes),
    cpuMs: Number(o.cpu_ns) / 1e6,
    version: String(o.version),
  };
  if (!Number.isFinite(run1.frames) || !Number.isFinite(run1.cpuMs))
    throw new Error(`opus-native said ${r.stdout}`);
  return run1;
}
