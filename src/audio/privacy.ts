/**
 * The privacy mute (issue 15 §3): the person's own "do not listen", from a mute switch or a mute
 * button (config gpio.mute). The one owner of the state; the daemon applies it (nothing encoded
 * or sent, the pre-roll emptied, a listening turn ended, presses refused) and the LEDs and STATUS
 * render it.
 *
 * Kept across restarts in `<stateDir>/mute.json` like the volume (audio/volume.ts): a device muted
 * by a button stays muted after a power cut, the safe way round for a privacy promise. A switch's
 * position, read at start, wins over the saved value ("a switch wins over anything else"): the
 * composition root sets it right after `load()`, before the daemon starts.
 *
 * Not to be confused with the mic that delivers only digital zeros (audio/silence-watch.ts,
 * MicHealth 'muted'): that one is detected, this one is chosen.
 */
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { isPlainObject } from '../core/json.js';
import { StateCell } from '../core/state.js';
import { readSavedState, type SavedStateSpec, writeSavedState } from '../system/saved-state.js';

export const MUTE_FILE = 'mute.json';

export type MuteState = 'unmuted' | 'muted';

export interface PrivacyMuteDeps {
  readonly stateDir: string;
  /** Expected to carry its component name already. */
  readonly log: Logger;
}

export interface PrivacyMuteEvents {
  /** After every change of state, with why (e.g. "switch", "button", "switch position at start"). */
  change: [muted: boolean, reason: string];
}

export class PrivacyMute extends EventEmitter<PrivacyMuteEvents> {
  readonly #d: PrivacyMuteDeps;
  readonly #file: string;
  readonly #cell: StateCell<MuteState>;
  /** Writes run one after the other, so the file ends at the last state set. */
  #chain: Promise<void> = Promise.resolve();

  constructor(deps: PrivacyMuteDeps) {
    super();
    this.#d = deps;
    this.#file = join(deps.stateDir, MUTE_FILE);
    this.#cell = new StateCell<MuteState>('unmuted', deps.log, 'mute');
    this.#cell.on('change', (to, _from, reason) => this.emit('change', to === 'muted', reason));
  }

  get state(): MuteState {
    return this.#cell.value;
  }

  get muted(): boolean {
    return this.#cell.value === 'muted';
  }

  get file(): string {
    return this.#file;
  }

  /**
   * Reads the saved state (missing → unmuted; unreadable or corrupt → a warning and unmuted: the
   * switch, the button or the LEDs show it at once, so the person can see and fix it).
   */
  async load(): Promise<void> {
    const muted = await this.#read();
    this.#cell.transition(muted ? 'muted' : 'unmuted', `saved in ${this.#file}`);
    this.#d.log.info({ muted, file: this.#file }, `privacy mute ${muted ? 'on' : 'off'} at start`);
  }

  /**
   * Mutes or unmutes: in effect at once (the 'change' listeners run synchronously), then saved.
   * The same state again changes nothing and writes nothing. Resolves when saved; a failed write is
   * logged, never thrown.
   */
  set(muted: boolean, reason: string): Promise<void> {
    if (!this.#cell.transition(muted ? 'muted' : 'unmuted', reason)) return this.#chain;
    const run = this.#chain.then(() => this.#persist(muted));
    this.#chain = run;
    return run;
  }

  /** A mute button's press. */
  toggle(reason: string): Promise<void> {
    return this.set(!this.muted, reason);
  }

  /** Waits for pending writes (daemon shutdown); each is bounded by the file system. */
  async close(): Promise<void> {
    await this.#chain;
  }

  #read(): Promise<boolean> {
    return readSavedState(this.#saved(), false, 'starting unmuted');
  }

  #persist(muted: boolean): Promise<void> {
    return writeSavedState(this.#saved(), { muted }, muted ? 'muted' : 'unmuted');
  }

  #saved(): SavedStateSpec<boolean> {
    return {
      file: this.#file,
      what: 'mute state',
      shape: '{"muted": true|false}',
      pick: (parsed) => {
        const muted = isPlainObject(parsed) ? parsed.muted : undefined;
        return typeof muted === 'boolean' ? muted : undefined;
      },
      log: this.#d.log,
    };
  }
}
