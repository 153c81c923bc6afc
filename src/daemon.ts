/**
 * The daemon: ordered services wired together (design.md §2). It owns no policy of its own: the
 * supervisor keeps the link, the conversation runs turns, the indicator renders both. Adapters
 * (connector, audio, LEDs, button) are injected by main.ts, real or simulated.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { AudioSink, AudioSource } from './audio/audio-port.js';
import { AudioControls, type PrivacyControl } from './audio/controls.js';
import { OpusDecoder, OpusEncoder } from './audio/opus.js';
import type { Config } from './config/schema.js';
import { Conversation, type ConversationState, type TurnTimeline } from './conversation/conversation.js';
import { isTalkGesture } from './conversation/gestures.js';
import type { Clock } from './core/clock.js';
import { describeError, type Fault } from './core/errors.js';
import type { Random } from './core/random.js';
import type { ControlEvent } from './hardware/controls.js';
import { type Indicator, indicatorFor, type MicHealth } from './hardware/indicator.js';
import type { InputEvent } from './hardware/input.js';
import { McpServer } from './mcp/server.js';
import type { McpTool, VolumeControl } from './mcp/tools.js';
import type { CredentialSource } from './session/credentials.js';
import type { LinkState } from './session/session-port.js';
import { SessionSupervisor } from './session/supervisor.js';
import { DaemonSounds } from './sounds/daemon-sounds.js';
import type { SoundBank } from './sounds/sound-bank.js';
import { GatedSource } from './sounds/uplink-gate.js';
import type { Connector } from './transport/connection.js';
import type { WakeWordInput } from './wakeword/detector.js';
import { WakeWiring } from './wakeword/wake-wiring.js';

export interface Identity {
  readonly deviceId: string;
  readonly clientId: string;
}

/** Draws an indicator (GPIO LEDs, the terminal, a test recorder). Never decides anything. */
export interface IndicatorRenderer {
  render(indicator: Indicator): void;
}

/** What the daemon hears from a continuously running microphone. */
export interface MicHealthEvents {
  on(event: 'fault', listener: (fault: Fault) => void): unknown;
  on(event: 'recovered', listener: () => void): unknown;
}

/** Whether the mic delivers only digital zeros (audio/silence-watch.ts). */
export interface MicMuteEvents {
  readonly state: 'sound' | 'muted';
  on(event: 'muted' | 'unmuted', listener: () => void): unknown;
}

export type { PrivacyControl } from './audio/controls.js';

export interface DaemonDeps {
  readonly config: Readonly<Config>;
  readonly identity: Identity;
  readonly credentials: CredentialSource;
  readonly connector: Connector;
  readonly source: AudioSource;
  readonly sink: AudioSink;
  readonly leds: IndicatorRenderer;
  /** The continuous microphone's health events (audio/capture.ts); absent for the simulated mic. */
  readonly micHealth?: MicHealthEvents;
  /** The continuous microphone's mute detection; absent for the simulated mic. */
  readonly micMute?: MicMuteEvents;
  readonly clock: Clock;
  readonly random: Random;
  readonly log: Logger;
  /** The device's MCP tools (mcp/tools.ts); when given, hello advertises `features.mcp` (protocol.md §5.4). */
  readonly mcp?: { readonly tools: readonly McpTool[]; readonly version: string };
  /** The privacy mute (config gpio.mute); absent = never muted, today's behaviour. */
  readonly privacy?: PrivacyControl;
  /** The speaker volume (audio/volume.ts) the volume buttons step; absent = the buttons do nothing. */
  readonly volume?: VolumeControl;
  /**
   * The prompt sounds (sounds/daemon-sounds.ts), loaded by main.ts: the bank at audio.decodeRate,
   * and the listening chime at the mic rate for the uplink's echo gate (none: no gate). Absent: no
   * prompt ever plays (sounds.enabled false, or the pack could not be loaded).
   */
  readonly sounds?: {
    readonly bank: SoundBank;
    readonly uplinkChime?: Buffer;
    /** Between readings of the activation code (default 30 s; tests shorten it). */
    readonly repeatMs?: number;
  };
  /** The wake word (wakeword/detector.ts), when wakeWord.enabled on a device with a capture. */
  readonly wakeWord?: WakeWordInput;
}

