/**
 * The last few lines a child (arecord, aplay) wrote to stderr: ALSA says there why a device
 * failed (`audio open error: Device or resource busy`, `Unknown PCM …`), so faults and `doctor`
 * quote them. Bounded in lines, in line length and in the unfinished last line.
 */
export class StderrTail {
  readonly #lines: string[] = [];
  #partial = '';

  constructor(
    private readonly maxLines: number,
    private readonly maxLineLength = 300,
  ) {}

  /** Adds a chunk; calls `onLine` for each line it completes (for debug logging). */
  push(chunk: string, onLine?: (line: string) => void): void {
    const parts = (this.#partial + chunk).split('\n');
    // The unfinished last piece waits for its newline; bounded like every line.
    this.#partial = (parts.pop() ?? '').slice(0, this.maxLineLength);
    for (const raw of parts) this.#keep(raw, onLine);
  }

  /** The child is gone: an unfinished last line is a line too. */
  flush(onLine?: (line: string) => void): void {
    if (this.#partial) this.#keep(this.#partial, onLine);
    this.#partial = '';
  }

  /** The complete lines kept. */
  get lines(): string[] {
    return [...this.#lines];
  }

  /** The last lines including the unfinished one (a child that died mid-line still said it). */
  get latest(): string[] {
    const partial = this.#partial.trim();
    return (partial ? [...this.#lines, partial] : [...this.#lines]).slice(-this.maxLines);
  }

  #keep(raw: string, onLine?: (line: string) => void): void {
    const line = raw.trim().slice(0, this.maxLineLength);
    if (!line) return;
    this.#lines.push(line);
    if (this.#lines.length > this.maxLines) this.#lines.shift();
    onLine?.(line);
  }
}
