/**
 * The pure half of the wake-word test corpus (issue 14, "Benchmarks"): seeded prose, seeded noise,
 * mixing at a signal-to-noise ratio, the plan of every segment, WAV bytes. No I/O and no clock:
 * scripts/make-wake-corpus.ts runs espeak-ng and sox on the plan and writes the files.
 *
 * Reproducible byte for byte: every random choice comes from mulberry32 (src/core/random.ts,
 * integer arithmetic), and the sample arithmetic uses only +, −, ×, ÷, sqrt and Math.round, which
 * IEEE 754 defines exactly. No Math.log/sin/pow: their last bit may differ between V8 versions, so
 * the SNRs are a fixed table of amplitude ratios, and the white noise is a sum of uniforms rather
 * than a Box–Muller Gaussian.
 */
import { type Random, seededRandom } from '../src/core/random.js';

export const CORPUS_RATE = 16_000;

/** One uniform integer in [0, n). */
function pickIndex(random: Random, n: number): number {
  return Math.min(n - 1, Math.floor(random() * n));
}

export function pick<T>(random: Random, xs: readonly T[]): T {
  const x = xs[pickIndex(random, xs.length)];
  if (x === undefined) throw new RangeError('pick from an empty list');
  return x;
}

/** An integer in [lo, hi]. */
export function between(random: Random, lo: number, hi: number): number {
  return lo + pickIndex(random, hi - lo + 1);
}

/**
 * A seed for part `index` of a stream seeded `seed`: each segment gets its own generator, so the
 * first N segments are the same whatever the corpus length (the bench's short slice is a prefix of
 * the full corpus). One round of mulberry32's mixing keeps nearby indices apart.
 */
export function partSeed(seed: number, index: number): number {
  return (
    Math.floor(
      seededRandom((Math.imul(seed, 0x9e3779b1) + Math.imul(index, 0x85ebca6b)) >>> 0)() * 4294967296,
    ) >>> 0
  );
}

// ---------------------------------------------------------------------------------------------
// Noise

/**
 * White noise of unit variance: the sum of four uniforms (Irwin–Hall, mean 2, variance 4/12),
 * centred and scaled by √3. Close enough to Gaussian for a noise bed, and exact arithmetic.
 */
export function whiteNoise(random: Random, n: number): Float64Array {
  const out = new Float64Array(n);
  const scale = Math.sqrt(3);
  for (let i = 0; i < n; i++) out[i] = (random() + random() + random() + random() - 2) * scale;
  return out;
}

/**
 * Pink (1/f) noise of unit RMS: Paul Kellet's "refined" filter of white noise (music-dsp archive,
 * "Pink noise filter", accurate to ±0.05 dB above 9.2 Hz at 44.1 kHz; at 16 kHz the poles sit lower
 * in the band, still −3 dB/octave within a dB across speech frequencies), scaled to unit RMS.
 */
export function pinkNoise(random: Random, n: number): Float64Array {
  const white = whiteNoise(random, n);
  const out = new Float64Array(n);
  let b0 = 0;
  let b1 = 0;
  let b2 = 0;
  let b3 = 0;
  let b4 = 0;
  let b5 = 0;
  let b6 = 0;
  for (let i = 0; i < n; i++) {
    const w = white[i] ?? 0;
    b0 = 0.99886 * b0 + w * 0.0555179;
    b1 = 0.99332 * b1 + w * 0.0750759;
    b2 = 0.969 * b2 + w * 0.153852;
    b3 = 0.8665 * b3 + w * 0.3104856;
    b4 = 0.55 * b4 + w * 0.5329522;
    b5 = -0.7616 * b5 - w * 0.016898;
    out[i] = b0 + b1 + b2 + b3 + b4 + b5 + b6 + w * 0.5362;
    b6 = w * 0.115926;
  }
  const r = rms(out);
  if (r > 0) for (let i = 0; i < n; i++) out[i] = (out[i] ?? 0) / r;
  return out;
}

export function rms(x: ArrayLike<number>): number {
  if (x.length === 0) return 0;
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += (x[i] ?? 0) * (x[i] ?? 0);
  return Math.sqrt(sum / x.length);
}

/** 20 ms at 16 kHz: the frame of the active-speech level. */
const LEVEL_FRAME = 320;
/** Frames more than 30 dB (a power ratio of 1000) below the loudest are pauses, not speech. */
const ACTIVE_POWER_RATIO = 1000;