export interface DaemonEvents {
  indicator: [indicator: Indicator];
  status: [status: string];
  turn: [timeline: TurnTimeline];
  /** The privacy mute changed (not at start: a device that boots muted stays quiet). */
  mute: [muted: boolean, reason: string];
  /** The volume was set (buttons, MCP), even to the level it had: the person asked. */
  volume: [level: number, reason: string];
  /** A talk gesture refused because the mic is muted (the sounds play "muted" for it). */
  mutedInput: [event: InputEvent];
}

export class Daemon extends EventEmitter<DaemonEvents> {
  readonly supervisor: SessionSupervisor;
  readonly conversation: Conversation;
  readonly #d: DaemonDeps;
  readonly #encoder: OpusEncoder;
  /** The wake word's own audio is encoded apart, at complexity 0 (conversation/wake.ts says why). */
  readonly #wakeEncoder: OpusEncoder | undefined;
  readonly #mcp: McpServer | undefined;
  readonly #decoder: OpusDecoder;
  readonly #controls: AudioControls;
  /** The conversation's mic: the injected source, behind the chime gate when there is one. */
  readonly #source: AudioSource;
  /** The prompt sounds, when main.ts loaded them. */
  readonly sounds: DaemonSounds | undefined;
  #state: 'created' | 'running' | 'stopping' | 'stopped' = 'created';
  #indicator: Indicator | undefined;
  #status = '';
  /** The server's words with an activation code (shown in STATUS), '' when none. */
  #activationMessage = '';
  /** The mic's last fault message while it is faulted, '' while it delivers. */
  #micFault = '';
  /** The wake word's detections into the conversation (wakeword/wake-wiring.ts), when there is one. */
  readonly #wake: WakeWiring | undefined;

