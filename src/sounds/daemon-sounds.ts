/**
 * The prompt sounds wired into the daemon (issue 15 §1). One SoundBank (loaded once by main.ts at
 * the downlink's decode rate), one SinkPromptOutput on the daemon's one sink, one PromptScheduler;
 * this file only turns what the daemon, the conversation and the link report into the scheduler's
 * inputs. The rules (nothing over TTS, an earcon never waits, the code repeats) are the scheduler's.
 *
 * What plays when:
 * - `listening`: a person's turn (press, click, wake word) opens its uplink. Played on the next
 *   tick (the scheduler's deferral), so the listen start and the pre-roll's frames have already
 *   gone out: an earcon never delays a press. The uplink gate is armed as it is handed to the
 *   speaker (uplink-gate.ts).
 * - `link-down`: a press needs the link and it is down (offline, backing off, closing): the turn
 *   is held for the link (design.md §3.2) and the person hears at once that it is not there. An
 *   attempt already under way (connecting, handshaking) or on-demand's idle link is no outage at
 *   the press; if that attempt fails while the turn is held (the link falls back to backoff), the
 *   person hears it then. Once per held turn.
 * - `reconnected`: the link is back after an outage a person noticed (heard `link-down`), unless a
 *   held turn starts right then: its `listening` chime says more.
 * - `error`: the conversation shows an error (a deadline, a mic or speaker fault).
 * - `mute-on` / `mute-off`, `volume`: the daemon's mute and volume events; `mutedInput` (a press
 *   while muted) plays `mute-on`: "muted". `volume` plays at the new level because the sink's gain
 *   is the volume.
 * - The activation code: while the daemon's activation waits (Daemon.setActivation), spoken at
 *   once and every 30 s; a press ends the wait (as the firmware, conversation/gestures.ts) and
 *   the code is spoken once more then (PromptScheduler.lastReading), and no more after.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { type AudioSink, CAPTURE_RATE } from '../audio/audio-port.js';
import type { OpusRate } from '../audio/opus.js';
import type { SoundsConfig } from '../config/schema.js';
import type { ConversationState, SpeakerState, TurnUplink } from '../conversation/conversation.js';
import type { TurnTrigger } from '../conversation/turn-timeline.js';
import type { Clock } from '../core/clock.js';
import type { InputEvent } from '../hardware/input.js';
import type { LinkState } from '../session/session-port.js';
import type { Earcon } from './clips.js';
import { type Prompt, type PromptOutput, PromptScheduler, type PromptState } from './prompt-scheduler.js';
import { SinkPromptOutput } from './sink-prompt-output.js';
import { decodeOneClip, decodeSoundBank, readSoundPack, type SoundBank } from './sound-bank.js';
import type { GatedSource } from './uplink-gate.js';

/** What the sounds hear of the conversation (conversation.ts). */
export interface SoundsConversation {
  readonly state: ConversationState;
  readonly speaker: SpeakerState;
  on(event: 'state', l: (to: ConversationState, from: ConversationState) => void): unknown;
  on(event: 'listening', l: (trigger: TurnTrigger, uplink: TurnUplink) => void): unknown;
  on(event: 'speaker', l: (to: SpeakerState) => void): unknown;
  off(event: 'state', l: (to: ConversationState, from: ConversationState) => void): unknown;
  off(event: 'listening', l: (trigger: TurnTrigger, uplink: TurnUplink) => void): unknown;
  off(event: 'speaker', l: (to: SpeakerState) => void): unknown;
}

/** What the sounds hear of the link (session/supervisor.ts). */
export interface SoundsLink {
  readonly state: LinkState;
  on(event: 'state', l: (to: LinkState) => void): unknown;
  off(event: 'state', l: (to: LinkState) => void): unknown;
}

/** The daemon's mute and volume events (daemon.ts DaemonEvents). */
export interface SoundsDaemonEvents {
  on(event: 'mute', l: (muted: boolean, reason: string) => void): unknown;
  on(event: 'volume', l: (level: number, reason: string) => void): unknown;
  on(event: 'mutedInput', l: (event: InputEvent) => void): unknown;
  off(event: 'mute', l: (muted: boolean, reason: string) => void): unknown;
  off(event: 'volume', l: (level: number, reason: string) => void): unknown;
  off(event: 'mutedInput', l: (event: InputEvent) => void): unknown;
}

