/**
 * Regenerates assets/sounds/sounds.pack (issue 15 §1): the digit words 0–9 in Mandarin and English
 * spoken by espeak-ng, and the earcons synthesized by src/sounds/earcon-synth.ts, Opus-encoded
 * with the project's own encoder (opusscript).
 *
 *   npm run sounds                       write assets/sounds/sounds.pack
 *   npm run sounds -- --out FILE         write elsewhere
 *   npm run sounds -- --check            regenerate in memory, compare with the committed pack
 *
 * Needs the Debian packages espeak-ng and sox. Reproducible: every step is deterministic —
 * espeak-ng's plain voices (no `+f2`/`+f3`/`+f5` variants, which add noise seeded from the clock),
 * sox with dither off (`-D`), our own trimming and synthesis, and the libopus encoder compiled to
 * WebAssembly (no platform-dependent float code). The same tool versions give the same bytes; the
 * pack records them (header `source`), so a mismatch after a Debian upgrade says why.
 *
 * Mandarin: Debian 12's espeak-ng 1.51 `cmn` voice reads the hanzi digits wrongly (零 comes out as
 * English "ling two": the voice looks the character up as pinyin, then reads the latin text as
 * English). `cmn-latn-pinyin` is the same Mandarin voice reading pinyin with tone numbers, and
 * says every digit right (`espeak-ng -v cmn-latn-pinyin -x ling2` → l'i35N). 1 is `yao1` (幺), as
 * Chinese speakers read phone numbers and codes: `yi1` is too close to `qi1` (7) on a small speaker.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { OpusEncoder } from '../src/audio/opus.js';
import { describeError } from '../src/core/errors.js';
import {
  DIGITS,
  type Digit,
  digitClip,
  EARCONS,
  earconClip,
  type SoundLanguage,
} from '../src/sounds/clips.js';
import { synthEarcon } from '../src/sounds/earcon-synth.js';
import { floatToS16, normalizePeak, s16ToFloat, trimSilence } from '../src/sounds/pcm-shape.js';
import { encodePack, type PackClip } from '../src/sounds/sound-pack.js';

const PACK = fileURLToPath(new URL('../../assets/sounds/sounds.pack', import.meta.url));

/** Encoded at the mic's rate: speech and chimes need no more than 8 kHz of bandwidth. */
const RATE = 16000;
/** The project's encoder makes 60 ms packets (audio/opus.ts): 960 samples at 16 kHz. */
const FRAME_SAMPLES = 960;
/** libopus lookahead (OPUS_GET_LOOKAHEAD): Fs/400 + Fs/250 for the VOIP application. */
const PRE_SKIP = RATE / 400 + RATE / 250;
/** 24 kb/s: transparent enough for espeak-ng's formant speech and for pure tones at 16 kHz. */
const BITRATE = 24000;
const COMPLEXITY = 10;
/** Digits: −3 dBFS peak, as loud as a TTS reply; earcons have their own level (earcon-synth.ts). */
const DIGIT_PEAK = 0.7;
/** espeak-ng words per minute: a little slower than its 175 default, for digits to be typed. */
const SPEED = 150;

const VOICES: Readonly<Record<SoundLanguage, { voice: string; words: Readonly<Record<Digit, string>> }>> = {
  en: {
    voice: 'en-us',
    words: {
      '0': 'zero',
      '1': 'one',
      '2': 'two',
      '3': 'three',
      '4': 'four',
      '5': 'five',
      '6': 'six',
      '7': 'seven',
      '8': 'eight',
      '9': 'nine',
    },
  },
  zh: {
    voice: 'cmn-latn-pinyin',
    words: {
      '0': 'ling2',
      '1': 'yao1',
      '2': 'er4',
      '3': 'san1',
      '4': 'si4',
      '5': 'wu3',
      '6': 'liu4',
      '7': 'qi1',
      '8': 'ba1',
      '9': 'jiu3',
    },
  },
};

