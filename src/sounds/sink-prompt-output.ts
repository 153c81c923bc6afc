/**
 * The prompts' way onto the speaker: the daemon's one AudioSink (AplaySink on a device), so a
 * prompt has the replies' device, software volume (the sink's gain hook) and abort rules — a
 * barge-in, a lost link or a press that calls `sink.abort()` silences a prompt too, and a reply's
 * `sink.begin()` replaces it (playback.ts: a new stream cuts the previous one off).
 *
 * The sink's events carry no stream id, so this adapter must see them before the conversation
 * does: it subscribes with prependListener. Then a 'drained' of a reply (which the conversation may
 * answer by letting a prompt start, synchronously) arrives here while no prompt is ours, and is
 * not taken for the end of the prompt that starts right after it.
 */
import type { AudioSink } from '../audio/audio-port.js';
import type { Fault } from '../core/errors.js';
import type { Prompt, PromptOutput } from './prompt-scheduler.js';

export interface PromptEnd {
  outputEnded(how: 'drained' | 'fault'): void;
}

export class SinkPromptOutput implements PromptOutput {
  /** A prompt stream of ours is open on the sink. */
  #state: 'none' | 'playing' = 'none';
  #end: PromptEnd | undefined;

  constructor(private readonly sink: AudioSink) {
    sink.prependListener('drained', this.#onDrained);
    sink.prependListener('fault', this.#onFault);
  }

  /** Who hears about the end of a prompt (the scheduler, created after this output). */
  attach(end: PromptEnd): void {
    this.#end = end;
  }

  play(pcm: Buffer, rate: number, _prompt?: Prompt): void {
    this.#state = 'playing';
    this.sink.begin(rate);
    this.sink.write(pcm);
    // A clip shorter than the pre-buffer starts at end() (playback.ts), without the 500 ms wait.
    this.sink.end();
  }

  stop(): void {
    if (this.#state !== 'playing') return;
    this.#state = 'none';
    this.sink.abort();
  }

  released(): void {
    this.#state = 'none';
  }

  close(): void {
    this.sink.off('drained', this.#onDrained);
    this.sink.off('fault', this.#onFault);
  }

  readonly #onDrained = (): void => {
    if (this.#state !== 'playing') return;
    this.#state = 'none';
    this.#end?.outputEnded('drained');
  };

  readonly #onFault = (_f: Fault): void => {
    if (this.#state !== 'playing') return;
    this.#state = 'none';
    this.#end?.outputEnded('fault');
  };
}
