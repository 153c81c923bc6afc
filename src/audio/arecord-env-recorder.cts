/**
 * A node-record-lpcm16 recorder (the library loads it by path): arecord with exactly the argv of
 * the library's own `arecord` recorder, plus an environment for the child. The built-in one passes
 * no spawn options, so a child could only inherit process.env; tests and odd deployments hand
 * arecord its own ALSA config (ALSA_CONFIG_PATH) this way. CommonJS because the library require()s it.
 */
interface EnvRecorderOptions {
  readonly sampleRate: number;
  readonly channels: number;
  readonly audioType: string;
  readonly device?: string;
  readonly env?: NodeJS.ProcessEnv;
}

function arecordWithEnv(options: EnvRecorderOptions): {
  cmd: string;
  args: string[];
  spawnOptions: { env?: NodeJS.ProcessEnv };
} {
  const args = [
    '-q',
    '-r',
    String(options.sampleRate),
    '-c',
    String(options.channels),
    '-t',
    options.audioType,
    '-f',
    'S16_LE',
    '-',
  ];
  if (options.device) args.unshift('-D', options.device);
  return { cmd: 'arecord', args, spawnOptions: options.env ? { env: options.env } : {} };
}

export = arecordWithEnv;
