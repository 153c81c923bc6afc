/**
 * A FIFO with a hard capacity that drops its oldest item when full (design.md §5.11: every queue
 * is bounded). Used for the Opus packets said while the connection is still being made.
 */
export class BoundedQueue<T> {
  readonly #items: T[] = [];
  #dropped = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`capacity must be ≥ 1, got ${capacity}`);
  }

  get size(): number {
    return this.#items.length;
  }

  /** Items pushed out to make room since the queue was made. */
  get dropped(): number {
    return this.#dropped;
  }

  push(item: T): void {
    if (this.#items.length >= this.capacity) {
      this.#items.shift();
      this.#dropped++;
    }
    this.#items.push(item);
  }

  /** Takes everything out, oldest first. */
  drain(): T[] {
    return this.#items.splice(0, this.#items.length);
  }

  clear(): void {
    this.#items.length = 0;
  }
}