/**
 * RMS over the active frames only (20 ms frames within 30 dB of the loudest), so an SNR means the
 * same for a sentence with long pauses and one without — the idea of ITU-T P.56's active speech
 * level, much simplified.
 */
export function activeRms(x: ArrayLike<number>): number {
  const powers: number[] = [];
  for (let at = 0; at + LEVEL_FRAME <= x.length; at += LEVEL_FRAME) {
    let sum = 0;
    for (let i = at; i < at + LEVEL_FRAME; i++) sum += (x[i] ?? 0) * (x[i] ?? 0);
    powers.push(sum / LEVEL_FRAME);
  }
  const loudest = Math.max(0, ...powers);
  if (loudest === 0) return 0;
  let sum = 0;
  let n = 0;
  for (const p of powers) {
    if (p * ACTIVE_POWER_RATIO >= loudest) {
      sum += p;
      n++;
    }
  }
  return Math.sqrt(sum / n);
}

/** Amplitude ratios for the SNRs the corpus uses, written out (10^(dB/20)) instead of Math.pow. */
export const SNR_AMPLITUDE: Readonly<Record<SnrDb, number>> = {
  10: 3.1622776601683795,
  20: 10,
  30: 31.622776601683793,
};
export type SnrDb = 10 | 20 | 30;
export type NoiseKind = 'white' | 'pink';

/**
 * speech + noise, the noise (unit RMS) scaled so the speech's active level is `snr` dB above it,
 * as floats in −1…1 (samples/32768). The noise covers the whole buffer, pauses included.
 */
export function mixAtSnr(speech: Float64Array, noise: Float64Array, snr: SnrDb): Float64Array {
  if (noise.length < speech.length) throw new RangeError('the noise is shorter than the speech');
  const gain = activeRms(speech) / SNR_AMPLITUDE[snr];
  const out = new Float64Array(speech.length);
  for (let i = 0; i < out.length; i++) out[i] = (speech[i] ?? 0) + (noise[i] ?? 0) * gain;
  return out;
}

export function noise(kind: NoiseKind, random: Random, n: number): Float64Array {
  return kind === 'white' ? whiteNoise(random, n) : pinkNoise(random, n);
}

/** Floats (−1…1) → s16 samples, rounded and clipped. */
export function toS16(x: Float64Array): Int16Array {
  const out = new Int16Array(x.length);
  for (let i = 0; i < x.length; i++)
    out[i] = Math.min(32767, Math.max(-32768, Math.round((x[i] ?? 0) * 32768)));
  return out;
}

export function fromS16(x: Int16Array): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = (x[i] ?? 0) / 32768;
  return out;
}

/**
 * The sounding spans [start, end) of `pcm`: runs of samples louder than `level`, split wherever
 * at least `minGap` samples in a row are not (the pauses between the phrases of one espeak-ng run).
 */
export function splitOnSilence(pcm: Int16Array, minGap: number, level: number): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  let start = -1;
  let lastLoud = -1;
  for (let i = 0; i < pcm.length; i++) {
    if (Math.abs(pcm[i] ?? 0) <= level) continue;
    if (start < 0) start = i;
    else if (i - lastLoud - 1 >= minGap) {
      spans.push([start, lastLoud + 1]);
      start = i;
    }
    lastLoud = i;
  }
  if (start >= 0) spans.push([start, lastLoud + 1]);
  return spans;
}

/** A canonical 44-byte-header PCM WAV (RIFF, `fmt ` of 16 bytes, `data`): 16 kHz mono s16 LE. */
export function wavBytes(pcm: Int16Array, rate = CORPUS_RATE): Buffer {
  const data = pcm.length * 2;
  const b = Buffer.alloc(44 + data);
  b.write('RIFF', 0, 'ascii');
  b.writeUInt32LE(36 + data, 4);
  b.write('WAVE', 8, 'ascii');
  b.write('fmt ', 12, 'ascii');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20); // PCM
  b.writeUInt16LE(1, 22); // mono
  b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(rate * 2, 28); // bytes per second
  b.writeUInt16LE(2, 32); // block align
  b.writeUInt16LE(16, 34);
  b.write('data', 36, 'ascii');
  b.writeUInt32LE(data, 40);
  for (let i = 0; i < pcm.length; i++) b.writeInt16LE(pcm[i] ?? 0, 44 + 2 * i);
  return b;
}

