/**
 * The conversation half of a dev-server session (protocol.md §5.1–5.2): `listen start` collects
 * an utterance, the VAD (auto/realtime), `listen stop` (any mode) or the length cap ends it, and
 * the reply is `stt` + `tts start` + `sentence_start` + the user's own audio at the TTS rate +
 * `tts stop`. Every uplink frame also goes through the no-voice check (no-voice-timer.ts), which
 * may start xinnan's farewell turn instead (protocol.md §8.1 row 3). `listen detect` is answered
 * like xinnan (wake.ts): a greeting, stt + tts start + tts stop, or a chat turn on the text; after a
 * greeting the uplink is ignored for a while (wake.ts WakeIgnore).
 * What the server says goes out through downlink.ts. The session owns the socket; this class only
 * sends through the port it is given.
 */
import { CAPTURE_RATE, FRAME_MS } from '../audio/audio-port.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { ListenMode, ServerMessage } from '../protocol/messages.js';
import type { Logger } from '../system/logger.js';
import { Downlink } from './downlink.js';
import {
  CHAT_NOTES_HZ,
  CLOSE_AFTER_TTS_STOP_MS,
  chime,
  farewellChime,
  farewellText,
  GREETING_NOTES_HZ,
} from './farewell.js';
import { type DevServerFaults, FAULT_TTS_PACKETS, invalidOpusPacket } from './faults.js';
import type { DevServerEvents, ResolvedOptions } from './types.js';
import { type Utterance, UtteranceCollector, type UtteranceEnd } from './utterance.js';
import { EnergyVad } from './vad.js';
import { chatReplyText, detectAnswer, GREETING_PROMPT, GREETING_REPLY, sttText, WakeIgnore } from './wake.js';

/**
 * The turn phases the session's one state field shows. answering: speaking the answer to a `listen
 * detect` (the greeting or a chat turn on its text), which a `listen start` does not cut (listenStart).
 * farewell: the no-voice farewell is playing; the connection closes after it, and nothing the
 * client sends is acted on meanwhile.
 */
export type TurnPhase = 'idle' | 'listening' | 'speaking' | 'answering' | 'farewell';

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
  /** `listen detect` or a TTS packet sent: resets the no-voice clock (protocol.md §8.1). */
  activity(): void;
  /**
   * The no-voice check of one uplink frame (xinnan `no_voice_close_connect`): voice resets the
   * clock; returns the silence that makes the farewell due (once per connection), else undefined.
   */
  farewellDue(voiced: boolean): number | undefined;
  /** Close with `code` after `ms` (xinnan closes right after the `tts stop` that ends a last reply). */
  closeSoon(code: number, ms: number): void;
  /** Moves the session's state field. */
  enter(phase: TurnPhase, reason: string): void;
  phase(): string;
  close(code: number): void;
}

export class Turn {
  readonly #downlink: Downlink;
  /**
   * The connection's one VAD, like xinnan's `conn.vad`: it judges every uplink frame in any phase
   * (for the no-voice timer) and its verdicts feed the utterance being collected. A new one at each
   * `listen start`, where xinnan resets its audio and VAD state.
   */
  #vad: EnergyVad;
  #collector: UtteranceCollector | undefined;
  #mode: ListenMode = 'auto';
  /** A recognition under way (options.asrDelayMs): its answer follows when it fires. */
  #recognising: TimerHandle | undefined;
  /** xinnan's `just_woken_up` after a greeting detect. */
  readonly #wakeIgnore: WakeIgnore;

  constructor(private readonly port: TurnPort) {
    this.#downlink = new Downlink(port);
    this.#vad = this.#newVad();
    this.#wakeIgnore = new WakeIgnore(port.clock, port.log, port.options.wakeIgnoreMs);
  }

