/**
 * What the LEDs show, as a pure function of the conversation's and the connection's states
 * (design.md §3.5, §5.6: LEDs render state, they never decide). Defaults follow the firmware's
 * single-LED driver (protocol.md §6.2).
 */
import { CONVERSATION_STATES, type ConversationState } from '../conversation/conversation-state.js';
import { LINK_STATES, type LinkState, linkAtRest } from '../session/session-port.js';

export type IndicatorName = 'off' | 'muted' | 'privacy' | ConversationState;
/** amber: the red and green channels of an RGB LED together. */
export type IndicatorColor = 'off' | 'red' | 'green' | 'blue' | 'amber';
export type IndicatorPattern = 'off' | 'steady' | 'slow-blink' | 'fast-blink';

export interface Indicator {
  readonly name: IndicatorName;
  readonly color: IndicatorColor;
  readonly pattern: IndicatorPattern;
}

/** How long each on and each off phase of a blink lasts (firmware: 500 ms slow, 100 ms fast; protocol.md §6.2). */
export const BLINK_PHASE_MS: Readonly<Record<'slow-blink' | 'fast-blink', number>> = Object.freeze({
  'slow-blink': 500,
  'fast-blink': 100,
});

const INDICATORS: { readonly [N in IndicatorName]: Indicator & { readonly name: N } } = {
  off: { name: 'off', color: 'off', pattern: 'off' },
  idle: { name: 'idle', color: 'off', pattern: 'off' },
  connecting: { name: 'connecting', color: 'blue', pattern: 'steady' },
  listening: { name: 'listening', color: 'red', pattern: 'steady' },
  speaking: { name: 'speaking', color: 'green', pattern: 'steady' },
  activating: { name: 'activating', color: 'green', pattern: 'slow-blink' },
  offline: { name: 'offline', color: 'blue', pattern: 'slow-blink' },
  error: { name: 'error', color: 'red', pattern: 'fast-blink' },
  // Not a firmware state: the mic delivers only digital silence (a mute switch, a capture switch
  // turned off in the mixer). Red like listening, blinking slowly: "I cannot hear you".
  muted: { name: 'muted', color: 'red', pattern: 'slow-blink' },
  // Not a firmware state either: the person's privacy mute (audio/privacy.ts). A name of its own,
  // not 'muted': that one is a fault found by listening (zeros from the mic, shown only where the
  // person is about to talk, and it goes away when the mic is fixed); this one is a promise the
  // person asked for, shown whenever the device is at rest, and it must never read as listening
  // (red) or as a fault (a blink), nor take a colour of the link or the reply (blue, green): amber
  // (red + green) steady.
  privacy: { name: 'privacy', color: 'amber', pattern: 'steady' },
};
for (const indicator of Object.values(INDICATORS)) Object.freeze(indicator);

/** One RGB colour, 0–255 a channel. */
export interface Rgb {
  readonly r: number;
  readonly g: number;
  readonly b: number;
}

/**
 * How an addressable ring (APA102, hardware/ring.ts) moves: still (`off`, `steady`), blinking
 * with the GPIO LEDs' phases, breathing (a smooth rise and fall of the whole ring) or spinning (a
 * lit segment walking round).
 */
export type RingMotion = 'off' | 'steady' | 'slow-blink' | 'fast-blink' | 'breathe' | 'spin';

export interface RingLook {
  readonly rgb: Rgb;
  readonly motion: RingMotion;
}

const RED: Rgb = Object.freeze({ r: 255, g: 0, b: 0 });
const GREEN: Rgb = Object.freeze({ r: 0, g: 255, b: 0 });
const BLUE: Rgb = Object.freeze({ r: 0, g: 0, b: 255 });
const DARK: Rgb = Object.freeze({ r: 0, g: 0, b: 0 });
const AMBER: Rgb = Object.freeze({ r: 255, g: 96, b: 0 });

