/**
 * One pino record → the fields of one native journal entry (issue 13 §1). Pure, so the mapping is
 * unit-tested without a journal.
 *
 * Field names follow systemd.journal-fields(7) and sd_journal_sendv(3): only `[A-Z0-9_]`, not
 * starting with a digit or `_` (a leading underscore marks a trusted field that only journald may
 * set; journald drops such fields from a client), at most 64 characters (journal-file.h
 * JOURNAL_FIELD_NAME_MAX). Values are UTF-8 text; sd_journal_sendv switches a value that holds a
 * newline to the binary form of the native protocol by itself.
 */
import { ErrorCode } from '../core/errors.js';
import { CodeMessageId } from './message-ids.js';

/** What every entry of ours carries, so `journalctl SYSLOG_IDENTIFIER=speakerd` finds them. */
export const SYSLOG_IDENTIFIER = 'speakerd';
/** Our own fields' prefix: `journalctl SPEAKERD_CODE=E_AUTH_REJECTED`. */
export const FIELD_PREFIX = 'SPEAKERD_';
/** JOURNAL_FIELD_NAME_MAX of systemd's journal-file.h. */
const FIELD_NAME_MAX = 64;
/**
 * A value longer than this is cut. It keeps one entry far below the datagram size that makes
 * libsystemd fall back to passing a memfd (which a journal without sealing support refuses); our
 * records are a few hundred bytes, so only a runaway field (a huge stderr tail) is ever cut.
 */
export const FIELD_VALUE_MAX = 8192;
/** Nested objects deeper than this are JSON-encoded into one field instead of flattened further. */
const MAX_DEPTH = 4;
/** Bound on the fields one record may produce: a record with a giant map becomes JSON instead. */
const MAX_FIELDS = 96;

/** pino's own keys that the journal carries itself (__REALTIME_TIMESTAMP, _PID, _HOSTNAME). */
const DROPPED = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'v']);

const ERROR_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

function isErrorCode(v: unknown): v is ErrorCode {
  return typeof v === 'string' && ERROR_CODES.has(v);
}

/** `delay_ms`, `afterMs`, `link-to` → `DELAY_MS`, `AFTER_MS`, `LINK_TO`. */
export function upperSnake(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .toUpperCase();
}

/**
 * upperSnake of the keys seen: a daemon logs a few dozen distinct keys, so the regexes run once
 * per key, not once per record (they were most of a record's cost). Bounded: a record with
 * made-up keys can only refill it.
 */
const SNAKE_CACHE = new Map<string, string>();
const SNAKE_CACHE_MAX = 1024;
function snake(key: string): string {
  let v = SNAKE_CACHE.get(key);
  if (v === undefined) {
    if (SNAKE_CACHE.size >= SNAKE_CACHE_MAX) SNAKE_CACHE.clear();
    v = upperSnake(key);
    SNAKE_CACHE.set(key, v);
  }
  return v;
}

/** A journal field name from our prefix and a key path; valid by construction. */
export function fieldName(path: readonly string[]): string {
  return nameOf(
    path
      .map(snake)
      .filter((p) => p !== '')
      .join('_'),
  );
}

function nameOf(body: string): string {
  return `${FIELD_PREFIX}${body}`.slice(0, FIELD_NAME_MAX);
}

/**
 * Bounded, and without NUL: the binding copies each field as a C string, so a NUL would end the
 * value early; it becomes U+FFFD as in any text decode.
 */
function cut(value: string): string {
  const clean = value.includes('\0') ? value.replaceAll('\0', '\uFFFD') : value;
  if (clean.length <= FIELD_VALUE_MAX) return clean;
  return `${clean.slice(0, FIELD_VALUE_MAX - 20)}… [${clean.length} chars]`;
}

/** A field's text; undefined and null leave the field out (an absent field is the journal's "none"). */
function scalar(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return JSON.stringify(v);
}

/** pino numeric level → syslog priority (sd-daemon(3) `<N>` prefixes, the journal's PRIORITY). */
export function syslogPriority(level: number): number {
  if (level >= 60) return 2; // fatal → crit
  if (level >= 50) return 3; // error → err
  if (level >= 40) return 4; // warn → warning
  if (level >= 30) return 6; // info → info
  return 7; // debug/trace → debug
}

export interface JournalEntry {
  /** Syslog priority 0–7 (sd_journal_sendv's PRIORITY). */
  readonly priority: number;
  /** `NAME=value` strings, MESSAGE first, PRIORITY not among them (the binding sets it). */
  readonly fields: string[];
}

/**
 * The entry of one parsed pino record. Unknown shapes never throw: a record without `msg` gets an
 * empty MESSAGE, anything unserializable its JSON or String form.
 */
export function journalEntry(record: Readonly<Record<string, unknown>>): JournalEntry {
  const level = typeof record.level === 'number' ? record.level : 30;
  const out = new Map<string, string>();
  out.set('MESSAGE', cut(typeof record.msg === 'string' ? record.msg : (scalar(record.msg) ?? '')));
  out.set('SYSLOG_IDENTIFIER', SYSLOG_IDENTIFIER);

  const add = (name: string, v: unknown): void => {
    const s = scalar(v);
    if (s !== undefined && out.size < MAX_FIELDS) out.set(name, cut(s));
  };
  // `body`: the UPPER_SNAKE path so far, without the prefix (parts joined by `_`).
  const walk = (body: string, v: unknown, depth: number): void => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && depth < MAX_DEPTH) {
      const entries = Object.entries(v);
      if (out.size + entries.length <= MAX_FIELDS) {
        for (const [k, inner] of entries) {
          const part = snake(k);
          walk(part === '' ? body : `${body}_${part}`, inner, depth + 1);
        }
        return;
      }
    }
    add(nameOf(body), v);
  };

  for (const [key, v] of Object.entries(record)) {
    if (DROPPED.has(key)) continue;
    if (key === 'device_id') add('DEVICE_ID', v);
    else if (key === 'message_id') add('MESSAGE_ID', v);
    else walk(snake(key), v, 0);
  }
  // An error code names its own catalog entry unless the record named a more specific one.
  const code = record.code;
  if (!out.has('MESSAGE_ID') && isErrorCode(code)) out.set('MESSAGE_ID', CodeMessageId[code]);

  const fields: string[] = [];
  for (const [name, value] of out) fields.push(`${name}=${value}`);
  return { priority: syslogPriority(level), fields };
}