  listenStart(mode: ListenMode): void {
    if (this.#farewellIgnores('listen start')) return;
    if (this.port.phase() === 'answering') {
      // The firmware sends `listen start` right after `listen detect` (protocol.md §5.1), before
      // the answer's `tts start` reaches it; xinnan's listen start only notes the mode
      // [SRV core/handle/textHandler/listenMessageHandler.py]. Cutting the answer here would mean
      // no device ever hears a greeting. The device listens again after its `tts stop`.
      this.#mode = mode;
      this.port.log.info(
        { mode },
        'dev-server: listen start while answering a listen detect, the answer goes on',
      );
      return;
    }
    if (this.#downlink.active) this.port.log.info('dev-server: listen start during a reply, reply cancelled');
    this.#downlink.cancel();
    this.#mode = mode;
    this.#vad = this.#newVad();
    this.#collector = this.#newCollector(mode);
    this.port.enter('listening', `listen start (${mode})`);
  }

  /**
   * `listen stop` recognises what has been collected, in every mode: xinnan sets
   * `client_voice_stop` and runs the collected audio through recognition at once
   * [SRV core/handle/textHandler/listenMessageHandler.py · handle]. Observed on 0.9.6 (issue 12
   * §1): a `listen stop` in auto mode is answered 9–28 ms later, even after 130 ms of audio. With no
   * audio collected there is nothing to recognise and no answer (xinnan: `len(conn.asr_audio) > 0`).
   */
  listenStop(): void {
    if (this.#farewellIgnores('listen stop')) return;
    const collector = this.#collector;
    if (!collector) {
      this.port.log.debug('dev-server: listen stop while not listening ignored');
    } else if (collector.bytes === 0) {
      this.#collector = undefined;
      this.port.log.info({ mode: this.#mode }, 'dev-server: listen stop with no audio collected, no reply');
      this.port.enter('idle', 'listen stop, no audio');
    } else {
      this.#endUtterance('listen-stop');
    }
  }

  /**
   * xinnan's `listen detect` (wake.ts): it clears the audio collected so far (`asr_audio.clear()`)
   * and counts as activity, then answers by the kind of text. What was in progress is dropped
   * without a word: a new answer follows at once.
   */
  detect(text: string): void {
    if (this.#farewellIgnores('listen detect')) return;
    this.#dropTurn();
    const { port } = this;
    port.activity();
    const answer = detectAnswer(text, port.options);
    port.log.info({ text, answer }, 'dev-server: listen detect');
    port.events.emit('detect', { sessionId: port.sessionId, text, answer });
    switch (answer) {
      case 'stt-only':
        port.send({ type: 'stt', text: sttText(text), session_id: port.sessionId });
        this.#downlink.start('speaking');
        this.#downlink.stop('detect');
        return;
      case 'greeting':
        this.#wakeIgnore.arm();
        this.#answer(GREETING_PROMPT, GREETING_REPLY, chime(GREETING_NOTES_HZ), 'the greeting');
        return;
      case 'chat':
        this.#answer(text, chatReplyText(sttText(text)), chime(CHAT_NOTES_HZ), 'the chat answer');
        return;
    }
  }

  /**
   * xinnan stops the reply and answers `tts stop` at once, speaking or not (protocol.md §5.1). It
   * clears only the TTS queues [SRV core/handle/abortHandle.py · handleAbortMessage]: audio
   * collected so far stays, so the VAD or a `listen stop` still ends that utterance (only `listen
   * start` starts afresh). During the farewell it is ignored: later xinnan versions return early
   * from handleAbortMessage while `close_after_chat` is set.
   */
  abort(): void {
    if (this.#farewellIgnores('abort')) return;
    this.#downlink.cancel();
    this.#downlink.stop('abort');
  }

  /**
   * One decoded uplink packet (16 kHz PCM), in any phase: xinnan's handleAudioMessage runs for
   * every binary frame — VAD, then the no-voice check, then recognition
   * [SRV core/handle/receiveAudioHandle.py · handleAudioMessage].
   */
  audio(pcm: Buffer): void {
    const phase = this.port.phase();
    // Audio during the farewell is not recognised: the connection closes after it.
    if (phase === 'farewell') return;
    const verdict = this.#vad.push(pcm);
    // xinnan runs the VAD first, then drops the frame while `just_woken_up` (wake.ts WakeIgnore),
    // clearing what was collected: the utterance starts afresh after the window.
    if (this.#wakeIgnore.frame()) {
      if (this.#collector && this.#collector.bytes > 0) this.#collector = this.#newCollector(this.#mode);
      return;
    }
    const silentFor = this.port.farewellDue(verdict.voiced);
    if (silentFor !== undefined) {
      this.#farewell(silentFor);
      return;
    }
    const collector = this.#collector;
    if (!collector || phase !== 'listening') return;
    const end = collector.push(pcm, verdict);
    if (end) this.#endUtterance(end);
  }

  /** Drops everything in progress without a word and leaves no timer (the session is closing). */
  cancel(): void {
    this.#dropTurn();
    this.#wakeIgnore.stop();
  }

  /** The reply, the utterance and a recognition in progress, without a word. */
  #dropTurn(): void {
    this.#downlink.cancel();
    this.#collector = undefined;
    this.port.clock.clearTimeout(this.#recognising);
    this.#recognising = undefined;
  }

  #newCollector(mode: ListenMode): UtteranceCollector {
    // Realtime is auto mode with the mic left open (protocol.md §5.1); the VAD ends both.
    return new UtteranceCollector({
      auto: mode !== 'manual',
      maxMs: this.port.options.maxUtteranceMs,
      sampleRate: CAPTURE_RATE,
    });
  }

  /**
   * A chat turn on `prompt` (xinnan startToChat): `stt` with the prompt, `tts start`, then the
   * "LLM's" answer as one sentence and its audio, `tts stop` [SRV core/handle/receiveAudioHandle.py ·
   * startToChat], [SRV core/handle/sendAudioHandle.py · send_stt_message, sendAudioMessage].
   */
  #answer(prompt: string, sentence: string, pcm: Buffer, what: string): void {
    const { port } = this;
    port.send({ type: 'stt', text: sttText(prompt), session_id: port.sessionId });
    const downlink = this.#downlink;
    downlink.speak('answering', sentence, downlink.encode(pcm, what), { done: () => downlink.stop('done') });
  }

  #newVad(): EnergyVad {
    const { vadSilenceMs, vadMinSpeechMs } = this.port.options;
    return new EnergyVad({ silenceMs: vadSilenceMs, minSpeechMs: vadMinSpeechMs, sampleRate: CAPTURE_RATE });
  }

  #farewellIgnores(what: string): boolean {
    if (this.port.phase() !== 'farewell') return false;
    this.port.log.info(`dev-server: ${what} during the farewell ignored, the connection closes after it`);
    return true;
  }

  #endUtterance(reason: UtteranceEnd): void {
    const collector = this.#collector;
    if (!collector) return;
    this.#collector = undefined;
    const u = collector.finish(reason);
    this.port.log.info(
      { reason, mode: this.#mode, speech_ms: Math.round(u.speechMs), duration_ms: Math.round(u.durationMs) },
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
    const delay = this.port.options.asrDelayMs;
    if (delay <= 0) {
      this.#reply(u);
      return;
    }
    // Recognition takes time; whatever the device says meanwhile, the answer comes (see types.ts).
    this.port.clock.clearTimeout(this.#recognising);
    this.#recognising = this.port.clock.setTimeout(() => {
      this.#recognising = undefined;
      this.#reply(u);
    }, delay);
  }

  #reply(u: Utterance): void {
    const { port } = this;
    port.send({ type: 'stt', text: u.text, session_id: port.sessionId });
    const packets = this.#downlink.encode(u.playback, 'the reply');
    const seconds = ((packets.length * FRAME_MS) / 1000).toFixed(2);
    const faults = port.faults();
    // Inside the turn, so a client really is in its speaking state and tries to decode it.
    if (faults.garbage && packets.length > 0) packets.splice(1, 0, invalidOpusPacket(port.options.random));
    const limited = faults.stopTtsMidway || faults.closeDuringTts;
    this.#downlink.speak(
      'speaking',
      `playing back ${seconds} s`,
      packets,
      {
        done: () => this.#replyDone(),
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

  #replyDone(): void {
    this.#downlink.stop('done');
    if (!this.port.faults().closeAfterReply) return;
    this.port.log.warn(
      { delay_ms: CLOSE_AFTER_TTS_STOP_MS },
      'dev-server: fault close-after-reply, closing 1000 right after tts stop',
    );
    this.port.closeSoon(1000, CLOSE_AFTER_TTS_STOP_MS);
  }

  /**
   * xinnan's farewell (protocol.md §8.1 row 3): the LLM's goodbye to `end_prompt`, spoken like any
   * reply, then `tts stop` and the close [SRV core/handle/receiveAudioHandle.py ·
   * no_voice_close_connect], [SRV core/handle/sendAudioHandle.py · sendAudioMessage]. No `stt`:
   * send_stt_message sends only `tts start` for the end prompt — as observed on 0.9.6 (issue 12 §2).
   */
  #farewell(silentForMs: number): void {
    const { port } = this;
    if (this.#downlink.active || this.#collector || this.#recognising)
      port.log.info('dev-server: the farewell replaces the reply, utterance or recognition in progress');
    // The connection ends after the farewell: nothing else may speak over it.
    this.#dropTurn();
    port.log.info(
      { silent_ms: Math.round(silentForMs), timeout_ms: port.options.noVoiceCloseMs },
      'dev-server: no voice past the timeout, farewell then close 1000 like xinnan',
    );
    port.events.emit('farewell', { sessionId: port.sessionId, silentForMs });
    const downlink = this.#downlink;
    downlink.speak('farewell', farewellText(silentForMs), downlink.encode(farewellChime(), 'the farewell'), {
      done: () => {
        downlink.stop('farewell');
        port.closeSoon(1000, CLOSE_AFTER_TTS_STOP_MS);
      },
    });
  }
}
