/**
 * Reading `journalctl -o json` output (issue 13 §4). Modelled on systemd's "Journal JSON Format"
 * (https://systemd.io/JOURNAL_EXPORT_FORMATS/, and journalctl(1) on `-o json`), which says:
 *  - one JSON object per entry, one per line;
 *  - a field value is a string when it is valid UTF-8 text, else an array of byte values (numbers);
 *  - a field that appears more than once in an entry is an array of its values (each a string or
 *    a byte array);
 *  - a value larger than 4096 bytes is `null` unless `--all` was given;
 *  - `__REALTIME_TIMESTAMP` is the wall-clock time in µs since the epoch, as a decimal string
 *    (every 64-bit number is a string in this format: JSON numbers lose precision past 2^53).
 * Checked against journalctl 252 on journal files written by systemd-journal-remote (test/).
 */

/** One journal entry: its time and text access to its fields. */
export class JournalEntry {
  constructor(
    /** __REALTIME_TIMESTAMP: µs since the epoch (2^53 µs is the year 2255, a number is exact). */
    readonly realtimeUs: number,
    private readonly fields: Readonly<Record<string, unknown>>,
  ) {}

  /**
   * A field as text, or undefined when absent, `null` (too large to show) or not a value of the
   * format. A byte array is decoded as UTF-8 (invalid sequences become U+FFFD: the report only
   * shows and compares such text). A repeated field gives its first value: speakerd writes every
   * field once, so a second value comes from elsewhere (a forwarder adding its own) and the
   * first is the one the daemon wrote (journald keeps the order of the native message's fields).
   */
  get(name: string): string | undefined {
    const raw = this.fields[name];
    if (Array.isArray(raw) && raw.length > 0 && !isByteArray(raw)) return decodeValue(raw[0]);
    return decodeValue(raw);
  }
}

function isByteArray(value: readonly unknown[]): boolean {
  // An array of numbers is one binary value; an array of strings/arrays is a repeated field. An
  // empty array is an empty binary value (a repeated field has at least two values).
  return value.every((b) => typeof b === 'number');
}

function decodeValue(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && isByteArray(value)) {
    const bytes: number[] = [];
    for (const b of value) {
      if (typeof b !== 'number' || !Number.isInteger(b) || b < 0 || b > 255) return undefined;
      bytes.push(b);
    }
    return Buffer.from(bytes).toString('utf8');
  }
  return undefined;
}

export type ParsedLine =
  | { readonly ok: true; readonly entry: JournalEntry }
  | { readonly ok: false; readonly error: string };

/** Parses one output line. Never throws: a bad line is a value the caller counts. */
export function parseJournalLine(line: string): ParsedLine {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    return { ok: false, error: `not JSON (${err instanceof Error ? err.message : String(err)})` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { ok: false, error: 'not a JSON object' };
  const fields: Readonly<Record<string, unknown>> = Object.fromEntries(Object.entries(value));
  const ts = fields.__REALTIME_TIMESTAMP;
  // A string by the format; a number is accepted too (hand-made input), never a fraction.
  const text = typeof ts === 'number' ? String(ts) : ts;
  if (typeof text !== 'string' || !/^\d{1,17}$/.test(text))
    return { ok: false, error: 'no valid __REALTIME_TIMESTAMP' };
  return { ok: true, entry: new JournalEntry(Number(text), fields) };
}

/**
 * Splits a byte stream into lines with a bound on a line's length: a longer line is reported as
 * too long (once) and skipped up to its newline, never buffered whole. journalctl's JSON lines
 * are short (values over 4096 bytes are `null` without --all); stdin may be anything.
 */
export class LineSplitter {
  #partial: Buffer[] = [];
  #partialBytes = 0;
  /** The current line passed the bound: drop bytes until its newline. */
  #skipping = false;

  constructor(
    private readonly maxLineBytes: number,
    private readonly onLine: (line: string) => void,
    private readonly onTooLong: () => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl === -1) {
        this.#keep(chunk.subarray(start));
        return;
      }
      this.#keep(chunk.subarray(start, nl));
      this.#endLine();
      start = nl + 1;
    }
  }

  /** End of input: an unfinished last line is a line too. */
  end(): void {
    if (this.#partialBytes > 0 || this.#skipping) this.#endLine();
  }

  #keep(piece: Buffer): void {
    if (this.#skipping || piece.length === 0) return;
    if (this.#partialBytes + piece.length > this.maxLineBytes) {
      this.#skipping = true;
      this.#partial = [];
      this.#partialBytes = 0;
      this.onTooLong();
      return;
    }
    this.#partial.push(piece);
    this.#partialBytes += piece.length;
  }

  #endLine(): void {
    if (this.#skipping) {
      this.#skipping = false;
      return;
    }
    const line = Buffer.concat(this.#partial, this.#partialBytes).toString('utf8');
    this.#partial = [];
    this.#partialBytes = 0;
    if (line.trim() !== '') this.onLine(line);
  }
}