/**
 * What a ring of RGB LEDs shows per indicator: the GPIO LEDs' colour and pattern (INDICATORS
 * above), where a ring can say more. Modelled on the firmware's ring driver (xiaozhi-esp32
 * main/led/circular_strip.cc OnStateChanged: starting = a blue segment scrolling round every
 * 100 ms, connecting = blue, listening = red, speaking = green, activating = green blinking at
 * 500 ms, idle = dark), with two motions of our own: connecting spins (the firmware's start-up
 * scroll: work under way) and listening breathes (alive and hearing, where a steady red on twelve
 * LEDs reads as an alarm). The colours are full scale; `leds.brightness` dims the whole ring.
 */
export const RING_LOOKS: Readonly<Record<IndicatorName, RingLook>> = Object.freeze({
  off: { rgb: DARK, motion: 'off' },
  idle: { rgb: DARK, motion: 'off' },
  connecting: { rgb: BLUE, motion: 'spin' },
  listening: { rgb: RED, motion: 'breathe' },
  speaking: { rgb: GREEN, motion: 'steady' },
  activating: { rgb: GREEN, motion: 'slow-blink' },
  offline: { rgb: BLUE, motion: 'slow-blink' },
  error: { rgb: RED, motion: 'fast-blink' },
  muted: { rgb: RED, motion: 'slow-blink' },
  privacy: { rgb: AMBER, motion: 'steady' },
});

export { CONVERSATION_STATES, LINK_STATES };

/**
 * What the microphone delivers (audio/capture.ts): audio (`ok`), only digital zeros (`muted`: a
 * hardware mute switch or an ALSA capture switch turned off), or nothing (`fault`).
 */
export type MicHealth = 'ok' | 'muted' | 'fault';
export const MIC_HEALTH: readonly MicHealth[] = ['ok', 'muted', 'fault'];

/** Every indicator, for tests and for the LED adapters' self-checks. */
export const INDICATORS_BY_NAME: Readonly<Record<IndicatorName, Indicator>> = INDICATORS;

export function indicatorFor(
  conversation: ConversationState,
  link: LinkState,
  mic: MicHealth = 'ok',
  privacy: 'unmuted' | 'muted' = 'unmuted',
): Indicator {
  // The daemon is shutting down: dark, whatever the conversation last was.
  if (link === 'stopped') return INDICATORS.off;
  // The privacy mute at rest (idle or offline: nothing can listen then anyway), over a mic fault
  // and over offline: the person's question is "is it listening?". What the device does (a reply
  // playing, connecting after a long press, activating, an error) still shows as itself.
  if (privacy === 'muted' && (conversation === 'idle' || conversation === 'offline'))
    return INDICATORS.privacy;
  // A dead mic makes the button useless: say so (design.md §3.4), except while a reply still
  // plays (the speaker works) and while activating (the code matters more).
  if (mic === 'fault' && conversation !== 'speaking' && conversation !== 'activating')
    return INDICATORS.error;
  // Muted: the user would talk into silence. Shown where they are about to talk or talking.
  if (mic === 'muted' && (conversation === 'listening' || (conversation === 'idle' && linkAtRest(link))))
    return INDICATORS.muted;
  switch (conversation) {
    case 'idle':
      // At rest means connected, or on-demand with no connection wanted (link idle). Anything
      // else is a connection the device should have and has not: offline, blue slow blink.
      return linkAtRest(link) ? INDICATORS.idle : INDICATORS.offline;
    case 'connecting':
      // The user waits on a connection attempt: blue steady while one is actually under way;
      // between attempts (backoff) the honest picture is offline.
      return link === 'offline' || link === 'backoff' ? INDICATORS.offline : INDICATORS.connecting;
    default:
      return INDICATORS[conversation];
  }
}

/** Whether two indicators look the same (renderers skip a repeat: a blink keeps its phase). */
export function sameIndicator(a: Indicator | undefined, b: Indicator): boolean {
  return a !== undefined && a.name === b.name && a.color === b.color && a.pattern === b.pattern;
}
