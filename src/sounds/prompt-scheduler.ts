/**
 * When a prompt sound plays (issue 15 §1). Pure rules over an injected clock and a small output
 * port; the daemon feeds it events (TTS on the speaker or not, activation code, presses, earcon
 * requests) and wires the port to the one speaker (see PromptOutput).
 *
 * The rules:
 * - Nothing plays over TTS. While a reply is on the speaker the scheduler is `held`: the
 *   activation code waits for the speaker (it is spoken in full afterwards, cut or not), an earcon
 *   is kept only while it is current — when the speaker is free again, an earcon older than
 *   `earconStaleMs`, or whose `current()` says no, is dropped. A chime for something that happened
 *   seconds ago, after a reply, would tell the person something false.
 * - An earcon never waits for another sound: it cuts a playing earcon (the newer one is the more
 *   current, e.g. a volume blip at the new level) and the activation code (the code is spoken again
 *   from its first digit afterwards). `earcon()` returns at once and never throws; the sound starts
 *   on the next tick (see #schedule): the press that asked for it goes on first, fire-and-forget.
 * - The activation code is spoken digit by digit in `language`, at once when activation starts,
 *   again `repeatMs` after each time it was spoken (30 s: long enough to type six digits, short
 *   enough that a person who walks up hears it soon), and at once on a press.
 * - `enabled: false` (config sounds.enabled): nothing ever plays.
 *
 * The scheduler does not know when aplay finished: the wiring reports it (`outputEnded`), and a
 * guard of the prompt's length plus `endSlackMs` ends a prompt whose end was never reported (a
 * stream killed by another abort emits nothing), so the scheduler can never hang in `playing`.
 */
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../core/clock.js';
import { StateCell } from '../core/state.js';
import { type Digit, digitClip, type Earcon, earconClip, isDigit, type SoundLanguage } from './clips.js';
import type { SoundBank } from './sound-bank.js';

/** What a played prompt is: an earcon, or a reading of the activation code. */
export type Prompt =
  | { readonly kind: 'earcon'; readonly earcon: Earcon }
  | { readonly kind: 'code'; readonly code: string };

/** The speaker as the scheduler sees it; the daemon implements it on the playback sink. */
export interface PromptOutput {
  /**
   * Play mono S16_LE `pcm` at `rate` now. Called only while no TTS stream is open. The wiring:
   * `sink.begin(rate); sink.write(pcm); sink.end()` — the same sink, device, volume and aborts as
   * the replies. `prompt` says what it is (the uplink's echo gate arms on the listening chime).
   */
  play(pcm: Buffer, rate: number, prompt: Prompt): void;
  /** Silence the prompt now (`sink.abort()`). Never called once TTS has started (it would cut the reply). */
  stop(): void;
  /** A reply's `sink.begin()` has replaced the prompt's stream: forget it, touch nothing. */
  released(): void;
}

export interface PromptSchedulerOptions {
  /** config sounds.enabled */
  readonly enabled: boolean;
  /** config sounds.language */
  readonly language: SoundLanguage;
  /** Between the end of one reading of the activation code and the next. */
  readonly repeatMs?: number;
  /** Silence between two digits. */
  readonly digitGapMs?: number;
  /** An earcon that could not start within this long is no longer current. */
  readonly earconStaleMs?: number;
  /** Beyond a prompt's own length, the wait for its end before the scheduler assumes it. */
  readonly endSlackMs?: number;
}

export const DEFAULT_REPEAT_MS = 30_000;
/** 250 ms: the digits stay apart as separate numbers, and six take ~4 s (measured on the pack). */
export const DEFAULT_DIGIT_GAP_MS = 250;
export const DEFAULT_EARCON_STALE_MS = 500;
export const DEFAULT_END_SLACK_MS = 2_000;

/**
 * idle: the speaker is ours and silent. earcon / code: we play that. held: a TTS reply has the
 * speaker. stopped: after stop(), or never started because sounds are disabled.
 */
export type PromptState = 'idle' | 'earcon' | 'code' | 'held' | 'stopped';

interface PendingEarcon {
  readonly earcon: Earcon;
  readonly at: number;
  readonly current: (() => boolean) | undefined;
}

/** The activation code, while the device waits for activation; `due`: to be spoken when the speaker is free. */
interface Activation {
  readonly code: string;
  readonly digits: readonly Digit[];
  due: boolean;
  /** The wait ended by a press (lastReading): spoken once more, then forgotten. */
  last: boolean;
}

export class PromptScheduler {
  readonly #cell: StateCell<PromptState>;
  readonly #bank: SoundBank;
  readonly #out: PromptOutput;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #o: Required<PromptSchedulerOptions>;
  #activation: Activation | undefined;
  #pending: PendingEarcon | undefined;
  #repeatTimer: TimerHandle | undefined;
  #endTimer: TimerHandle | undefined;
  /** The deferred start (see #schedule). */
  #kick: TimerHandle | undefined;
  /** TTS has the speaker (kept apart from the state: a reply can start and end while stopped). */
  #tts = false;

