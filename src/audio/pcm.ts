/** Small PCM helpers (mono S16_LE) shared by sinks, the dev-server and tests. */

/** Root-mean-square level of S16_LE samples, 0…1 of full scale. */
export function rms(pcm: Buffer): number {
  const n = Math.floor(pcm.length / 2);
  if (n === 0) return 0;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = pcm.readInt16LE(i * 2) / 32768;
    sum += v * v;
  }
  return Math.sqrt(sum / n);
}

/** Level in dBFS (−∞ for digital silence). */
export function dbfs(level: number): number {
  return level > 0 ? 20 * Math.log10(level) : Number.NEGATIVE_INFINITY;
}
