/**
 * The part of node-record-lpcm16 1.0.1 (CommonJS, ships no types) that src/audio/capture.ts uses.
 * Read from its index.js and recorders/arecord.js: `record(options)` spawns the recorder at once
 * and returns the Recording; `process` is the child, `stream()` its stdout.
 */
declare module 'node-record-lpcm16' {
  import type { ChildProcess } from 'node:child_process';
  import type { Readable } from 'node:stream';

  export interface RecordOptions {
    sampleRate?: number;
    channels?: number;
    /** 'sox' by default; a built-in name or the absolute path of a recorder module. */
    recorder?: 'sox' | 'rec' | 'arecord' | (string & {});
    /** Not read by the library: passed through to a recorder module (arecord-env-recorder.cts). */
    env?: NodeJS.ProcessEnv;
    /** Passed to arecord as `-t`; 'raw' gives headerless S16_LE. */
    audioType?: 'raw' | 'wav';
    /** Passed to arecord as `-D`. */
    device?: string;
  }

  export interface Recording {
    /** The spawned recorder (stdio 'pipe'). */
    readonly process: ChildProcess;
    /**
     * The child's stdout. Emits 'error' with a *string* (not an Error) on every non-zero exit,
     * including the SIGTERM of its own stop().
     */
    stream(): Readable;
  }

  export function record(options?: RecordOptions): Recording;

  /** Node's ESM import of this CommonJS module yields `module.exports` as the default export. */
  const lpcm16: { record: typeof record };
  export default lpcm16;
}
