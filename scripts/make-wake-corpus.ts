/**
 * The wake-word test corpus (issue 14, "Benchmarks"): speech without any wake word, for false
 * accepts per hour, and synthetic positives, for recall. All of it synthesized here by espeak-ng,
 * so nothing recorded (or licensed) is needed.
 *
 *   npm run wake-corpus                         ≥ 60 min + positives into the cache (below)
 *   npm run wake-corpus -- --minutes 5          a prefix of the same corpus
 *   npm run wake-corpus -- --out DIR            into DIR instead of the cache
 *
 * Corpus: segments of 2–6 sentences of seeded English and Mandarin prose (scripts/wake-corpus.ts),
 * each read by a seeded espeak-ng voice and variant at a seeded speed (120–210 words/min) and pitch,
 * at one of four levels, then a pause of 0.2–1.5 s; three segments in four get white or pink noise
 * at 10, 20 or 30 dB SNR over the segment and its pause. The segments fill 5-minute WAV files
 * (corpus-000.wav …), 16 kHz mono s16. Positives: "hey jarvis", "alexa" and "hey mycroft" × 6
 * voices × 3 speeds, clean and at 20 dB SNR (36 a phrase), in positives/.
 *
 * Reproducible byte for byte with the same espeak-ng and sox: espeak-ng's plain voices and
 * deterministic variants (not f2/f3/f5, scripts/wake-corpus.ts), sox with dither off (`-D`), and
 * seeded exact arithmetic for the rest. manifest.json records the tool versions, every segment
 * (text, voice, speed, noise, where it is) and every file's sha256.
 *
 * Cache: `.cache/wake-corpus/<key>/` at the repository root (gitignored), where the key hashes this
 * script, scripts/wake-corpus.ts and the tool versions: a change to any of them makes a new corpus.
 * A request for more minutes than the cache holds extends it (the corpus is a stream of segments,
 * each seeded on its own, so the first files never change).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { describeError } from '../src/core/errors.js';
import { isPlainObject } from '../src/core/json.js';
import { seededRandom } from '../src/core/random.js';
import {
  CORPUS_RATE,
  fromS16,
  mixAtSnr,
  noise,
  type PositivePlan,
  positivePlans,
  type SegmentPlan,
  segmentPlan,
  splitOnSilence,
  toS16,
  wavBytes,
} from './wake-corpus.js';

export const CORPUS_SEED = 14;
/** Corpus files close once they reach this length (whole segments: a little more). */
export const FILE_SECONDS = 300;
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CACHE_ROOT = `${ROOT}.cache/wake-corpus`;

export interface SegmentEntry extends SegmentPlan {
  /** Where the segment starts in its file, and its length with the pause, in samples. */
  readonly start: number;
  readonly samples: number;
}

export interface CorpusFile {
  readonly name: string;
  readonly samples: number;
  readonly sha256: string;
  readonly segments: readonly SegmentEntry[];
}

export interface PositiveEntry extends PositivePlan {
  readonly file: string;
  readonly samples: number;
  readonly sha256: string;
}

export interface CorpusManifest {
  readonly key: string;
  readonly tools: string;
  readonly seed: number;
  readonly files: readonly CorpusFile[];
  readonly positives: readonly PositiveEntry[];
}

