/**
 * The conversation half of a dev-server session (protocol.md §5.1–5.2): `listen start` collects
 * an utterance, the VAD (auto) or `listen stop` (manual) or the length cap ends it, and the reply
 * is `stt` + `tts start` + `sentence_start` + the user's own audio at the TTS rate + `tts stop`.
 * The session owns the socket; this class only sends through the port it is given.
 */
import { CAPTURE_RATE, FRAME_MS } from '../audio/audio-port.js';
import type { Clock } from '../core/clock.js';
import { describeError } from '../core/errors.js';
import type { ListenMode, ServerMessage } from '../protocol/messages.js';
import type { Logger } from '../system/logger.js';
import { type DevServerFaults, FAULT_TTS_PACKETS, invalidOpusPacket } from './faults.js';
import { encodeTtsPackets } from './tts-audio.js';
import { TtsPlayer } from './tts-player.js';
import type { DevServerEvents, ResolvedOptions, TtsStopReason } from './types.js';
import { type Utterance, UtteranceCollector, type UtteranceEnd } from './utterance.js';

/** xinnan pre-buffers 5 packets per sentence (protocol.md §4.2). */
const PREBUFFER_PACKETS = 5;

/** The turn phases the session's one state field shows. */
export type TurnPhase = 'idle' | 'listening' | 'speaking';

export interface TurnPort {
  readonly sessionId: string;
  readonly options: ResolvedOptions;
  readonly clock: Clock;
  readonly log: Logger;
  readonly events: {
    emit<K extends keyof DevServerEvents>(event: K, ...args: DevServerEvents[K]): boolean;
  };
  faults(): Readonly<DevServerFaults>;
  /** Guarded sends: false when the socket is no longer open. */
  send(message: ServerMessage): boolean;
  sendAudio(packet: Buffer): boolean;
  /** Speech heard or TTS sent: pushes the idle close back (protocol.md §8.1). */
  activity(): void;
  /** Moves the session's state field. */
  enter(phase: TurnPhase, reason: string): void;
  phase(): string;
  close(code: number): void;
}

export class Turn {
  readonly #player: TtsPlayer;
  #collector: UtteranceCollector | undefined;
  #mode: ListenMode = 'auto';

  constructor(private readonly port: TurnPort) {
    this.#player = new TtsPlayer(port.clock, {
      frameMs: FRAME_MS,
      prebufferPackets: PREBUFFER_PACKETS,
      tailMs: port.options.ttsTailMs,
    });
  }

  listenStart(mode: ListenMode): void {
    if (this.#player.active) this.port.log.info('dev-server: listen start during a reply, reply cancelled');
    this.#player.cancel();
    this.#mode = mode;
    const { vadSilenceMs, vadMinSpeechMs, maxUtteranceMs } = this.port.options;
    // Realtime is auto mode with the mic left open (protocol.md §5.1); the VAD ends both.
    this.#collector = new UtteranceCollector({
      auto: mode !== 'manual',
      silenceMs: vadSilenceMs,
      minSpeechMs: vadMinSpeechMs,
      maxMs: maxUtteranceMs,
      sampleRate: CAPTURE_RATE,
    });
    this.port.enter('listening', `listen start (${mode})`);
  }

  /**
   * Manual mode: the end of the utterance (push-to-talk released). Auto mode: the device stopped
   * listening on its own (a second press), so what was collected is dropped and nothing is
   * answered — a late reply would land in the device's next turn.
   */
  listenStop(): void {
    if (!this.#collector) {
      this.port.log.debug('dev-server: listen stop while not listening ignored');
    } else if (this.#mode === 'manual') {
      this.#endUtterance('manual');
    } else {
      this.#collector = undefined;
      this.port.log.info({ mode: this.#mode }, 'dev-server: listen stop in auto mode, utterance dropped');
      this.port.enter('idle', 'listen stop');
    }
  }

  /** Like xinnan with the greeting off: the text comes back as `stt`, then an empty reply. */
  detect(text: string): void {
    this.cancel();
    this.port.activity();
    this.port.send({ type: 'stt', text, session_id: this.port.sessionId });
    this.#ttsStart();
    this.#ttsStop('detect');
  }

  /** xinnan stops the reply and answers `tts stop` at once, speaking or not (protocol.md §5.1). */
  abort(): void {
    this.#player.cancel();
    this.#ttsStop('abort');
  }

  /** One decoded uplink packet (16 kHz PCM). */
  audio(pcm: Buffer): void {
    const collector = this.#collector;
    if (!collector || this.port.phase() !== 'listening') return;
    const { voiced, end } = collector.push(pcm);
    if (voiced) this.port.activity();
    if (end) this.#endUtterance(end);
  }

  /** Drops everything in progress without a word (the session is closing). */
  cancel(): void {
    this.#player.cancel();
    this.#collector = undefined;
  }

  #endUtterance(reason: UtteranceEnd): void {
    const collector = this.#collector;
    if (!collector) return;
    this.#collector = undefined;
    const u = collector.finish(reason);
    this.port.log.info(
      { reason, speech_ms: Math.round(u.speechMs), duration_ms: Math.round(u.durationMs) },
      `dev-server: utterance ended: ${u.text}`,
    );
    const { pcm, speechMs, peakDbfs, text } = u;
    this.port.events.emit('utterance', {
      sessionId: this.port.sessionId,
      pcm,
      reason,
      speechMs,
      peakDbfs,
      text,
    });
    this.#reply(u);
  }

  #reply(u: Utterance): void {
    const { port } = this;
    port.send({ type: 'stt', text: u.text, session_id: port.sessionId });
    let packets: Buffer[] = [];
    try {
      packets = encodeTtsPackets(u.playback, port.options.ttsRate);
    } catch (err) {
      port.log.error(
        { err: describeError(err) },
        'dev-server: encoding the reply failed, replying without audio',
      );
    }
    this.#ttsStart();
    const seconds = ((packets.length * FRAME_MS) / 1000).toFixed(2);
    port.send({
      type: 'tts',
      state: 'sentence_start',
      text: `playing back ${seconds} s`,
      session_id: port.sessionId,
    });
    if (packets.length === 0) {
      this.#ttsStop('done');
      return;
    }
    const faults = port.faults();
    // Inside the turn, so a client really is in its speaking state and tries to decode it.
    if (faults.garbage) packets.splice(1, 0, invalidOpusPacket(port.options.random));
    const limited = faults.stopTtsMidway || faults.closeDuringTts;
    this.#player.play(
      packets,
      {
        send: (packet) => {
          if (port.sendAudio(packet)) port.activity();
        },
        done: () => this.#ttsStop('done'),
        limitReached: () => {
          if (faults.closeDuringTts) {
            port.log.warn('dev-server: fault close-during-tts, closing 1000 without tts stop');
            port.close(1000);
          } else {
            port.log.warn('dev-server: fault stop-tts-midway, no more audio and no tts stop');
          }
        },
      },
      limited ? FAULT_TTS_PACKETS : undefined,
    );
  }

  #ttsStart(): void {
    this.port.send({ type: 'tts', state: 'start', session_id: this.port.sessionId });
    this.port.enter('speaking', 'tts start');
    this.port.events.emit('tts-start', { sessionId: this.port.sessionId });
  }

  #ttsStop(reason: TtsStopReason): void {
    this.port.send({ type: 'tts', state: 'stop', session_id: this.port.sessionId });
    if (this.port.phase() === 'speaking') this.port.enter('idle', `tts stop (${reason})`);
    this.port.events.emit('tts-stop', { sessionId: this.port.sessionId, reason });
  }
}