export interface DaemonSoundsDeps {
  readonly config: SoundsConfig;
  readonly bank: SoundBank;
  readonly sink: AudioSink;
  /** The uplink's echo gate, armed when the listening chime plays; absent: the chime is sent as heard. */
  readonly uplink?: GatedSource;
  readonly clock: Clock;
  /** Expected to carry `component: 'sounds'`. */
  readonly log: Logger;
  /** Scheduler timings (tests shorten the 30 s repeat). */
  readonly repeatMs?: number;
}

export interface DaemonSoundsEvents {
  /** A prompt was handed to the speaker (the demo prints it; tests wait for it). */
  prompt: [prompt: Prompt];
}

/** Link states in which a press finds the link down (see the file comment). */
const LINK_DOWN: ReadonlySet<LinkState> = new Set<LinkState>(['offline', 'backoff', 'closing']);

export class DaemonSounds extends EventEmitter<DaemonSoundsEvents> {
  readonly #output: SinkPromptOutput;
  readonly #scheduler: PromptScheduler;
  readonly #uplink: GatedSource | undefined;
  readonly #log: Logger;
  #state: 'created' | 'running' | 'stopped' = 'created';
  #conversation: SoundsConversation | undefined;
  #link: SoundsLink | undefined;
  #daemon: SoundsDaemonEvents | undefined;
  /** The activation code while the daemon waits for activation. */
  #code: string | undefined;
  /**
   * What the person has been told about the link: nothing; `outage`: they heard `link-down` during
   * the current outage (so its end is news: `reconnected`); `held`: and the turn held right now
   * has had its `link-down` (no second one for it).
   */
  #told: 'nothing' | 'outage' | 'held' = 'nothing';