function run(cmd: string, args: readonly string[], input?: Buffer): Buffer {
  try {
    return execFileSync(cmd, args, { input, maxBuffer: 256 * 1024 * 1024, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (err) {
    throw new Error(
      `${cmd} ${args.join(' ').slice(0, 200)} failed: ${describeError(err)} (Debian: apt-get install espeak-ng sox)`,
    );
  }
}

export function toolVersions(): string {
  const espeak = run('espeak-ng', ['--version']).toString('utf8').split('\n')[0]?.trim() ?? '?';
  const sox = run('sox', ['--version']).toString('utf8').trim();
  return `${espeak.replace(/\s+Data at:.*$/, '')}; ${sox}`;
}

/** espeak-ng (22.05 kHz WAV, UTF-8 text, or SSML when `ssml`) → sox (16 kHz mono s16 raw, no dither). */
export function speak(voice: string, speed: number, pitch: number, text: string, ssml = false): Int16Array {
  const wav = run('espeak-ng', [
    ...(ssml ? ['-m'] : []),
    '-b',
    '1',
    '-v',
    voice,
    '-s',
    String(speed),
    '-p',
    String(pitch),
    '--stdout',
    text,
  ]);
  const raw = run(
    'sox',
    [
      '-V1',
      '-t',
      'wav',
      '-',
      '-D',
      '-t',
      'raw',
      '-r',
      String(CORPUS_RATE),
      '-e',
      'signed',
      '-b',
      '16',
      '-c',
      '1',
      '-',
    ],
    wav,
  );
  const out = new Int16Array(raw.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = raw.readInt16LE(2 * i);
  if (out.length === 0) throw new Error(`espeak-ng said nothing for ${voice}: ${text.slice(0, 60)}`);
  return out;
}

/** One segment: the speech at its level, its pause, and its noise over both. */
export function renderSegment(plan: SegmentPlan): Int16Array {
  const speech = fromS16(speak(plan.voice, plan.speed, plan.pitch, plan.text));
  const total = speech.length + Math.round((plan.gapMs * CORPUS_RATE) / 1000);
  const padded = new Float64Array(total);
  for (let i = 0; i < speech.length; i++) padded[i] = (speech[i] ?? 0) * plan.gain;
  if (plan.noise === 'none') return toS16(padded);
  return toS16(mixAtSnr(padded, noise(plan.noise, seededRandom(plan.noiseSeed), total), plan.snr));
}

/** Pause between the phrases of one espeak-ng run, and the shortest one the split takes for it. */
const PHRASE_BREAK_MS = 1500;
const MIN_GAP_SAMPLES = CORPUS_RATE / 2;
/** Kept around each phrase: espeak-ng's own lead-in and decay. */
const PHRASE_MARGIN_SAMPLES = CORPUS_RATE / 10;

/**
 * The positives: one espeak-ng run per voice and speed says every phrase, with SSML breaks between
 * them, and the output is cut at the breaks (a spawn of espeak-ng and sox costs ~0.1 s here, and
 * 108 of them were most of the short bench's budget). Each phrase keeps 100 ms either side.
 */
export function renderPositives(plans: readonly PositivePlan[]): Map<string, Int16Array> {
  const out = new Map<string, Int16Array>();
  const groups = new Map<string, PositivePlan[]>();
  for (const p of plans) {
    const k = `${p.voice} ${p.speed}`;
    groups.set(k, [...(groups.get(k) ?? []), p]);
  }
  for (const group of groups.values()) {
    const first = group[0];
    if (first === undefined) continue;
    const phrases = [...new Set(group.map((p) => p.phrase))];
    const ssml = `<speak>${phrases.join(`<break time="${PHRASE_BREAK_MS}ms"/>`)}</speak>`;
    const pcm = speak(first.voice, first.speed, 50, ssml, true);
    const spans = splitOnSilence(pcm, MIN_GAP_SAMPLES, 2);
    if (spans.length !== phrases.length) {
      throw new Error(
        `espeak-ng ${first.voice} at ${first.speed} wpm: ${spans.length} sounding parts for ${phrases.length} phrases (${phrases.join(', ')})`,
      );
    }
    for (const plan of group) {
      const span = spans[phrases.indexOf(plan.phrase)];
      if (span === undefined) throw new Error(`no span for ${plan.phrase}`);
      const clip = pcm.subarray(
        Math.max(0, span[0] - PHRASE_MARGIN_SAMPLES),
        Math.min(pcm.length, span[1] + PHRASE_MARGIN_SAMPLES),
      );
      const speech = fromS16(clip);
      out.set(
        plan.name,
        plan.noise === 'none'
          ? toS16(speech)
          : toS16(mixAtSnr(speech, noise(plan.noise, seededRandom(plan.noiseSeed), speech.length), 20)),
      );
    }
  }
  return out;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** The cache key: this script, its pure half and the tools' versions. */
export function corpusKey(tools: string): string {
  const h = createHash('sha256');
  for (const f of ['make-wake-corpus.js', 'wake-corpus.js'])
    h.update(readFileSync(fileURLToPath(new URL(f, import.meta.url))));
  h.update(tools);
  return h.digest('hex').slice(0, 16);
}

/** Writes atomically (a killed run leaves no half file that a later run would trust). */
function writeAtomic(path: string, data: Buffer | string): void {
  writeFileSync(`${path}.tmp`, data);
  renameSync(`${path}.tmp`, path);
}

function readManifest(dir: string): CorpusManifest | undefined {
  const path = `${dir}/manifest.json`;
  if (!existsSync(path)) return undefined;
  const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
  if (!isPlainObject(parsed) || !Array.isArray(parsed.files) || !Array.isArray(parsed.positives)) {
    throw new Error(`${path} is not a corpus manifest: delete ${dir} and run again`);
  }
  // Our own file, written by writeManifest below from this type.
  return parsed as unknown as CorpusManifest;
}

export interface CorpusOptions {
  /** Minutes of corpus at least (whole files of FILE_SECONDS). */
  readonly minutes: number;
  /** Where to write; default the cache directory for this script and these tools. */
  readonly dir?: string;
  readonly log?: (line: string) => void;
}

/**
 * Makes sure `dir` holds at least `minutes` of corpus and all positives, generating what is
 * missing; returns the manifest (its files may cover more than asked: use a prefix).
 */
export function ensureCorpus(o: CorpusOptions): {
  dir: string;
  manifest: CorpusManifest;
  generatedS: number;
} {
  const tools = toolVersions();
  const key = corpusKey(tools);
  const dir = o.dir ?? `${CACHE_ROOT}/${key}`;
  mkdirSync(`${dir}/positives`, { recursive: true });
  const t0 = performance.now();
  const old = readManifest(dir);
  const usable = old !== undefined && old.key === key && old.seed === CORPUS_SEED;
  const files: CorpusFile[] = usable ? [...old.files] : [];
  let positives: PositiveEntry[] = usable ? [...old.positives] : [];
  const want = o.minutes * 60 * CORPUS_RATE;
  let have = files.reduce((n, f) => n + f.samples, 0);
  let next = files.reduce((n, f) => Math.max(n, ...f.segments.map((s) => s.index + 1)), 0);
  const save = (): CorpusManifest => {
    const m: CorpusManifest = { key, tools, seed: CORPUS_SEED, files, positives };
    writeAtomic(`${dir}/manifest.json`, `${JSON.stringify(m, null, 1)}\n`);
    return m;
  };
  while (have < want) {
    const name = `corpus-${String(files.length).padStart(3, '0')}.wav`;
    const parts: Int16Array[] = [];
    const segments: SegmentEntry[] = [];
    let samples = 0;
    while (samples < FILE_SECONDS * CORPUS_RATE) {
      const plan = segmentPlan(CORPUS_SEED, next++);
      const pcm = renderSegment(plan);
      segments.push({ ...plan, start: samples, samples: pcm.length });
      parts.push(pcm);
      samples += pcm.length;
    }
    const all = new Int16Array(samples);
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    const bytes = wavBytes(all);
    writeAtomic(`${dir}/${name}`, bytes);
    files.push({ name, samples, sha256: sha256(bytes), segments });
    have += samples;
    save();
    o.log?.(`${name}: ${(samples / CORPUS_RATE).toFixed(1)} s, ${segments.length} segments`);
  }
  if (positives.length === 0) {
    const plans = positivePlans(CORPUS_SEED);
    const rendered = renderPositives(plans);
    positives = plans.map((plan) => {
      const pcm = rendered.get(plan.name);
      if (pcm === undefined) throw new Error(`positive ${plan.name} was not rendered`);
      const bytes = wavBytes(pcm);
      const file = `positives/${plan.name}.wav`;
      writeAtomic(`${dir}/${file}`, bytes);
      return { ...plan, file, samples: pcm.length, sha256: sha256(bytes) };
    });
    o.log?.(`positives: ${positives.length} clips`);
  }
  const manifest = save();
  return { dir, manifest, generatedS: (performance.now() - t0) / 1000 };
}

/** The first files of a manifest that hold at least `minutes`. */
export function corpusPrefix(manifest: CorpusManifest, minutes: number): CorpusFile[] {
  const out: CorpusFile[] = [];
  let have = 0;
  for (const f of manifest.files) {
    if (have >= minutes * 60 * CORPUS_RATE) break;
    out.push(f);
    have += f.samples;
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { minutes: { type: 'string', default: '60' }, out: { type: 'string' } },
  });
  const minutes = Number(values.minutes);
  if (!Number.isFinite(minutes) || minutes <= 0 || minutes > 600) {
    process.stderr.write(`--minutes must be from 0 to 600, not ${values.minutes}\n`);
    process.exitCode = 2;
  } else {
    const log = (line: string): void => {
      process.stdout.write(`${line}\n`);
    };
    const { dir, manifest, generatedS } = ensureCorpus({ minutes, dir: values.out, log });
    const files = corpusPrefix(manifest, minutes);
    const seconds = files.reduce((n, f) => n + f.samples, 0) / CORPUS_RATE;
    const segments = files.reduce((n, f) => n + f.segments.length, 0);
    log(
      `${dir}: ${(seconds / 60).toFixed(1)} min of corpus in ${files.length} files (${segments} segments), ` +
        `${manifest.positives.length} positives; ${manifest.tools}; ${generatedS.toFixed(1)} s`,
    );
  }
}
