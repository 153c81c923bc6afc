/**
 * The speaking half of a dev-server turn, as xinnan sends a spoken answer (protocol.md §5.2):
 * `tts start`, a `sentence_start` with the sentence's text, its Opus packets paced like xinnan's
 * (tts-player.ts, protocol.md §4.2), then `tts stop` [SRV core/handle/sendAudioHandle.py ·
 * sendAudioMessage, send_tts_message]. Every TTS packet sent is activity for the no-voice timer
 * (protocol.md §8.1). turn.ts decides what is said and when; this only sends it.
 */
import { FRAME_MS } from '../audio/audio-port.js';
import { describeError } from '../core/errors.js';
import { encodeTtsPackets } from './tts-audio.js';
import { type PlayerHooks, TtsPlayer } from './tts-player.js';
import type { TurnPort } from './turn.js';
import type { TtsStopReason } from './types.js';

/** xinnan pre-buffers 5 packets per sentence (protocol.md §4.2). */
const PREBUFFER_PACKETS = 5;

/** The session phases in which the server talks (turn.ts TurnPhase). */
export type SpeakingPhase = 'speaking' | 'answering' | 'farewell';

export type DownlinkPort = Pick<
  TurnPort,
  'sessionId' | 'options' | 'clock' | 'log' | 'events' | 'send' | 'sendAudio' | 'activity' | 'enter' | 'phase'
>;

export class Downlink {
  readonly #player: TtsPlayer;

  constructor(private readonly port: DownlinkPort) {
    this.#player = new TtsPlayer(port.clock, {
      frameMs: FRAME_MS,
      prebufferPackets: PREBUFFER_PACKETS,
      tailMs: port.options.ttsTailMs,
    });
  }

  /** Packets are still going out (or the tail before `tts stop` is being waited). */
  get active(): boolean {
    return this.#player.active;
  }

  /** Stops sending at once, without `tts stop` (the caller says whether one follows). */
  cancel(): void {
    this.#player.cancel();
  }

  /** 16 kHz PCM → Opus packets at the downlink rate; a failure is logged and means no audio. */
  encode(pcm16k: Buffer, what: string): Buffer[] {
    try {
      return encodeTtsPackets(pcm16k, this.port.options.ttsRate);
    } catch (err) {
      this.port.log.error({ err: describeError(err) }, `dev-server: encoding ${what} failed, no audio`);
      return [];
    }
  }

  start(phase: SpeakingPhase): void {
    this.port.send({ type: 'tts', state: 'start', session_id: this.port.sessionId });
    this.port.enter(phase, 'tts start');
    this.port.events.emit('tts-start', { sessionId: this.port.sessionId });
  }

  stop(reason: TtsStopReason): void {
    this.port.send({ type: 'tts', state: 'stop', session_id: this.port.sessionId });
    // After the farewell the phase stays: the close follows.
    const phase = this.port.phase();
    if (phase === 'speaking' || phase === 'answering') this.port.enter('idle', `tts stop (${reason})`);
    this.port.events.emit('tts-stop', { sessionId: this.port.sessionId, reason });
  }

  /**
   * `tts start`, the sentence, the packets; then `hooks.done` (which sends the `tts stop`), at
   * once when there are none. `limit`: stop after that many packets (a fault switch).
   */
  speak(
    phase: SpeakingPhase,
    sentence: string,
    packets: readonly Buffer[],
    hooks: Omit<PlayerHooks, 'send'>,
    limit?: number,
  ): void {
    this.start(phase);
    this.port.send({ type: 'tts', state: 'sentence_start', text: sentence, session_id: this.port.sessionId });
    if (packets.length === 0) {
      hooks.done();
      return;
    }
    this.#player.play(
      packets,
      {
        ...hooks,
        send: (packet) => {
          if (this.port.sendAudio(packet)) this.port.activity();
        },
      },
      limit,
    );
  }
}