  constructor(deps: DaemonDeps) {
    super();
    this.#d = deps;
    const { config, clock, log } = deps;
    this.#encoder = new OpusEncoder({
      complexity: config.audio.opusComplexity,
      bitrate: config.audio.opusBitrate,
    });
    this.#wakeEncoder = deps.wakeWord
      ? new OpusEncoder({ complexity: 0, bitrate: config.audio.opusBitrate })
      : undefined;
    this.#decoder = new OpusDecoder(config.audio.decodeRate);
    this.supervisor = new SessionSupervisor({
      connector: deps.connector,
      credentials: deps.credentials,
      identity: deps.identity,
      config: config.connection,
      clock,
      random: deps.random,
      log: log.child({ component: 'session' }),
      allowInsecureTls: config.server.allowInsecureTls,
      // A stale session is replaced only while no turn is under way (the conversation is built
      // below; the predicate is read later, when the session goes stale).
      atRest: () => this.conversation.state === 'idle',
      // Never an mcp message unless advertised, and advertised only when there is a server for it.
      ...(deps.mcp ? { features: { mcp: true } } : {}),
    });
    this.#mcp = deps.mcp
      ? new McpServer({
          tools: deps.mcp.tools,
          serverInfo: { name: 'speakerd', version: deps.mcp.version },
          log: log.child({ component: 'mcp' }),
          clock,
        })
      : undefined;
    const uplink =
      deps.sounds?.uplinkChime === undefined
        ? undefined
        : new GatedSource(deps.source, deps.sounds.uplinkChime, log.child({ component: 'sounds' }));
    this.#source = uplink ?? deps.source;
    this.sounds = deps.sounds
      ? new DaemonSounds({
          config: config.sounds,
          bank: deps.sounds.bank,
          sink: deps.sink,
          ...(uplink ? { uplink } : {}),
          ...(deps.sounds.repeatMs === undefined ? {} : { repeatMs: deps.sounds.repeatMs }),
          clock,
          log: log.child({ component: 'sounds' }),
        })
      : undefined;
    this.conversation = new Conversation({
      session: this.supervisor,
      source: this.#source,
      sink: deps.sink,
      encoder: this.#encoder,
      decoder: this.#decoder,
      clock,
      config: config.conversation,
      wakeWord: {
        duringSpeech: config.wakeWord.duringSpeech,
        ...(this.#wakeEncoder ? { encoder: this.#wakeEncoder } : {}),
      },
      log: log.child({ component: 'conversation' }),
      micAllowed: () => !this.muted,
    });
    this.#wake = deps.wakeWord
      ? new WakeWiring({
          input: deps.wakeWord,
          conversation: this.conversation,
          duringSpeech: config.wakeWord.duringSpeech,
          muted: () => this.muted,
          log: log.child({ component: 'wakeword' }),
        })
      : undefined;
    this.#controls = new AudioControls({
      privacy: deps.privacy,
      volume: deps.volume,
      volumeStep: config.audio.volumeStep,
      log: log.child({ component: 'controls' }),
    });
    this.#controls.on('volume', (level, reason) => {
      if (this.#state === 'running') this.emit('volume', level, reason);
    });
  }

  /** The privacy mute is on: nothing the mic hears leaves the device (the wake word must check it too). */
  get muted(): boolean {
    return this.#controls.muted;
  }

  get state(): 'created' | 'running' | 'stopping' | 'stopped' {
    return this.#state;
  }

  get indicator(): Indicator | undefined {
    return this.#indicator;
  }

  /** A fault (no frames) outranks muted (frames of zeros). */
  get micHealth(): MicHealth {
    if (this.#micFault !== '') return 'fault';
    return this.#d.micMute?.state === 'muted' ? 'muted' : 'ok';
  }

  /** One line for systemd's STATUS= and the operator: what the device is doing now. */
  get status(): string {
    return this.#status;
  }

  async start(): Promise<void> {
    if (this.#state !== 'created') return;
    this.#state = 'running';
    this.conversation.on('turn', (t) => this.emit('turn', t));
    this.supervisor.on('message', (m) => {
      if (m.type === 'mcp') this.#answerMcp(m.payload);
    });
    this.#d.micHealth?.on('fault', (f) => {
      this.#micFault = f.message;
      this.#render();
    });
    this.#d.micHealth?.on('recovered', () => {
      this.#micFault = '';
      this.#render();
    });
    this.#d.micMute?.on('muted', () => this.#render());
    this.#d.micMute?.on('unmuted', () => this.#render());
    // Muted at start (saved, or the switch's position): nothing buffered, no event.
    if (this.muted) this.#d.source.mute?.(true);
    this.#d.privacy?.on('change', this.#onPrivacy);
    this.conversation.start();
    this.sounds?.start({ conversation: this.conversation, link: this.supervisor, daemon: this });
    // A link change and the conversation's answer to it come as a burst of events in one call
    // stack (state ready, then the session's 'ready' → idle): render once it settled, so neither
    // the LEDs nor STATUS ever show the in-between "online · offline".
    this.supervisor.on('state', () => this.#scheduleRender());
    this.conversation.on('state', () => this.#scheduleRender());
    this.#wake?.start();
    this.supervisor.start();
    this.#render();
  }

  /**
   * OTA asks for activation (design.md §3.7): the code on the LEDs' activating pattern and in
   * STATUS with the server's message; `undefined` when it is over.
   */
  setActivation(activation: { readonly code: string; readonly message: string } | undefined): void {
    if (this.#state !== 'running') return;
    this.#activationMessage = activation?.message ?? '';
    // The sounds first: they read the conversation leaving `activating` with a code still set as
    // a press that ended the wait, and with none as the activation being over.
    this.sounds?.setActivation(activation?.code);
    this.conversation.setActivating(activation?.code);
    this.#render();
  }

  /** The credential source has (new) credentials: connect now if waiting or backing off. */
  credentialsChanged(reason: string): void {
    if (this.#state !== 'running') return;
    const link = this.supervisor.state;
    if (link === 'offline' || link === 'backoff') this.supervisor.connectNow(reason);
  }

  input(event: InputEvent): void {
    if (this.#state !== 'running') return;
    if (this.muted && isTalkGesture(event, this.#d.config.conversation.buttonMode)) {
      // No turn while muted; a long press (reconnect) and a double click (stop) still work.
      this.#d.log.info({ input: event }, `${event} while muted: no turn`);
      this.emit('mutedInput', event);
      return;
    }
    this.conversation.input(event);
  }

  /**
   * The mute switch or button and the volume buttons (hardware/controls.ts, audio/controls.ts).
   * Also before start: a switch moved while the daemon was being built still counts (start() reads
   * the mute state as it is then).
   */
  control(event: ControlEvent): void {
    if (this.#state === 'stopping' || this.#state === 'stopped') return;
    this.#controls.control(event);
  }

  /** Sets the speaker volume and emits `volume` (the volume buttons, and MCP set_volume via main.ts). */
  setVolume(level: number, reason: string): Promise<void> {
    return this.#controls.setVolume(level, reason);
  }

  readonly #onPrivacy = (muted: boolean, reason: string): void => {
    if (this.#state !== 'running') return;
    // Order matters: the buffer goes first, so no frame of it can reach a turn ending below.
    this.#d.source.mute?.(muted);
    if (muted) this.conversation.muteMic(reason);
    this.emit('mute', muted, reason);
    this.#render();
  };

  /** A network interface gained an address (design.md §3.2): retry a pending connection now. */
  networkChanged(reason: string): void {
    if (this.#state === 'running') this.supervisor.networkChanged(reason);
  }

  /** Reverse order of start; idempotent. */
  async stop(): Promise<void> {
    if (this.#state === 'stopping' || this.#state === 'stopped') return;
    this.#state = 'stopping';
    this.#d.privacy?.off('change', this.#onPrivacy);
    this.sounds?.stop();
    this.#wake?.stop();
    this.conversation.stop();
    await this.supervisor.stop();
    await Promise.all([this.#source.close(), this.#d.sink.close()]);
    this.#encoder.delete();
    this.#wakeEncoder?.delete();
    this.#decoder.delete();
    this.#d.leds.render({ name: 'off', color: 'off', pattern: 'off' });
    this.#state = 'stopped';
  }

  /**
   * A server's MCP request, answered on the session it came on: a reply to a session that has
   * since ended would be a stranger's id on the next one (protocol.md §5.4).
   */
  #answerMcp(payload: unknown): void {
    const mcp = this.#mcp;
    if (!mcp) {
      this.#d.log.debug('mcp message without features.mcp advertised: ignored');
      return;
    }
    const session = this.supervisor.sessionId;
    void mcp.handle(payload).then(
      (answer) => {
        if (!answer || this.#state !== 'running') return;
        if (this.supervisor.sessionId !== session || this.supervisor.state !== 'ready') {
          this.#d.log.debug('mcp answer dropped: the session it was for has ended');
          return;
        }
        this.supervisor.send({ type: 'mcp', payload: answer });
      },
      (err: unknown) => this.#d.log.error({ err: describeError(err) }, 'mcp: answering failed'),
    );
  }

  #renderQueued = false;

  #scheduleRender(): void {
    if (this.#renderQueued) return;
    this.#renderQueued = true;
    queueMicrotask(() => {
      this.#renderQueued = false;
      this.#render();
    });
  }

  #render(): void {
    // While stopping, the parts wind down through states nobody needs to see; stop() draws "off".
    if (this.#state !== 'running') return;
    const conv: ConversationState = this.conversation.state;
    const link: LinkState = this.supervisor.state;
    const mic = this.micHealth;
    const ind = indicatorFor(conv, link, mic, this.muted ? 'muted' : 'unmuted');
    if (!this.#indicator || ind.name !== this.#indicator.name) {
      this.#indicator = ind;
      this.#d.leds.render(ind);
      this.emit('indicator', ind);
    }
    const base = statusBase(
      conv,
      link,
      this.supervisor.detail,
      this.conversation.activationCode,
      this.#activationMessage,
    );
    const heard =
      mic === 'fault' ? `${base} · mic: ${this.#micFault}` : mic === 'muted' ? `${base} · mic muted` : base;
    // The privacy mute last: the operator reads "why does it not answer" at the end of the line.
    const status = this.muted ? `${heard} · muted (privacy)` : heard;
    if (status !== this.#status) {
      this.#status = status;
      this.emit('status', status);
    }
  }
}

/**
 * The first part of STATUS= (design.md §3.6): what the person at the device would want to know —
 * `online · idle`, `offline · retry in 4.2 s · connect ECONNREFUSED 10.0.0.5:8000`,
 * `activating · code 123456`, `connecting · waiting for server hello`.
 */
export function statusBase(
  conv: ConversationState,
  link: LinkState,
  detail: string,
  activationCode: string | undefined,
  activationMessage = '',
): string {
  if (conv === 'activating') {
    const words = activationMessage.trim();
    return `activating · code ${activationCode ?? '?'}${words === '' ? '' : ` · ${words}`}`;
  }
  if (link === 'ready') return `online · ${conv}`;
  // A stale session being replaced at rest: the device is online for the person at it.
  if (link === 'renewing') return `online · ${conv} · ${detail}`;
  // Between attempts the device is offline, whatever the supervisor calls its waiting room.
  const word = link === 'backoff' ? 'offline' : link;
  return `${word} · ${detail}`;
}