// ---------------------------------------------------------------------------------------------
// Prose. Word lists written for this corpus: everyday speech near a speaker (requests, small talk,
// news-like sentences), no wake word and no name that starts like one.

const EN_SUBJECTS = [
  'my sister',
  'the old man next door',
  'our teacher',
  'the children',
  'a friend of mine',
  'the driver',
  'everyone in the office',
  'the new neighbour',
  'my grandmother',
  'the cook',
  'nobody',
  'the team',
  'the farmer',
  'a young doctor',
  'the baker on the corner',
  'my brother',
  'the students',
  'Peter',
  'Maria',
  'Tom and Lucy',
  'the manager',
  'the little boy',
  'our cat',
  'the pilot',
  'the gardener',
] as const;
const EN_VERBS = [
  'painted',
  'cleaned',
  'forgot',
  'opened',
  'carried',
  'borrowed',
  'repaired',
  'ordered',
  'found',
  'washed',
  'sold',
  'bought',
  'described',
  'measured',
  'counted',
  'planted',
  'folded',
  'visited',
  'watched',
  'cooked',
  'moved',
  'checked',
  'wrapped',
  'dropped',
  'returned',
] as const;
const EN_ADJECTIVES = [
  'red',
  'heavy',
  'quiet',
  'broken',
  'shiny',
  'narrow',
  'warm',
  'empty',
  'wooden',
  'strange',
  'tiny',
  'famous',
  'muddy',
  'golden',
  'plain',
  'crowded',
  'gentle',
  'bright',
  'dusty',
  'fresh',
  'ancient',
  'noisy',
  'soft',
  'square',
  'frozen',
] as const;
const EN_NOUNS = [
  'kitchen table',
  'bicycle',
  'window',
  'garden gate',
  'suitcase',
  'umbrella',
  'map of the city',
  'piano',
  'letter',
  'basket of apples',
  'lamp',
  'bridge',
  'train ticket',
  'blanket',
  'notebook',
  'boat',
  'radio',
  'staircase',
  'coffee cup',
  'tent',
  'mirror',
  'fence',
  'envelope',
  'clock tower',
  'football',
  'jacket',
  'chair',
  'bottle of milk',
  'bookshelf',
  'violin',
] as const;
const EN_PLACES = [
  'in the morning',
  'after lunch',
  'before the storm',
  'on Sunday',
  'at the market',
  'near the station',
  'by the river',
  'last winter',
  'during the holidays',
  'at midnight',
  'in the village',
  'on the way home',
  'behind the school',
  'at the airport',
  'in the library',
  'under the bridge',
  'next to the bakery',
  'late last night',
  'at the weekend',
  'in the park',
] as const;
const EN_REQUESTS = [
  'turn the volume down a little',
  'what time is it in London',
  'play some quiet music for the kitchen',
  'set a timer for twelve minutes',
  'how cold will it be tomorrow morning',
  'remind me to call the plumber at four',
  'what is the capital of Australia',
  'tell me a short story about a fox',
  'turn off the lights in the hallway',
  'how many grams are in a pound',
  'add eggs and butter to the shopping list',
  'skip this song please',
  'what did the football team do last night',
  'read me the news headlines',
  'is it going to rain this afternoon',
  'stop the timer',
  'spell the word necessary',
  'how far is the moon from the earth',
  'wake me up at half past six',
  'what is seven times eight',
] as const;
const EN_CONNECTIVES = [
  'and then',
  'but',
  'because',
  'so',
  'while',
  'although',
  'after that',
  'until',
] as const;

