/**
 * The uplink side of the listening chime (issue 15 §1: "the device's own earcon must not reach the
 * server as the user's speech"): an AudioSource between the pre-roll source and the conversation's
 * encoder that passes every frame through a ChimeGate (uplink-echo.ts says why a matched filter and
 * not a time window). The daemon arms it when the listening chime is handed to the speaker; the
 * gate then looks for the chime in the next `searchMs` of uplink audio and silences only the
 * samples where it finds it. Frames are returned at once, never delayed.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { AudioSource, AudioSourceEvents, SourceStartOptions } from '../audio/audio-port.js';
import type { Fault } from '../core/errors.js';
import { ChimeGate, type ChimeGateOptions } from './uplink-echo.js';

export class GatedSource extends EventEmitter<AudioSourceEvents> implements AudioSource {
  readonly name: string;
  readonly #gate: ChimeGate;
  /** Frames that left with part of the chime silenced (for tests and the operator's debug log). */
  gatedFrames = 0;
  /** Times the chime was found in the uplink since start. */
  found = 0;

  readonly #onFrame = (pcm: Buffer): void => {
    const before = this.#gate.state;
    const out = this.#gate.filter(pcm);
    if (before === 'searching' && this.#gate.foundAt !== undefined) {
      this.found++;
      this.log.debug(
        { score: Number(this.#gate.bestScore.toFixed(3)), found_at: this.#gate.foundAt },
        'listening chime found in the uplink: its samples are sent as silence',
      );
    }
    if (out !== pcm) this.gatedFrames++;
    this.emit('frame', out);
  };

  readonly #onFault = (f: Fault): void => {
    this.emit('fault', f);
  };

  /** `chime`: the listening earcon at the mic rate (16 kHz mono S16_LE), decoded from the same pack. */
  constructor(
    private readonly inner: AudioSource,
    chime: Buffer,
    private readonly log: Logger,
    options: ChimeGateOptions = {},
  ) {
    super();
    this.name = inner.name;
    this.#gate = new ChimeGate(chime, options);
    inner.on('frame', this.#onFrame);
    inner.on('fault', this.#onFault);
  }

  get gateState(): ChimeGate['state'] {
    return this.#gate.state;
  }

  /** The listening chime is going to the speaker now: look for it in what the mic sends next. */
  arm(): void {
    this.#gate.arm();
  }

  start(options?: SourceStartOptions): void {
    this.inner.start(options);
  }

  stop(): void {
    // The turn's uplink is closed: a chime the mic hears later belongs to no one's speech.
    this.#gate.disarm();
    this.inner.stop();
  }

  async close(): Promise<void> {
    this.#gate.disarm();
    this.inner.off('frame', this.#onFrame);
    this.inner.off('fault', this.#onFault);
    await this.inner.close();
  }
}