function run(cmd: string, args: readonly string[], input?: Buffer): Buffer {
  try {
    return execFileSync(cmd, args, { input, maxBuffer: 16 * 1024 * 1024, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (err) {
    throw new Error(
      `${cmd} ${args.join(' ')} failed: ${describeError(err)} (Debian: apt-get install espeak-ng sox)`,
    );
  }
}

/** One digit word: espeak-ng (22.05 kHz WAV) → sox (16 kHz raw, no dither) → trimmed, normalized. */
function speakDigit(language: SoundLanguage, digit: Digit): Float64Array {
  const { voice, words } = VOICES[language];
  const wav = run('espeak-ng', ['-v', voice, '-s', String(SPEED), '--stdout', words[digit]]);
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
      String(RATE),
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
  const trimmed = trimSilence(s16ToFloat(raw), { rate: RATE, thresholdDbfs: -40, marginMs: 15, fadeMs: 5 });
  if (trimmed.length === 0) throw new Error(`espeak-ng produced silence for ${language} ${digit}`);
  return normalizePeak(trimmed, DIGIT_PEAK);
}

function encodeClip(name: PackClip['name'], samples: Float64Array, encoder: OpusEncoder): PackClip {
  // Pad to whole packets, with at least the lookahead after the end so the last samples come out.
  const packets = Math.ceil((samples.length + PRE_SKIP) / FRAME_SAMPLES);
  const padded = new Float64Array(packets * FRAME_SAMPLES);
  padded.set(samples);
  const pcm = floatToS16(padded);
  const out: Buffer[] = [];
  for (let i = 0; i < packets; i++) {
    // encode() returns a view of opusscript's wasm memory: copy it before the next call.
    out.push(Buffer.from(encoder.encode(pcm.subarray(i * FRAME_SAMPLES * 2, (i + 1) * FRAME_SAMPLES * 2))));
  }
  return { name, samples: samples.length, packets: out };
}

function toolVersions(): string {
  const espeak = run('espeak-ng', ['--version']).toString('utf8').split('\n')[0]?.trim() ?? '?';
  const sox = run('sox', ['--version']).toString('utf8').trim();
  const opusscript: unknown = createRequire(import.meta.url)('opusscript/package.json');
  const ov =
    typeof opusscript === 'object' && opusscript !== null && 'version' in opusscript
      ? String(opusscript.version)
      : '?';
  return `scripts/make-sounds.ts; ${espeak.replace(/\s+Data at:.*$/, '')}; ${sox}; opusscript ${ov}; opus 16 kHz VOIP ${BITRATE} b/s complexity ${COMPLEXITY}`;
}

function buildSoundPack(): { pack: Buffer; pcmBytes: number; clips: readonly PackClip[] } {
  const clips: PackClip[] = [];
  let pcmBytes = 0;
  const add = (name: PackClip['name'], samples: Float64Array) => {
    // One encoder per clip: each clip starts from a fresh encoder state, as the loader decodes it.
    const encoder = new OpusEncoder({ rate: RATE, bitrate: BITRATE, complexity: COMPLEXITY });
    try {
      clips.push(encodeClip(name, samples, encoder));
    } finally {
      encoder.delete();
    }
    pcmBytes += samples.length * 2;
  };
  for (const language of ['zh', 'en'] as const) {
    for (const digit of DIGITS) add(digitClip(language, digit), speakDigit(language, digit));
  }
  for (const earcon of EARCONS) add(earconClip(earcon), synthEarcon(earcon, RATE));
  const pack = encodePack(
    { rate: RATE, frameSamples: FRAME_SAMPLES, preSkip: PRE_SKIP, source: toolVersions() },
    clips,
  );
  return { pack, pcmBytes, clips };
}

function main(): number {
  const { values } = parseArgs({ options: { out: { type: 'string' }, check: { type: 'boolean' } } });
  const { pack, pcmBytes, clips } = buildSoundPack();
  for (const c of clips) {
    const bytes = c.packets.reduce((n, p) => n + p.length + 2, 0);
    process.stdout.write(
      `${c.name.padEnd(24)} ${((c.samples / RATE) * 1000).toFixed(0).padStart(4)} ms ${String(bytes).padStart(6)} B\n`,
    );
  }
  process.stdout.write(`pack: ${pack.length} bytes (${pcmBytes} bytes as 16 kHz S16 PCM)\n`);
  if (values.check) {
    const committed = readFileSync(PACK);
    if (committed.equals(pack)) {
      process.stdout.write(`identical to ${PACK}\n`);
      return 0;
    }
    process.stderr.write(
      `DIFFERENT from ${PACK} (${committed.length} bytes): tool versions or the generator changed\n`,
    );
    return 1;
  }
  const out = values.out ?? PACK;
  writeFileSync(out, pack);
  process.stdout.write(`wrote ${out}\n`);
  return 0;
}

try {
  process.exitCode = main();
} catch (err) {
  process.stderr.write(`make-sounds: ${describeError(err)}\n`);
  process.exitCode = 1;
}
