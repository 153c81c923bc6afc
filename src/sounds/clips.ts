/**
 * The names of the prompt sounds (issue 15 §1): the digit words of the activation code in each
 * `sounds.language`, and the earcons. One closed set, shared by the generator, the pack, the
 * loader and the scheduler, so a clip the scheduler asks for is a clip the loader has checked.
 */

export const SOUND_LANGUAGES = ['zh', 'en'] as const;
export type SoundLanguage = (typeof SOUND_LANGUAGES)[number];

export const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] as const;
export type Digit = (typeof DIGITS)[number];

/**
 * Earcons, one per event of issue 15 §1: listening started (press or wake word), the link is down
 * when a press needs it, reconnected after an outage a person noticed, error, mute on/off, volume
 * changed (played at the new level).
 */
export const EARCONS = [
  'listening',
  'link-down',
  'reconnected',
  'error',
  'mute-on',
  'mute-off',
  'volume',
] as const;
export type Earcon = (typeof EARCONS)[number];

export type DigitClip = `digit-${SoundLanguage}-${Digit}`;
export type EarconClip = `earcon-${Earcon}`;
export type ClipName = DigitClip | EarconClip;

export function digitClip(language: SoundLanguage, digit: Digit): DigitClip {
  return `digit-${language}-${digit}`;
}

export function earconClip(earcon: Earcon): EarconClip {
  return `earcon-${earcon}`;
}

/** Every clip the pack must hold, in the pack's order. */
export const ALL_CLIPS: readonly ClipName[] = [
  ...SOUND_LANGUAGES.flatMap((lang) => DIGITS.map((d) => digitClip(lang, d))),
  ...EARCONS.map(earconClip),
];

export function isClipName(name: string): name is ClipName {
  return (ALL_CLIPS as readonly string[]).includes(name);
}

export function isDigit(c: string): c is Digit {
  return (DIGITS as readonly string[]).includes(c);
}

export function isSoundLanguage(s: string): s is SoundLanguage {
  return (SOUND_LANGUAGES as readonly string[]).includes(s);
}
