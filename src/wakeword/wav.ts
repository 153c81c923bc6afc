/**
 * Reading the only WAV the wake word takes: 16 kHz, mono, 16-bit signed PCM (openWakeWord's
 * predict_clip() reads with Python's `wave` module and `np.frombuffer(..., dtype=np.int16)`, so it
 * assumes exactly that). Anything else is refused with the sox/ffmpeg line that converts it.
 *
 * RIFF layout as in Microsoft's "Multimedia Programming Interface and Data Specifications 1.0"
 * (RIFF chunks: 4-byte id, 4-byte little-endian size, data padded to an even length) and the
 * WAVEFORMATEX / WAVEFORMATEXTENSIBLE `fmt ` chunk (format tag 1 = PCM, 0xFFFE = extensible with
 * the sub-format GUID's first two bytes as the tag).
 */
import { WakeWordError } from './onnx.js';

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

export interface WavFormat {
  readonly formatTag: number;
  readonly channels: number;
  readonly sampleRate: number;
  readonly bitsPerSample: number;
}

export function convertHint(path: string): string {
  const out = path.replace(/(\.wav)?$/i, '-16k.wav');
  return (
    `convert it: \`sox ${path} -r 16000 -c 1 -b 16 -e signed-integer ${out}\` ` +
    `or \`ffmpeg -i ${path} -ar 16000 -ac 1 -c:a pcm_s16le ${out}\``
  );
}

function bad(path: string, what: string): WakeWordError {
  return new WakeWordError(
    'bad-audio',
    `${path}: ${what}; the wake word takes 16 kHz mono 16-bit PCM WAV`,
    convertHint(path),
  );
}

function describe(f: WavFormat): string {
  const kind = f.formatTag === WAVE_FORMAT_PCM ? 'PCM' : `format 0x${f.formatTag.toString(16)}`;
  return `${f.sampleRate} Hz, ${f.channels} channel${f.channels === 1 ? '' : 's'}, ${f.bitsPerSample}-bit ${kind}`;
}

/** The samples of a 16 kHz mono s16 WAV file's data chunk; any other file is a WakeWordError. */
export function parseWav16kMono(bytes: Uint8Array, path: string): Int16Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const id = (at: number) => String.fromCharCode(...bytes.subarray(at, at + 4));
  if (bytes.length < 12 || id(0) !== 'RIFF' || id(8) !== 'WAVE') throw bad(path, 'not a RIFF/WAVE file');
  let format: WavFormat | undefined;
  let at = 12;
  while (at + 8 <= bytes.length) {
    const chunk = id(at);
    const size = view.getUint32(at + 4, true);
    const body = at + 8;
    if (chunk === 'fmt ') {
      if (size < 16 || body + 16 > bytes.length) throw bad(path, 'its fmt chunk is truncated');
      let formatTag = view.getUint16(body, true);
      if (formatTag === WAVE_FORMAT_EXTENSIBLE && size >= 40 && body + 26 <= bytes.length) {
        formatTag = view.getUint16(body + 24, true); // SubFormat GUID, first two bytes
      }
      format = {
        formatTag,
        channels: view.getUint16(body + 2, true),
        sampleRate: view.getUint32(body + 4, true),
        bitsPerSample: view.getUint16(body + 14, true),
      };
    } else if (chunk === 'data') {
      if (format === undefined) throw bad(path, 'its data chunk comes before any fmt chunk');
      if (
        format.formatTag !== WAVE_FORMAT_PCM ||
        format.channels !== 1 ||
        format.sampleRate !== 16_000 ||
        format.bitsPerSample !== 16
      ) {
        throw bad(path, `it is ${describe(format)}`);
      }
      // A stream that was cut (arecord killed) may claim more than the file holds: keep what is there.
      const end = Math.min(bytes.length, body + size);
      const samples = Math.floor((end - body) / 2);
      const out = new Int16Array(samples);
      for (let i = 0; i < samples; i++) out[i] = view.getInt16(body + 2 * i, true);
      return out;
    }
    at = body + size + (size % 2);
  }
  throw bad(path, format === undefined ? 'it has no fmt chunk' : 'it has no data chunk');
}