function englishSentence(r: Random): string {
  const kind = between(r, 0, 5);
  const np = () => `the ${pick(r, EN_ADJECTIVES)} ${pick(r, EN_NOUNS)}`;
  const clause = () => `${pick(r, EN_SUBJECTS)} ${pick(r, EN_VERBS)} ${np()}`;
  switch (kind) {
    case 0:
      return `${cap(clause())} ${pick(r, EN_PLACES)}.`;
    case 1:
      return `${cap(clause())} ${pick(r, EN_CONNECTIVES)} ${clause()}.`;
    case 2: {
      const q = pick(r, EN_REQUESTS);
      return `${cap(q)}${/^(what|how|is)\b/.test(q) ? '?' : '.'}`;
    }
    case 3:
      return `Did ${pick(r, EN_SUBJECTS)} really leave ${np()} ${pick(r, EN_PLACES)}?`;
    case 4:
      return `${cap(pick(r, EN_PLACES))}, ${clause()}, and it was ${pick(r, EN_ADJECTIVES)}.`;
    default:
      return `I think ${np()} is more ${pick(r, EN_ADJECTIVES)} than ${np()}, ${pick(r, ['honestly', 'really', 'I suppose', 'if you ask me'])}.`;
  }
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

const ZH_SUBJECTS = [
  '我',
  '你',
  '他们',
  '老师',
  '我的朋友',
  '妈妈',
  '邻居',
  '小王',
  '孩子们',
  '我们公司',
  '医生',
  '爷爷',
  '这位司机',
  '同学们',
  '我哥哥',
  '她',
] as const;
const ZH_TIMES = [
  '今天',
  '明天早上',
  '昨天晚上',
  '周末',
  '下午三点',
  '去年夏天',
  '每天',
  '刚才',
  '过年的时候',
  '下个月',
  '中午',
  '晚饭以后',
] as const;
const ZH_PLACES = [
  '在公园里',
  '在学校',
  '在厨房',
  '在火车站',
  '在图书馆',
  '在超市',
  '在河边',
  '在办公室',
  '在楼下',
  '在医院门口',
  '在老家',
  '在咖啡馆',
] as const;
const ZH_ACTIONS = [
  '看书',
  '做饭',
  '听音乐',
  '打电话',
  '买水果',
  '写作业',
  '散步',
  '洗衣服',
  '开会',
  '修自行车',
  '包饺子',
  '喝茶',
  '种花',
  '打扫房间',
  '学英语',
  '等公共汽车',
  '画画',
  '踢足球',
] as const;
const ZH_NOUNS = [
  '这本书',
  '那家饭馆',
  '今天的天气',
  '新的手机',
  '这首歌',
  '那部电影',
  '学校的食堂',
  '他的房子',
  '这条路',
  '楼下的商店',
  '这个办法',
  '明天的考试',
] as const;
const ZH_ADJECTIVES = [
  '很好',
  '太贵了',
  '非常安静',
  '有点冷',
  '特别热闹',
  '不太方便',
  '很有意思',
  '挺干净的',
  '太远了',
  '很舒服',
] as const;
const ZH_REQUESTS = [
  '请把音量调小一点',
  '现在几点了',
  '明天会下雨吗',
  '帮我定一个十分钟的闹钟',
  '播放一首轻松的音乐',
  '把客厅的灯关掉',
  '今天北京的气温是多少',
  '给我讲一个笑话',
  '提醒我下午四点开会',
  '下一首歌',
  '暂停一下',
  '一公斤等于多少斤',
] as const;

function chineseSentence(r: Random): string {
  const kind = between(r, 0, 4);
  switch (kind) {
    case 0:
      return `${pick(r, ZH_TIMES)}${pick(r, ZH_SUBJECTS)}${pick(r, ZH_PLACES)}${pick(r, ZH_ACTIONS)}。`;
    case 1:
      return `${pick(r, ZH_SUBJECTS)}觉得${pick(r, ZH_NOUNS)}${pick(r, ZH_ADJECTIVES)}。`;
    case 2: {
      const q = pick(r, ZH_REQUESTS);
      return `${q}${/[吗少了]$/.test(q) ? '？' : '。'}`;
    }
    case 3:
      return `${pick(r, ZH_SUBJECTS)}${pick(r, ZH_TIMES)}想不想${pick(r, ZH_ACTIONS)}？`;
    default:
      return `因为${pick(r, ZH_NOUNS)}${pick(r, ZH_ADJECTIVES)}，所以${pick(r, ZH_SUBJECTS)}${pick(r, ZH_TIMES)}去${pick(r, ZH_ACTIONS)}。`;
  }
}

export type Language = 'en' | 'zh';

/** `sentences` sentences of seeded prose, joined by spaces (English) or nothing (Chinese). */
export function prose(language: Language, random: Random, sentences: number): string {
  const out: string[] = [];
  for (let i = 0; i < sentences; i++)
    out.push(language === 'en' ? englishSentence(random) : chineseSentence(random));
  return out.join(language === 'en' ? ' ' : '');
}

/** The wake phrases of the bench's models, and anything that starts like them: never in the prose. */
export const WAKE_PATTERN = /alex|jarvis|mycroft|\bhey\b/i;

// ---------------------------------------------------------------------------------------------
// Voices. espeak-ng voices and variants (`voice+variant`) whose output is deterministic; not the
// f2/f3/f5 variants, which add noise seeded from the clock (espeak-ng's voices/!v files).

export const EN_VOICES = [
  'en-us',
  'en',
  'en-gb-x-rp',
  'en-gb-scotland',
  'en-029',
  'en-us-nyc',
  'en-gb-x-gbclan',
] as const;
export const ZH_VOICES = ['cmn-latn-pinyin'] as const;
export const VARIANTS = ['', 'm1', 'm2', 'm3', 'm4', 'm6', 'm7', 'f1', 'f4'] as const;

export interface SegmentPlan {
  readonly index: number;
  readonly language: Language;
  /** espeak-ng -v */
  readonly voice: string;
  /** espeak-ng -s: words per minute. */
  readonly speed: number;
  /** espeak-ng -p: 0–99. */
  readonly pitch: number;
  readonly text: string;
  /** Level of the speech: a gain on espeak-ng's output (1, or quieter, as a far talker). */
  readonly gain: number;
  readonly noise: NoiseKind | 'none';
  readonly snr: SnrDb;
  /** Silence (noise only, when there is noise) after the segment, ms. */
  readonly gapMs: number;
  /** The seed of this segment's noise. */
  readonly noiseSeed: number;
}

/** Segment `index` of the corpus seeded `seed`: 60 % English, 40 % Mandarin; every choice seeded. */
export function segmentPlan(seed: number, index: number): SegmentPlan {
  const r = seededRandom(partSeed(seed, index));
  const language: Language = r() < 0.6 ? 'en' : 'zh';
  const base = pick(r, language === 'en' ? EN_VOICES : ZH_VOICES);
  const variant = pick(r, VARIANTS);
  return {
    index,
    language,
    voice: variant === '' ? base : `${base}+${variant}`,
    speed: between(r, 120, 210),
    pitch: between(r, 25, 75),
    text: prose(language, r, between(r, 2, 6)),
    gain: pick(r, [1, 0.7, 0.5, 0.35]),
    noise: pick(r, ['none', 'white', 'pink', 'pink'] as const),
    snr: pick(r, [10, 20, 20, 30] as const),
    gapMs: between(r, 2, 15) * 100,
    noiseSeed: partSeed(seed ^ 0x5eed, index),
  };
}

/** The positives: each phrase × voices × speeds, clean and at 20 dB SNR (white or pink by voice). */
export const POSITIVE_PHRASES = [
  { phrase: 'hey jarvis', model: 'hey_jarvis_v0.1' },
  { phrase: 'alexa', model: 'alexa_v0.1' },
  { phrase: 'hey mycroft', model: 'hey_mycroft_v0.1' },
] as const;
export const POSITIVE_VOICES = [
  'en-us',
  'en',
  'en-gb-x-rp+m3',
  'en-us+f1',
  'en-029+m2',
  'en-gb-scotland+f4',
] as const;
export const POSITIVE_SPEEDS = [130, 160, 190] as const;

export interface PositivePlan {
  readonly name: string;
  readonly phrase: string;
  readonly model: string;
  readonly voice: string;
  readonly speed: number;
  readonly noise: NoiseKind | 'none';
  readonly noiseSeed: number;
}

export function positivePlans(seed: number): PositivePlan[] {
  const out: PositivePlan[] = [];
  let i = 0;
  for (const { phrase, model } of POSITIVE_PHRASES) {
    for (const [v, voice] of POSITIVE_VOICES.entries()) {
      for (const speed of POSITIVE_SPEEDS) {
        for (const noisy of [false, true]) {
          const kind: NoiseKind = v % 2 === 0 ? 'pink' : 'white';
          const name = `${phrase.replace(/ /g, '_')}-${voice.replace('+', '_')}-${speed}-${noisy ? `${kind}20dB` : 'clean'}`;
          out.push({
            name,
            phrase,
            model,
            voice,
            speed,
            noise: noisy ? kind : 'none',
            noiseSeed: partSeed(seed ^ 0x905, i++),
          });
        }
      }
    }
  }
  return out;
}
