/**
 * speakerd's version, from the package.json beside dist/ (the installer copies it to /opt/speakerd):
 * `User-Agent: speakerd/<version>` for OTA, MCP `serverInfo`, `--version`-like output.
 */
import { createRequire } from 'node:module';

export function packageVersion(): string {
  // dist/src/version.js → ../../package.json, the repository's or the installed app's.
  const pkg: unknown = createRequire(import.meta.url)('../../package.json');
  return typeof pkg === 'object' && pkg !== null && 'version' in pkg && typeof pkg.version === 'string'
    ? pkg.version
    : '0.0.0';
}
