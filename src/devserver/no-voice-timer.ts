/**
 * xinnan's two inactivity closes (protocol.md §8.1 rows 3–4 and "what counts as activity"), on the
 * injected Clock so `stop()` can prove nothing is left:
 * - the no-voice timeout (`close_connection_no_voice_time`, default 120 s) is checked on every
 *   uplink audio frame, in whatever state the connection is
 *   [SRV core/handle/receiveAudioHandle.py · handleAudioMessage, no_voice_close_connect]: a frame
 *   without voice that arrives more than the timeout after the last activity starts the farewell
 *   turn, once per connection (xinnan's `close_after_chat` flag);
 * - the backstop (`close_connection_no_voice_time + 60` s) is checked on a fixed interval (xinnan:
 *   every 10 s) whether or not audio arrives, and closes 1000 without a word
 *   [SRV core/connection.py · _check_timeout].
 * Both measure from one time stamp (`last_activity_time`): set when the connection starts
 * [SRV core/connection.py · handle_connection] and moved only by `activity()` — an uplink frame the
 * VAD judges voiced, a `listen detect` with text, every TTS packet sent
 * [SRV core/handle/textHandler/listenMessageHandler.py], [SRV core/handle/sendAudioHandle.py].
 * Hello, `listen start/stop`, MCP, silent audio and WebSocket pings are not activity.
 * (The ping keepalive is core/heartbeat.ts, shared with the client.)
 */
import type { Clock, TimerHandle } from '../core/clock.js';
import { StateCell } from '../core/state.js';
import type { Logger } from '../system/logger.js';

/** xinnan: `timeout_seconds = close_connection_no_voice_time + 60` [SRV core/connection.py · __init__]. */
export const BACKSTOP_EXTRA_MS = 60_000;

/**
 * off: the timeout is 0 (disabled). counting: waiting for the timeout. farewell: the farewell was
 * started (only the backstop is left). stopped: the connection is closing.
 */
export type NoVoiceState = 'off' | 'counting' | 'farewell' | 'stopped';

export interface NoVoiceOptions {
  /** The no-voice timeout; 0 turns both closes off. */
  readonly closeMs: number;
  /** How often the backstop looks (xinnan: 10 s). Must be > 0 when closeMs is. */
  readonly checkMs: number;
}

export class NoVoiceTimer {
  readonly #state: StateCell<NoVoiceState>;
  #last = 0;
  #check: TimerHandle | undefined;

  constructor(
    private readonly clock: Clock,
    log: Logger,
    private readonly options: NoVoiceOptions,
    /** The backstop ran out: close the connection (the timer is already stopped). */
    private readonly onBackstop: (silentForMs: number) => void,
  ) {
    if (options.closeMs > 0 && !(options.checkMs > 0))
      throw new RangeError(`no-voice check interval ${options.checkMs} ms: must be > 0`);
    this.#state = new StateCell<NoVoiceState>('off', log, 'devserver_no_voice');
  }

  get state(): NoVoiceState {
    return this.#state.value;
  }

  /** Time since the last activity. */
  get silentForMs(): number {
    return this.clock.now() - this.#last;
  }

  /** The connection has started: the clock starts here, not at the hello. */
  start(): void {
    if (this.options.closeMs <= 0 || this.#state.value !== 'off') return;
    this.#last = this.clock.now();
    this.#state.transition('counting', 'connected', { timeout_ms: this.options.closeMs });
    this.#arm();
  }

  /** Voice heard, `listen detect` with text, or a TTS packet sent. */
  activity(): void {
    this.#last = this.clock.now();
  }

  /**
   * One uplink audio frame with the VAD's verdict (xinnan `no_voice_close_connect`): voice is
   * activity; a frame without voice after more than the timeout starts the farewell. Returns the
   * silence that made the farewell due, once per connection; undefined otherwise.
   */
  frame(voiced: boolean): number | undefined {
    if (voiced) {
      this.activity();
      return undefined;
    }
    if (this.#state.value !== 'counting') return undefined;
    const silentFor = this.silentForMs;
    if (silentFor <= this.options.closeMs) return undefined;
    this.#state.transition('farewell', 'a frame without voice after the no-voice timeout', {
      silent_ms: Math.round(silentFor),
    });
    return silentFor;
  }

  stop(): void {
    this.clock.clearTimeout(this.#check);
    this.#check = undefined;
    if (this.#state.value !== 'off') this.#state.transition('stopped', 'connection closing');
  }

  #arm(): void {
    this.#check = this.clock.setTimeout(() => {
      this.#check = undefined;
      const silentFor = this.silentForMs;
      if (silentFor > this.options.closeMs + BACKSTOP_EXTRA_MS) {
        this.stop();
        this.onBackstop(silentFor);
      } else this.#arm();
    }, this.options.checkMs);
  }
}