  constructor(deps: {
    bank: SoundBank;
    output: PromptOutput;
    clock: Clock;
    log: Logger;
    options: PromptSchedulerOptions;
  }) {
    const o = deps.options;
    this.#o = {
      enabled: o.enabled,
      language: o.language,
      repeatMs: o.repeatMs ?? DEFAULT_REPEAT_MS,
      digitGapMs: o.digitGapMs ?? DEFAULT_DIGIT_GAP_MS,
      earconStaleMs: o.earconStaleMs ?? DEFAULT_EARCON_STALE_MS,
      endSlackMs: o.endSlackMs ?? DEFAULT_END_SLACK_MS,
    };
    this.#bank = deps.bank;
    this.#out = deps.output;
    this.#clock = deps.clock;
    this.#log = deps.log;
    this.#cell = new StateCell<PromptState>(o.enabled ? 'idle' : 'stopped', deps.log, 'prompts');
    if (!o.enabled) deps.log.info('sounds disabled (sounds.enabled false): no prompt will play');
  }

  get state(): PromptState {
    return this.#cell.value;
  }

  /** The activation code to speak while activation waits, or undefined once activated. */
  setActivation(code: string | undefined): void {
    if (this.state === 'stopped') return;
    if (code === undefined) {
      if (!this.#activation) return;
      this.#activation = undefined;
      this.#clock.clearTimeout(this.#repeatTimer);
      this.#repeatTimer = undefined;
      if (this.state === 'code') this.#cut('activated');
      return;
    }
    if (this.#activation?.code === code) return;
    const digits = [...code].filter(isDigit);
    if (digits.length !== code.length) {
      this.#log.warn(
        { activation_code: code },
        'activation code has characters that are not digits: only the digits are spoken',
      );
    }
    if (this.state === 'code') this.#cut('a new activation code');
    this.#clock.clearTimeout(this.#repeatTimer);
    this.#repeatTimer = undefined;
    this.#activation = digits.length > 0 ? { code, digits, due: true, last: false } : undefined;
    this.#schedule();
  }

  /** A press: while activation waits, the code is spoken (again) as soon as the speaker is free. */
  press(): void {
    const a = this.#activation;
    if (this.state === 'stopped' || !a || this.state === 'code') return;
    a.due = true;
    this.#clock.clearTimeout(this.#repeatTimer);
    this.#repeatTimer = undefined;
    this.#schedule();
  }

  /**
   * The wait for activation ended by a press (the device skips it, as the firmware does on a press,
   * whose check loop then speaks the code again): the code is spoken once more — the person who
   * pressed hears it — and not repeated after. A reading under way finishes and counts as that one.
   */
  lastReading(): void {
    const a = this.#activation;
    if (this.state === 'stopped' || !a) return;
    a.last = true;
    this.#clock.clearTimeout(this.#repeatTimer);
    this.#repeatTimer = undefined;
    if (this.state === 'code') return;
    a.due = true;
    this.#schedule();
  }

  /**
   * Requests an earcon; it starts on the next tick unless TTS has the speaker. `current` is asked
   * again if it has to wait (e.g. "still listening?"). Never blocks and never throws.
   */
  earcon(earcon: Earcon, current?: () => boolean): void {
    if (this.state === 'stopped') return;
    this.#pending = { earcon, at: this.#clock.now(), current };
    if (this.state === 'earcon') this.#cut(`earcon ${earcon} replaces it`);
    else if (this.state === 'code') this.#cut(`earcon ${earcon} first`);
    this.#schedule();
  }

  /** A TTS stream opened (true) or closed (false) on the speaker. */
  setTts(active: boolean): void {
    if (active === this.#tts) return;
    this.#tts = active;
    if (this.state === 'stopped') return;
    if (active) {
      // The reply's sink.begin() has already replaced our stream: no stop() here, it would cut the reply.
      if (this.state === 'earcon' || this.state === 'code') this.#out.released();
      this.#endPrompt('held', 'a reply took the speaker', 'cut');
      return;
    }
    this.#cell.transition('idle', 'the reply ended');
    this.#schedule();
  }

  /** The wiring saw our stream end: played out, or failed. */
  outputEnded(how: 'drained' | 'fault'): void {
    if (this.state !== 'earcon' && this.state !== 'code') return;
    // A failed speaker counts as spoken: retrying at once would loop on a broken device.
    this.#endPrompt('idle', how === 'drained' ? 'played' : 'speaker fault', 'spoken');
    this.#schedule();
  }

  /** Cuts what plays and forgets everything (daemon stop). Idempotent. */
  stop(): void {
    if (this.state === 'stopped') return;
    if (this.state === 'earcon' || this.state === 'code') this.#out.stop();
    this.#endPrompt('stopped', 'stopped', 'cut');
    this.#clock.clearTimeout(this.#repeatTimer);
    this.#repeatTimer = undefined;
    this.#activation = undefined;
    this.#pending = undefined;
    this.#clock.clearTimeout(this.#kick);
    this.#kick = undefined;
  }

  /**
   * Starts what is due on the next turn of the event loop, never inside the caller: spawning aplay
   * holds the thread for 50 ms (p50; p95 95 ms, measured on the test rig), which a press must not
   * wait for — its listen start and pre-roll go out first. Also keeps a new stream from being
   * begun inside the sink's own 'drained' emit.
   */
  #schedule(): void {
    if (this.#kick) return;
    this.#kick = this.#clock.setTimeout(() => {
      this.#kick = undefined;
      this.#next();
    }, 0);
  }

  /** Starts what is due, when the speaker is ours and silent: a current earcon first, then the code. */
  #next(): void {
    if (this.state !== 'idle') return;
    const p = this.#pending;
    this.#pending = undefined;
    if (p) {
      const age = this.#clock.now() - p.at;
      if (age > this.#o.earconStaleMs) {
        this.#log.debug(
          { earcon: p.earcon, age_ms: Math.round(age) },
          `earcon ${p.earcon} dropped: ${Math.round(age)} ms old`,
        );
      } else if (p.current && !p.current()) {
        this.#log.debug({ earcon: p.earcon }, `earcon ${p.earcon} dropped: no longer current`);
      } else {
        this.#start('earcon', [this.#bank.get(earconClip(p.earcon)).pcm], {
          kind: 'earcon',
          earcon: p.earcon,
        });
        return;
      }
    }
    const a = this.#activation;
    if (a?.due) {
      a.due = false;
      this.#start('code', this.#codePcm(a.digits), { kind: 'code', code: a.code });
    }
  }

  #codePcm(digits: readonly Digit[]): Buffer[] {
    const gap = Buffer.alloc(Math.round((this.#o.digitGapMs * this.#bank.rate) / 1000) * 2);
    return digits.flatMap((d, i) => {
      const pcm = this.#bank.get(digitClip(this.#o.language, d)).pcm;
      return i === 0 ? [pcm] : [gap, pcm];
    });
  }

  #start(kind: 'earcon' | 'code', parts: readonly Buffer[], prompt: Prompt): void {
    const what = prompt.kind === 'earcon' ? `earcon ${prompt.earcon}` : `activation code ${prompt.code}`;
    const pcm = parts.length === 1 && parts[0] ? parts[0] : Buffer.concat(parts);
    const ms = (pcm.length / 2 / this.#bank.rate) * 1000;
    this.#cell.transition(kind, `playing ${what}`, { prompt_ms: Math.round(ms) });
    this.#endTimer = this.#clock.setTimeout(() => {
      this.#endTimer = undefined;
      this.#log.warn(
        { prompt: kind },
        `no end reported for the ${kind} prompt within its length + ${this.#o.endSlackMs} ms: assuming it ended`,
      );
      this.#endPrompt('idle', 'end assumed', 'spoken');
      this.#next();
    }, ms + this.#o.endSlackMs);
    this.#out.play(pcm, this.#bank.rate, prompt);
  }

  /** Ours is cut on purpose (a newer earcon, activation done): silence it, the caller goes on. */
  #cut(why: string): void {
    this.#out.stop();
    this.#endPrompt('idle', `cut: ${why}`, 'cut');
  }

  /** The prompt is over (however): the code, if it was the code and still wanted, is rescheduled. */
  #endPrompt(to: PromptState, why: string, how: 'spoken' | 'cut'): void {
    const was = this.state;
    this.#clock.clearTimeout(this.#endTimer);
    this.#endTimer = undefined;
    const a = this.#activation;
    if (was === 'code' && a) {
      if (how === 'spoken' && a.last) {
        this.#activation = undefined;
        this.#log.info(`activation code ${a.code} spoken once more after the press; not repeated`);
      } else if (how === 'spoken') {
        this.#repeatTimer = this.#clock.setTimeout(() => {
          this.#repeatTimer = undefined;
          a.due = true;
          this.#next();
        }, this.#o.repeatMs);
      } else {
        // Cut by a reply or an earcon: spoken again from the first digit when the speaker is free.
        a.due = true;
      }
    }
    // A reply that starts while an earcon waits makes it wait with it; it is judged when the reply ends.
    this.#cell.transition(this.#tts && to === 'idle' ? 'held' : to, why);
  }
}
