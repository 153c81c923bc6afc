/**
 * Injected time. Everything that waits goes through a Clock so tests can drive timing with a
 * manual clock instead of sleeping (design.md §5.4).
 */
export interface TimerHandle {
  readonly id: number;
}

export interface Clock {
  /** Monotonic milliseconds. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
}

/** Real time: performance.now() and the Node timers. */
export class SystemClock implements Clock {
  readonly #timers = new Map<number, NodeJS.Timeout>();
  #next = 1;

  now(): number {
    return performance.now();
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.#next++;
    const t = setTimeout(
      () => {
        this.#timers.delete(id);
        fn();
      },
      Math.max(0, ms),
    );
    this.#timers.set(id, t);
    return { id };
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (!handle) return;
    const t = this.#timers.get(handle.id);
    if (t) {
      clearTimeout(t);
      this.#timers.delete(handle.id);
    }
  }

  /** Number of pending timers; used by tests to prove nothing leaks. */
  get pending(): number {
    return this.#timers.size;
  }
}

/**
 * A clock that only moves when told to. `advance(ms)` fires due timers in time order, including
 * timers scheduled by the callbacks it runs.
 */
export class ManualClock implements Clock {
  #now: number;
  #next = 1;
  readonly #timers = new Map<number, { at: number; seq: number; fn: () => void }>();

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.#next++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), seq: id, fn });
    return { id };
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle) this.#timers.delete(handle.id);
  }

  get pending(): number {
    return this.#timers.size;
  }

  /** Time of the next due timer, or undefined. */
  nextAt(): number | undefined {
    let best: number | undefined;
    for (const t of this.#timers.values()) if (best === undefined || t.at < best) best = t.at;
    return best;
  }

  /** Milliseconds until the next due timer; a test that expects one and finds none is wrong. */
  msToNext(): number {
    const at = this.nextAt();
    if (at === undefined) throw new Error('ManualClock: no timer pending');
    return at - this.#now;
  }

  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let dueId: number | undefined;
      let due: { at: number; seq: number; fn: () => void } | undefined;
      for (const [id, t] of this.#timers) {
        if (t.at > end) continue;
        if (!due || t.at < due.at || (t.at === due.at && t.seq < due.seq)) {
          due = t;
          dueId = id;
        }
      }
      if (!due || dueId === undefined) break;
      this.#timers.delete(dueId);
      this.#now = Math.max(this.#now, due.at);
      due.fn();
    }
    this.#now = end;
  }
}
