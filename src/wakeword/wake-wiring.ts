/**
 * The daemon's side of the wake word (issue 14): the detector's detections into the conversation,
 * and the detector paused while the device's own voice is on the speaker. Kept apart from
 * daemon.ts, which builds and starts it; nothing here decides what a wake word means in a state
 * (conversation/wake.ts does).
 */
import type { Logger } from 'pino';
import type { SpeakerState } from '../conversation/conversation.js';
import type { WakeCall } from '../conversation/wake.js';
import type { WakeDetection, WakeWordInput } from './detector.js';

/** Why the detector is paused: the device is talking, and hears itself (no AEC). */
const PAUSE_SPEAKING = 'speaking';

/** What the wiring needs of the conversation. */
export interface WakeConversation {
  readonly state: string;
  readonly speaker: SpeakerState;
  wake(call: WakeCall): void;
  on(event: 'speaker', listener: (to: SpeakerState) => void): unknown;
  off(event: 'speaker', listener: (to: SpeakerState) => void): unknown;
}

export interface WakeWiringDeps {
  readonly input: WakeWordInput;
  readonly conversation: WakeConversation;
  /** `wakeWord.duringSpeech`: the detector stays on while the device speaks. */
  readonly duringSpeech: boolean;
  /** The privacy mute (issue 15 §3): a detection then starts nothing. */
  readonly muted: () => boolean;
  /** Expected to carry `component: 'wakeword'`. */
  readonly log: Logger;
}

export class WakeWiring {
  readonly #d: WakeWiringDeps;
  /** Whether the detector is held paused; the one place that pairs pause and resume. */
  #gate: 'open' | 'paused' = 'open';
  #state: 'stopped' | 'running' = 'stopped';
  readonly #onDetection = (d: WakeDetection): void => this.#detection(d);
  readonly #onSpeaker = (): void => this.#gateDetector();

  constructor(deps: WakeWiringDeps) {
    this.#d = deps;
  }

  start(): void {
    if (this.#state === 'running') return;
    this.#state = 'running';
    // At once, not with the daemon's render: the device's first words must not reach a running detector.
    this.#d.conversation.on('speaker', this.#onSpeaker);
    this.#d.input.on('detection', this.#onDetection);
    this.#gateDetector();
  }

  stop(): void {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    this.#d.input.off('detection', this.#onDetection);
    this.#d.conversation.off('speaker', this.#onSpeaker);
  }

  /**
   * A detection. Logged at info whatever becomes of it: the operator tunes thresholds from these
   * lines (phrase, model, score, and the state it came in).
   */
  #detection(d: WakeDetection): void {
    if (this.#state !== 'running') return;
    const { conversation, log } = this.#d;
    const state = conversation.state;
    log.info(
      { phrase: d.phrase, model: d.model, score: d.score, conversation: state },
      `wake word "${d.phrase}" (${d.model}, score ${d.score.toFixed(3)}) in ${state}`,
    );
    // Muted: nothing the mic hears may start anything; the detection is only logged.
    if (this.#d.muted()) {
      log.info('wake word ignored: the microphone is muted (privacy)');
      return;
    }
    conversation.wake(d);
  }

  /**
   * The detector is paused while a reply is on the speaker (issue 14: no AEC, so the device's own
   * voice must not wake it), unless `wakeWord.duringSpeech` makes a wake word a barge-in there.
   * "On the speaker" is the conversation's speaker, not its state: in push-to-talk mode, or after a
   * link lost during play-out, the conversation is at rest while the reply's tail still plays.
   * (The prompt sounds are not covered: an earcon is under 0.3 s and the code's digits are no
   * keyword; a detector fed them would have to say otherwise first.)
   */
  #gateDetector(): void {
    const speaking = this.#d.conversation.speaker !== 'silent' && !this.#d.duringSpeech;
    const want = speaking ? 'paused' : 'open';
    if (want === this.#gate) return;
    this.#gate = want;
    // The detector logs its own pause and resume (its one state field).
    if (want === 'paused') this.#d.input.pause(PAUSE_SPEAKING);
    else this.#d.input.resume(PAUSE_SPEAKING);
  }
}
