/**
 * What the mute switch or button and the volume buttons do (issue 15 §3), apart from the daemon's
 * wiring: a mute control sets the privacy mute (audio/privacy.ts), whose change the daemon applies;
 * a volume button steps the speaker volume (audio/volume.ts) by `audio.volumeStep`, clamped to
 * 0–100, and announces it like a volume set by the server over MCP.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { describeError } from '../core/errors.js';
import { type ControlEvent, describeControl } from '../hardware/controls.js';
import type { VolumeControl } from '../mcp/tools.js';

/** The privacy mute's owner (audio/privacy.ts PrivacyMute fits). */
export interface PrivacyControl {
  readonly muted: boolean;
  set(muted: boolean, reason: string): Promise<void>;
  toggle(reason: string): Promise<void>;
  on(event: 'change', listener: (muted: boolean, reason: string) => void): unknown;
  off(event: 'change', listener: (muted: boolean, reason: string) => void): unknown;
}

export interface AudioControlsDeps {
  /** Absent = never muted (no gpio.mute). */
  readonly privacy?: PrivacyControl | undefined;
  /** Absent = the volume buttons do nothing. */
  readonly volume?: VolumeControl | undefined;
  /** config audio.volumeStep. */
  readonly volumeStep: number;
  readonly log: Logger;
}

export interface AudioControlsEvents {
  /** The volume was set, even to the level it had (a press at the limit): the person asked. */
  volume: [level: number, reason: string];
}

export class AudioControls extends EventEmitter<AudioControlsEvents> {
  readonly #d: AudioControlsDeps;

  constructor(deps: AudioControlsDeps) {
    super();
    this.#d = deps;
  }

  get muted(): boolean {
    return this.#d.privacy?.muted === true;
  }

  /** One control event; the mute changes at once (PrivacyMute's listeners run inside `set`), saving follows. */
  control(event: ControlEvent): void {
    const { privacy, volume, log } = this.#d;
    switch (event.kind) {
      case 'muteSwitch':
      case 'muteToggle': {
        if (!privacy) {
          log.warn(`${describeControl(event)}: no privacy mute wired`);
          return;
        }
        const done =
          event.kind === 'muteSwitch' ? privacy.set(event.muted, 'switch') : privacy.toggle('button');
        void done.catch((err: unknown) =>
          log.error({ err: describeError(err) }, 'saving the mute state failed'),
        );
        return;
      }
      case 'volumeUp':
      case 'volumeDown': {
        if (!volume) {
          log.warn(`${event.kind}: no volume control wired`);
          return;
        }
        const step = this.#d.volumeStep * (event.kind === 'volumeUp' ? 1 : -1);
        const level = Math.min(100, Math.max(0, volume.level + step));
        void this.setVolume(level, 'button').catch((err: unknown) =>
          log.error({ err: describeError(err) }, 'setting the volume failed'),
        );
        return;
      }
    }
  }

  /**
   * Sets the speaker volume (0–100; Volume throws a RangeError for anything else, a programmer
   * error), then announces it: after the mixer has it, so an earcon played for it sounds at the
   * new level.
   */
  async setVolume(level: number, reason: string): Promise<void> {
    const volume = this.#d.volume;
    if (!volume) throw new Error('setVolume: no volume control wired');
    const from = volume.level;
    await volume.set(level);
    this.#d.log.info({ volume: level, from, reason }, `volume ${from} → ${level} (${reason})`);
    this.emit('volume', level, reason);
  }
}
