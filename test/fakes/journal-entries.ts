/**
 * Journal entries as a speakerd daemon writes them, for the fleet report's tests. The records are
 * real: the daemon's own logger in its native-journal form (system/logger.ts createLogger with
 * format 'native': redaction, then journal-fields.ts, then the binding's sd_journal_sendv call),
 * link changes through a real StateCell<LinkState> named 'link' as the supervisor's, turn records
 * from a real Turn logged as TurnContext.endTurn logs them. The binding is played here and does
 * what journald adds to a native entry that the report reads: PRIORITY from sd_journal_sendv's
 * priority, _HOSTNAME, and the receive time, a wall clock the test sets. Out: the
 * `journalctl -o json` line of an entry, or its journal export format for systemd-journal-remote.
 */
import type { Logger } from 'pino';
import {
  formatTurn,
  Turn,
  type TurnOutcome,
  type TurnTrigger,
} from '../../src/conversation/turn-timeline.js';
import { ErrorCode, type ErrorCode as ErrorCodeT } from '../../src/core/errors.js';
import { StateCell } from '../../src/core/state.js';
import type { ListenMode } from '../../src/protocol/messages.js';
import type { LinkState } from '../../src/session/session-port.js';
import type { JournalBinding } from '../../src/system/journal.js';
import { createLogger } from '../../src/system/logger.js';

export interface JournalRecord {
  /** µs since the epoch (the journal's __REALTIME_TIMESTAMP). */
  readonly realtimeUs: number;
  readonly fields: Readonly<Record<string, string>>;
}

/** One simulated device: its logger, its link, its turns; every record lands in `journal`. */
export class JournalDevice {
  /** Wall-clock ms since the epoch of the next record; the test moves it. */
  nowMs: number;
  readonly root: Logger;
  readonly #link: StateCell<LinkState>;
  readonly #session: Logger;

  constructor(
    readonly deviceId: string,
    startMs: number,
    readonly journal: JournalRecord[],
    readonly hostname = `host-${deviceId.replaceAll(':', '')}`,
  ) {
    this.nowMs = startMs;
    const binding: JournalBinding = {
      send: (priority: number, ...sent: string[]): number => {
        const fields: Record<string, string> = { PRIORITY: String(priority) };
        for (const f of sent) {
          const eq = f.indexOf('=');
          if (eq <= 0) throw new Error(`not a NAME=value field: ${f}`);
          fields[f.slice(0, eq)] = f.slice(eq + 1);
        }
        fields._HOSTNAME = this.hostname;
        this.journal.push({ realtimeUs: Math.round(this.nowMs * 1000), fields });
        return 0;
      },
    };
    this.root = createLogger({
      level: 'info',
      format: 'native',
      binding,
      deviceId,
      // Where the destination sends a record the journal refused; send() never refuses here.
      destination: {
        write: (line: string) => {
          throw new Error(`a record fell back to text: ${line}`);
        },
      },
    });
    this.#session = this.root.child({ component: 'session' });
    this.#link = new StateCell<LinkState>('offline', this.#session, 'link');
  }

  at(ms: number): this {
    this.nowMs = ms;
    return this;
  }

  link(to: LinkState, reason: string): this {
    this.#link.transition(to, reason);
    return this;
  }

  /** offline/backoff → connecting → handshaking → ready over 2 s, ending at `nowMs + 2000`. */
  connect(attempt: number): this {
    const t = this.nowMs;
    this.link('connecting', `attempt ${attempt}: retry`);
    this.at(t + 1000).link('handshaking', `attempt ${attempt}: upgraded, hello sent`);
    return this.at(t + 2000).link('ready', `attempt ${attempt}: session s${attempt}`);
  }

