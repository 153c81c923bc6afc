/**
 * How xinnan answers `listen detect` (protocol.md §5.1 row listen/detect, §11 item 10), modelled
 * from [SRV core/handle/textHandler/listenMessageHandler.py · handle] (stored version 6aedb3c3):
 * - the text, stripped of punctuation and spaces, is looked up in the configured `wakeup_words`;
 * - a wake word with `enable_greeting` off: `send_stt_message(text)` then `tts stop` — and
 *   send_stt_message itself sends `stt` *and* `tts start` [SRV core/handle/sendAudioHandle.py ·
 *   send_stt_message], so the device sees stt, tts start, tts stop;
 * - a wake word with the greeting on (xinnan's default): `just_woken_up = True`, then a chat turn
 *   with the fixed prompt "嘿，你好呀" (stt carries the prompt, then the LLM's answer is spoken);
 * - any other text: a chat turn with the text itself, as if the user had said it (py-xiaozhi sends
 *   typed text this way).
 * And the `just_woken_up` window [SRV core/handle/receiveAudioHandle.py · handleAudioMessage,
 * resume_vad_detection] (WakeIgnore below).
 */
import type { Clock, TimerHandle } from '../core/clock.js';
import { StateCell } from '../core/state.js';
import type { Logger } from '../system/logger.js';

/** xinnan's default `wakeup_words` [SRV config.yaml]. */
export const XINNAN_WAKEUP_WORDS: readonly string[] = [
  '你好小智',
  '嘿你好呀',
  '你好小志',
  '小爱同学',
  '你好小鑫',
  '你好小新',
  '小美同学',
  '小龙小龙',
  '喵喵同学',
  '小滨小滨',
  '小冰小冰',
];

/** The prompt xinnan chats with after a wake word; its `stt` carries it. */
export const GREETING_PROMPT = '嘿，你好呀';

/** What the dev-server's "LLM" says to the greeting prompt (its `sentence_start`). */
export const GREETING_REPLY = '你好！我在，有什么可以帮你？ (dev-server greeting)';

/** The `sentence_start` of the answer to a text that is not a wake word (no LLM here). */
export function chatReplyText(text: string): string {
  return `you said "${text}" (dev-server, no LLM)`;
}

/**
 * xinnan's `remove_punctuation_and_length`: removes every ASCII and full-width punctuation mark
 * and half/full-width space, anywhere in the text [SRV core/utils/util.py]. Case is kept.
 */
const XINNAN_PUNCTUATION = new Set(
  '！＂＃＄％＆＇（）＊＋，－。／：；＜＝＞？＠［＼］＾＿｀｛｜｝～' +
    '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~' +
    ' 　',
);

export function normalizeWakeText(text: string): string {
  return [...text].filter((c) => !XINNAN_PUNCTUATION.has(c)).join('');
}

/**
 * xinnan's `get_string_no_punctuation_or_emoji`, which send_stt_message applies to the `stt` text:
 * punctuation, spaces and emoji trimmed from both ends only [SRV core/utils/textUtils.py].
 */
export function sttText(text: string): string {
  return text.replace(/^[\s\p{P}\p{Extended_Pictographic}]+|[\s\p{P}\p{Extended_Pictographic}]+$/gu, '');
}

/**
 * greeting: a wake word, greeting on. stt-only: a wake word, greeting off. chat: anything else.
 */
export type DetectAnswer = 'greeting' | 'stt-only' | 'chat';

export function detectAnswer(
  text: string,
  options: { readonly wakeupWords: readonly string[]; readonly enableGreeting: boolean },
): DetectAnswer {
  // The stored version compares with the list as written, so an entry with a space ("hey jarvis")
  // could never match; a later one normalises the entries too. The dev-server does the latter, so
  // `--wake-word "hey jarvis"` works as a user expects.
  const t = normalizeWakeText(text);
  const isWakeWord = options.wakeupWords.some((w) => normalizeWakeText(w) === t);
  if (!isWakeWord) return 'chat';
  return options.enableGreeting ? 'greeting' : 'stt-only';
}

/**
 * off: audio is handled. armed: a greeting detect set `just_woken_up`; nothing has arrived since.
 * ignoring: the first frame after it started the resume timer; every frame is dropped until it fires.
 */
export type WakeIgnoreState = 'off' | 'armed' | 'ignoring';

/**
 * xinnan's `just_woken_up`: while it is set, every uplink frame — voiced or not — is dropped after
 * the VAD has seen it: no barge-in, no no-voice check, no recognition, and the audio collected so
 * far (`asr_audio`) is cleared. The resume task starts at the first such frame, not at the detect,
 * and clears the flag when it ends; a second greeting detect meanwhile does not restart it (the
 * task is still running). The stored version sleeps 1 s under a comment saying 2 s; later versions
 * sleep 2 s (protocol.md §5.1 says 2 s), the default here (options.wakeIgnoreMs).
 */
export class WakeIgnore {
  readonly #state: StateCell<WakeIgnoreState>;
  #timer: TimerHandle | undefined;
  #dropped = 0;

  constructor(
    private readonly clock: Clock,
    private readonly log: Logger,
    /** 0: no window at all. */
    private readonly ms: number,
  ) {
    this.#state = new StateCell<WakeIgnoreState>('off', log, 'devserver_wake_ignore');
  }

  get state(): WakeIgnoreState {
    return this.#state.value;
  }

  /** A greeting detect (xinnan: `conn.just_woken_up = True`). */
  arm(): void {
    if (this.ms <= 0) return;
    if (this.#state.value === 'ignoring') {
      this.log.info('dev-server: wake detect while audio is ignored; the running window is not restarted');
      return;
    }
    this.#state.transition('armed', 'listen detect with a wake word, greeting on');
  }

  /** One uplink frame: true when it must be dropped. */
  frame(): boolean {
    const state = this.#state.value;
    if (state === 'off') return false;
    this.#dropped++;
    if (state === 'armed') {
      this.#state.transition('ignoring', 'first audio frame after the wake detect', { window_ms: this.ms });
      this.#timer = this.clock.setTimeout(() => {
        this.#timer = undefined;
        this.#state.transition('off', 'window over', { dropped_frames: this.#dropped });
        this.#dropped = 0;
      }, this.ms);
    }
    return true;
  }

  /** The connection is closing: no timer left behind. */
  stop(): void {
    this.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#dropped = 0;
    this.#state.transition('off', 'stopped');
  }
}