  constructor(deps: DaemonSoundsDeps) {
    super();
    this.#uplink = deps.uplink;
    this.#log = deps.log;
    this.#output = new SinkPromptOutput(deps.sink);
    const output: PromptOutput = {
      play: (pcm, rate, prompt) => {
        // Armed before the sink spawns aplay: the gate must be searching when the mic first hears it.
        if (prompt.kind === 'earcon' && prompt.earcon === 'listening') this.#uplink?.arm();
        this.#output.play(pcm, rate, prompt);
        this.emit('prompt', prompt);
      },
      stop: () => this.#output.stop(),
      released: () => this.#output.released(),
    };
    this.#scheduler = new PromptScheduler({
      bank: deps.bank,
      output,
      clock: deps.clock,
      log: deps.log,
      options: {
        enabled: deps.config.enabled,
        language: deps.config.language,
        ...(deps.repeatMs === undefined ? {} : { repeatMs: deps.repeatMs }),
      },
    });
    this.#output.attach(this.#scheduler);
  }

  get state(): PromptState {
    return this.#scheduler.state;
  }

  /** How often the uplink gate found the listening chime in what the mic sent (0 without a gate). */
  get uplinkFound(): number {
    return this.#uplink?.found ?? 0;
  }

  /** Subscribes to the daemon's parts. Idempotent. */
  start(parts: {
    readonly conversation: SoundsConversation;
    readonly link: SoundsLink;
    readonly daemon: SoundsDaemonEvents;
  }): void {
    if (this.#state !== 'created') return;
    this.#state = 'running';
    this.#conversation = parts.conversation;
    this.#link = parts.link;
    this.#daemon = parts.daemon;
    parts.conversation.on('state', this.#onConversation);
    parts.conversation.on('listening', this.#onListening);
    parts.conversation.on('speaker', this.#onSpeaker);
    parts.link.on('state', this.#onLink);
    parts.daemon.on('mute', this.#onMute);
    parts.daemon.on('volume', this.#onVolume);
    parts.daemon.on('mutedInput', this.#onMutedInput);
    this.#scheduler.setTts(parts.conversation.speaker !== 'silent');
  }

  /** Cuts what plays, unsubscribes. Idempotent. */
  stop(): void {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    this.#scheduler.stop();
    this.#output.close();
    this.#conversation?.off('state', this.#onConversation);
    this.#conversation?.off('listening', this.#onListening);
    this.#conversation?.off('speaker', this.#onSpeaker);
    this.#link?.off('state', this.#onLink);
    this.#daemon?.off('mute', this.#onMute);
    this.#daemon?.off('volume', this.#onVolume);
    this.#daemon?.off('mutedInput', this.#onMutedInput);
  }

  /**
   * The daemon's activation (called by Daemon.setActivation before the conversation enters or
   * leaves `activating`, so leaving it with a code still set means a press ended the wait).
   */
  setActivation(code: string | undefined): void {
    if (this.#state !== 'running') return;
    this.#code = code;
    this.#scheduler.setActivation(code);
  }

  #earcon(earcon: Earcon, current?: () => boolean): void {
    if (this.#state !== 'running') return;
    this.#scheduler.earcon(earcon, current);
  }

  readonly #onConversation = (to: ConversationState, from: ConversationState): void => {
    if (to !== 'connecting') this.#tell('outage', 'the held turn is over');
    if (from === 'activating' && to !== 'activating' && this.#code !== undefined) {
      this.#code = undefined;
      this.#scheduler.lastReading();
    }
    if (to === 'error') this.#earcon('error', () => this.#conversation?.state === 'error');
  };

  readonly #onListening = (_trigger: TurnTrigger, uplink: TurnUplink): void => {
    if (uplink === 'open') {
      this.#earcon('listening', () => this.#conversation?.state === 'listening');
      return;
    }
    this.#tell('outage', 'a new held turn');
    const link = this.#link?.state;
    if (link !== undefined && LINK_DOWN.has(link)) this.#linkDown();
  };

  /** The press is held for a link that is down: say so, once for this turn. */
  #linkDown(): void {
    if (this.#told === 'held') return;
    this.#tell('held', 'link-down played for the held turn');
    this.#earcon('link-down', () => this.#conversation?.state === 'connecting');
  }

  readonly #onSpeaker = (to: SpeakerState): void => {
    this.#scheduler.setTts(to !== 'silent');
  };

  readonly #onLink = (to: LinkState): void => {
    // The attempt a held press started (on-demand, or one under way at the press) failed.
    if (LINK_DOWN.has(to) && this.#conversation?.state === 'connecting') this.#linkDown();
    if (to !== 'ready' || this.#told === 'nothing') return;
    this.#tell('nothing', 'the link is back');
    // A held turn starts on this ready (its 'listening' follows): that chime is the news.
    if (this.#conversation?.state === 'connecting') return;
    this.#earcon('reconnected');
  };

  /** The one way #told changes; `outage` only steps down from `held` (it is earned by link-down). */
  #tell(to: 'nothing' | 'outage' | 'held', why: string): void {
    if (to === 'outage' && this.#told !== 'held') return;
    if (to === this.#told) return;
    this.#log.debug({ told_from: this.#told, told_to: to }, `link news told ${this.#told} → ${to}: ${why}`);
    this.#told = to;
  }

  readonly #onMute = (muted: boolean): void => {
    this.#earcon(muted ? 'mute-on' : 'mute-off');
  };

  readonly #onVolume = (): void => {
    this.#earcon('volume');
  };

  readonly #onMutedInput = (): void => {
    this.#earcon('mute-on');
  };
}

/**
 * Reads the pack once and decodes it for the daemon: every clip at the speaker's rate (the
 * downlink's decodeRate, so a prompt takes the replies' `sink.begin(rate)`), and the listening
 * chime once more at the mic rate for the uplink gate. Throws SoundAssetError (names the file and
 * the fix) when the pack is missing or damaged.
 */
export async function loadDaemonSounds(
  file: string,
  rate: OpusRate,
): Promise<{ readonly bank: SoundBank; readonly uplinkChime: Buffer }> {
  const pack = await readSoundPack(file);
  return {
    bank: decodeSoundBank(pack, rate, file),
    uplinkChime: decodeOneClip(pack, 'earcon-listening', CAPTURE_RATE, file),
  };
}