  /** A turn that started `durationMs` before now, with milestones as ms offsets, logged as TurnContext.endTurn does. */
  turn(
    outcome: TurnOutcome,
    milestones: { released?: number; stt?: number; firstAudio?: number; ttsStop?: number },
    opts: { trigger?: TurnTrigger; mode?: ListenMode; durationMs?: number } = {},
  ): this {
    const durationMs = opts.durationMs ?? 5000;
    const start = this.nowMs - durationMs;
    const turn = new Turn(opts.trigger ?? 'click', opts.mode ?? 'manual', start, 16);
    turn.mark('firstFrameSent', start + 60);
    if (milestones.released !== undefined) turn.mark('released', start + milestones.released);
    if (milestones.stt !== undefined) turn.mark('stt', start + milestones.stt);
    if (milestones.firstAudio !== undefined) {
      turn.mark('ttsStart', start + milestones.firstAudio - 50);
      turn.mark('firstAudio', start + milestones.firstAudio);
    }
    if (milestones.ttsStop !== undefined) turn.mark('ttsStop', start + milestones.ttsStop);
    turn.framesSent = 30;
    const timeline = turn.finish(outcome, this.nowMs);
    this.root.child({ component: 'conversation' }).info({ turn: timeline }, formatTurn(timeline));
    return this;
  }

  /** The supervisor's line for a refused token (supervisor.ts #onRefused). */
  refused(attempt: number): this {
    this.#session.error(
      {
        code: ErrorCode.AuthRejected,
        attempt,
        said: '认证失败',
        close_code: 1000,
        cause: 'server said 认证失败',
        refusals: 1,
        delay_ms: 0,
      },
      'server refused our credentials; refreshing them now',
    );
    return this;
  }

  /** A mic fault as it reaches the journal: the capture's own line, then the conversation's. */
  micFault(): this {
    this.root
      .child({ component: 'capture' })
      .warn({ code: ErrorCode.AudioSource, device: 'hw:1', stderr: ['arecord: read error'] }, 'arecord died');
    this.root
      .child({ component: 'conversation' })
      .warn({ code: ErrorCode.AudioSource }, 'mic fault: arecord died');
    return this;
  }

  /** A speaker fault: the playback's own line, then the conversation's. */
  speakerFault(): this {
    this.root
      .child({ component: 'playback' })
      .warn({ stream: 3, code: ErrorCode.AudioSink }, 'aplay stalled');
    this.root
      .child({ component: 'conversation' })
      .warn({ code: ErrorCode.AudioSink }, 'speaker fault: aplay stalled');
    return this;
  }

  /** An error record of some component (PRIORITY 3), its code's MESSAGE_ID by the mapping. */
  error(component: string, code: ErrorCodeT, msg: string): this {
    this.root.child({ component }).error({ code }, msg);
    return this;
  }

  info(msg: string, fields: Record<string, unknown> = {}): this {
    this.root.child({ component: 'main' }).info(fields, msg);
    return this;
  }
}

/** The entry as `journalctl -o json` prints it: every value a string, the timestamps too. */
export function jsonLine(r: JournalRecord, cursor: number): string {
  return JSON.stringify({
    __CURSOR: `s=0;i=${cursor.toString(16)}`,
    __REALTIME_TIMESTAMP: String(r.realtimeUs),
    __MONOTONIC_TIMESTAMP: String(cursor),
    _BOOT_ID: '0123456789abcdef0123456789abcdef',
    ...r.fields,
  });
}

/**
 * The entry in the journal export format (systemd.io/JOURNAL_EXPORT_FORMATS): `FIELD=value` lines,
 * a field whose value holds a newline as the name, a newline, its length as 64-bit little endian,
 * the bytes and a newline; an empty line ends the entry. __REALTIME_TIMESTAMP sets its time
 * (systemd-journal-remote takes it from there).
 */
export function exportEntry(r: JournalRecord, bootId = '0123456789abcdef0123456789abcdef'): Buffer {
  const parts: Buffer[] = [
    Buffer.from(
      `__REALTIME_TIMESTAMP=${r.realtimeUs}\n__MONOTONIC_TIMESTAMP=${r.realtimeUs}\n_BOOT_ID=${bootId}\n`,
    ),
  ];
  for (const [name, value] of Object.entries(r.fields)) {
    if (value.includes('\n')) {
      const data = Buffer.from(value);
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(data.length));
      parts.push(Buffer.from(`${name}\n`), len, data, Buffer.from('\n'));
    } else {
      parts.push(Buffer.from(`${name}=${value}\n`));
    }
  }
  parts.push(Buffer.from('\n'));
  return Buffer.concat(parts);
}
